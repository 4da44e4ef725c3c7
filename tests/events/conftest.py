"""Fixtures for the event tests: a dispatcher and a listener recorder."""

from __future__ import annotations

import pytest

from tests.events._support import Recorder
from vbwd_plugins import EventDispatcher


@pytest.fixture
def dispatcher() -> EventDispatcher:
    """A fresh, non-strict dispatcher."""
    return EventDispatcher()


@pytest.fixture
def recorder() -> Recorder:
    """Makes listeners that record when they run."""
    return Recorder()
