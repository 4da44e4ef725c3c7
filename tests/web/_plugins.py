"""Plugins for the web tests: a base, a dependent and one with a secret in its schema."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

SECRET = "sk_web_test_secret_value_0001"


class KeyedConfig(BaseModel):
    """A provider-like configuration with a secret."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=8)
    region: str = "eu"
    retries: int = Field(default=1, ge=0, le=5)


class Base(BasePlugin):
    """A plain-dict plugin others depend on."""

    metadata = PluginMetadata("base", "1.0.0", "tests", "the base")


class Child(BasePlugin):
    """Depends on ``base``."""

    metadata = PluginMetadata("child", "2.0.0", "tests", "depends on base", ["base>=1"])


class Keyed(BasePlugin):
    """Has a validated configuration with a secret; depends on nothing."""

    metadata = PluginMetadata("keyed", "1.5.0", "tests", "needs an api key")
    config_schema: ClassVar[type[BaseModel] | None] = KeyedConfig
    enables: ClassVar[int] = 0

    def on_enable(self) -> None:
        type(self).enables += 1


class Exploding(BasePlugin):
    """Its ``on_enable`` raises."""

    metadata = PluginMetadata("exploding", "0.1.0", "tests", "fails to enable")

    def on_enable(self) -> None:
        raise RuntimeError("enable exploded")
