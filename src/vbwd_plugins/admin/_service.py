"""The plugin admin API, framework-neutral: operations, routing and error mapping.

:class:`PluginAdmin` does every change through :class:`PluginManager` (which writes the
store), so the admin API, the CLI and start-up restore can never disagree. Its methods
return JSON-able dicts and raise :class:`PluginError`; :meth:`PluginAdmin.handle` routes an
already-authorized request and maps those errors to HTTP statuses::

    GET    /                      every plugin
    GET    /{name}                one plugin, with its configuration (secrets masked)
    POST   /{name}/enable         {"with_dependencies": false}
    POST   /{name}/disable        {"cascade": false}
    GET    /{name}/config         configuration (masked) and its JSON schema
    PUT    /{name}/config         replace the configuration (validated)
    PATCH  /{name}/config         change some fields (validated)

Secrets are write-only: they are accepted in ``PUT``/``PATCH`` bodies, encrypted by the
manager before they reach the store, and shown as ``"**********"``; sending that mask back
keeps the stored secret. Validation errors name fields and reasons, never values.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from vbwd_plugins._json import parse_json
from vbwd_plugins.admin._response import AdminResponse
from vbwd_plugins.config._schema import is_config_schema
from vbwd_plugins.errors import (
    ConfigValidationError,
    DependencyCycleError,
    DependencyError,
    DependentsEnabledError,
    PluginBlockedError,
    PluginConflictError,
    PluginError,
    PluginHookError,
    PluginLoadError,
    PluginNotFoundError,
    PluginStateError,
    SecretsError,
    StoreConflictError,
    StoreError,
)
from vbwd_plugins.plugins._listing import PluginInfo
from vbwd_plugins.plugins._manager import PluginManager
from vbwd_plugins.plugins._model import BasePlugin, PluginStatus

__all__ = ["PluginAdmin", "error_response"]

logger = logging.getLogger("vbwd_plugins.web")


class _BadRequest(Exception):
    """The request itself is malformed (400)."""


class _NotJSON(Exception):
    """A change was sent without a JSON content type (415)."""


class PluginAdmin:
    """Admin operations on one manager; every method is safe to call from several threads.

    Changes are serialized by a lock of their own, so a configuration change (disable,
    initialize, enable) is never interleaved with another admin change in this process.
    """

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager
        self._lock = threading.RLock()

    @property
    def manager(self) -> PluginManager:
        """The manager every operation goes through."""
        return self._manager

    # -- reads ---------------------------------------------------------------------------

    def list_plugins(self) -> list[dict[str, Any]]:
        """Every registered, discovered or recorded plugin (``PluginManager.describe``)."""
        versions = {p.name: p.version for p in self._manager.get_discovered()}
        return [_info_json(info, versions) for info in self._manager.describe()]

    def show(self, name: str) -> dict[str, Any]:
        """One plugin: what ``list`` shows, plus metadata and its configuration (masked)."""
        versions = {p.name: p.version for p in self._manager.get_discovered()}
        for info in self._manager.describe():
            if info.name == name:
                data = _info_json(info, versions)
                break
        else:
            raise PluginNotFoundError(f"Plugin '{name}' not found", plugin_name=name)
        plugin = self._manager.get_plugin(name)
        if plugin is not None:
            metadata = self._manager.get_metadata(name)
            data["author"] = metadata.author
            data["description"] = metadata.description
        data["config"] = self.public_config(name)
        return data

    def public_config(self, name: str) -> dict[str, Any]:
        """``name``'s configuration for display, every secret masked (see the manager's)."""
        return self._manager.get_public_config(name)

    def config_schema(self, name: str) -> dict[str, Any] | None:
        """The JSON schema of ``name``'s configuration (``None``: a plain dict or unknown)."""
        plugin = self._manager.get_plugin(name)
        schema = type(plugin).config_schema if plugin is not None else None
        if not is_config_schema(schema):
            return None
        try:
            return schema.model_json_schema()
        except Exception:  # an exotic field type only costs the schema
            logger.debug("Plugin %r: no JSON schema for its configuration", name, exc_info=True)
            return None

    # -- changes -------------------------------------------------------------------------

    def enable(self, name: str, *, with_dependencies: bool = False) -> dict[str, Any]:
        """Enable ``name`` (a no-op when it is enabled); returns the plugins enabled.

        A dependency that is not enabled refuses the change (:class:`DependencyError`)
        unless ``with_dependencies``: then installed dependencies are enabled first, in
        dependency order, all or nothing.
        """
        with self._lock:
            names = self._with_dependencies(name) if with_dependencies else [name]
            enabled = self._manager.enable_plugins(names)
            return {"plugin": self.show(name), "enabled": enabled}

    def disable(self, name: str, *, cascade: bool = False) -> dict[str, Any]:
        """Disable ``name`` (a no-op unless it is enabled); returns the plugins disabled.

        Refused while enabled plugins depend on it (:class:`DependentsEnabledError`),
        unless ``cascade``: then they are disabled first.
        """
        with self._lock:
            plugin = self._require(name)
            if plugin.status is not PluginStatus.ENABLED:
                return {"plugin": self.show(name), "disabled": []}
            before = self._enabled()
            self._manager.disable_plugin(name, cascade=cascade)
            after = self._enabled()
            disabled = [n for n in before if n not in after]
            return {"plugin": self.show(name), "disabled": disabled}

    def update_config(
        self, name: str, values: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Validate and apply new configuration; ``replace`` drops fields not given.

        Without ``replace`` the given fields are merged into the current configuration.
        A field given as ``"**********"`` keeps its current (secret) value; a field that
        decides where secrets go (:class:`~vbwd_plugins.config.Trusted`) changes only with
        the secrets it guards given again. An enabled plugin is validated first, then
        restarted with it together with the plugins that depend on it; if the new
        configuration is refused, it keeps running with the old one. One store read and
        one write (``PluginManager.configure_plugin``).
        """
        with self._lock:
            self._require(name)
            self._manager.configure_plugin(name, values, patch=not replace, operator=True)
            return self.show(name)

    # -- HTTP ----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, body: bytes = b"", *, content_type: str | None = None
    ) -> AdminResponse:
        """Answer one authorized request; ``path`` is relative to the admin prefix."""
        method = method.upper()
        parts = [part for part in path.split("/") if part]
        try:
            return self._route(method, parts, body, content_type)
        except _NotJSON:
            return AdminResponse(
                415,
                {
                    "error": "unsupported_media_type",
                    "message": "Send a JSON body with Content-Type: application/json",
                },
            )
        except _BadRequest as exc:
            return AdminResponse(400, {"error": "bad_request", "message": str(exc)})
        except PluginError as exc:
            return error_response(exc)
        except Exception:
            logger.exception("Plugin admin API: %s /%s failed", method, "/".join(parts))
            return AdminResponse(
                500, {"error": "internal_error", "message": "Internal error (logged)"}
            )

    def _route(
        self, method: str, parts: list[str], body: bytes, content_type: str | None
    ) -> AdminResponse:
        if not parts:
            if method != "GET":
                return _not_allowed("GET")
            return AdminResponse(200, {"plugins": self.list_plugins()})
        name = parts[0]
        action = parts[1] if len(parts) == 2 else None
        if len(parts) > 2 or action not in (None, "enable", "disable", "config"):
            return AdminResponse(
                404, {"error": "not_found", "message": "No such plugin admin route"}
            )
        if action is None:
            if method != "GET":
                return _not_allowed("GET")
            return AdminResponse(200, self.show(name))
        if action == "config":
            if method == "GET":
                return AdminResponse(
                    200,
                    {
                        "name": name,
                        "config": self.public_config(name),
                        "schema": self.config_schema(name),
                    },
                )
            if method in ("PUT", "PATCH"):
                values = _json_object(body, content_type)
                return AdminResponse(200, self.update_config(name, values, replace=method == "PUT"))
            return _not_allowed("GET, PUT, PATCH")
        if method != "POST":
            return _not_allowed("POST")
        options = _json_object(body, content_type)
        if action == "enable":
            flag = _flag(options, "with_dependencies")
            return AdminResponse(200, self.enable(name, with_dependencies=flag))
        return AdminResponse(200, self.disable(name, cascade=_flag(options, "cascade")))

    # -- internals -----------------------------------------------------------------------

    def _require(self, name: str) -> BasePlugin:
        plugin = self._manager.get_plugin(name)
        if plugin is not None:
            return plugin
        if any(p.name == name for p in self._manager.get_discovered()):
            return self._manager.load_plugin(name)
        raise PluginNotFoundError(
            f"Plugin '{name}' not found: it is not installed (or not discovered)",
            plugin_name=name,
        )

    def _enabled(self) -> list[str]:
        return [p.metadata.name for p in self._manager.get_enabled_plugins()]

    def _with_dependencies(self, name: str) -> list[str]:
        """``name`` and every installed plugin it depends on, transitively."""
        discovered = {p.name for p in self._manager.get_discovered()}
        seen: list[str] = []
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            self._require(current)
            seen.append(current)
            for requirement in self._manager.get_metadata(current).requirements():
                dep = requirement.name
                if self._manager.get_plugin(dep) is not None or dep in discovered:
                    pending.append(dep)
        return seen


# -- helpers --------------------------------------------------------------------------------


def _info_json(info: PluginInfo, versions: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version or versions.get(info.name),
        "distribution": info.distribution,
        "status": info.status,
        "dependencies": list(info.dependencies),
        "error": info.error,
    }


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _json_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object a change sends; only ``application/json`` is accepted (a CSRF guard:
    a browser cannot send it cross-site without a CORS preflight)."""
    if not _is_json(content_type):
        raise _NotJSON
    if not body.strip():
        return {}
    try:
        value = parse_json(body)
    except ValueError as exc:
        raise _BadRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _BadRequest("The request body must be a JSON object")
    return value


def _flag(options: Mapping[str, Any], key: str) -> bool:
    unknown = sorted(set(options) - {key})
    if unknown:
        raise _BadRequest(f"Unknown option(s) {unknown}; only {key!r} is accepted")
    value = options.get(key, False)
    if not isinstance(value, bool):
        raise _BadRequest(f"Option {key!r} must be true or false")
    return value


def _not_allowed(allow: str) -> AdminResponse:
    return AdminResponse(
        405,
        {"error": "method_not_allowed", "message": f"Allowed: {allow}"},
        {"Allow": allow},
    )


def error_response(exc: PluginError) -> AdminResponse:
    """The HTTP answer for a library error: 404, 409, 422, 500 or 503 with a JSON body."""
    body: dict[str, Any] = {"message": str(exc), "plugin": exc.plugin_name}
    status = 500
    if isinstance(exc, PluginNotFoundError):
        status, body["error"] = 404, "plugin_not_found"
    elif isinstance(exc, ConfigValidationError):
        status, body["error"] = 422, "invalid_configuration"
        body["fields"] = dict(exc.errors)
    elif isinstance(exc, DependentsEnabledError):
        status, body["error"] = 409, "dependents_enabled"
        body["dependents"] = list(exc.dependents)
    elif isinstance(exc, DependencyCycleError):
        status, body["error"] = 409, "dependency_cycle"
        body["cycle"] = list(exc.cycle)
    elif isinstance(exc, DependencyError):
        status, body["error"] = 409, "dependency_not_satisfied"
        body["requirement"] = exc.requirement
    elif isinstance(exc, PluginStateError):
        status, body["error"] = 409, "invalid_state"
        status_value = getattr(exc.status, "value", exc.status)
        body["status"] = status_value if isinstance(status_value, str) else None
    elif isinstance(exc, StoreConflictError):
        status, body["error"] = 409, "store_conflict"
    elif isinstance(exc, PluginConflictError):
        status, body["error"] = 409, "name_conflict"
    elif isinstance(exc, PluginBlockedError):
        status, body["error"] = 409, "blocked"
    elif isinstance(exc, PluginLoadError):
        status, body["error"] = 409, "load_error"
    elif isinstance(exc, PluginHookError):
        body["error"] = "hook_failed"
    elif isinstance(exc, SecretsError):
        body["error"] = "secrets_error"
    elif isinstance(exc, StoreError):
        status, body["error"] = 503, "store_unavailable"
    else:
        body["error"] = "plugin_error"
    if status >= 500:
        logger.error("Plugin admin API: %s", exc)
    return AdminResponse(status, {"error": body.pop("error"), **body})
