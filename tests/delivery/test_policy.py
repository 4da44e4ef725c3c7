"""RetryPolicy: full-jitter backoff within bounds, growing caps, dead after max_attempts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins.delivery import RetryPolicy
from vbwd_plugins.errors import ConfigValidationError

NOW = datetime(2030, 1, 1, tzinfo=UTC)

policies = st.builds(
    lambda attempts, base, factor, extra: RetryPolicy(
        max_attempts=attempts,
        base_delay=timedelta(milliseconds=base),
        factor=factor,
        max_delay=timedelta(milliseconds=base + extra),
    ),
    st.integers(1, 50),
    st.integers(1, 10**7),
    st.floats(1, 10, allow_nan=False),
    st.integers(0, 10**9),
)


def test_defaults_double_from_ten_seconds_up_to_an_hour() -> None:
    """8 runs; caps of 10 s, 20 s, 40 s ... never above one hour."""
    policy = RetryPolicy()
    assert policy.max_attempts == 8
    caps = [policy.delay_cap(n).total_seconds() for n in range(1, 12)]
    assert caps == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]


@given(policy=policies, attempts=st.integers(1, 10_000), seed=st.integers(0, 2**32))
def test_the_next_attempt_is_within_zero_and_the_cap(
    policy: RetryPolicy, attempts: int, seed: int
) -> None:
    """Full jitter: the wait lies in [0, cap], and the cap never exceeds max_delay."""
    when = policy.next_attempt(attempts, NOW, random.Random(seed))
    if attempts >= policy.max_attempts:
        assert when is None
        return
    assert when is not None
    cap = policy.delay_cap(attempts)
    assert cap <= policy.max_delay
    assert timedelta(0) <= when - NOW <= cap


@given(policy=policies, attempts=st.integers(1, 10_000))
def test_caps_never_shrink_and_start_at_the_base_delay(policy: RetryPolicy, attempts: int) -> None:
    """Each further failure may only lengthen the cap; the first equals base_delay."""
    assert policy.delay_cap(1) == policy.base_delay
    assert policy.delay_cap(attempts) <= policy.delay_cap(attempts + 1) <= policy.max_delay


@given(policy=policies)
def test_dead_exactly_after_max_attempts(policy: RetryPolicy) -> None:
    """Runs 1 .. max_attempts - 1 get a next attempt; the max_attempts-th failure is final."""
    rng = random.Random(0)
    outcomes = [policy.next_attempt(n, NOW, rng) for n in range(1, policy.max_attempts + 2)]
    assert all(when is not None for when in outcomes[: policy.max_attempts - 1])
    assert outcomes[policy.max_attempts - 1 :] == [None, None]


def test_jitter_spreads_retries_out() -> None:
    """Two draws for the same failure differ (failures that happened together spread)."""
    policy = RetryPolicy()
    rng = random.Random(7)
    draws = {policy.next_attempt(3, NOW, rng) for _ in range(20)}
    assert len(draws) > 1


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"base_delay": timedelta(0)}, "base_delay"),
        ({"base_delay": 5}, "base_delay"),
        ({"max_delay": timedelta(seconds=-1)}, "max_delay"),
        ({"base_delay": timedelta(hours=2)}, "max_delay"),
        ({"factor": 0.5}, "factor"),
        ({"factor": float("inf")}, "factor"),
        ({"factor": "2"}, "factor"),
    ],
)
def test_invalid_arguments_name_the_field(arguments: dict[str, object], field: str) -> None:
    """A bad argument raises ConfigValidationError (a ValueError) naming it and its value."""
    with pytest.raises(ConfigValidationError, match=f"RetryPolicy {field} must be") as info:
        RetryPolicy(**arguments)  # type: ignore[arg-type]
    assert field in info.value.errors
    assert isinstance(info.value, ValueError)


def test_next_attempt_validates_its_arguments() -> None:
    """``attempts`` counts runs (>= 1); ``now`` is a datetime."""
    policy = RetryPolicy()
    with pytest.raises(ConfigValidationError, match="attempts"):
        policy.next_attempt(0, NOW)
    with pytest.raises(ConfigValidationError, match="now"):
        policy.next_attempt(1, "now")  # type: ignore[arg-type]
