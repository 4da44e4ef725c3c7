"""The instruments the call sites record to, built on first use.

The instruments (``_instruments``) are built the first time something records, on the
meter provider in effect; without the OpenTelemetry API :func:`instruments` is ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbwd_plugins.telemetry._state import state

if TYPE_CHECKING:
    from vbwd_plugins.telemetry._instruments import Instruments

__all__ = ["instruments"]


def instruments() -> Instruments | None:
    """The instruments of the configured meter provider, or ``None`` without the API."""
    found: Instruments | None = state.instruments
    if found is None and not state.off:
        with state.lock:
            found = state.instruments
            if found is None:
                from vbwd_plugins.telemetry._instruments import build

                found = state.instruments = build()
    return found
