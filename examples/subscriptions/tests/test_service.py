"""The app's requests (signup, cancel, refund) against the in-memory MockPaymentPlugin.

In process (Flask's test client): what the API answers and what it asks the provider, with
the mock's webhooks delivered to the app's own webhook route.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import subscriptions_example
from flask.testing import FlaskClient

from vbwd_plugins import Capability, PluginManager, SQLiteStateStore
from vbwd_plugins.testing import MockOutcome, MockPaymentPlugin


@dataclass
class App:
    """The app in process, the mock provider and the app's database."""

    client: FlaskClient
    mock: MockPaymentPlugin
    db: subscriptions_example.SubscriptionDB

    def post(self, path: str, body: Any = None) -> Any:
        """POST to the API; the response."""
        return self.client.post(f"/api/v1{path}", json=body if body is not None else {})

    def signup(self, plan: str = "pro") -> dict[str, Any]:
        """A subscription through the mock's checkout, completed and delivered."""
        created = self.post(
            "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": plan, "provider": "mock"}
        )
        assert created.status_code == 201, created.get_json()
        body: dict[str, Any] = created.get_json()
        self.mock.complete_checkout(body["checkout"]["id"])
        self.deliver()
        return body

    def deliver(self) -> None:
        """Send the mock's queued webhooks to the app's webhook route."""
        for delivery in self.mock.drain_webhooks():
            answer = self.client.post(
                "/api/v1/webhooks/mock", data=delivery.body, headers=dict(delivery.headers)
            )
            assert answer.status_code == 200, answer.get_json()

    def show(self, subscription_id: str) -> dict[str, Any]:
        """GET the subscription."""
        body: dict[str, Any] = self.client.get(
            f"/api/v1/subscriptions/{subscription_id}"
        ).get_json()
        return body


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The app with MockPaymentPlugin ("mock") and PaymentsOnly enabled."""
    store = SQLiteStateStore(tmp_path / "plugins.sqlite3")
    manager = PluginManager(store=store)
    mock = MockPaymentPlugin()
    mock.auto_deliver = False
    # A provider that takes payments but sells no subscriptions.
    payments_only = MockPaymentPlugin("payments-only", capabilities={Capability.REFUNDS})
    for plugin in (mock, payments_only):
        manager.register_plugin(plugin)
        manager.initialize_plugin(plugin.metadata.name, {})
        manager.enable_plugin(plugin.metadata.name)
    flask_app = subscriptions_example.create_app(
        manager, database=tmp_path / "subs.sqlite3", public_url="https://shop.example"
    )
    try:
        yield App(flask_app.test_client(), mock, flask_app.extensions["subscriptions"].db)
    finally:
        store.close()


def test_start_up_ensures_the_plans_at_providers_that_have_plans(app: App) -> None:
    """create_app ensures every plan at each enabled provider declaring PLANS, once."""
    ensured = sorted(call.arguments["plan"].key for call in app.mock.calls_to("ensure_plan"))
    assert ensured == ["basic", "pro"]
    app.signup()
    assert len(app.mock.calls_to("ensure_plan")) == 2  # found, not ensured again


def test_signup_creates_the_row_then_the_checkout(app: App) -> None:
    """POST /subscriptions: a pending row, a subscription checkout naming it, its url."""
    created = app.post(
        "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": "pro", "provider": "mock"}
    ).get_json()
    (call,) = app.mock.calls_to("create_checkout_session")
    request = call.arguments["request"]
    assert call.idempotency_key == f"signup-{created['id']}"
    assert (request.mode.value, request.plan.key, request.effective_trial_days) == (
        "subscription",
        "pro",
        14,
    )
    assert (request.subscription_id, request.user_id) == (created["id"], created["user_id"])
    assert request.success_url == f"https://shop.example/billing/done?subscription={created['id']}"
    assert (created["status"], created["active"]) == ("pending", False)
    assert created["checkout"]["url"] and created["checkout"]["id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user_id": str(uuid.uuid4()), "plan": "gold"}, "unknown_plan"),
        ({"user_id": "someone", "plan": "pro"}, "invalid_user"),
        (
            {"user_id": str(uuid.uuid4()), "plan": "pro", "provider": "stripe"},
            "provider_unavailable",
        ),
        (
            {"user_id": str(uuid.uuid4()), "plan": "pro", "provider": "payments-only"},
            "provider_unsuitable",
        ),
        ([], "invalid_json"),
    ],
)
def test_signup_refusals(app: App, body: Any, code: str) -> None:
    """A bad plan, user or provider (or one that sells no subscriptions) is a 400 naming it."""
    answer = app.post("/subscriptions", body)
    assert (answer.status_code, answer.get_json()["error"]) == (400, code)
    assert app.mock.calls_to("create_checkout_session") == []


def test_a_refused_checkout_fails_the_row(app: App) -> None:
    """The provider refuses the checkout: 502 and the row is failed, never pending forever."""
    app.mock.script(MockOutcome.ERROR, operation="create_checkout_session")
    user = str(uuid.uuid4())
    answer = app.post("/subscriptions", {"user_id": user, "plan": "pro", "provider": "mock"})
    assert (answer.status_code, answer.get_json()["error"]) == (502, "checkout_failed")
    (row,) = app.db.of_user(user)
    assert app.show(row.id)["status"] == "failed"


def test_cancel_asks_for_the_end_of_the_period(app: App) -> None:
    """POST /cancel calls cancel_subscription(at_period_end=True); only the event ends it."""
    pending = app.post(
        "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": "pro", "provider": "mock"}
    ).get_json()
    assert app.post(f"/subscriptions/{pending['id']}/cancel").status_code == 409
    sub = app.signup()
    trial = app.show(sub["id"])
    assert trial["status"] == "trialing"
    answer = app.post(f"/subscriptions/{sub['id']}/cancel")
    assert answer.status_code == 202 and answer.get_json()["status"] == "trialing"
    (call,) = app.mock.calls_to("cancel_subscription")
    assert call.arguments["at_period_end"] is True
    assert call.idempotency_key == f"cancel-{sub['id']}"
    app.deliver()  # subscription.cancelled(at_period_end) at once: access kept until the end
    scheduled = app.show(sub["id"])
    assert (scheduled["status"], scheduled["cancel_at_period_end"]) == ("trialing", True)
    assert scheduled["ends_at"] == trial["paid_until"]
    app.mock.advance(timedelta(days=15))  # the period (the trial) ends: no charge
    app.deliver()
    ended = app.show(sub["id"])
    assert (ended["status"], ended["ends_at"]) == ("cancelled", trial["paid_until"])
    assert (
        app.client.get(f"/api/v1/subscriptions/{sub['id']}/payments").get_json()["payments"] == []
    )


def test_refund_of_the_last_payment(app: App) -> None:
    """POST /refund refunds (part of) the last payment; payment.refunded confirms it."""
    sub = app.signup("basic")
    assert app.post(f"/subscriptions/{sub['id']}/refund").status_code == 409  # trial: unpaid
    app.mock.advance(timedelta(days=15))  # the trial ends: the first charge
    app.deliver()
    for amount in ("abc", "0", "10.00", "0.001"):
        refused = app.post(f"/subscriptions/{sub['id']}/refund", {"amount": amount})
        assert (refused.status_code, refused.get_json()["error"]) == (400, "invalid_amount")
    made = app.client.post(
        f"/api/v1/subscriptions/{sub['id']}/refund",
        json={"amount": "4.00"},
        headers={"Idempotency-Key": "req-1"},
    )
    assert made.status_code == 202, made.get_json()
    assert (made.get_json()["amount"], made.get_json()["status"]) == ("4.00", "requested")
    (call,) = app.mock.calls_to("refund_payment")
    assert call.idempotency_key is not None and call.idempotency_key.endswith("-req-1")
    listed = app.client.get(f"/api/v1/subscriptions/{sub['id']}/payments").get_json()
    (payment,) = listed["payments"]
    assert call.arguments["transaction_id"] == payment["reference"]
    app.deliver()  # the mock's payment.refunded for this refund
    listed = app.client.get(f"/api/v1/subscriptions/{sub['id']}/payments").get_json()
    assert [(r["amount"], r["status"]) for r in listed["refunds"]] == [("4.00", "refunded")]
    assert (listed["payments"][0]["amount"], listed["payments"][0]["refunded"]) == ("9.99", "4.00")
    rest = app.post(f"/subscriptions/{sub['id']}/refund")
    assert rest.get_json()["amount"] == "5.99"
