"""A role without CREATE on the schema opens a migrated PostgreSQL store and works in it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from vbwd_plugins.stores import PostgresStateStore

DSN = os.environ.get("VBWD_TEST_POSTGRES_DSN", "")

pytestmark = pytest.mark.skipif(
    not DSN, reason="PostgreSQL store tests need VBWD_TEST_POSTGRES_DSN (CI sets it)"
)


@pytest.fixture
def limited() -> Iterator[tuple[str, str]]:
    """A fresh schema migrated by the test role, and a role with USAGE and table rights only."""
    import psycopg
    from psycopg import sql

    schema = f"vbwd_lp_{secrets.token_hex(4)}"
    role = f"vbwd_lp_{secrets.token_hex(4)}"
    PostgresStateStore(DSN, schema=schema).close()  # the privileged role migrates
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(role)
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(role)
            )
        )
    try:
        yield schema, role
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_role_without_create_opens_a_migrated_store(limited: tuple[str, str]) -> None:
    """Opening an up-to-date schema runs no DDL, so USAGE and table privileges are enough."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    schema, role = limited
    params = conninfo_to_dict(DSN)
    params["user"] = role
    store = PostgresStateStore(make_conninfo(**params), schema=schema)
    try:
        assert store.list() == []
        store.save("stripe", status="disabled", config={}, expected_version=None)
        assert [record.plugin_name for record in store.list()] == ["stripe"]
    finally:
        store.close()
