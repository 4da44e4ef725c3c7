"""The embedded default store: one SQLite file, standard library only.

WAL journaling lets readers run while a writer commits; every write is a
``BEGIN IMMEDIATE`` transaction (or a single statement), so two processes serialize on the
write lock and a process killed mid-write leaves the previous state (SQLite rolls the
journal back).

Two connections, each at one fixed ``PRAGMA synchronous`` level (never switched per write):
the store's own at ``FULL`` for plugin configuration and for recording webhooks and their
deliveries, and a second one at :attr:`SQLiteStateStore.inbox_synchronous` (``NORMAL`` by
default) for claims and outcomes, which a power cut may roll back without losing an event.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final, final

from vbwd_plugins.delivery._model import delivery_prefix
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores._base import PluginRecord, check_write, conflict, status_times, utcnow
from vbwd_plugins.stores._inbox_sqlite import SQLiteInboxMixin
from vbwd_plugins.stores._migrations import apply_sqlite
from vbwd_plugins.stores._outbox_sqlite import PREFIX_FUNCTION, SQLiteOutboxMixin
from vbwd_plugins.stores._sqlite_tx import immediate

__all__ = ["DEFAULT_SQLITE_PATH", "ENV_SQLITE_PATH", "SQLiteStateStore"]

logger = logging.getLogger(__name__)

#: Environment variable naming the database file when no path is given.
ENV_SQLITE_PATH: Final = "VBWD_PLUGINS_SQLITE_PATH"
#: File used when neither a path nor the variable is given (relative to the working dir).
DEFAULT_SQLITE_PATH: Final = "vbwd-plugins.sqlite3"

_LEVELS: Final = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}  # OFF could corrupt the file

_COLUMNS: Final = (
    "plugin_name, status, config, version, enabled_at, disabled_at, created_at, updated_at"
)


def _to_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _record(row: tuple[Any, ...]) -> PluginRecord:
    name, status, config, version, enabled_at, disabled_at, created_at, updated_at = row
    created = _from_text(created_at)
    updated = _from_text(updated_at)
    assert created is not None and updated is not None  # NOT NULL columns
    return PluginRecord(
        plugin_name=name,
        status=status,
        config=json.loads(config),
        version=version,
        enabled_at=_from_text(enabled_at),
        disabled_at=_from_text(disabled_at),
        created_at=created,
        updated_at=updated,
    )


@final
class SQLiteStateStore(SQLiteInboxMixin, SQLiteOutboxMixin):
    """A :class:`StateStore`, webhook inbox and outbox in a SQLite file; safe across threads
    and processes.

    ``path`` defaults to ``$VBWD_PLUGINS_SQLITE_PATH`` or ``vbwd-plugins.sqlite3``.
    ``timeout`` is how long a write waits for another process's write lock. Open one store
    per process (a connection must not cross ``fork``).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0):
        if path is None:
            path = os.environ.get(ENV_SQLITE_PATH) or DEFAULT_SQLITE_PATH
        self._path = str(path)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._marks: sqlite3.Connection | None = None  # claims and outcomes; opened on use
        self._marks_level: int | None = None
        self._data_version: int | None = None
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open SQLite store {self._path!r}: {exc}") from exc
        try:
            self._set_wal(conn, timeout)
            conn.execute("PRAGMA synchronous=FULL")
            applied = apply_sqlite(conn, repr(self._path))
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"Cannot open SQLite store {self._path!r}: {exc}") from exc
        if applied:
            logger.info("SQLite store %r: applied migrations %s", self._path, applied)
        self._conn = conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        # An event's deliveries are the ids starting with this (see migration 3).
        conn.create_function(PREFIX_FUNCTION, 1, delivery_prefix, deterministic=True)
        return conn

    @staticmethod
    def _set_wal(conn: sqlite3.Connection, timeout: float) -> None:
        # Switching to WAL needs a moment of exclusive access; the busy handler does not
        # cover it on every SQLite version, so retry while other processes hold the file.
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    def __repr__(self) -> str:
        return f"<SQLiteStateStore {self._path!r}>"

    def __enter__(self) -> SQLiteStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------

    def get(self, plugin_name: str) -> PluginRecord | None:
        """The record of ``plugin_name``, or ``None``."""
        with self._using(plugin_name, "read") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM plugin_config WHERE plugin_name = ?", (plugin_name,)
            ).fetchone()
        return None if row is None else _record(row)

    def list(self) -> list[PluginRecord]:
        """Every record, ordered by plugin name."""
        with self._using(None, "read") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM plugin_config ORDER BY plugin_name"
            ).fetchall()
        return [_record(row) for row in rows]

    # -- writes ------------------------------------------------------------------------

    def save(
        self,
        plugin_name: str,
        *,
        status: str,
        config: dict[str, Any],
        expected_version: int | None,
    ) -> PluginRecord:
        """Insert or optimistically update; see :meth:`StateStore.save`."""
        payload = check_write(plugin_name, status, config)
        now = utcnow()
        with self._transaction(plugin_name, "save") as conn:
            row = conn.execute(
                "SELECT status, version, enabled_at, disabled_at, created_at "
                "FROM plugin_config WHERE plugin_name = ?",
                (plugin_name,),
            ).fetchone()
            if expected_version is None:
                if row is not None:
                    raise conflict(plugin_name, None, row[1])
                enabled_at, disabled_at = status_times(None, status, None, None, now)
                conn.execute(
                    f"INSERT INTO plugin_config (id, {_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
                    (
                        str(uuid.uuid4()),
                        plugin_name,
                        status,
                        payload,
                        _to_text(enabled_at),
                        _to_text(disabled_at),
                        _to_text(now),
                        _to_text(now),
                    ),
                )
                version, created = 1, now
            else:
                if row is None or row[1] != expected_version:
                    raise conflict(plugin_name, expected_version, None if row is None else row[1])
                old_status, _, old_enabled, old_disabled, created_text = row
                enabled_at, disabled_at = status_times(
                    old_status, status, _from_text(old_enabled), _from_text(old_disabled), now
                )
                version = expected_version + 1
                conn.execute(
                    "UPDATE plugin_config SET status = ?, config = ?, version = ?, "
                    "enabled_at = ?, disabled_at = ?, updated_at = ? "
                    "WHERE plugin_name = ? AND version = ?",
                    (
                        status,
                        payload,
                        version,
                        _to_text(enabled_at),
                        _to_text(disabled_at),
                        _to_text(now),
                        plugin_name,
                        expected_version,
                    ),
                )
                created = _from_text(created_text) or now
        return PluginRecord(
            plugin_name=plugin_name,
            status=status,
            config=json.loads(payload),
            version=version,
            enabled_at=enabled_at,
            disabled_at=disabled_at,
            created_at=created,
            updated_at=now,
        )

    def delete(self, plugin_name: str, *, expected_version: int) -> None:
        """Delete the row if its version matches; :class:`StoreConflictError` otherwise."""
        with self._transaction(plugin_name, "delete") as conn:
            row = conn.execute(
                "SELECT version FROM plugin_config WHERE plugin_name = ?", (plugin_name,)
            ).fetchone()
            if row is None or row[0] != expected_version:
                raise conflict(plugin_name, expected_version, None if row is None else row[0])
            conn.execute("DELETE FROM plugin_config WHERE plugin_name = ?", (plugin_name,))

    def wait_for_change(self, timeout: float, *, poll_interval: float = 0.2) -> bool:
        """Block up to ``timeout`` seconds for a write by another connection or process.

        Returns ``True`` as soon as one is seen (also one made since the previous call),
        ``False`` on timeout. Polls SQLite's ``data_version`` every ``poll_interval``.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._using(None, "wait for changes") as conn:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            if self._data_version is None:
                self._data_version = version
            elif version != self._data_version:
                self._data_version = version
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(poll_interval, remaining))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            for conn in (self._conn, self._marks):
                if conn is not None:
                    conn.close()
            self._conn = self._marks = None

    # -- internals ---------------------------------------------------------------------

    def _fail(self, plugin_name: str | None, action: str, exc: BaseException) -> StoreError:
        who = f"Plugin {plugin_name!r}: " if plugin_name else ""
        return StoreError(
            f"{who}SQLite store {self._path!r} failed to {action}: {exc}",
            plugin_name=plugin_name,
        )

    @contextmanager
    def _using(self, plugin_name: str | None, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"SQLite store {self._path!r} is closed", plugin_name=plugin_name)
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._fail(plugin_name, action, exc) from exc

    @contextmanager
    def _marking(self, plugin_name: str | None, action: str) -> Iterator[sqlite3.Connection]:
        """The second connection, at :attr:`inbox_synchronous`: for claims and outcomes."""
        level = _LEVELS.get(str(self.inbox_synchronous).upper())
        if level is None:
            raise StoreError(
                f"inbox_synchronous must be one of {sorted(_LEVELS)}, "
                f"got {self.inbox_synchronous!r}"
            )
        with self._using(plugin_name, action):
            if self._marks is None:
                self._marks = self._connect()
                self._marks_level = None
            if level != self._marks_level:  # only when the setting changes
                self._marks.execute(f"PRAGMA synchronous={level}")
                self._marks_level = level
            yield self._marks

    @contextmanager
    def _transaction(self, plugin_name: str, action: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._using(plugin_name, action) as conn, immediate(conn):
            yield conn
