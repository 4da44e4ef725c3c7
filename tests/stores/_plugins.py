"""Plugins for the manager-and-store tests (``tests.stores._plugins``; entry points name them).

Every hook call is appended to the class-level ``LOG`` as ``"<plugin>.<hook>"`` so tests can
check the order across plugins.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, SecretStr

from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

LOG: list[str] = []


class PayConfig(BaseModel):
    """Provider-like configuration with a secret."""

    api_key: SecretStr
    account: str
    retries: int = 3


class _Recording(BasePlugin):
    NAME: ClassVar[str] = ""
    DEPS: ClassVar[tuple[str, ...]] = ()

    @property
    def metadata(self) -> PluginMetadata:
        return PluginMetadata(self.NAME, "1.0.0", "tests", "store test plugin", list(self.DEPS))

    def on_initialize(self) -> None:
        LOG.append(f"{self.NAME}.initialize")

    def on_enable(self) -> None:
        LOG.append(f"{self.NAME}.enable")

    def on_disable(self) -> None:
        LOG.append(f"{self.NAME}.disable")

    def on_uninstall(self) -> None:
        LOG.append(f"{self.NAME}.uninstall")


class Pay(_Recording):
    """A plugin with a schema and a secret; depends on ``base``."""

    NAME = "pay"
    DEPS = ("base",)
    config_schema = PayConfig


class Base(_Recording):
    """A plain-dict plugin others depend on."""

    NAME = "base"


class Addon(_Recording):
    """Depends on ``pay`` (so: base -> pay -> addon)."""

    NAME = "addon"
    DEPS = ("pay",)


ENTRY_POINTS = {
    "pay": "tests.stores._plugins:Pay",
    "base": "tests.stores._plugins:Base",
    "addon": "tests.stores._plugins:Addon",
}

#: Source of a plugin kept in its own module, to check that it is never imported.
IDLE_MODULE = """
from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)


class Idle(BasePlugin):
    @property
    def metadata(self):
        return PluginMetadata("idle", "1.0.0", "tests", "never enabled")
"""
