"""Deferred deliveries on real Celery workers over the real Redis broker.

Each test starts ``celery -A tests.delivery._celery_app worker`` processes on a store of its
own; the listeners record calls and effects in a ledger keyed by the idempotency key.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

import pytest

from tests.delivery._celery_support import Deployment, celery_run, deployment
from vbwd_plugins import Event, PaymentEventType, WebhookProcessor
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.testing import MockPaymentPlugin

__all__ = ["celery_run", "deployment"]  # the fixtures this module uses, imported above

APP = "tests.delivery._celery_app"

SQLITE_ONLY = pytest.mark.parametrize("target", ["sqlite"], indirect=True)


def listeners_of(rows: Sequence[tuple[object, ...]], column: int = 1) -> list[object]:
    """One column of ledger rows: the listener (column 1 of effects, 0 of calls)."""
    return [row[column] for row in rows]


def test_deferred_webhook_is_acknowledged_before_workers_run_its_listeners(
    deployment: Deployment,
) -> None:
    """The webhook answers 200 once recorded; a worker then runs the host listener and the
    ``async def`` plugin listener, each exactly once, also across a redelivery."""
    host = deployment.host
    deployment.hold()
    worker = deployment.start("worker", "--pool=solo")
    signer = MockPaymentPlugin(webhook_secret=host.SECRET)
    body = signer.webhook_body(
        PaymentEventType.COMPLETED, transaction_id="tx_1", amount=1500, currency="USD"
    )
    request = signer.webhook_delivery(body)
    processor = WebhookProcessor(deployment.manager)

    response = processor.process("mock", request.headers, request.body)

    assert response.status == 200, response.body
    deliveries = {d.listener_id: d for d in deployment.outbox.deliveries_list()}
    assert set(deliveries) == {"ledger", "loyalty:Loyalty.credit_points"}
    assert "ledger" not in listeners_of(host.rows("effects"))  # held: not run yet
    assert deliveries["ledger"].status in (DeliveryStatus.PENDING, DeliveryStatus.RUNNING)

    deployment.release()
    ids = [d.id for d in deliveries.values()]
    deployment.wait_for("both deliveries", deployment.settled(*ids))
    assert {deployment.delivery(one).status for one in ids} == {DeliveryStatus.SUCCEEDED}

    again = processor.process("mock", request.headers, request.body)
    assert again.status == 200
    assert sorted(listeners_of(host.rows("effects"))) == ["ledger", "loyalty"]
    calls = host.rows("calls")
    assert sorted(listeners_of(calls, 0)) == ["ledger", "loyalty"]  # once each, no redelivery run
    assert {row[2] for row in calls} == {worker}  # on the worker, not in this process
    assert os.getpid() != worker


@SQLITE_ONLY
def test_failing_listener_is_retried_with_backoff_then_dead_lettered(
    deployment: Deployment,
) -> None:
    """A listener that fails once succeeds on its second attempt; one that always fails is
    dead after ``max_attempts`` and listed by ``deliveries list --status dead``."""
    host = deployment.host
    deployment.start("worker", "--pool=solo", max_attempts=3, base_delay=0.05, max_delay=0.2)
    (once,) = deployment.manager.publish(Event("order.placed", {"order": 1, "fail_times": 1}))
    (never,) = deployment.manager.publish(Event("order.placed", {"order": 2, "fail_times": 99}))

    deployment.wait_for("retries to finish", deployment.settled(once, never))

    recovered, dead = deployment.delivery(once), deployment.delivery(never)
    assert (recovered.status, recovered.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert (dead.status, dead.attempts) == (DeliveryStatus.DEAD, 3)
    assert dead.last_error == "RuntimeError: flaky: order 2 not ready"
    calls = host.rows("calls")
    assert [row[1] for row in calls].count(recovered.idempotency_key) == 3  # 2 calls + effect
    assert [row[1] for row in calls].count(dead.idempotency_key) == 3
    assert listeners_of(host.rows("effects")) == ["flaky-effect"]
    logs = deployment.logs()
    assert logs.count("retried at") >= 3  # each failure before the last got a retry time
    assert f"Delivery {never} is dead after its last attempt" in logs
    assert deployment.cli("deliveries", "list", "--status", "dead", "--json") == 0


@SQLITE_ONLY
def test_a_listener_the_worker_lacks_fails_naming_it(deployment: Deployment) -> None:
    """The web side has a listener the workers do not: its delivery dies naming it, while
    the other listener of the event succeeds."""

    def web_only(event: Event) -> None:
        """Exists only in the web process."""

    deployment.manager.event_dispatcher.add_listener("order.placed", web_only, id="web-only")
    deployment.start("worker", "--pool=solo", max_attempts=2)
    ids = deployment.manager.publish(Event("order.placed", {"order": 3}))
    deployment.wait_for("both deliveries", deployment.settled(*ids))
    by_listener = {deployment.delivery(one).listener_id: deployment.delivery(one) for one in ids}
    assert by_listener["flaky"].status is DeliveryStatus.SUCCEEDED
    missing = by_listener["web-only"]
    assert missing.status is DeliveryStatus.DEAD
    assert missing.last_error is not None
    assert missing.last_error.startswith("ListenerNotFoundError: No listener 'web-only'")


def test_killed_worker_is_recovered_by_the_sweep_with_one_effect(
    deployment: Deployment,
) -> None:
    """SIGKILL the process running a listener (after its effect, before its success is
    recorded): after the lease, ``deliveries sweep --celery`` enqueues it again, another
    process runs it, and the effect is still there once."""
    host = deployment.host
    deployment.hold()
    deployment.start("worker", "--pool=prefork", "--concurrency=1", lease=2)
    (slow,) = deployment.manager.publish(Event("order.slow", {"order": 4}))
    deployment.wait_for("the listener to start", lambda: len(host.rows("calls")) == 1)
    ((_, _, running_pid),) = host.rows("calls")

    os.kill(int(running_pid), signal.SIGKILL)
    deployment.release()
    assert deployment.delivery(slow).status is DeliveryStatus.RUNNING

    def swept_and_done() -> bool:
        assert deployment.cli("deliveries", "sweep", "--celery", f"{APP}:app") == 0
        return deployment.delivery(slow).status is DeliveryStatus.SUCCEEDED

    deployment.wait_for("the sweep to recover the delivery", swept_and_done)
    done = deployment.delivery(slow)
    assert done.attempts == 2
    calls = host.rows("calls")
    assert len(calls) == 2 and calls[1][2] != running_pid  # run again, by another process
    assert host.rows("effects") == [(done.idempotency_key, "slow", "order.slow")]


@SQLITE_ONLY
def test_lost_message_is_recovered_by_the_beat_sweep(deployment: Deployment) -> None:
    """A delivery whose task never reached the broker is run by the ``vbwd_plugins.sweep``
    beat entry on a worker."""

    class Dropping:
        """An engine that loses every submission."""

        def submit(self, delivery_ids: Sequence[str]) -> None:
            """Drop them."""

    deployment.manager.set_delivery_engine(Dropping())
    (lost,) = deployment.manager.publish(Event("order.placed", {"order": 5}))
    assert deployment.delivery(lost).status is DeliveryStatus.PENDING
    deployment.start("worker", "--pool=solo")
    deployment.start("beat", sweep_every=0.5)
    deployment.wait_for("the beat sweep", deployment.settled(lost))
    assert deployment.delivery(lost).status is DeliveryStatus.SUCCEEDED
    assert listeners_of(deployment.host.rows("effects")) == ["flaky-effect"]
