"""The ``vbwd-plugins`` command."""

from __future__ import annotations

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
"""


def test_list_and_order_show_dependency_order(
    make_dist: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """`list` shows version, distribution, status and order; `order` prints the start order."""
    make_dist(
        "cli-fixture",
        "3.1.0",
        {"achild": "cli_fixture:Child", "zbase": "cli_fixture:Base"},
        modules={"cli_fixture": BASE},
        group="vbwd.clitest",
    )
    assert main(["--group", "vbwd.clitest", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["#", "NAME", "VERSION", "DISTRIBUTION", "STATUS", "DEPENDENCIES"]
    assert out[1].split() == ["1", "zbase", "1.0.0", "cli-fixture", "registered", "-"]
    assert out[2].split() == ["2", "achild", "2.0.0", "cli-fixture", "registered", "zbase>=1"]
    assert main(["--group", "vbwd.clitest", "order"]) == 0
    assert capsys.readouterr().out.split() == ["zbase", "achild"]


def test_list_reports_load_failures_with_exit_code(
    make_dist: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plugin that fails to load is shown as load-error, named on stderr, and exits 1."""
    make_dist(
        "cli-broken",
        "0.1",
        {"broken": "cli_broken_mod:Nope"},
        modules={"cli_broken_mod": "x = 1\n"},
        group="vbwd.clitest",
    )
    assert main(["--group", "vbwd.clitest", "list"]) == 1
    captured = capsys.readouterr()
    assert "load-error" in captured.out
    assert "cli-broken" in captured.err and "Traceback" not in captured.err


def test_empty_group(capsys: pytest.CaptureFixture[str]) -> None:
    """An empty group says so and succeeds."""
    assert main(["--group", "vbwd.nothing-here", "list"]) == 0
    assert "No plugins installed" in capsys.readouterr().out
