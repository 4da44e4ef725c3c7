"""The CLI speaks its own language: errors name its commands and flags (never Python
arguments), ``show`` and ``config show`` explain the fields before anything is configured,
and its statuses are the admin API's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import GROUP, SECRET, Run
from vbwd_plugins import PluginManager
from vbwd_plugins.admin import PluginAdmin
from vbwd_plugins.cli._common import cli_message
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.errors import DependencyError
from vbwd_plugins.plugins._graph import check_requirement
from vbwd_plugins.stores import SQLiteStateStore

pytestmark = pytest.mark.usefixtures("plugins")

STORE = "vbwd-plugins.sqlite3"


def _one_error_line(err: str) -> str:
    """The single ``error: ...`` line a failed command prints."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# -- errors in the CLI's words ---------------------------------------------------------------


def test_disable_with_dependents_names_the_cascade_flag(cli: Run) -> None:
    """Refusing to disable a needed plugin suggests `--cascade`, not `cascade=True`."""
    assert cli("enable", "achild", "--with-dependencies")[0] == 0
    code, _, err = cli("disable", "zbase")
    line = _one_error_line(err)
    assert code == 1
    assert "`vbwd-plugins disable zbase --cascade`" in line and "achild" in line
    assert "cascade=True" not in line


def test_disabled_dependency_suggests_with_dependencies(cli: Run) -> None:
    """A dependency recorded as disabled is not called "not registered", and the error
    names `--with-dependencies` and no Python call."""
    assert cli("enable", "achild", "--with-dependencies")[0] == 0
    assert cli("disable", "achild")[0] == 0 and cli("disable", "zbase")[0] == 0
    code, _, err = cli("enable", "achild")
    line = _one_error_line(err)
    assert code == 1
    assert "vbwd-plugins enable achild --with-dependencies" in line
    assert "dependency 'zbase' not enabled: it is installed but recorded as disabled" in line
    assert "not registered" not in line
    assert "manager." not in line and "Python" not in line


def test_unmet_requirement_is_not_installed_rather_than_not_registered() -> None:
    """The library's "not registered or installed" reads "not installed" in the CLI."""
    from packaging.requirements import Requirement

    with pytest.raises(DependencyError) as caught:
        check_requirement("achild", Requirement("zbase>=1"), None)
    assert "not registered" in str(caught.value)
    assert "not registered" not in cli_message(caught.value)
    assert "(not installed)" in cli_message(caught.value)


def test_missing_key_names_keys_generate(cli: Run) -> None:
    """Storing a secret without an encryption key says how to make one with the CLI."""
    code, _, err = cli("config", "set", "keyed", f"api_key={SECRET}")
    line = _one_error_line(err)
    assert code == 1 and "`vbwd-plugins keys generate`" in line
    assert "VBWD_PLUGINS_SECRET_KEYS" in line


def test_doctor_with_a_wrong_key_names_keys_rotate(
    cli: Run, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor's report of undecryptable secrets names `vbwd-plugins keys rotate`."""
    assert cli("config", "set", "keyed", f"api_key={SECRET}")[0] == 0
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", FernetSecretBox.generate_key())
    code, out, _ = cli("doctor")
    assert code == 1
    assert "`vbwd-plugins keys rotate`" in out and "rotate_keys()" not in out


def test_invalid_configuration_points_at_config_show_and_set(cli: Run, secret_key: str) -> None:
    """Enabling an unconfigured plugin names the commands that show and set its fields."""
    code, _, err = cli("enable", "keyed")
    line = _one_error_line(err)
    assert code == 1 and "api_key" in line
    assert "`vbwd-plugins config show keyed`" in line and "vbwd-plugins config set keyed" in line


# -- the fields before configuration ---------------------------------------------------------


def test_show_and_config_show_list_the_fields_before_configuration(cli: Run) -> None:
    """Before `config set`, both commands print every field with its type, default, whether
    it is required and secret, and its environment variable - never "(none)"."""
    for argv in (("show", "keyed"), ("config", "show", "keyed")):
        code, out, _ = cli(*argv)
        assert code == 0 and "(none)" not in out
        assert "not configured yet" in out
        rows = {line.split()[0]: line.split() for line in out.splitlines() if "VBWD_" in line}
        assert set(rows) == {"api_key", "region", "retries", "tags"}
        assert rows["api_key"][1:6] == ["SecretStr", "yes", "-", "yes", "-"]
        assert rows["api_key"][6] == "VBWD_KEYED_API_KEY"
        assert rows["retries"][1:6] == ["int", "-", "1", "-", "-"]
        assert rows["region"][3] == '"eu"' and rows["tags"][3] == "[]"


def test_show_json_carries_the_schema(cli: Run) -> None:
    """`show --json` has a "schema" list with each field's facts (trusted included)."""
    code, out, _ = cli("show", "keyed", "--json")
    fields = {field["field"]: field for field in json.loads(out)["schema"]}
    assert code == 0
    assert fields["api_key"] == {
        "field": "api_key",
        "type": "SecretStr",
        "required": True,
        "default": None,
        "secret": True,
        "trusted": False,
        "guards": [],
        "env": "VBWD_KEYED_API_KEY",
        "description": None,
    }
    assert json.loads(cli("show", "zbase", "--json")[1])["schema"] is None  # a plain dict


def test_show_marks_trusted_fields() -> None:
    """A field marked Trusted is shown as trusted, with the secrets it needs again."""
    from typing import Annotated

    from pydantic import BaseModel, SecretStr

    from vbwd_plugins.cli._fields import schema_fields
    from vbwd_plugins.config import BaseURL, Trusted

    class Config(BaseModel):
        api_key: SecretStr
        api_base: Annotated[BaseURL, Trusted("api_key")] = "https://api.example.com"

    fields = {field["field"]: field for field in schema_fields("acme", Config) or []}
    assert fields["api_base"]["trusted"] and fields["api_base"]["guards"] == ["api_key"]
    assert fields["api_base"]["type"] == "str"
    assert fields["api_base"]["env"] == "VBWD_ACME_API_BASE"


# -- output and statuses ---------------------------------------------------------------------


def test_version(cli: Run, capsys: pytest.CaptureFixture[str]) -> None:
    """`--version` prints the package version and exits 0."""
    import vbwd_plugins

    with pytest.raises(SystemExit) as exited:
        cli("--version")
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"vbwd-plugins {vbwd_plugins.__version__}\n"


def test_closed_output_pipe_exits_quietly(plugins: Path) -> None:
    """`vbwd-plugins list | head -1`: a reader gone before the output exits without a word."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins.parent), *sys.path])}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "vbwd_plugins.cli", "--group", GROUP, "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141


def test_cli_and_admin_api_use_the_same_status_words(cli: Run, secret_key: str) -> None:
    """For each plugin, `list`, `show` and the admin API's listing say the same status."""
    assert cli("config", "set", "keyed", f"api_key={SECRET}")[0] == 0  # initialized
    assert cli("enable", "achild", "--with-dependencies")[0] == 0
    assert cli("disable", "achild")[0] == 0  # zbase enabled, achild disabled
    listed = {row["name"]: row["status"] for row in json.loads(cli("list", "--json")[1])}
    assert listed == {"zbase": "enabled", "achild": "disabled", "keyed": "initialized"}
    with SQLiteStateStore(STORE) as store:
        manager = PluginManager(group=GROUP, store=store)
        manager.start()
        admin = PluginAdmin(manager)
        served = {row["name"]: row["status"] for row in admin.list_plugins()}
        shown = {name: admin.show(name)["status"] for name in listed}
    assert served == listed and shown == listed
    for name, status in listed.items():
        assert json.loads(cli("show", name, "--json")[1])["status"] == status


def test_a_plugin_only_installed_is_discovered_everywhere(cli: Run) -> None:
    """An installed plugin nothing recorded is "discovered" in list, show and the admin API
    (show imports it to read its metadata; that is no status of its own)."""
    assert json.loads(cli("show", "keyed", "--json")[1])["status"] == "discovered"
    listed = {row["name"]: row["status"] for row in json.loads(cli("list", "--json")[1])}
    assert listed["keyed"] == "discovered"
    manager = PluginManager(group=GROUP)
    manager.discover()
    admin = PluginAdmin(manager)
    assert admin.show("keyed")["status"] == "discovered"


def test_recorded_but_uninstalled_plugin_is_reported_once(cli: Run) -> None:
    """A plugin recorded enabled but not installed is warned about once per command, even
    with the library's own log lines shown (-v)."""
    with SQLiteStateStore(STORE) as store:
        store.save("ghost", status="enabled", config={}, expected_version=None)
    for argv in (("enable", "zbase"), ("-v", "disable", "zbase")):
        code, _, err = cli(*argv)
        assert code == 0, err
        assert len([line for line in err.splitlines() if "'ghost'" in line]) == 1, err
