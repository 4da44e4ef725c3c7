"""Fixtures for configuration and secrets tests: a schema plugin and secret boxes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.config._models import PayPlugin
from vbwd_plugins.config._secrets import FernetSecretBox


@pytest.fixture
def pay_plugin() -> Callable[..., PayPlugin]:
    """Build :class:`PayPlugin` instances."""
    return PayPlugin


@pytest.fixture
def box() -> FernetSecretBox:
    """A box with one fresh key."""
    return FernetSecretBox([FernetSecretBox.generate_key()])
