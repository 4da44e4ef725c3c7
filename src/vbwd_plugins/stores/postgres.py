"""PostgreSQL store for hosts running several workers or machines (psycopg 3).

Install with ``pip install "vbwd-plugins[postgres]"``. psycopg is imported when a store
is opened, so the core imports without it. Tables live in their own schema (default
``vbwd_plugins``); every write is one transaction that also sends ``NOTIFY`` so other
workers can react at once (:meth:`PostgresStateStore.wait_for_change`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, final

from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores._base import PluginRecord, check_write, conflict, status_times, utcnow
from vbwd_plugins.stores._inbox_postgres import PostgresInboxMixin
from vbwd_plugins.stores._migrations import apply_postgres

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["DEFAULT_SCHEMA", "NOTIFY_CHANNEL", "PostgresStateStore"]

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA: Final = "vbwd_plugins"
#: Channel every write notifies; the payload is ``"<schema>:<plugin_name>"``.
NOTIFY_CHANNEL: Final = "vbwd_plugins"

_SCHEMA_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_COLUMNS: Final = (
    "plugin_name",
    "status",
    "config",
    "version",
    "enabled_at",
    "disabled_at",
    "created_at",
    "updated_at",
)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            "PostgresStateStore needs psycopg 3: pip install 'vbwd-plugins[postgres]'"
        ) from exc
    return psycopg


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _record(row: tuple[Any, ...]) -> PluginRecord:
    name, status, config, version, enabled_at, disabled_at, created_at, updated_at = row
    return PluginRecord(
        plugin_name=name,
        status=status,
        config=config,
        version=version,
        enabled_at=_utc(enabled_at),
        disabled_at=_utc(disabled_at),
        created_at=created_at.astimezone(UTC),
        updated_at=updated_at.astimezone(UTC),
    )


@final
class PostgresStateStore(PostgresInboxMixin):
    """A :class:`StateStore` in a PostgreSQL schema; safe across threads and processes.

    ``dsn`` is a libpq connection string or URL. ``schema`` is created if missing and
    migrated on open. Open one store per process.
    """

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, connect_timeout: int = 10):
        if not _SCHEMA_RE.match(schema):
            raise StoreError(
                f"Invalid PostgreSQL schema name {schema!r}: letters, digits and '_', "
                "not starting with a digit, at most 63 characters"
            )
        self._psycopg = _import_psycopg()
        from psycopg import sql

        self._dsn = dsn
        self._schema = schema
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._closed = False
        self._conn: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        table = sql.Identifier(schema, "plugin_config")
        columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        self._q: dict[str, sql.Composed] = {
            "get": sql.SQL("SELECT {} FROM {} WHERE plugin_name = %s").format(columns, table),
            "lock": sql.SQL(
                "SELECT status, version, enabled_at, disabled_at, created_at "
                "FROM {} WHERE plugin_name = %s FOR UPDATE"
            ).format(table),
            "list": sql.SQL("SELECT {} FROM {} ORDER BY plugin_name").format(columns, table),
            "insert": sql.SQL(
                "INSERT INTO {} ({}) VALUES (%s, %s, %s::jsonb, 1, %s, %s, %s, %s) "
                "ON CONFLICT (plugin_name) DO NOTHING RETURNING {}"
            ).format(table, columns, columns),
            "update": sql.SQL(
                "UPDATE {} SET status = %s, config = %s::jsonb, version = version + 1, "
                "enabled_at = %s, disabled_at = %s, updated_at = %s "
                "WHERE plugin_name = %s AND version = %s RETURNING {}"
            ).format(table, columns),
            "delete": sql.SQL("DELETE FROM {} WHERE plugin_name = %s").format(table),
            "version": sql.SQL("SELECT version FROM {} WHERE plugin_name = %s").format(table),
        }
        with self._lock:
            conn = self._connection(None, "open")
            try:
                applied = apply_postgres(conn, schema)
            except BaseException as exc:
                conn.close()
                self._conn = None
                self._closed = True
                if isinstance(exc, self._psycopg.Error):
                    raise self._fail(None, "migrate", exc) from exc
                raise
        if applied:
            logger.info("PostgreSQL store schema %r: applied migrations %s", schema, applied)

    @property
    def schema(self) -> str:
        """The schema holding the tables."""
        return self._schema

    def __repr__(self) -> str:
        return f"<PostgresStateStore schema={self._schema!r}>"

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------

    def get(self, plugin_name: str) -> PluginRecord | None:
        """The record of ``plugin_name``, or ``None``."""
        with self._using(plugin_name, "read") as conn:
            row = conn.execute(self._q["get"], (plugin_name,)).fetchone()
        return None if row is None else _record(row)

    def list(self) -> list[PluginRecord]:
        """Every record, ordered by plugin name."""
        with self._using(None, "read") as conn:
            rows = conn.execute(self._q["list"]).fetchall()
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
        with self._using(plugin_name, "save") as conn, conn.transaction():
            if expected_version is None:
                enabled_at, disabled_at = status_times(None, status, None, None, now)
                row = conn.execute(
                    self._q["insert"],
                    (plugin_name, status, payload, enabled_at, disabled_at, now, now),
                ).fetchone()
                if row is None:
                    found = conn.execute(self._q["version"], (plugin_name,)).fetchone()
                    raise conflict(plugin_name, None, None if found is None else found[0])
            else:
                current = conn.execute(self._q["lock"], (plugin_name,)).fetchone()
                if current is None or current[1] != expected_version:
                    actual = None if current is None else current[1]
                    raise conflict(plugin_name, expected_version, actual)
                enabled_at, disabled_at = status_times(
                    current[0], status, current[2], current[3], now
                )
                row = conn.execute(
                    self._q["update"],
                    (status, payload, enabled_at, disabled_at, now, plugin_name, expected_version),
                ).fetchone()
                assert row is not None  # the row is locked FOR UPDATE
            self._notify(conn, plugin_name)
        return _record(row)

    def delete(self, plugin_name: str, *, expected_version: int) -> None:
        """Delete the row if its version matches; :class:`StoreConflictError` otherwise."""
        with self._using(plugin_name, "delete") as conn, conn.transaction():
            current = conn.execute(self._q["lock"], (plugin_name,)).fetchone()
            if current is None or current[1] != expected_version:
                raise conflict(
                    plugin_name, expected_version, None if current is None else current[1]
                )
            conn.execute(self._q["delete"], (plugin_name,))
            self._notify(conn, plugin_name)

    def _notify(self, conn: psycopg.Connection[Any], plugin_name: str) -> None:
        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{self._schema}:{plugin_name}"))

    # -- change notification -----------------------------------------------------------

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a write to this schema (by any process).

        Returns whether one arrived. The first call starts listening, so a change made
        before it is not seen: call :meth:`PluginManager.refresh` after the first call too.
        """
        prefix = f"{self._schema}:"
        try:
            listener = self._listen()
            for notify in listener.notifies(timeout=timeout):
                if notify.payload.startswith(prefix):
                    return True
        except self._psycopg.Error as exc:
            self._drop_listener()
            raise self._fail(None, "wait for changes", exc) from exc
        return False

    def _listen(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError(f"PostgreSQL store schema {self._schema!r} is closed")
        if self._listener is None or self._listener.closed:
            listener = self._psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=self._connect_timeout
            )
            listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listener = listener
        return self._listener

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections (idempotent)."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._drop_listener()

    # -- internals ---------------------------------------------------------------------

    def _fail(self, plugin_name: str | None, action: str, exc: BaseException) -> StoreError:
        who = f"Plugin {plugin_name!r}: " if plugin_name else ""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(
            f"{who}PostgreSQL store (schema {self._schema!r}) failed to {action}: {detail}",
            plugin_name=plugin_name,
        )

    def _connection(self, plugin_name: str | None, action: str) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError(
                f"PostgreSQL store schema {self._schema!r} is closed", plugin_name=plugin_name
            )
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = self._psycopg.connect(
                    self._dsn, autocommit=True, connect_timeout=self._connect_timeout
                )
            except self._psycopg.Error as exc:
                raise self._fail(plugin_name, action, exc) from exc
        assert self._conn is not None
        return self._conn

    @contextmanager
    def _using(self, plugin_name: str | None, action: str) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._connection(plugin_name, action)
            try:
                yield conn
            except self._psycopg.Error as exc:
                raise self._fail(plugin_name, action, exc) from exc
