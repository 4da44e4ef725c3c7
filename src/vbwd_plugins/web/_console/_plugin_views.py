"""The plugin pages: the list with enable/disable, and one plugin with its configuration form.

Every change goes through :class:`PluginAdmin`, as the JSON API's do, so the dependency
rules, validation and secret handling are the same ones. A refused enable or disable that
the dependency rules could resolve asks for confirmation instead of failing.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement

from vbwd_plugins.config._schema import MASK, env_config, is_config_schema
from vbwd_plugins.errors import (
    ConfigValidationError,
    DependencyCycleError,
    DependencyError,
    DependentsEnabledError,
    PluginError,
    PluginNotFoundError,
)
from vbwd_plugins.web._console._fields import FormField, form_fields, form_values

if TYPE_CHECKING:
    from pydantic import BaseModel

    from vbwd_plugins.admin._service import PluginAdmin
    from vbwd_plugins.web._console._http import ConsoleResponse
    from vbwd_plugins.web._console._view import View

__all__ = ["PluginViews"]


def _requirement_name(text: str) -> str:
    try:
        return Requirement(text).name
    except InvalidRequirement:
        return text


class PluginViews:
    """GET ``/`` and ``/plugins/{name}``; POST ``/plugins/{name}/{enable,disable,config}``."""

    def __init__(self, admin: PluginAdmin) -> None:
        self._admin = admin

    # -- pages -----------------------------------------------------------------------------

    def index(self, view: View, rest: list[str]) -> ConsoleResponse:
        """Every plugin with its status, version, distribution and dependencies."""
        if rest:
            return view.page(404, "error.html", title="Not found", message="No such page")
        plugins = self._admin.list_plugins()
        for row in plugins:
            row["requires"] = [_requirement_name(dep) for dep in row["dependencies"]]
        return view.page(200, "plugins.html", plugins=plugins)

    def detail(self, view: View, rest: list[str]) -> ConsoleResponse:
        """One plugin: metadata, status and its configuration form."""
        if len(rest) != 1:
            return view.page(404, "error.html", title="Not found", message="No such page")
        return self._detail(view, rest[0])

    def _detail(
        self,
        view: View,
        name: str,
        *,
        status: int = 200,
        fields: list[FormField] | None = None,
        form_error: str | None = None,
    ) -> ConsoleResponse:
        try:
            plugin = self._admin.show(name)
        except PluginNotFoundError as exc:
            return view.page(404, "error.html", title="Not found", message=str(exc))
        schema = self._schema(name)
        env_error = None
        if fields is None and schema is not None:
            pinned, env_error = _pinned(name, schema)
            fields = form_fields(name, schema, plugin["config"], pinned=pinned)
        plain = None
        if schema is None:
            plain = [(key, _plain_value(value)) for key, value in plugin["config"].items()]
        return view.page(
            status,
            "plugin.html",
            plugin=plugin,
            requires=[_requirement_name(dep) for dep in plugin["dependencies"]],
            fields=fields,
            has_schema=schema is not None,
            plain=plain,
            form_error=form_error or env_error,
        )

    # -- changes ---------------------------------------------------------------------------

    def change(self, view: View, rest: list[str]) -> ConsoleResponse:
        """POST ``{name}/enable``, ``{name}/disable`` or ``{name}/config``."""
        if len(rest) != 2 or rest[1] not in ("enable", "disable", "config"):
            return view.page(404, "error.html", title="Not found", message="No such action")
        name, action = rest
        if action == "config":
            return self._configure(view, name)
        back = view.request.form.get("back", [""])[-1]
        back = f"plugins/{name}" if back == "plugin" else ""
        confirmed = view.request.form.get("confirmed", [""])[-1] == "true"
        try:
            if action == "enable":
                enabled = self._admin.enable(name, with_dependencies=confirmed)["enabled"]
                text = f"Enabled {', '.join(enabled)}." if enabled else f"{name} was enabled."
            else:
                disabled = self._admin.disable(name, cascade=confirmed)["disabled"]
                text = f"Disabled {', '.join(disabled)}." if disabled else f"{name} was disabled."
        except DependentsEnabledError as exc:
            return view.page(
                409,
                "confirm.html",
                name=name,
                action="disable",
                others=list(exc.dependents),
                message=str(exc),
                back=back,
            )
        except DependencyCycleError as exc:
            return view.done(back, str(exc), error=True)
        except DependencyError as exc:
            others = self._missing(name)
            if confirmed or not others:
                return view.done(back, str(exc), error=True)
            return view.page(
                409,
                "confirm.html",
                name=name,
                action="enable",
                others=others,
                message=str(exc),
                back=back,
            )
        except PluginError as exc:
            return view.done(back, str(exc), error=True)
        return view.done(back, text)

    def _configure(self, view: View, name: str) -> ConsoleResponse:
        schema = self._schema(name)
        if schema is None:
            return view.done(
                f"plugins/{name}",
                f"{name} declares no configuration schema: configure it with the API or the CLI",
                error=True,
            )
        current = self._admin.public_config(name)
        pinned, _ = _pinned(name, schema)
        fields = form_fields(name, schema, current, pinned=pinned)
        values, errors = form_values(fields, view.request.form)
        if errors:
            _attach(fields, errors)
            return self._detail(view, name, status=422, fields=fields, form_error=_FIX)
        if not values:
            return view.done(f"plugins/{name}", "Nothing changed.")
        try:
            self._admin.update_config(name, values)
        except ConfigValidationError as exc:
            rest = _attach(fields, exc.errors)
            message = _FIX + (" " + "; ".join(rest) if rest else "")
            return self._detail(view, name, status=422, fields=fields, form_error=message)
        except PluginError as exc:
            return self._detail(view, name, status=409, fields=fields, form_error=str(exc))
        changed = ", ".join(sorted(values))
        return view.done(f"plugins/{name}", f"Saved {name}'s configuration ({changed}).")

    # -- helpers ---------------------------------------------------------------------------

    def _schema(self, name: str) -> type[BaseModel] | None:
        plugin = self._admin.manager.get_plugin(name)
        schema = type(plugin).config_schema if plugin is not None else None
        return schema if is_config_schema(schema) else None

    def _missing(self, name: str) -> list[str]:
        """Installed dependencies of ``name``, transitively, that are not enabled."""
        rows = {row["name"]: row for row in self._admin.list_plugins()}
        found: list[str] = []
        pending = [name]
        while pending:
            current = rows.get(pending.pop())
            if current is None:
                continue
            for dep in map(_requirement_name, current["dependencies"]):
                row = rows.get(dep)
                if row is not None and row["status"] != "enabled" and dep not in found:
                    found.append(dep)
                    pending.append(dep)
        return found


_FIX = "The configuration was not saved: fix the fields marked below."


def _pinned(name: str, schema: type[BaseModel]) -> tuple[dict[str, Any], str | None]:
    """The values the environment pins (by input key), and its error if one is invalid."""
    try:
        return env_config(name, schema), None
    except ConfigValidationError as exc:
        return dict.fromkeys(exc.errors), str(exc)


def _attach(fields: list[FormField], errors: dict[str, str]) -> list[str]:
    """Put each error on its field; return those that belong to none."""
    by_key = {one.key: one for one in fields} | {one.name: one for one in fields}
    rest: list[str] = []
    for where, reason in errors.items():
        top = re.split(r"[.\[]", where, maxsplit=1)[0]
        one = by_key.get(top)
        if one is None:
            rest.append(f"{where}: {reason}")
        else:
            one.errors.append(
                reason if where == top else f"{where[len(top) :].lstrip('.')}: {reason}"
            )
    return rest


def _plain_value(value: Any) -> str:
    """A plain-dict plugin's value for display; a masked one only says it is set."""
    return (
        json.dumps(_unmasked(value), ensure_ascii=False)
        if not isinstance(value, str)
        else (_unmasked(value))
    )


def _unmasked(value: Any) -> Any:
    """``value`` with every mask replaced by a word: not even the mask reaches the page."""
    if value == MASK:
        return "(secret: set)"
    if isinstance(value, dict):
        return {key: _unmasked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unmasked(item) for item in value]
    return value
