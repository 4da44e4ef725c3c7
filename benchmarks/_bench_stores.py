"""Throw-away stores for the benchmarks: a SQLite file on real disk, a PostgreSQL schema."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vbwd_plugins import (
    PostgresStateStore,
    SQLiteStateStore,
)


@contextmanager
def sqlite_store(synchronous: str = "NORMAL") -> Iterator[SQLiteStateStore]:
    """An empty SQLite store; a real file next to the benchmarks (not a RAM file system)."""
    folder = tempfile.mkdtemp(prefix="vbwd-bench-", dir=Path(__file__).resolve().parent)
    store = SQLiteStateStore(Path(folder) / "bench.sqlite3")
    store.inbox_synchronous = synchronous
    try:
        yield store
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_store(dsn: str) -> Iterator[PostgresStateStore]:
    """An empty PostgreSQL store in its own schema, dropped afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"vbwd_bench_{uuid.uuid4().hex[:12]}"
    store = PostgresStateStore(dsn, schema=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
