"""The one way the SQLite store writes: a ``BEGIN IMMEDIATE`` transaction.

``IMMEDIATE`` takes the write lock up front, so concurrent writers from other processes
queue on it instead of failing halfway through with ``SQLITE_BUSY`` on upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["immediate"]


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one transaction on an autocommit connection: commit or roll back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
