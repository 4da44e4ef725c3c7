"""Fixtures shared by the whole core test suite."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._support import DistFactory, SimplePlugin
from tests.stores._support import StoreTarget, drop_schema, make_target

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def make_plugin() -> Callable[..., SimplePlugin]:
    """Build :class:`SimplePlugin` instances."""
    return SimplePlugin


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DistFactory]:
    """Create real ``*.dist-info`` distributions (with modules) on a temporary ``sys.path`` entry.

    ``make_dist("acme-pay", "1.2", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": src})``
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created_modules: list[str] = []

    def factory(
        dist: str,
        version: str,
        entry_points: dict[str, str],
        *,
        modules: dict[str, str] | None = None,
        group: str = "vbwd.plugins",
    ) -> Path:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = [f"[{group}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            created_modules.append(module)
        importlib.invalidate_caches()
        return info

    yield factory
    for module in created_modules:
        sys.modules.pop(module, None)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own VBWD_* variables out of the tests (not VBWD_TEST_* settings)."""
    for name in list(os.environ):
        if name.startswith("VBWD_") and not name.startswith("VBWD_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def spawn_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``tests.*`` importable in spawned children (they inherit ``sys.path``)."""
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    """A fresh database, once per store implementation (PostgreSQL: its own schema, dropped)."""
    made = make_target(request.param, tmp_path)
    try:
        yield made
    finally:
        if made.kind == "postgres":
            assert made.dsn is not None and made.schema is not None
            drop_schema(made.dsn, made.schema)
