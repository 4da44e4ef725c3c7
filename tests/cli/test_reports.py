"""What the shell tells about problems: a dependency cycle in `list`, a missing or disabled
dependency in `enable`, and purge ages that are no time at all or out of range."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests._support import DistFactory
from tests.cli.conftest import GROUP, Run
from vbwd_plugins import BasePlugin, PluginManager, PluginMetadata
from vbwd_plugins.errors import DependencyError, StoreError
from vbwd_plugins.stores import SQLiteStateStore

MODULES = """
from vbwd_plugins import BasePlugin, PluginMetadata

class Left(BasePlugin):
    metadata = PluginMetadata("left", "1.0.0", "t", "needs right", ["right"])

class Right(BasePlugin):
    metadata = PluginMetadata("right", "1.0.0", "t", "needs left", ["left"])

class Lonely(BasePlugin):
    metadata = PluginMetadata("lonely", "1.0.0", "t", "needs ghost", ["ghost>=1"])
"""


def _requires(dist_info: Path, *requirements: str) -> None:
    """Add ``Requires-Dist`` lines to an installed fixture distribution."""
    metadata = dist_info / "METADATA"
    lines = "".join(f"Requires-Dist: {requirement}\n" for requirement in requirements)
    metadata.write_text(metadata.read_text(encoding="utf-8") + lines, encoding="utf-8")


@pytest.fixture
def cycle(make_dist: DistFactory) -> None:
    """Distributions ``cli-left`` and ``cli-right`` require each other; ``cli-lonely`` is fine."""
    left = make_dist(
        "cli-left", "1.0", {"left": "cli_cycle:Left"}, modules={"cli_cycle": MODULES}, group=GROUP
    )
    right = make_dist("cli-right", "1.0", {"right": "cli_cycle:Right"}, group=GROUP)
    make_dist("cli-lonely", "1.0", {"lonely": "cli_cycle:Lonely"}, group=GROUP)
    _requires(left, "cli-right>=1")
    _requires(right, "cli-left")


@pytest.mark.usefixtures("cycle")
def test_list_reports_a_dependency_cycle(cli: Run) -> None:
    """`list` names the cycle on stderr, marks its plugins in --json and exits 1."""
    code, out, err = cli("list")
    assert code == 1
    assert "left" in out and "right" in out
    assert "cycle: left -> right -> left" in err or "cycle: right -> left -> right" in err
    assert "lonely" not in err
    code, out, _ = cli("list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 1
    assert rows["left"]["error"].startswith("dependency cycle: ")
    assert rows["right"]["error"] == rows["left"]["error"]
    assert rows["lonely"]["error"] is None


@pytest.mark.usefixtures("cycle")
def test_enable_says_a_dependency_is_not_installed(cli: Run) -> None:
    """A dependency that no distribution provides is "not installed", with what to do."""
    code, _, err = cli("enable", "lonely")
    assert code == 1
    assert "dependency 'ghost' not enabled: it is not installed" in err
    assert "Install the distribution that provides 'ghost'" in err


def test_enable_says_a_dependency_is_installed_but_not_enabled(cli: Run, plugins: Path) -> None:
    """An installed dependency that is not enabled is named so, with the commands to run."""
    code, _, err = cli("enable", "achild")
    assert code == 1
    assert "dependency 'zbase' not enabled: it is installed but" in err
    assert "`vbwd-plugins enable zbase`" in err and "--with-dependencies" in err
    assert cli("enable", "achild", "--with-dependencies")[0] == 0


def test_python_api_messages_tell_both_cases_apart() -> None:
    """From Python, the two cases differ too, and name manager.enable_plugins."""

    class Base(BasePlugin):
        metadata = PluginMetadata("base", "1.0.0", "t", "base")

    class Child(BasePlugin):
        metadata = PluginMetadata("child", "1.0.0", "t", "child", ["base"])

    manager = PluginManager()
    manager.register_plugin(Child())
    with pytest.raises(DependencyError, match="'base' not enabled: it is not installed"):
        manager.enable_plugin("child")
    manager.register_plugin(Base())
    manager.initialize_plugin("base")
    with pytest.raises(DependencyError) as info:
        manager.enable_plugin("child")
    message = str(info.value)
    assert "'base' not enabled: it is installed but initialized" in message
    assert "manager.enable_plugins(['base', 'child'])" in message
    assert info.value.requirement == "base"


@pytest.mark.parametrize("age", ["0s", "0d", "99999999999999d", "36501d"])
def test_purge_refuses_ages_that_are_no_time_or_out_of_range(
    age: str, cli: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inbox purge --older-than` refuses 0 and ages beyond 100 years in one line, no traceback."""
    with pytest.raises(SystemExit) as info:
        cli("inbox", "purge", "--older-than", age)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "--older-than" in err and age in err and "Traceback" not in err
    assert list(Path.cwd().iterdir()) == []


def test_purge_accepts_the_longest_age(cli: Run) -> None:
    """100 years is still an age (nothing is that old, nothing is purged)."""
    with SQLiteStateStore("vbwd-plugins.sqlite3"):
        pass
    code, out, _ = cli("inbox", "purge", "--older-than", "36500d")
    assert code == 0 and out.strip().endswith("Purged 0 event(s).")


def test_inbox_purge_api_refuses_an_age_out_of_range(tmp_path: Path) -> None:
    """inbox_purge() refuses an age over 100 years (PostgreSQL would fail out of range)."""
    with SQLiteStateStore(tmp_path / "s.sqlite3") as store:
        with pytest.raises(StoreError, match="at most 36500 days"):
            store.inbox_purge(older_than=timedelta(days=999_999_999))
        assert store.inbox_purge(older_than=timedelta(days=36_500)) == 0
