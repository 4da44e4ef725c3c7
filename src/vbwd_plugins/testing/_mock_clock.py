"""The mock provider's clock: the time a test controls, and what falls due as it moves.

Real providers renew, retry and end subscriptions on their own schedule. The mock does so on
a :class:`MockClock`: :meth:`MockClock.advance` moves time forward *through* every moment
something falls due (a renewal, a retry, the end of a trial), stopping at each so that what
happens there happens at that moment (its webhooks are dated and signed then), in order,
even across several mocks sharing one clock.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["ClockWatcher", "MockClock"]


class ClockWatcher(Protocol):
    """Something that acts when the clock reaches a moment (the mock's billing engine)."""

    def next_due(self) -> datetime | None:
        """The earliest moment something falls due, or ``None``."""
        ...

    def run_due(self) -> None:
        """Do what is due at the clock's current time."""
        ...


class MockClock:
    """The time a mock provider lives in: real UTC time moved by a test, or frozen.

    ``MockClock()`` follows the real clock (``source``, Unix seconds) plus whatever
    :meth:`advance` added; ``MockClock(datetime(2030, 1, 1, tzinfo=UTC))`` stands still at
    that moment until advanced (deterministic tests). The clock never goes back.
    """

    def __init__(
        self, start: datetime | None = None, *, source: Callable[[], float] = time.time
    ) -> None:
        if start is not None and start.utcoffset() is None:
            raise ValueError(f"MockClock start must be timezone-aware, got {start!r}")
        self._source = source
        self._frozen = start
        self._offset = timedelta(0)
        self._watchers: weakref.WeakSet[ClockWatcher] = weakref.WeakSet()
        self._lock = threading.RLock()

    def time(self) -> float:
        """The current time as Unix seconds (what webhook signatures use)."""
        return self.now().timestamp()

    def now(self) -> datetime:
        """The current time, timezone-aware UTC (exact to the microsecond, no float drift)."""
        return self._base() + self._offset

    def _base(self) -> datetime:
        if self._frozen is not None:
            return self._frozen.astimezone(UTC)
        return datetime.fromtimestamp(self._source(), UTC)

    def watch(self, watcher: ClockWatcher) -> None:
        """Have ``watcher`` act whenever time moves past one of its due moments (held weakly)."""
        self._watchers.add(watcher)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``, stopping at every due moment on the way (see module)."""
        if delta < timedelta(0):
            raise ValueError(f"MockClock cannot go back in time (advance by {delta})")
        self.advance_to(self.now() + delta)

    def advance_to(self, moment: datetime) -> None:
        """Move forward to ``moment``, running what falls due on the way, in time order.

        An exception raised where something falls due (a failing listener of its webhook)
        propagates with the clock left at that moment; advancing again carries on.
        """
        if moment.utcoffset() is None:
            raise ValueError(f"MockClock.advance_to needs an aware datetime: {moment!r}")
        with self._lock:
            if moment < self.now():
                raise ValueError(f"MockClock cannot go back in time (to {moment})")
            while (due := self._earliest(moment)) is not None:
                when, watcher = due
                self._set(max(when, self.now()))
                watcher.run_due()
                if watcher.next_due() == when:  # a watcher that does not move on would spin
                    raise RuntimeError(f"{watcher!r} did not act on what was due at {when}")
            self._set(moment)

    def _earliest(self, target: datetime) -> tuple[datetime, ClockWatcher] | None:
        found: tuple[datetime, ClockWatcher] | None = None
        for watcher in list(self._watchers):
            when = watcher.next_due()
            if when is None or when > target:
                continue
            if found is None or when < found[0]:
                found = (when, watcher)
        return found

    def _set(self, moment: datetime) -> None:
        self._offset = max(self._offset, moment - self._base())

    def __repr__(self) -> str:
        mode = "frozen" if self._frozen is not None else "real time"
        return f"MockClock({self.now().isoformat()}, {mode})"
