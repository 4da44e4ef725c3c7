"""The pytest11 plugin: loaded by entry point, import-light, helpful without a harness."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path


def test_entry_point_is_registered() -> None:
    """vbwd-plugins registers its pytest plugin in the pytest11 group."""
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("vbwd_plugins") == "vbwd_plugins.testing.pytest_plugin"


def test_plugin_and_suite_do_not_import_hypothesis() -> None:
    """Loading the plugin and the suite never imports hypothesis or a provider SDK."""
    code = (
        "import sys, vbwd_plugins.testing.pytest_plugin, vbwd_plugins.testing._conformance\n"
        "bad = [m for m in ('hypothesis', 'stripe', 'requests') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _run_pytest(tmp_path: Path, conftest: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    (tmp_path / "test_suite.py").write_text(
        "from vbwd_plugins.testing import ProviderConformanceSuite\n\n\n"
        "class TestProvider(ProviderConformanceSuite):\n"
        '    """Under test."""\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_missing_harness_fixture_says_what_to_define(tmp_path: Path) -> None:
    """Subclassing the suite without the fixture fails with instructions, not a traceback."""
    run = _run_pytest(tmp_path, "")
    assert run.returncode != 0
    assert "needs a `payment_provider_harness` fixture" in run.stdout


def test_suite_runs_from_a_separate_project(tmp_path: Path) -> None:
    """A project that defines only the fixture gets the whole suite, passing."""
    run = _run_pytest(
        tmp_path,
        """
        import pytest
        from vbwd_plugins.testing import MockPaymentPlugin

        @pytest.fixture
        def payment_provider_harness():
            return MockPaymentPlugin().harness()
        """,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout
