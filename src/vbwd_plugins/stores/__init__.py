"""State stores: where plugin status and (sealed) configuration persist.

:class:`SQLiteStateStore` is the embedded default; :class:`PostgresStateStore` (extra
``vbwd-plugins[postgres]``) serves several workers or machines. Both implement
:class:`StateStore` and the webhook inbox (:class:`vbwd_plugins.webhooks.WebhookInbox`);
:func:`open_store` picks one from a URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbwd_plugins._lazy import lazy_names as _lazy_names
from vbwd_plugins.stores._base import PluginRecord as PluginRecord
from vbwd_plugins.stores._base import StateStore as StateStore

if TYPE_CHECKING:
    from vbwd_plugins.stores.postgres import PostgresStateStore as PostgresStateStore
    from vbwd_plugins.stores.sqlite import SQLiteStateStore as SQLiteStateStore

__all__ = [
    "PluginRecord",
    "PostgresStateStore",
    "SQLiteStateStore",
    "StateStore",
    "open_store",
]


def open_store(url: str | None = None) -> StateStore:
    """Open the store ``url`` names: ``postgresql://...`` or a SQLite path / ``sqlite:///path``.

    ``None`` opens the default SQLite file (``$VBWD_PLUGINS_SQLITE_PATH`` or
    ``vbwd-plugins.sqlite3``).
    """
    from vbwd_plugins.stores.postgres import PostgresStateStore
    from vbwd_plugins.stores.sqlite import SQLiteStateStore

    if url is None:
        return SQLiteStateStore()
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStateStore(url)
    if url.startswith("sqlite:///"):
        return SQLiteStateStore(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise ValueError(f"Unsupported store URL scheme in {url.split('://', 1)[0]!r}://...")
    return SQLiteStateStore(url)


#: Store classes loaded on first use: their modules bring sqlite3, hashlib and migrations,
#: which ``import vbwd_plugins`` does not need.
_LAZY: dict[str, str] = {
    "PostgresStateStore": "vbwd_plugins.stores.postgres",
    "SQLiteStateStore": "vbwd_plugins.stores.sqlite",
}


__getattr__ = _lazy_names(__name__, globals(), _LAZY)
