"""Versioned schema migrations, applied when a store opens.

Each migration runs once per database (SQLite file or PostgreSQL schema) and is recorded
in ``vbwd_schema_migrations``. Opening is idempotent and safe when several processes open
the same store at once: SQLite serializes them with ``BEGIN IMMEDIATE``, PostgreSQL with a
transaction-scoped advisory lock; the whole run is one transaction either way.

To change the schema, append a :class:`Migration` with the next version; never edit one
that has shipped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores._sqlite_tx import immediate

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "Migration", "apply_postgres", "apply_sqlite", "latest_version"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step; PostgreSQL statements name the schema as ``{schema}``."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "plugin_config table",
        sqlite=(
            """
            CREATE TABLE plugin_config (
                id TEXT PRIMARY KEY,
                plugin_name TEXT NOT NULL UNIQUE
                    CHECK (length(plugin_name) BETWEEN 1 AND 100),
                status TEXT NOT NULL DEFAULT 'disabled' CHECK (length(status) <= 20),
                config TEXT NOT NULL DEFAULT '{}',
                enabled_at TEXT,
                disabled_at TEXT,
                version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX idx_plugin_config_status ON plugin_config (status)",
        ),
        postgres=(
            """
            CREATE TABLE {schema}.plugin_config (
                id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
                plugin_name VARCHAR(100) NOT NULL UNIQUE,
                status VARCHAR(20) NOT NULL DEFAULT 'disabled',
                config JSONB NOT NULL DEFAULT '{{}}'::jsonb,
                enabled_at TIMESTAMPTZ,
                disabled_at TIMESTAMPTZ,
                version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
                created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
            )
            """,
            "CREATE INDEX idx_plugin_config_status ON {schema}.plugin_config (status)",
        ),
    ),
    Migration(
        2,
        "webhook_inbox table",
        # SQLite keeps times as Unix seconds (REAL) so leases compare as numbers.
        sqlite=(
            """
            CREATE TABLE webhook_inbox (
                provider TEXT NOT NULL CHECK (length(provider) BETWEEN 1 AND 100),
                event_id TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
                event_type TEXT,
                status TEXT NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),
                payload TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
                error TEXT,
                claim_token TEXT,
                claimed_until REAL,
                received_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                processed_at REAL,
                PRIMARY KEY (provider, event_id)
            )
            """,
            "CREATE INDEX idx_webhook_inbox_status ON webhook_inbox (status, updated_at)",
        ),
        postgres=(
            """
            CREATE TABLE {schema}.webhook_inbox (
                provider VARCHAR(100) NOT NULL,
                event_id VARCHAR(255) NOT NULL,
                event_type TEXT,
                status VARCHAR(20) NOT NULL
                    CHECK (status IN ('processing', 'processed', 'failed')),
                payload TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
                error TEXT,
                claim_token TEXT,
                claimed_until TIMESTAMPTZ,
                received_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
                processed_at TIMESTAMPTZ,
                PRIMARY KEY (provider, event_id)
            )
            """,
            "CREATE INDEX idx_webhook_inbox_status ON {schema}.webhook_inbox (status, updated_at)",
        ),
    ),
    Migration(
        3,
        "outbox: vbwd_events and vbwd_deliveries; inbox status 'recorded'",
        # SQLite cannot alter a CHECK constraint: the inbox table is rebuilt (same columns).
        # Deliveries are listed in the order they were recorded: (created_at, seq) on SQLite,
        # seq on PostgreSQL. Every B-tree below is written by each recorded webhook, so the
        # SQLite tables are keyed by their natural keys (WITHOUT ROWID: one B-tree, not two)
        # and the inbox status index leaves out 'recorded' rows, which never change status.
        # A webhook's events are found by their uids' prefix "<provider>:<event id>:" (a
        # range of the events' primary key), so SQLite needs no index on the inbox columns.
        # A delivery's id is a hash of (event uid, listener id): its primary key already makes
        # that pair unique. On SQLite the id starts with a hash of the event uid
        # (``delivery_prefix``), so an event's deliveries are a range of the primary key: no
        # index on event_uid, and no foreign key (whose checks would need one); the store
        # writes an event before its deliveries and deletes it only once it has none.
        # PostgreSQL keeps both (an index costs it far less than a page in SQLite's WAL).
        sqlite=(
            """
            CREATE TABLE webhook_inbox_v3 (
                provider TEXT NOT NULL CHECK (length(provider) BETWEEN 1 AND 100),
                event_id TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
                event_type TEXT,
                status TEXT NOT NULL
                    CHECK (status IN ('processing', 'processed', 'failed', 'recorded')),
                payload TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
                error TEXT,
                claim_token TEXT,
                claimed_until REAL,
                received_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                processed_at REAL,
                PRIMARY KEY (provider, event_id)
            )
            """,
            "INSERT INTO webhook_inbox_v3 SELECT * FROM webhook_inbox",
            "DROP TABLE webhook_inbox",
            "ALTER TABLE webhook_inbox_v3 RENAME TO webhook_inbox",
            "CREATE INDEX idx_webhook_inbox_status ON webhook_inbox (status, updated_at) "
            "WHERE status <> 'recorded'",
            """
            CREATE TABLE vbwd_events (
                uid TEXT PRIMARY KEY CHECK (length(uid) BETWEEN 1 AND 400),
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                payload TEXT NOT NULL,
                source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 120),
                inbox_provider TEXT,
                inbox_event_id TEXT,
                created_at REAL NOT NULL
            )
            """,
            """
            CREATE TABLE vbwd_deliveries (
                id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 40),
                event_uid TEXT NOT NULL,
                event_name TEXT NOT NULL,
                listener_id TEXT NOT NULL CHECK (length(listener_id) BETWEEN 1 AND 200),
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'running', 'succeeded', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at REAL,
                last_error TEXT CHECK (length(last_error) <= 2000),
                lease_token TEXT,
                lease_until REAL,
                seq INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX idx_vbwd_deliveries_due ON vbwd_deliveries (next_attempt_at) "
            "WHERE status = 'pending'",
            "CREATE INDEX idx_vbwd_deliveries_lease ON vbwd_deliveries (lease_until) "
            "WHERE status = 'running'",
            # Dead letters only: every other index entry would be rewritten on each status
            # change, on the path that acknowledges webhooks. Listing other statuses scans.
            "CREATE INDEX idx_vbwd_deliveries_dead ON vbwd_deliveries (listener_id, updated_at) "
            "WHERE status = 'dead'",
        ),
        postgres=(
            "ALTER TABLE {schema}.webhook_inbox DROP CONSTRAINT webhook_inbox_status_check, "
            "ADD CONSTRAINT webhook_inbox_status_check "
            "CHECK (status IN ('processing', 'processed', 'failed', 'recorded'))",
            "DROP INDEX {schema}.idx_webhook_inbox_status",
            "CREATE INDEX idx_webhook_inbox_status ON {schema}.webhook_inbox (status, updated_at) "
            "WHERE status <> 'recorded'",
            """
            CREATE TABLE {schema}.vbwd_events (
                uid VARCHAR(400) PRIMARY KEY CHECK (uid <> ''),
                name VARCHAR(200) NOT NULL CHECK (name <> ''),
                payload TEXT NOT NULL,
                source VARCHAR(120) NOT NULL CHECK (source <> ''),
                inbox_provider VARCHAR(100),
                inbox_event_id VARCHAR(255),
                created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
            )
            """,
            "CREATE INDEX idx_vbwd_events_inbox "
            "ON {schema}.vbwd_events (inbox_provider, inbox_event_id)",
            """
            CREATE TABLE {schema}.vbwd_deliveries (
                id VARCHAR(40) PRIMARY KEY,
                seq BIGINT GENERATED ALWAYS AS IDENTITY,
                event_uid VARCHAR(400) NOT NULL REFERENCES {schema}.vbwd_events (uid),
                event_name VARCHAR(200) NOT NULL,
                listener_id VARCHAR(200) NOT NULL CHECK (listener_id <> ''),
                status VARCHAR(20) NOT NULL
                    CHECK (status IN ('pending', 'running', 'succeeded', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at TIMESTAMPTZ,
                last_error VARCHAR(2000),
                lease_token TEXT,
                lease_until TIMESTAMPTZ,
                created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
            )
            """,
            "CREATE INDEX idx_vbwd_deliveries_event ON {schema}.vbwd_deliveries (event_uid)",
            "CREATE INDEX idx_vbwd_deliveries_due ON {schema}.vbwd_deliveries (next_attempt_at) "
            "WHERE status = 'pending'",
            "CREATE INDEX idx_vbwd_deliveries_lease ON {schema}.vbwd_deliveries (lease_until) "
            "WHERE status = 'running'",
            "CREATE INDEX idx_vbwd_deliveries_dead "
            "ON {schema}.vbwd_deliveries (listener_id, updated_at) WHERE status = 'dead'",
        ),
    ),
)


def latest_version() -> int:
    """The schema version this release migrates to."""
    return max(m.version for m in MIGRATIONS)


def _too_new(where: str, found: int) -> StoreError:
    return StoreError(
        f"The store at {where} has schema version {found}, newer than this vbwd-plugins "
        f"supports ({latest_version()}); upgrade vbwd-plugins"
    )


def apply_sqlite(conn: sqlite3.Connection, where: str) -> list[int]:
    """Apply pending migrations to an autocommit connection; return the versions applied."""
    with immediate(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vbwd_schema_migrations ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM vbwd_schema_migrations")}
        if applied and max(applied) > latest_version():
            raise _too_new(where, max(applied))
        done: list[int] = []
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            for statement in migration.sqlite:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO vbwd_schema_migrations (version, description, applied_at) "
                "VALUES (?, ?, ?)",
                (migration.version, migration.description, datetime.now(UTC).isoformat()),
            )
            done.append(migration.version)
    return done


def advisory_lock_id(schema: str) -> int:
    """A stable signed 64-bit lock id for migrating ``schema``."""
    digest = hashlib.blake2b(f"vbwd_plugins.migrate:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def apply_postgres(conn: psycopg.Connection[Any], schema: str) -> list[int]:
    """Apply pending migrations to ``schema`` under an advisory lock, in one transaction."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    table = sql.Identifier(schema, "vbwd_schema_migrations")
    done: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(schema),))
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
        # Create the bookkeeping table only when it is missing: PostgreSQL checks CREATE on the
        # schema even for CREATE TABLE IF NOT EXISTS, and a least-privilege role (USAGE plus
        # table privileges, after a privileged role migrated) must be able to open the store.
        found = conn.execute(
            "SELECT to_regclass(%s)", (f"{ident.as_string(conn)}.vbwd_schema_migrations",)
        ).fetchone()
        if found is None or found[0] is None:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                ).format(table)
            )
        applied = {row[0] for row in conn.execute(sql.SQL("SELECT version FROM {}").format(table))}
        if applied and max(applied) > latest_version():
            raise _too_new(f"schema {schema!r}", max(applied))
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            for statement in migration.postgres:
                conn.execute(sql.SQL(statement).format(schema=ident))
            conn.execute(
                sql.SQL("INSERT INTO {} (version, description) VALUES (%s, %s)").format(table),
                (migration.version, migration.description),
            )
            done.append(migration.version)
    return done
