"""PostgreSQL store for hosts running several workers or machines (psycopg 3).

Install with ``pip install "vbwd-plugins[postgres]"``. psycopg and psycopg-pool are
imported when a store is opened, so the core imports without them. Tables live in their own
schema (default ``vbwd_plugins``); every plugin write is one transaction that also sends
``NOTIFY`` so other workers can react at once (:meth:`PostgresStateStore.wait_for_change`).

Connections come from a pool (``psycopg_pool``) that checks each one before lending it, so
a connection the server terminated (a restart, a failover, ``pg_terminate_backend``) is
replaced on the next operation without restarting the process. The idempotent writes of the
delivery path (recording a webhook, claims, outcomes) skip that check, a round trip each:
when their connection proves broken they run again on a checked one (see
:meth:`PostgresStateStore._idempotent`). ``LISTEN`` keeps its own dedicated connection.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores._base import PluginRecord, check_write, conflict, status_times, utcnow
from vbwd_plugins.stores._inbox_postgres import PostgresInboxMixin
from vbwd_plugins.stores._migrations import apply_postgres
from vbwd_plugins.stores._outbox_postgres import PostgresOutboxMixin

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg_pool import ConnectionPool

__all__ = ["DEFAULT_SCHEMA", "NOTIFY_CHANNEL", "PostgresStateStore"]

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA: Final = "vbwd_plugins"
#: Channel every write notifies; the payload is ``"<schema>:<plugin_name>"``.
NOTIFY_CHANNEL: Final = "vbwd_plugins"

#: How often an outcome (a token-guarded, idempotent ``UPDATE``) is tried when the
#: connection drops, and the pause before the first retry (doubled each time).
MARK_TRIES: Final = 4
MARK_PAUSE: Final = 0.1

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
        import psycopg_pool  # noqa: F401  (checked here, used when the pool opens)
    except ImportError as exc:
        raise StoreError(
            f"PostgresStateStore needs psycopg 3 and psycopg-pool ({exc.name} is missing): "
            "pip install 'vbwd-plugins[postgres]'"
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
class PostgresStateStore(PostgresInboxMixin, PostgresOutboxMixin):
    """A :class:`StateStore`, webhook inbox and outbox in a PostgreSQL schema; safe across
    threads and processes.

    ``dsn`` is a libpq connection string or URL. ``schema`` is created if missing and
    migrated on open. ``pool_size`` caps the pooled connections (threads of this process
    share them); ``connect_timeout`` also bounds how long an operation waits for one.
    Open one store per process.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        connect_timeout: int = 10,
        pool_size: int = 10,
    ):
        if not _SCHEMA_RE.match(schema):
            raise StoreError(
                f"Invalid PostgreSQL schema name {schema!r}: letters, digits and '_', "
                "not starting with a digit, at most 63 characters"
            )
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise StoreError(
                f"PostgresStateStore(pool_size=...) must be an int >= 1: {pool_size!r}"
            )
        self._psycopg = _import_psycopg()
        from psycopg import sql

        self._dsn = dsn
        self._schema = schema
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._closed = False
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        # Set while this thread borrows a connection without the pool's check (``_lend``).
        self._unchecked = threading.local()
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
        # Migrate on a connection of its own: a wrong DSN or a server that is down fails
        # here, at once, rather than in the pool's background threads.
        try:
            conn = self._psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
        except self._psycopg.Error as exc:
            self._closed = True
            raise self._fail(None, "open", exc) from exc
        try:
            applied = apply_postgres(conn, schema)
        except self._psycopg.Error as exc:
            self._closed = True
            raise self._fail(None, "migrate", exc) from exc
        except BaseException:
            self._closed = True
            raise
        finally:
            conn.close()
        if applied:
            logger.info("PostgreSQL store schema %r: applied migrations %s", schema, applied)
        from psycopg_pool import ConnectionPool

        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            check=self._check,  # replaces a terminated connection
            timeout=float(connect_timeout),
            name=f"vbwd_plugins:{schema}",
            open=True,
        )

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
            pool, self._pool = self._pool, None
            self._drop_listener()
        if pool is not None:
            pool.close()

    # -- internals ---------------------------------------------------------------------

    def _fail(self, plugin_name: str | None, action: str, exc: BaseException) -> StoreError:
        who = f"Plugin {plugin_name!r}: " if plugin_name else ""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(
            f"{who}PostgreSQL store (schema {self._schema!r}) failed to {action}: {detail}",
            plugin_name=plugin_name,
        )

    def _live_pool(self, plugin_name: str | None) -> ConnectionPool[psycopg.Connection[Any]]:
        pool = self._pool
        if pool is None or self._closed:
            raise StoreError(
                f"PostgreSQL store schema {self._schema!r} is closed", plugin_name=plugin_name
            )
        return pool

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before lending ``conn`` (a round trip), unless ``_lend`` skips it."""
        if not getattr(self._unchecked, "on", False):
            from psycopg_pool import ConnectionPool

            ConnectionPool.check_connection(conn)

    @contextmanager
    def _lend(self, plugin_name: str | None, *, checked: bool) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection as ``pool.connection()`` lends it; unchecked on request."""
        pool = self._live_pool(plugin_name)
        self._unchecked.on = not checked
        try:
            conn = pool.getconn()
        finally:
            self._unchecked.on = False
        try:
            with conn:
                yield conn
        finally:
            pool.putconn(conn)  # a broken connection is discarded and replaced

    def _idempotent(
        self,
        plugin_name: str | None,
        action: str,
        work: Callable[[psycopg.Connection[Any]], _T],
    ) -> _T:
        """``work(conn)``, an idempotent write, on a connection lent without the check.

        The pool's check is a round trip per use; instead, when the connection proves
        broken (a terminated backend, a dropped link: ``OperationalError`` or
        ``InterfaceError`` with the connection closed) it is discarded and ``work`` runs
        once more on a checked one. That is safe only because a repeat is harmless even
        when the first try's commit happened and its answer was lost: a webhook is keyed
        on ``(provider, event_id)`` (the repeat finds it recorded), a claim or an outcome
        on its token. Other errors are reported at once.
        """
        psycopg = self._psycopg
        broken: BaseException | None = None
        try:
            with self._lend(plugin_name, checked=False) as conn:
                try:
                    return work(conn)
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if not conn.closed:
                        raise
                    broken = exc
        except psycopg.Error as exc:
            raise self._fail(plugin_name, action, exc) from exc
        logger.info(
            "PostgreSQL store schema %r: connection lost trying to %s (%s); trying once more "
            "on a fresh connection",
            self._schema,
            action,
            type(broken).__name__,
        )
        with self._using(plugin_name, action) as conn:
            return work(conn)

    @contextmanager
    def _using(self, plugin_name: str | None, action: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection; driver errors become :class:`StoreError`."""
        pool = self._live_pool(plugin_name)
        try:
            with pool.connection() as conn:
                yield conn
        except self._psycopg.Error as exc:
            raise self._fail(plugin_name, action, exc) from exc

    def _mark(
        self, action: str, query: sql.Composed | str, params: tuple[Any, ...] | dict[str, Any]
    ) -> int:
        """Run one token-guarded ``UPDATE`` (one statement, its own transaction: see
        ``ASYNC_COMMIT``); retry it when the connection drops.

        Safe to repeat: the guard matches the same row again (or none), so a retry after a
        commit whose answer was lost changes nothing more. Returns the row count.
        """
        psycopg = self._psycopg
        for attempt in range(1, MARK_TRIES + 1):
            try:  # the first try without the pool's check (a round trip): see _idempotent
                with self._lend(None, checked=attempt > 1) as conn:  # autocommit
                    return int(conn.execute(query, params).rowcount)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if attempt == MARK_TRIES:
                    raise self._fail(None, f"{action} ({attempt} tries)", exc) from exc
                logger.warning(
                    "PostgreSQL store schema %r: connection lost trying to %s (%s); retrying",
                    self._schema,
                    action,
                    type(exc).__name__,
                )
                if attempt > 1:  # a stale connection of the unchecked try: at once
                    time.sleep(MARK_PAUSE * 2 ** (attempt - 2))
            except psycopg.Error as exc:
                raise self._fail(None, action, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover
