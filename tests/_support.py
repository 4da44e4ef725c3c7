"""Test doubles shared by the core test suite (importable as ``tests._support``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

#: ``make_dist(dist, version, entry_points, *, modules=None, group="vbwd.plugins") -> Path``
DistFactory = Callable[..., Path]


class SimplePlugin(BasePlugin):
    """A configurable plugin for tests: records every hook call in ``calls``."""

    def __init__(
        self,
        name: str = "simple",
        version: str = "1.0.0",
        dependencies: list[str] | None = None,
        fail_on: str | None = None,
    ) -> None:
        super().__init__()
        self._meta = PluginMetadata(name, version, "tests", "a test plugin", dependencies or [])
        self.calls: list[str] = []
        self.fail_on = fail_on

    @property
    def metadata(self) -> PluginMetadata:
        return self._meta

    def _hook(self, hook: str) -> None:
        self.calls.append(hook)
        if self.fail_on == hook:
            raise RuntimeError(f"{hook} exploded")

    def on_initialize(self) -> None:
        self._hook("on_initialize")

    def on_enable(self) -> None:
        self._hook("on_enable")

    def on_disable(self) -> None:
        self._hook("on_disable")

    def on_uninstall(self) -> None:
        self._hook("on_uninstall")
