"""When a failed delivery runs again: exponential backoff with full jitter, then dead.

After the ``n``-th run of a delivery fails, the next one waits a random time between zero
and ``min(max_delay, base_delay * factor ** (n - 1))`` ("full jitter": failures that
happened together spread out instead of retrying in lockstep). Once ``max_attempts`` runs
have failed there is no next run: the delivery is dead until an operator retries it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn, final

from vbwd_plugins.errors import ConfigValidationError

__all__ = ["RetryPolicy"]


def _invalid(field: str, reason: str, value: object) -> NoReturn:
    raise ConfigValidationError(
        f"RetryPolicy {field} must be {reason}, got {value!r}",
        plugin_name=None,
        errors={field: f"must be {reason}"},
    )


@final
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry timing and the attempt limit of deliveries.

    With the defaults a delivery runs at most 8 times; the waits are capped at 10 s, 20 s,
    40 s, ... and never exceed an hour. An invalid argument raises
    :class:`~vbwd_plugins.errors.ConfigValidationError` (a ``ValueError``) naming it.
    """

    #: Runs a delivery gets in total (the first one included) before it is dead.
    max_attempts: int = 8
    #: The cap of the wait after the first failure.
    base_delay: timedelta = timedelta(seconds=10)
    #: How much the cap grows after each further failure.
    factor: float = 2.0
    #: The largest wait, however many failures.
    max_delay: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            _invalid("max_attempts", "an int >= 1", self.max_attempts)
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value <= timedelta(0):
                _invalid(name, "a timedelta > 0", value)
        if self.max_delay < self.base_delay:
            _invalid("max_delay", f"at least base_delay ({self.base_delay!r})", self.max_delay)
        factor = self.factor
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | float)
            or not math.isfinite(factor)
            or factor < 1
        ):
            _invalid("factor", "a finite number >= 1", factor)

    def delay_cap(self, attempts: int) -> timedelta:
        """The longest wait after the ``attempts``-th run failed (the jitter's upper bound)."""
        _check_attempts(attempts)
        base = self.base_delay.total_seconds()
        ceiling = self.max_delay.total_seconds()
        exponent = attempts - 1
        # Compare logarithms: factor ** exponent overflows a float long before the cap.
        if self.factor == 1 or exponent * math.log(self.factor) < math.log(ceiling / base):
            return min(self.max_delay, timedelta(seconds=base * self.factor**exponent))
        return self.max_delay

    def next_attempt(
        self, attempts: int, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """When to run again after the ``attempts``-th run failed at ``now``; ``None`` = dead.

        ``rng`` draws the jitter (``random.Random`` by default; pass a seeded one in tests).
        """
        _check_attempts(attempts)
        if not isinstance(now, datetime):
            _invalid("now", "a datetime (next_attempt's argument)", now)
        if attempts >= self.max_attempts:
            return None
        draw = (rng or random).random()  # in [0, 1)
        return now + self.delay_cap(attempts) * draw


def _check_attempts(attempts: int) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        _invalid("attempts", "the number of runs so far, an int >= 1", attempts)
