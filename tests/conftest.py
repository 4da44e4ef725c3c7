"""Fixtures shared by the whole core test suite."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._support import DistFactory, SimplePlugin


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
