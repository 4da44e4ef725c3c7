"""Durable delivery under load and faults, deferred to Celery on PostgreSQL (small size).

500 deliveries over real HTTP to 3 web worker processes that hand deliveries to 2 real
Celery workers (Redis broker) with beat sweeping; during the run a web worker and a Celery
worker are SIGKILLed and restarted and the store's PostgreSQL connections are terminated
twice. Needs ``VBWD_TEST_POSTGRES_DSN`` and Redis (``VBWD_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/15``): skipped without them, failed in CI (``$CI`` set).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("vbwd_stripe", reason="the vbwd-stripe distribution is not installed")
pytest.importorskip("celery", reason="the celery extra is not installed")
from tests.delivery._fault_scenario import Setup, run

REDIS = os.environ.get("VBWD_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"


def _missing() -> str | None:
    if not os.environ.get("VBWD_TEST_POSTGRES_DSN"):
        return "VBWD_TEST_POSTGRES_DSN is not set"
    import redis

    try:
        client = redis.Redis.from_url(REDIS, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"Redis at {REDIS} is not reachable ({exc}); set VBWD_TEST_REDIS_URL"
    return None


def test_deferred_celery_postgres_each_effect_once_under_kills_and_cuts(tmp_path: Path) -> None:
    """Killed web and Celery workers, terminated connections: every good event's effect
    once per listener, the always-failing deliveries dead and listed, nothing pending."""
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the Celery fault test needs PostgreSQL and Redis: {missing}")
        pytest.skip(missing)
    setup = Setup(
        "deferred",
        tmp_path,
        deliveries=500,
        threads=4,
        web_workers=3,
        postgres_dsn=os.environ["VBWD_TEST_POSTGRES_DSN"],
        redis_url=REDIS,
        settle_timeout=90,
    )
    report = run(setup)
    assert report.violations == [], "\n".join(report.lines())
    assert report.answers == {200: 470, 401: 25, 400: 5}
    assert [fault.split(" at ")[0] for fault in report.faults] == [
        "SIGKILL web worker",
        "pg_terminate_backend",
        "SIGKILL Celery worker",
        "pg_terminate_backend",
    ]
    assert report.effects == {"ledger": 370, "flaky": 370, "always-fails": 366}
    assert report.dead_expected == report.dead_listed == report.statuses["dead"] == 4
    assert report.statuses["succeeded"] == 370 * 3 - 4
    assert report.repeated["flaky"] >= 37
