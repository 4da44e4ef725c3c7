"""Schemas and plugins shared by the configuration tests (``tests.config._models``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)


class WebhookEndpoint(BaseModel):
    """A nested model with its own secret."""

    url: str
    signing_secret: SecretStr


class PayConfig(BaseModel):
    """A provider-like schema: required secret, defaults, nested and optional secrets."""

    api_key: SecretStr
    account: str = Field(min_length=3)
    sandbox: bool = True
    retries: int = Field(default=3, ge=0, le=10)
    webhook: WebhookEndpoint | None = None
    backup_keys: list[SecretStr] = []
    tags: list[str] = []


class PayPlugin(BasePlugin):
    """A plugin with a configuration schema; records what ``on_initialize`` saw."""

    config_schema = PayConfig

    def __init__(self, name: str = "pay") -> None:
        super().__init__()
        self._meta = PluginMetadata(name, "1.0.0", "tests", "schema plugin")
        self.seen: list[object] = []

    @property
    def metadata(self) -> PluginMetadata:
        return self._meta

    def on_initialize(self) -> None:
        self.seen.append(self.config)
