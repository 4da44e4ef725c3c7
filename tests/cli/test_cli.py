"""The ``vbwd-plugins`` command: listing without imports, start order, a light ``--help``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._support import DistFactory
from vbwd_plugins.cli import main

BASE = """
from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

class Base(BasePlugin):
    metadata = PluginMetadata("zbase", "1.0.0", "t", "base")

class Child(BasePlugin):
    metadata = PluginMetadata("achild", "2.0.0", "t", "child", ["zbase>=1"])

class Addon(BasePlugin):
    metadata = PluginMetadata("addon", "0.2", "t", "an add-on in another distribution", ["achild"])
"""
HEADER = ["NAME", "VERSION", "DISTRIBUTION", "STATUS", "DEPENDENCIES", "(DISTRIBUTION)"]

#: What neither ``--help`` nor ``list`` may import: providers, their SDKs, the libraries
#: that only configuration, secrets and version checks need, and the commands' machinery.
NOT_FOR_LISTING = (
    "vbwd_stripe",
    "vbwd_paypal",
    "stripe",
    "requests",
    "pydantic",
    "cryptography",
    "packaging",
    "asyncio",
)
NOT_FOR_HELP = (
    *NOT_FOR_LISTING,
    "importlib.metadata",
    "vbwd_plugins.admin",
    "vbwd_plugins.cli._plugins",
    "vbwd_plugins.cli._ops",
    "vbwd_plugins.cli._deliveries",
    "vbwd_plugins.delivery.celery",
    "celery",
    "vbwd_plugins.stores.sqlite",
    "vbwd_plugins.stores.postgres",
    "vbwd_plugins.web",
    "vbwd_plugins.webhooks",
)


def _imported_by(argv: list[str], watch: tuple[str, ...]) -> dict[str, object]:
    """Run the command in a fresh interpreter (in the test's working directory): its exit
    code, output and which of ``watch`` it imported."""
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from vbwd_plugins.cli import main
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            try:
                status = main({argv!r})
            except SystemExit as exc:
                status = exc.code
        imported = [name for name in {watch!r} if name in sys.modules]
        print(json.dumps({{"status": status, "out": buffer.getvalue(), "imported": imported}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def test_list_reads_entry_points_and_distribution_metadata_only(
    make_dist: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """`list` shows each plugin's distribution, its version, the status and the plugins its
    distribution requires, without importing a plugin; `order` loads them for the start order."""
    make_dist(
        "cli-fixture",
        "3.1.0",
        {"achild": "cli_fixture:Child", "zbase": "cli_fixture:Base"},
        modules={"cli_fixture": BASE},
        group="vbwd.clitest",
    )
    addon = make_dist("cli-addon", "0.2", {"addon": "cli_fixture:Addon"}, group="vbwd.clitest")
    metadata = addon / "METADATA"
    metadata.write_text(
        metadata.read_text(encoding="utf-8") + "Requires-Dist: cli-fixture>=3\n", encoding="utf-8"
    )
    assert main(["--group", "vbwd.clitest", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == HEADER
    assert out[1].split() == ["achild", "3.1.0", "cli-fixture", "discovered", "-"]
    assert out[2].split() == ["addon", "0.2", "cli-addon", "discovered", "achild>=3,", "zbase>=3"]
    assert out[3].split() == ["zbase", "3.1.0", "cli-fixture", "discovered", "-"]
    assert "cli_fixture" not in sys.modules
    assert main(["--group", "vbwd.clitest", "order"]) == 0
    assert capsys.readouterr().out.split() == ["zbase", "achild", "addon"]


def test_a_plugin_that_cannot_load_is_listed_and_doctor_reports_it(
    make_dist: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """`list` does not import, so a broken plugin is listed as discovered; `doctor` loads it,
    names the distribution on one line and exits 1."""
    make_dist(
        "cli-broken",
        "0.1",
        {"broken": "cli_broken_mod:Nope"},
        modules={"cli_broken_mod": "x = 1\n"},
        group="vbwd.clitest",
    )
    assert main(["--group", "vbwd.clitest", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["status"], row["distribution"]) == (
        "broken",
        "discovered",
        "cli-broken",
    )
    assert main(["--group", "vbwd.clitest", "doctor"]) == 1
    captured = capsys.readouterr()
    assert "cli-broken" in captured.out and "Traceback" not in captured.out + captured.err


def test_empty_group(capsys: pytest.CaptureFixture[str]) -> None:
    """An empty group says so and succeeds."""
    assert main(["--group", "vbwd.nothing-here", "list"]) == 0
    assert "No plugins installed" in capsys.readouterr().out


def test_list_of_both_providers_imports_neither(tmp_path: Path) -> None:
    """With vbwd-stripe and vbwd-paypal installed, `list` (also on a store that records one of
    them) imports neither provider, no SDK and none of pydantic, cryptography, packaging."""
    from vbwd_plugins.stores import SQLiteStateStore

    store = tmp_path / "state.sqlite3"
    with SQLiteStateStore(store) as opened:
        opened.save("stripe", status="disabled", config={}, expected_version=None)
    for argv in (["list"], ["--store", str(store), "list", "--json"]):
        result = _imported_by(argv, NOT_FOR_LISTING)
        assert result["status"] == 0 and result["imported"] == [], (argv, result)
        assert "stripe" in str(result["out"]) and "paypal" in str(result["out"])
    rows = json.loads(str(_imported_by(["--store", str(store), "list", "--json"], ())["out"]))
    assert {row["name"]: row["status"] for row in rows}["stripe"] == "disabled"


def test_help_builds_the_parser_without_the_commands() -> None:
    """`--help` imports no command module, store, admin service, web adapter or discovery."""
    result = _imported_by(["--help"], NOT_FOR_HELP)
    assert result["status"] == 0 and result["imported"] == []
    assert "inbox" in str(result["out"]) and "keys" in str(result["out"])
    assert list(Path.cwd().iterdir()) == []
