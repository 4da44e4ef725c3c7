"""The host's own connection, checked and prepared for recording events in its transaction.

``manager.publish(event, connection=conn)`` writes the event and its deliveries with the
stores' usual statements, but on the host's open connection, so they commit or roll back
with the host's own writes (the transactional outbox). What is checked first, so that an
event is never recorded where no sweep looks and never committed by us:

- the connection's kind: ``sqlite3.Connection`` for the SQLite store, a psycopg 3
  ``Connection`` for the PostgreSQL store (:class:`TypeError` otherwise);
- its database: the store's file (SQLite, as its main database) or the store's server,
  database and schema tables (PostgreSQL);
- its transaction: one the host has open, or one the driver opens implicitly at the first
  statement and the host commits (``sqlite3``'s default ``isolation_level``, psycopg's
  default ``autocommit=False``). An autocommit connection outside a transaction is refused:
  there is no host transaction to join. An aborted PostgreSQL transaction is refused too.

The writes run under a savepoint: if one fails, they are undone, the host's transaction is
left as it was, and :class:`~vbwd_plugins.errors.StoreError` is raised. Nothing here commits.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol

from vbwd_plugins.errors import StoreError

if TYPE_CHECKING:
    import psycopg

__all__ = ["postgres_in_host_transaction", "sqlite_in_host_transaction"]

_SAVEPOINT: Final = "vbwd_publish"
_NO_TRANSACTION: Final = (
    "is in autocommit mode outside a transaction, so the event would commit on its own: "
    "open the transaction first ({how}), or call publish(event) without connection="
)


def _kind(connection: object) -> str:
    kind = type(connection)
    return f"{kind.__module__}.{kind.__qualname__}"


# -- SQLite ------------------------------------------------------------------------------


def _main_file(rows: Sequence[Sequence[Any]]) -> str:
    """The file of the ``main`` database in ``PRAGMA database_list`` rows ('' in memory)."""
    return next((str(row[2] or "") for row in rows if row[1] == "main"), "")


def _same_file(first: str, second: str) -> bool:
    try:
        return bool(first) and bool(second) and os.path.samefile(first, second)
    except OSError:
        return False


def _begin_sqlite(store: str, conn: sqlite3.Connection) -> None:
    """Make sure a transaction the host commits is open on ``conn``; refuse autocommit."""
    if conn.in_transaction:
        return
    # Python 3.12+: ``autocommit`` True never opens one; False always has one open.
    if getattr(conn, "autocommit", None) is True or conn.isolation_level is None:
        how = 'conn.execute("BEGIN")'
        raise StoreError(
            f"The sqlite3 connection given to {store} {_NO_TRANSACTION.format(how=how)}"
        )
    # Legacy transaction control: sqlite3 would BEGIN before our first INSERT anyway; do it
    # now, so the savepoint below nests in it instead of being a transaction of its own.
    conn.execute(f"BEGIN {conn.isolation_level}".rstrip())


def _check_sqlite(
    store: str, store_files: Sequence[Sequence[Any]], conn: sqlite3.Connection
) -> None:
    ours = _main_file(store_files)
    theirs = _main_file(conn.execute("PRAGMA database_list").fetchall())
    if not _same_file(theirs, ours):
        raise StoreError(
            f"publish(connection=...): the connection's main database is "
            f"{theirs or ':memory:'!r}, not the file of {store} ({ours or ':memory:'!r}); "
            "the event must be recorded where the store's runners and sweeps look"
        )


@contextmanager
def sqlite_in_host_transaction(
    store: str, store_files: Sequence[Sequence[Any]], connection: object
) -> Iterator[sqlite3.Connection]:
    """``connection`` checked (same file as the store's ``PRAGMA database_list``), in a
    savepoint of the host's transaction, reading tuples of ``str``; driver errors become
    :class:`StoreError`."""
    if not isinstance(connection, sqlite3.Connection):
        raise TypeError(
            f"publish(connection=...) on {store} needs the host's sqlite3.Connection to the "
            f"same database file, got {_kind(connection)}"
        )
    row_factory, text_factory = connection.row_factory, connection.text_factory
    try:
        connection.row_factory, connection.text_factory = None, str
        _check_sqlite(store, store_files, connection)
        _begin_sqlite(store, connection)
        connection.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield connection
        except BaseException:
            connection.execute(f"ROLLBACK TO {_SAVEPOINT}")
            raise
        finally:
            connection.execute(f"RELEASE {_SAVEPOINT}")
    except sqlite3.Error as exc:
        raise StoreError(
            f"{store} failed to record events in the host's transaction: {exc}"
        ) from exc
    finally:
        connection.row_factory, connection.text_factory = row_factory, text_factory


# -- PostgreSQL --------------------------------------------------------------------------


class _PostgresStore(Protocol):
    """What the check needs of :class:`PostgresStateStore`."""

    _schema: str

    def _using(
        self, plugin_name: str | None, action: str
    ) -> AbstractContextManager[psycopg.Connection[Any]]: ...


#: Same server (its start time), same database, same table: what both connections must see.
_IDENTITY: Final = "SELECT current_database(), pg_postmaster_start_time(), to_regclass(%s)::oid"
#: Each store's identity, read through its own pool; read again when it no longer matches
#: (the server restarted).
_IDENTITIES: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _identity(conn: psycopg.Connection[Any], table: str) -> tuple[Any, ...]:
    from psycopg.rows import tuple_row

    with conn.cursor(row_factory=tuple_row) as cursor:
        row = cursor.execute(_IDENTITY, (table,)).fetchone()
    assert row is not None  # a SELECT without FROM answers one row
    return tuple(row)


def _check_postgres(store: _PostgresStore, conn: psycopg.Connection[Any]) -> None:
    from psycopg import pq

    name = repr(store)
    status = conn.info.transaction_status
    if status == pq.TransactionStatus.INERROR:
        raise StoreError(
            f"publish(connection=...) on {name}: the host's transaction is aborted (a "
            "statement failed); roll it back first"
        )
    if status == pq.TransactionStatus.IDLE and conn.autocommit:
        how = "with conn.transaction(): ..."
        raise StoreError(
            f"The psycopg connection given to {name} {_NO_TRANSACTION.format(how=how)}"
        )
    table = f'"{store._schema}".vbwd_deliveries'  # the schema name is checked: no quotes
    theirs = _identity(conn, table)  # opens the implicit transaction when not autocommit
    if theirs[2] is None:
        raise StoreError(
            f"publish(connection=...): the connection (database {theirs[0]!r}) has no table "
            f"{table}: it is not connected to the database of {name}"
        )
    if _IDENTITIES.get(store) != theirs:
        with store._using(None, "read its database's identity") as own:
            _IDENTITIES[store] = _identity(own, table)
    ours = _IDENTITIES[store]
    if ours != theirs:
        raise StoreError(
            f"publish(connection=...): the connection is to database {theirs[0]!r} (server "
            f"started {theirs[1]}, table oid {theirs[2]}), not the one of {name} (database "
            f"{ours[0]!r}, server started {ours[1]}, table oid {ours[2]})"
        )


@contextmanager
def postgres_in_host_transaction(
    store: _PostgresStore, connection: object
) -> Iterator[psycopg.Connection[Any]]:
    """``connection`` checked (same database and schema tables), in a savepoint of the
    host's transaction, reading tuple rows; driver errors become :class:`StoreError`."""
    import psycopg  # the store's own driver: installed

    if not isinstance(connection, psycopg.Connection):
        raise TypeError(
            f"publish(connection=...) on {store!r} needs the host's psycopg 3 Connection "
            f"(sync) to the store's database, got {_kind(connection)}"
        )
    from psycopg.rows import tuple_row

    conn = connection
    row_factory = conn.row_factory
    try:
        _check_postgres(store, conn)
        conn.row_factory = tuple_row
        with conn.transaction():  # a savepoint: the check above left a transaction open
            yield conn
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(
            f"{store!r} failed to record events in the host's transaction: {detail}"
        ) from exc
    finally:
        conn.row_factory = row_factory
