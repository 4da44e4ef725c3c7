"""``publish(event, connection=...)`` refuses a connection it cannot record in safely.

Store-specific cases: a connection to another SQLite file, a driver of the other store, a
PostgreSQL connection to another database or in an aborted transaction. PostgreSQL cases
skip visibly without ``VBWD_TEST_POSTGRES_DSN``; each uses its own schema (and database).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores._support import drop_schema, make_target, postgres_dsn
from vbwd_plugins import Event, PluginManager
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

NAME = "order.paid"


def _noop(event: Event) -> None:
    """A listener, so that a publish has a delivery to record."""


@pytest.fixture
def sqlite_manager(tmp_path: Path) -> Iterator[PluginManager]:
    """A manager on a SQLite store in ``state.sqlite3``."""
    store = SQLiteStateStore(tmp_path / "state.sqlite3")
    manager = PluginManager(store=store)
    manager.event_dispatcher.add_listener(NAME, _noop, id="noop")
    try:
        yield manager
    finally:
        store.close()


@pytest.fixture
def pg_manager(tmp_path: Path) -> Iterator[tuple[PluginManager, PostgresStateStore]]:
    """A manager on a PostgreSQL store in a schema of its own (dropped afterwards)."""
    target = make_target("postgres", tmp_path)
    assert target.dsn is not None and target.schema is not None
    store = PostgresStateStore(target.dsn, schema=target.schema)
    manager = PluginManager(store=store)
    manager.event_dispatcher.add_listener(NAME, _noop, id="noop")
    try:
        yield manager, store
    finally:
        store.close()
        drop_schema(target.dsn, target.schema)


def test_sqlite_connection_to_another_file_is_refused_naming_both_paths(
    sqlite_manager: PluginManager, tmp_path: Path
) -> None:
    """Another file or :memory:: StoreError naming both; no transaction opened there."""
    for wrong, path in (
        (sqlite3.connect(tmp_path / "other.sqlite3"), "other.sqlite3"),
        (sqlite3.connect(":memory:"), ":memory:"),
    ):
        try:
            with pytest.raises(StoreError, match=path) as raised:
                sqlite_manager.publish(Event(NAME), connection=wrong)
            assert str(tmp_path / "state.sqlite3") in str(raised.value)
            assert not wrong.in_transaction
        finally:
            wrong.close()


def test_sqlite_connection_through_a_symlink_is_the_same_file(
    sqlite_manager: PluginManager, tmp_path: Path
) -> None:
    """The same file under another name is accepted: files are compared, not strings."""
    link = tmp_path / "alias.sqlite3"
    link.symlink_to(tmp_path / "state.sqlite3")
    conn = sqlite3.connect(link)
    try:
        ids = sqlite_manager.publish(Event(NAME), connection=conn)
        conn.commit()
    finally:
        conn.close()
    assert [r.outcome.value for r in sqlite_manager.deliveries.deliver(ids)] == ["succeeded"]


def test_psycopg_connection_to_a_sqlite_store_is_a_type_error(
    sqlite_manager: PluginManager,
) -> None:
    """The other store's driver: TypeError naming the store and psycopg's connection class."""
    import psycopg

    with (
        psycopg.connect(postgres_dsn()) as wrong,
        pytest.raises(TypeError, match=r"SQLiteStateStore.*psycopg\.Connection"),
    ):
        sqlite_manager.publish(Event(NAME), connection=wrong)


def test_async_psycopg_connection_is_a_type_error(
    pg_manager: tuple[PluginManager, PostgresStateStore],
) -> None:
    """Only a sync psycopg Connection joins: an AsyncConnection is refused by its type."""
    import asyncio

    import psycopg

    manager, _ = pg_manager

    async def connect() -> psycopg.AsyncConnection[object]:
        return await psycopg.AsyncConnection.connect(postgres_dsn())

    wrong = asyncio.run(connect())
    try:
        with pytest.raises(TypeError, match=r"PostgresStateStore.*AsyncConnection"):
            manager.publish(Event(NAME), connection=wrong)
    finally:
        asyncio.run(wrong.close())


def test_aborted_postgres_transaction_is_refused(
    pg_manager: tuple[PluginManager, PostgresStateStore],
) -> None:
    """A statement of the host failed: StoreError asking for a rollback first."""
    import psycopg

    manager, _ = pg_manager
    with psycopg.connect(postgres_dsn()) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(StoreError, match=r"aborted.*roll it back"):
            manager.publish(Event(NAME), connection=conn)


def test_postgres_connection_to_another_database_is_refused(
    pg_manager: tuple[PluginManager, PostgresStateStore],
) -> None:
    """Another database: refused without the tables, and with them (identity names both)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    manager, store = pg_manager
    dsn = postgres_dsn()
    other = f"vbwd_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin_db = admin.info.dbname
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(other)))
    try:
        other_dsn = make_conninfo(dsn, dbname=other)
        with psycopg.connect(other_dsn) as wrong:
            with pytest.raises(StoreError, match=f"database '{other}'.*has no table"):
                manager.publish(Event(NAME), connection=wrong)
            wrong.rollback()
        PostgresStateStore(other_dsn, schema=store.schema).close()  # the same tables there
        with psycopg.connect(other_dsn) as wrong:
            with pytest.raises(StoreError, match=f"database '{other}'.*not the one of") as raised:
                manager.publish(Event(NAME), connection=wrong)
            assert f"(database {admin_db!r}" in str(raised.value)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(other))
            )
    assert store.deliveries_due() == []


def test_postgres_store_in_a_non_default_schema_records_there(
    pg_manager: tuple[PluginManager, PostgresStateStore],
) -> None:
    """The host's search_path does not matter: rows go to the store's own schema."""
    import psycopg

    manager, store = pg_manager
    with psycopg.connect(postgres_dsn(), options="-c search_path=public") as conn:
        ids = manager.publish(Event(NAME), connection=conn)
        conn.commit()
    assert store.schema != "vbwd_plugins"
    one = store.delivery_get(ids[0])
    assert one is not None and one.listener_id == "noop"


class _PlainOutbox:
    """A store's outbox without ``outbox_accept_in``, as a third-party outbox may be."""

    def __init__(self, store: SQLiteStateStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name == "outbox_accept_in":
            raise AttributeError(name)
        return getattr(self._store, name)


def test_outbox_that_cannot_join_the_host_transaction_is_a_type_error(tmp_path: Path) -> None:
    """An outbox without outbox_accept_in: TypeError naming it; publish() without one works."""
    from typing import cast

    from vbwd_plugins.delivery import DeliveryService, Outbox
    from vbwd_plugins.events import EventDispatcher

    with SQLiteStateStore(tmp_path / "state.sqlite3") as store:
        service = DeliveryService(cast(Outbox, _PlainOutbox(store)), EventDispatcher())
        conn = sqlite3.connect(tmp_path / "state.sqlite3")
        try:
            with pytest.raises(TypeError, match="_PlainOutbox does not"):
                service.publish(Event(NAME), connection=conn)
        finally:
            conn.close()
        assert service.publish(Event(NAME)) == []  # no listeners: recorded, nothing to run
