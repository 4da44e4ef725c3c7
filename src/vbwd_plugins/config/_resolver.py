"""What :class:`PluginManager` needs to keep a store and its plugins in step.

The store holds each plugin's configured status (``initialized``, ``enabled``,
``disabled``, ``uninstalled``) and its configuration with secrets sealed. Per-process
conditions (``registered``, ``error``) are never written. Values that come from
environment variables are never written either: they belong to the deployment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from vbwd_plugins.config._schema import env_config, is_config_schema, merge_config, validate_config
from vbwd_plugins.config._secrets import SecretBox, seal_secrets, unseal_secrets
from vbwd_plugins.errors import StoreConflictError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vbwd_plugins.plugins._model import BasePlugin
    from vbwd_plugins.stores._base import PluginRecord, StateStore

__all__ = ["PluginStateSync", "restore_plugin", "snapshot_plugin"]

logger = logging.getLogger(__name__)

#: Status-only writes re-read and retry this often when another process wrote meanwhile.
_STATUS_ATTEMPTS: Final = 5
_STATE_ATTRS: Final = ("_status", "_error", "_config", "_config_model")
_MISSING: Final = object()


def snapshot_plugin(plugin: BasePlugin) -> dict[str, object]:
    """The plugin's status, error and configuration, to put back with :func:`restore_plugin`."""
    return {attr: plugin.__dict__.get(attr, _MISSING) for attr in _STATE_ATTRS}


def restore_plugin(plugin: BasePlugin, snapshot: dict[str, object]) -> None:
    """Undo an in-memory change whose store write failed."""
    for attr, value in snapshot.items():
        if value is _MISSING:
            plugin.__dict__.pop(attr, None)
        else:
            plugin.__dict__[attr] = value


class PluginStateSync:
    """Reads and writes plugin records for one manager (not thread-safe: the manager locks)."""

    def __init__(self, store: StateStore, box: SecretBox) -> None:
        self.store = store
        self.box = box

    # -- reading -------------------------------------------------------------------------

    def stored_values(self, name: str, record: PluginRecord | None) -> dict[str, Any]:
        """The stored configuration with secrets decrypted (``{}`` without a record)."""
        if record is None:
            return {}
        values: dict[str, Any] = unseal_secrets(record.config, self.box, plugin_name=name)
        return values

    def resolve(
        self,
        name: str,
        plugin: BasePlugin,
        record: PluginRecord | None,
        given: Mapping[str, Any] | None,
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """The mapping to initialize ``plugin`` with, and the keys taken from the environment."""
        schema = type(plugin).config_schema
        return merge_config(
            name,
            schema if is_config_schema(schema) else None,
            stored=self.stored_values(name, record),
            given=given,
        )

    def differs(self, name: str, plugin: BasePlugin, values: Mapping[str, Any]) -> bool:
        """Whether initializing with ``values`` would change the plugin's configuration."""
        schema = type(plugin).config_schema
        if is_config_schema(schema):
            return validate_config(name, schema, values) != plugin.config
        current = plugin.config
        return current is None or dict(values) != dict(current)

    # -- writing -------------------------------------------------------------------------

    def storable(
        self,
        name: str,
        plugin: BasePlugin,
        env_keys: frozenset[str],
        record: PluginRecord | None,
    ) -> dict[str, Any]:
        """The plugin's configuration as stored: sealed, JSON, without environment values.

        A field pinned by the environment keeps whatever was stored for it before.
        """
        config = plugin.config
        if isinstance(config, BaseModel):
            data = config.model_dump(by_alias=True)
        else:
            data = dict(config or {})
        for key in env_keys:
            data.pop(key, None)
        sealed: dict[str, Any] = seal_secrets(data, self.box, plugin_name=name)
        if record is not None:
            for key in env_keys:
                if key in record.config:
                    sealed[key] = record.config[key]
        return sealed

    def write_config(
        self,
        name: str,
        plugin: BasePlugin,
        env_keys: frozenset[str],
        record: PluginRecord | None,
    ) -> PluginRecord:
        """Store status and configuration, guarded by the version ``record`` was read at."""
        return self.store.save(
            name,
            status=plugin.status.value,
            config=self.storable(name, plugin, env_keys, record),
            expected_version=None if record is None else record.version,
        )

    def write_status(self, name: str, plugin: BasePlugin, status: str) -> PluginRecord:
        """Store a new status, keeping the stored configuration (the source of truth).

        Without a record yet, the plugin's current configuration is stored with it. A
        concurrent write by another process is re-read and retried: only the status
        changes, so nothing stale is written.
        """
        for attempt in range(1, _STATUS_ATTEMPTS + 1):
            record = self.store.get(name)
            if record is None:
                config = self.storable(name, plugin, self.env_keys(name, plugin), None)
            else:
                config = record.config
            try:
                return self.store.save(
                    name,
                    status=status,
                    config=config,
                    expected_version=None if record is None else record.version,
                )
            except StoreConflictError:
                if attempt == _STATUS_ATTEMPTS:
                    raise
                logger.debug("Plugin %r: status write conflicted; retrying", name)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def env_keys(name: str, plugin: BasePlugin) -> frozenset[str]:
        """The configuration keys the environment sets for ``plugin``."""
        schema = type(plugin).config_schema
        return frozenset(env_config(name, schema)) if is_config_schema(schema) else frozenset()
