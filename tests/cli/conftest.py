"""Fixtures for the CLI tests: a clean environment, a working directory of their own, and a
fixture distribution of test plugins in the ``vbwd.clitest`` group."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._support import DistFactory

GROUP = "vbwd.clitest"

PLUGINS = """
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from vbwd_plugins import (

    BasePlugin,

    PluginMetadata,

)


class KeyedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=8)
    region: str = "eu"
    retries: int = Field(default=1, ge=0, le=5)
    tags: list[str] = []


class Base(BasePlugin):
    metadata = PluginMetadata("zbase", "1.0.0", "t", "base")


class Child(BasePlugin):
    metadata = PluginMetadata("achild", "2.0.0", "t", "child", ["zbase>=1"])


class Keyed(BasePlugin):
    metadata = PluginMetadata("keyed", "1.5.0", "t", "needs a key")
    config_schema = KeyedConfig
"""

#: The secret the tests configure; it must never appear in output or stored bytes.
SECRET = "sk_cli_secret_value_0001"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Own working directory (the default store lives there) and no VBWD_* variables."""
    for name in list(os.environ):
        if name.startswith("VBWD_") and name != "VBWD_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def plugins(make_dist: DistFactory) -> Path:
    """Install ``zbase``, ``achild`` (needs zbase) and ``keyed`` (schema with a secret)."""
    return make_dist(
        "cli-plugins",
        "3.1.0",
        {"zbase": "cli_plugins:Base", "achild": "cli_plugins:Child", "keyed": "cli_plugins:Keyed"},
        modules={"cli_plugins": PLUGINS},
        group=GROUP,
    )


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Fernet key in ``VBWD_PLUGINS_SECRET_KEYS``."""
    from vbwd_plugins.config import FernetSecretBox

    key = FernetSecretBox.generate_key()
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", key)
    return key


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli("enable", "zbase")`` runs the command in the test group: (exit code, out, err)."""
    from vbwd_plugins.cli import main

    def run(*argv: str, group: str = GROUP) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--group", group, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
