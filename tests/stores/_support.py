"""Store targets shared by the store tests and their child processes (``tests.stores._support``).

A :class:`StoreTarget` names one database (a SQLite file or a PostgreSQL schema) and can
open any number of independent stores on it, in this process or a spawned one.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore, StateStore


@dataclass(frozen=True)
class StoreTarget:
    """One database location; picklable so child processes can open it too."""

    kind: str
    sqlite_path: str | None = None
    dsn: str | None = None
    schema: str | None = None

    def open(self) -> StateStore:
        """Open a new, independent store on this database."""
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            return SQLiteStateStore(self.sqlite_path)
        assert self.dsn is not None and self.schema is not None
        return PostgresStateStore(self.dsn, schema=self.schema)

    def raw_contents(self, table: str = "plugin_config") -> bytes:
        """Everything the database holds for ``table``'s rows, as raw bytes.

        SQLite: the bytes of the database file and its WAL / shared-memory files (every
        table). PostgreSQL: every row of ``table`` as text, exactly as stored.
        """
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            base = Path(self.sqlite_path)
            parts = [base, Path(f"{base}-wal"), Path(f"{base}-shm"), Path(f"{base}-journal")]
            return b"".join(p.read_bytes() for p in parts if p.exists())
        import psycopg
        from psycopg import sql

        assert self.dsn is not None and self.schema is not None
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(self.schema, table))
            ).fetchall()
        return "\n".join(row[0] for row in rows).encode("utf-8")

    def migration_versions(self) -> list[int]:
        """The rows of the migrations table."""
        if self.kind == "sqlite":
            import sqlite3

            assert self.sqlite_path is not None
            conn = sqlite3.connect(self.sqlite_path)
            try:
                rows = conn.execute("SELECT version FROM vbwd_schema_migrations").fetchall()
            finally:
                conn.close()
        else:
            import psycopg
            from psycopg import sql

            assert self.dsn is not None and self.schema is not None
            with psycopg.connect(self.dsn) as pg:
                rows = pg.execute(
                    sql.SQL("SELECT version FROM {}").format(
                        sql.Identifier(self.schema, "vbwd_schema_migrations")
                    )
                ).fetchall()
        return sorted(row[0] for row in rows)


def postgres_dsn() -> str:
    """The test DSN, or skip with the reason."""
    dsn = os.environ.get("VBWD_TEST_POSTGRES_DSN", "").strip()
    if not dsn:
        pytest.skip("PostgreSQL store tests need VBWD_TEST_POSTGRES_DSN (CI sets it)")
    return dsn


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a test schema and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def make_target(kind: str, tmp_path: Path) -> StoreTarget:
    """A fresh, empty database of ``kind``."""
    if kind == "sqlite":
        return StoreTarget("sqlite", sqlite_path=str(tmp_path / "state.sqlite3"))
    return StoreTarget("postgres", dsn=postgres_dsn(), schema=f"vbwd_test_{uuid.uuid4().hex[:16]}")
