"""The host side of ``publish(event, connection=...)`` tests: its own connection and table.

A :class:`Host` opens connections of the host's own (not the store's) to the target's
database and keeps an ``orders`` table there, the business write that must commit or roll
back together with the published event.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from tests.stores._support import StoreTarget


@dataclass(frozen=True)
class Host:
    """The host application on one test database (SQLite file or PostgreSQL schema)."""

    target: StoreTarget

    @property
    def orders(self) -> str:
        """The business table, qualified by the test schema on PostgreSQL."""
        if self.target.kind == "sqlite":
            return "orders"
        return f'"{self.target.schema}".orders'

    def connect(self, **options: Any) -> Any:
        """A new connection of the host's own: default transaction handling unless told."""
        if self.target.kind == "sqlite":
            assert self.target.sqlite_path is not None
            return sqlite3.connect(self.target.sqlite_path, timeout=30, **options)
        import psycopg

        assert self.target.dsn is not None
        return psycopg.connect(self.target.dsn, **options)

    def create_orders(self) -> None:
        """Create the business table (after the store created the database / schema)."""
        conn = self.connect()
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.orders} (id TEXT PRIMARY KEY)")
            conn.commit()
        finally:
            conn.close()

    def insert_order(self, conn: Any, order_id: str) -> None:
        """The host's business write, on ``conn``, in its transaction."""
        mark = "?" if self.target.kind == "sqlite" else "%s"
        conn.execute(f"INSERT INTO {self.orders} (id) VALUES ({mark})", (order_id,))

    def order_ids(self) -> set[str]:
        """The committed orders, read on a fresh connection."""
        conn = self.connect()
        try:
            return {row[0] for row in conn.execute(f"SELECT id FROM {self.orders}").fetchall()}
        finally:
            conn.close()
