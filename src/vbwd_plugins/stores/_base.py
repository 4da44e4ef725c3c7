"""The state store contract: one ``plugin_config`` row per plugin, optimistically locked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol, runtime_checkable

from vbwd_plugins.errors import StoreConflictError, StoreError
from vbwd_plugins.plugins._model import PluginStatus

__all__ = ["PluginRecord", "StateStore"]

_STATUSES: Final = frozenset(s.value for s in PluginStatus)
_ENABLED: Final = PluginStatus.ENABLED.value
_DISABLED: Final = PluginStatus.DISABLED.value


@dataclass(frozen=True, slots=True)
class PluginRecord:
    """One stored plugin: status, configuration and the row version guarding updates."""

    plugin_name: str
    #: A :class:`PluginStatus` value.
    status: str
    #: JSON-able; secret fields are sealed tokens, never plaintext.
    config: dict[str, Any]
    #: Optimistic-lock row version: 1 on insert, +1 on every update.
    version: int
    enabled_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


@runtime_checkable
class StateStore(Protocol):
    """Where plugin status and configuration persist; implement it for another database.

    Every write is one transaction: it happens completely or not at all.
    """

    def get(self, plugin_name: str) -> PluginRecord | None:
        """The record of ``plugin_name``, or ``None``."""
        ...

    def list(self) -> list[PluginRecord]:
        """Every record, ordered by plugin name."""
        ...

    def save(
        self,
        plugin_name: str,
        *,
        status: str,
        config: dict[str, Any],
        expected_version: int | None,
    ) -> PluginRecord:
        """Insert (``expected_version=None``) or update the row whose version matches.

        An update sets ``version`` to ``expected_version + 1``; ``enabled_at`` /
        ``disabled_at`` record when the status last became enabled / disabled. A row that
        exists on insert, or whose version differs on update, raises
        :class:`StoreConflictError` naming the plugin, and nothing is written.
        """
        ...

    def delete(self, plugin_name: str, *, expected_version: int) -> None:
        """Delete the row if its version matches; :class:`StoreConflictError` otherwise."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


# -- helpers shared by the implementations --------------------------------------------


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every timestamp a store returns is)."""
    return datetime.now(UTC)


def check_write(plugin_name: str, status: str, config: Mapping[str, Any]) -> str:
    """Validate a write's arguments; return ``config`` as compact, strict JSON."""
    if not isinstance(plugin_name, str) or not plugin_name or len(plugin_name) > 100:
        raise StoreError(f"Invalid plugin name {plugin_name!r} (1 to 100 characters)")
    if status not in _STATUSES:
        raise StoreError(
            f"Plugin {plugin_name!r}: cannot store status {status!r}: "
            f"not one of {sorted(_STATUSES)}",
            plugin_name=plugin_name,
        )
    try:
        payload = json.dumps(dict(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"Plugin {plugin_name!r}: configuration is not JSON-serializable "
            f"({type(exc).__name__}); seal secrets and convert values before saving",
            plugin_name=plugin_name,
        ) from None
    bad = _unstorable_text(config)
    if bad is not None:
        # PostgreSQL's jsonb refuses these; refuse them everywhere so stores agree.
        raise StoreError(
            f"Plugin {plugin_name!r}: configuration field {bad!r} holds a NUL character or "
            "an unpaired surrogate, which cannot be stored",
            plugin_name=plugin_name,
        )
    return payload


def _unstorable_text(value: object, path: str = "") -> str | None:
    """The path of the first string (or key) a JSON store cannot hold, or ``None``."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "(value)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(value)"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _unstorable_text(key, where) or _unstorable_text(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def status_times(
    old_status: str | None,
    new_status: str,
    enabled_at: datetime | None,
    disabled_at: datetime | None,
    now: datetime,
) -> tuple[datetime | None, datetime | None]:
    """``(enabled_at, disabled_at)`` after a change from ``old_status`` to ``new_status``."""
    if new_status == _ENABLED and old_status != _ENABLED:
        enabled_at = now
    if new_status == _DISABLED and old_status != _DISABLED:
        disabled_at = now
    return enabled_at, disabled_at


def conflict(
    plugin_name: str, expected_version: int | None, actual_version: int | None
) -> StoreConflictError:
    """The error for a stale or impossible write (nothing was written)."""
    if expected_version is None:
        why = f"a record already exists (version {actual_version}); update it instead"
    elif actual_version is None:
        why = f"expected version {expected_version}, but there is no record"
    else:
        why = (
            f"expected version {expected_version}, found {actual_version}: another "
            "process changed it; reload and retry"
        )
    return StoreConflictError(
        f"Plugin {plugin_name!r}: stale write refused, nothing written: {why}",
        plugin_name=plugin_name,
        expected_version=expected_version,
        actual_version=actual_version,
    )
