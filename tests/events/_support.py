"""Test doubles for the event tests (importable as ``tests.events._support``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from vbwd_plugins import Event


class Recorder:
    """Builds listeners that append their label to ``calls`` when they run."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def listener(
        self, label: str, *, stop: bool = False, error: Exception | None = None
    ) -> Callable[[Event], None]:
        """A sync listener; ``stop`` stops propagation, ``error`` is raised after recording."""

        def listen(event: Event) -> None:
            self.calls.append(label)
            if stop:
                event.stop_propagation()
            if error is not None:
                raise error

        return listen

    def async_listener(
        self,
        label: str,
        *,
        stop: bool = False,
        error: Exception | None = None,
        delay: float = 0.0,
    ) -> Callable[[Event], Awaitable[None]]:
        """An ``async def`` listener that sleeps ``delay`` seconds first."""

        async def listen(event: Event) -> None:
            await asyncio.sleep(delay)
            self.calls.append(label)
            if stop:
                event.stop_propagation()
            if error is not None:
                raise error

        return listen
