"""Following the store: apply other processes' changes (the CLI, the admin API of another
worker) to a running manager, in a daemon thread.

:class:`StoreFollower` runs the loop ``docs/workers.md`` describes - wait for a change,
then :meth:`PluginManager.refresh` - with what a host would otherwise write by hand: a
prompt stop, a catch-up refresh now and then, and errors logged and retried with a growing
delay (a database restart must not end the thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol

from vbwd_plugins.errors import PluginError

if TYPE_CHECKING:
    from vbwd_plugins.plugins._listing import LoadReport
    from vbwd_plugins.stores._base import StateStore

__all__ = ["StoreFollower"]

logger = logging.getLogger(__name__)

#: Longest single wait for a change: how late a stop can be noticed.
_TICK: Final = 0.25
#: First and longest delay before retrying after an error.
_FIRST_BACKOFF: Final = 0.5
_MAX_BACKOFF: Final = 30.0


class _Followed(Protocol):
    """What the follower needs of a manager (no import of the manager module)."""

    @property
    def store(self) -> StateStore | None: ...

    def refresh(self) -> LoadReport: ...


class StoreFollower:
    """Keeps a manager in step with its store from a daemon thread; see :meth:`start`.

    Create it with :meth:`PluginManager.follow_store`. The thread waits for a change
    (``store.wait_for_change``: PostgreSQL ``LISTEN``, SQLite polling), then refreshes;
    it also refreshes every ``catch_up`` seconds without one, and every ``poll_interval``
    seconds on a store that cannot wait for changes. A failing wait or refresh is logged as
    a warning and retried after 0.5 s, 1 s, 2 s ... up to 30 s.
    """

    def __init__(
        self, manager: _Followed, *, catch_up: float = 30.0, poll_interval: float = 2.0
    ) -> None:
        store = manager.store
        if store is None:
            from vbwd_plugins.errors import StoreError

            raise StoreError(
                "Following the store needs a PluginManager created with a store "
                "(store=SQLiteStateStore(...) or store=PostgresStateStore(...))"
            )
        self._manager = manager
        self._store = store
        self._catch_up = catch_up
        self._poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> StoreFollower:
        """Start the daemon thread (once); returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vbwd-follow-store", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` seconds for it (it notices within
        a quarter of a second unless a refresh is running). Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> StoreFollower:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the thread ----------------------------------------------------------------------

    def _waiter(self) -> Callable[[], bool]:
        """One short wait for a change; ``True`` when one (probably) happened."""
        wait = getattr(self._store, "wait_for_change", None)
        if callable(wait):
            return lambda: bool(wait(timeout=_TICK))
        next_poll = time.monotonic()

        def poll() -> bool:
            nonlocal next_poll
            self._stop.wait(min(_TICK, max(0.0, next_poll - time.monotonic())))
            if time.monotonic() < next_poll:
                return False
            next_poll = time.monotonic() + self._poll_interval
            return True

        return poll

    def _run(self) -> None:
        waiter = self._waiter()
        due = True  # refresh after the first wait: it only starts listening (PostgreSQL)
        last = time.monotonic()
        failures = 0
        while not self._stop.is_set():
            try:
                changed = waiter()
                if self._stop.is_set():
                    return
                if changed or due or time.monotonic() - last >= self._catch_up:
                    due = True  # until this refresh succeeds
                    self._manager.refresh()
                    due, last = False, time.monotonic()
                failures = 0
            except Exception as exc:  # the thread must outlive a bad moment
                if self._stop.is_set():
                    return  # the store is closing under us: not worth a warning
                failures += 1
                delay = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2 ** (failures - 1))
                logger.warning(
                    "Following the store failed (%s); retrying in %.1f s",
                    exc if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}",
                    delay,
                    exc_info=not isinstance(exc, PluginError),
                )
                self._stop.wait(delay)
