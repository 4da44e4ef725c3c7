"""Managing plugins from the shell: list with a store, show, enable, disable, config."""

from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli.conftest import SECRET, Run
from tests.stores._support import drop_schema
from vbwd_plugins import SQLiteStateStore
from vbwd_plugins.cli import parse_assignment, parse_duration

STORE = "vbwd-plugins.sqlite3"


def stored_bytes(work: Path) -> bytes:
    """Every byte of the default SQLite store (file, WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in work.iterdir() if p.name.startswith(STORE))


@pytest.mark.usefixtures("plugins")
def test_read_only_commands_create_no_store(cli: Run) -> None:
    """list, order, show, config show, doctor and inbox list leave no file behind."""
    for argv in (
        ["list"],
        ["order"],
        ["show", "keyed"],
        ["config", "show", "keyed"],
        ["doctor"],
        ["inbox", "list"],
    ):
        code, _, err = cli(*argv)
        assert code == 0, (argv, err)
    assert list(Path.cwd().iterdir()) == []


@pytest.mark.usefixtures("plugins")
def test_enable_and_disable_follow_dependencies(cli: Run) -> None:
    """Enable refuses a missing dependency (one line, exit 1) unless --with-dependencies;
    disable refuses while dependents are enabled unless --cascade; list shows the store."""
    code, _, err = cli("enable", "achild")
    assert code == 1
    assert err.startswith("error: ") and "zbase" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err

    code, out, _ = cli("enable", "achild", "--with-dependencies")
    assert code == 0 and out.strip() == "Enabled: zbase, achild"
    code, out, _ = cli("enable", "achild")
    assert code == 0 and "already enabled" in out

    code, out, _ = cli("list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["zbase"][3] == "enabled" and rows["achild"][3] == "enabled"
    assert rows["keyed"][3] == "discovered"

    code, _, err = cli("disable", "zbase")
    assert code == 1 and "achild" in err
    code, out, _ = cli("disable", "zbase", "--cascade")
    assert code == 0 and set(out.strip().removeprefix("Disabled: ").split(", ")) == {
        "zbase",
        "achild",
    }
    with SQLiteStateStore(STORE) as store:
        assert {r.plugin_name: r.status for r in store.list()} == {
            "achild": "disabled",
            "zbase": "disabled",
        }


@pytest.mark.usefixtures("plugins", "secret_key")
def test_config_set_validates_encrypts_and_masks(cli: Run, tmp_path: Path) -> None:
    """Invalid values are refused naming the field only; secrets are stored encrypted and
    shown masked; key:=json and key=@file work."""
    code, _, err = cli("config", "set", "keyed", "api_key=short", "retries:=9")
    assert code == 1 and "api_key" in err and "retries" in err and "short" not in err

    secret_file = tmp_path / "key.txt"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    code, out, err = cli(
        "config", "set", "keyed", f"api_key=@{secret_file}", "retries:=3", 'tags:=["a","b"]'
    )
    assert code == 0, err
    assert '"**********"' in out and SECRET not in out
    code, out, _ = cli("config", "show", "keyed", "--json")
    assert json.loads(out) == {
        "api_key": "**********",
        "region": "eu",
        "retries": 3,
        "tags": ["a", "b"],
    }
    assert SECRET.encode() not in stored_bytes(Path.cwd())

    code, out, _ = cli("config", "set", "keyed", "region=us")  # merges; the secret stays
    assert code == 0
    code, out, _ = cli("enable", "keyed")
    assert code == 0
    code, out, _ = cli("show", "keyed", "--json")
    shown = json.loads(out)
    assert shown["status"] == "enabled" and shown["config"]["region"] == "us"
    assert shown["config"]["api_key"] == "**********"
    assert shown["description"] == "needs a key"


@pytest.mark.usefixtures("plugins")
def test_config_set_needs_a_key_for_secrets(cli: Run) -> None:
    """Without VBWD_PLUGINS_SECRET_KEYS a secret cannot be stored: one clear line, exit 1."""
    code, _, err = cli("config", "set", "keyed", f"api_key={SECRET}")
    assert code == 1
    assert "VBWD_PLUGINS_SECRET_KEYS" in err and SECRET not in err


@pytest.mark.usefixtures("plugins")
def test_show_text_and_unknown_plugins(cli: Run) -> None:
    """show prints metadata; an unknown name is one error line and exit 1."""
    code, out, _ = cli("show", "achild")
    assert code == 0
    assert "dependencies: zbase>=1" in out and "distribution: cli-plugins" in out
    code, _, err = cli("show", "nope")
    assert code == 1 and err.strip() == (
        "error: Plugin 'nope' not found: not installed in group 'vbwd.clitest' and not "
        "recorded in the store"
    )


@pytest.mark.usefixtures("plugins")
def test_store_location_option_and_environment(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--store wins over $VBWD_PLUGINS_STORE; unknown URL schemes are one error line."""
    env_store = tmp_path / "env.sqlite3"
    monkeypatch.setenv("VBWD_PLUGINS_STORE", str(env_store))
    assert cli("enable", "zbase")[0] == 0
    assert env_store.exists()
    option_store = tmp_path / "option.sqlite3"
    assert cli("--store", str(option_store), "enable", "zbase")[0] == 0
    assert option_store.exists()
    code, _, err = cli("--store", "mysql://x/y", "enable", "zbase")
    assert code == 1 and err.startswith("error: unsupported store mysql://")


@pytest.mark.usefixtures("plugins")
def test_list_shows_recorded_plugins_that_are_missing(cli: Run) -> None:
    """A plugin recorded in the store but not installed is listed as missing."""
    with SQLiteStateStore(STORE) as store:
        store.save("gone", status="enabled", config={}, expected_version=None)
    code, out, _ = cli("list", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["gone"]["status"] == "missing"


@given(
    key=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True),
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ),
)
def test_assignments_round_trip(key: str, value: object) -> None:
    """key:=<json> gives back the JSON value; key=<text> gives the text unchanged."""
    assert parse_assignment(f"{key}:={json.dumps(value)}") == (key, value)
    if isinstance(value, str) and not value.startswith("@"):
        assert parse_assignment(f"{key}={value}") == (key, value)


def test_durations() -> None:
    """Purge ages are written like 30d, 12h, 90m, 3600s, 2w."""
    assert parse_duration("30d").days == 30
    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("2w").days == 14
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_duration("soon")


@pytest.mark.usefixtures("plugins")
def test_postgresql_store(cli: Run) -> None:
    """A postgresql:// store works like the SQLite one (skipped without a DSN)."""
    dsn = os.environ.get("VBWD_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("VBWD_TEST_POSTGRES_DSN is not set: PostgreSQL CLI test skipped")
    schema = f"vbwd_cli_{uuid.uuid4().hex[:12]}"
    store = ["--store", dsn, "--pg-schema", schema]
    try:
        assert cli(*store, "enable", "achild", "--with-dependencies")[0] == 0
        _, out, _ = cli(*store, "list", "--json")
        statuses = {row["name"]: row["status"] for row in json.loads(out)}
        assert statuses == {"zbase": "enabled", "achild": "enabled", "keyed": "discovered"}
        assert cli(*store, "inbox", "list")[0] == 0
        assert cli(*store, "doctor")[0] == 0
    finally:
        drop_schema(dsn, schema)


def test_deeply_nested_json_assignment_is_a_usage_error() -> None:
    """``key:=`` JSON nested beyond the limit is refused with the key named, not a traceback."""
    from vbwd_plugins.cli._common import CLIError

    with pytest.raises(CLIError, match="the value of 'hosts' is not valid JSON"):
        parse_assignment("hosts:=" + "[" * 100_000 + "]" * 100_000)
