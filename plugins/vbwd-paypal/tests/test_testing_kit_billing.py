"""The testing kit's subscriptions (``vbwd_paypal.testing``) over real HTTP and its billing
controls: lifecycle, renewals, failures, revisions, and the signed webhooks they return,
checked by the plugin's own verification."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from vbwd_paypal.testing import FakePayPal

from ._billing_http import PayPalHTTP, active, api, events, kinds, verified
from .conftest import Rig

# The ``api`` fixture is imported so that pytest finds it in this module.
__all__ = ["api"]

# -- subscriptions ---------------------------------------------------------------------


def test_subscription_is_created_pending_with_links_and_a_created_webhook(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Create answers APPROVAL_PENDING with approve/edit/self links; CREATED waits."""
    sub = api.subscribe(api.plan())
    assert sub["status"] == "APPROVAL_PENDING" and sub["id"].startswith("I-")
    rels = {link["rel"]: link for link in sub["links"]}
    assert {"approve", "edit", "self"} <= set(rels)
    assert rels["approve"]["href"].startswith(api.base)
    assert "billing_info" not in sub
    pending = fake.take_webhooks()
    assert verified(rig, pending) == ["BILLING.SUBSCRIPTION.CREATED"]
    assert events(pending)[0]["resource"]["id"] == sub["id"]
    assert events(pending)[0]["resource_type"] == "subscription"
    assert fake.take_webhooks() == []


def test_create_is_idempotent_per_request_id(api: PayPalHTTP, fake: FakePayPal) -> None:
    """A retried create with the same PayPal-Request-Id returns the same subscription."""
    plan_id = api.plan()
    body = {"plan_id": plan_id, "custom_id": "a,b"}
    first = api.ok("POST", "/v1/billing/subscriptions", body, PayPal_Request_Id="rid-1")
    second = api.ok("POST", "/v1/billing/subscriptions", body, PayPal_Request_Id="rid-1")
    assert first["id"] == second["id"]
    assert len(fake.subscriptions) == 1
    reused = api.call(
        "POST", "/v1/billing/subscriptions", {"plan_id": plan_id}, PayPal_Request_Id="rid-1"
    )
    assert reused.status_code == 422
    assert reused.json()["details"][0]["issue"] == "PAYPAL_REQUEST_ID_PREVIOUSLY_USED"


@pytest.mark.parametrize(
    ("extra", "status", "issue"),
    [
        ({"custom_id": "x" * 128}, 400, "INVALID_STRING_MAX_LENGTH"),
        ({"custom_id": "naïve"}, 400, "INVALID_PARAMETER_SYNTAX"),
        ({"quantity": "2"}, 422, "SUBSCRIPTION_CANNOT_HAVE_QUANTITY"),
        ({"start_time": "2001-01-01T00:00:00Z"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            {"application_context": {"return_url": "https://h.example/r"}},
            400,
            "MISSING_REQUIRED_PARAMETER",
        ),
    ],
)
def test_invalid_subscriptions_are_refused(
    api: PayPalHTTP, extra: dict[str, Any], status: int, issue: str
) -> None:
    """custom_id over 127 or non-ASCII, quantity on a plan without, past start: refused."""
    body = {"plan_id": api.plan(), **extra}
    answer = api.call("POST", "/v1/billing/subscriptions", body)
    assert answer.status_code == status, answer.text
    assert answer.json()["details"][0]["issue"] == issue


def test_unknown_and_inactive_plans_are_refused(api: PayPalHTTP, fake: FakePayPal) -> None:
    """An unknown plan is a 404; a plan in CREATED status a 422 PLAN_STATUS_INVALID."""
    unknown = api.call("POST", "/v1/billing/subscriptions", {"plan_id": "P-" + "0" * 24})
    assert unknown.status_code == 404
    plan_id = api.plan()
    fake.plans[plan_id]["status"] = "CREATED"
    created = api.call("POST", "/v1/billing/subscriptions", {"plan_id": plan_id})
    assert created.status_code == 422
    assert created.json()["details"][0]["issue"] == "PLAN_STATUS_INVALID"


def test_approval_without_trial_activates_and_bills_the_first_cycle(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Approval sends ACTIVATED then PAYMENT.SALE.COMPLETED carrying the subscription."""
    sub = api.subscribe(api.plan("12.50", "EUR"))
    deliveries = fake.approve_subscription(sub["id"])
    assert verified(rig, deliveries) == [
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "PAYMENT.SALE.COMPLETED",
    ]
    activated, sale = events(deliveries)
    assert activated["resource"]["status"] == "ACTIVE"
    assert sale["resource_type"] == "sale"
    resource = sale["resource"]
    assert resource["billing_agreement_id"] == sub["id"]
    assert resource["amount"]["total"] == "12.50" and resource["amount"]["currency"] == "EUR"
    assert resource["custom"] == "sub-1,user-1"
    assert resource["state"] == "completed"
    got = api.ok("GET", f"/v1/billing/subscriptions/{sub['id']}")
    info = got["billing_info"]
    assert info["last_payment"]["amount"] == {"currency_code": "EUR", "value": "12.50"}
    assert info["failed_payments_count"] == 0
    assert info["cycle_executions"][0]["cycles_completed"] == 1
    start = datetime.fromisoformat(got["start_time"].replace("Z", "+00:00"))
    assert info["next_billing_time"] == _month_later(start)
    assert got["custom_id"] == "sub-1,user-1" and got["plan_id"] == sub["plan_id"]


def _month_later(start: datetime) -> str:
    month = start.month % 12 + 1
    year = start.year + (start.month == 12)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_free_trial_bills_nothing_until_it_ends(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """With a 14-day trial, approval sends ACTIVATED only; 14 days later the first sale."""
    sub = api.subscribe(api.plan("9.00", trial_days=14))
    assert verified(rig, fake.approve_subscription(sub["id"])) == ["BILLING.SUBSCRIPTION.ACTIVATED"]
    assert fake.advance(timedelta(days=13)) == []
    ended = fake.advance(timedelta(days=1))
    assert verified(rig, ended) == ["PAYMENT.SALE.COMPLETED"]
    assert events(ended)[0]["resource"]["amount"]["total"] == "9.00"
    info = api.ok("GET", f"/v1/billing/subscriptions/{sub['id']}")["billing_info"]
    trial, regular = info["cycle_executions"]
    assert (trial["tenure_type"], trial["cycles_completed"]) == ("TRIAL", 1)
    assert regular["cycles_completed"] == 1


def test_renew_then_failures_suspend_and_a_later_success_recovers(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Renewal sale; 2 failures (threshold 2) → PAYMENT.FAILED then SUSPENDED; success → ACTIVE."""
    sub_id = active(api, fake, threshold=2)
    assert verified(rig, fake.renew(sub_id)) == ["PAYMENT.SALE.COMPLETED"]
    first = fake.renew(sub_id, succeed=False)
    assert verified(rig, first) == ["BILLING.SUBSCRIPTION.PAYMENT.FAILED"]
    failed = events(first)[0]["resource"]
    assert failed["billing_info"]["failed_payments_count"] == 1
    assert failed["billing_info"]["last_failed_payment"]["reason_code"] == "PAYMENT_DENIED"
    assert failed["status"] == "ACTIVE"
    second = fake.renew(sub_id, succeed=False, reason_code="PAYER_CANNOT_PAY")
    assert verified(rig, second) == [
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        "BILLING.SUBSCRIPTION.SUSPENDED",
    ]
    assert api.ok("GET", f"/v1/billing/subscriptions/{sub_id}")["status"] == "SUSPENDED"
    assert fake.advance(timedelta(days=60)) == []
    recovered = fake.renew(sub_id)
    assert verified(rig, recovered) == ["PAYMENT.SALE.COMPLETED", "BILLING.SUBSCRIPTION.ACTIVATED"]
    got = api.ok("GET", f"/v1/billing/subscriptions/{sub_id}")
    assert got["status"] == "ACTIVE"
    assert got["billing_info"]["failed_payments_count"] == 0
    assert got["billing_info"]["cycle_executions"][0]["cycles_completed"] == 3


def test_advance_bills_each_month_and_scripted_failures(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Three months: a sale each month, the scripted failure retried 5 days later."""
    sub_id = active(api, fake, threshold=0)
    fake.fail_renewals(sub_id)
    deliveries = fake.advance(timedelta(days=95))
    assert verified(rig, deliveries) == [
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        "PAYMENT.SALE.COMPLETED",
        "PAYMENT.SALE.COMPLETED",
        "PAYMENT.SALE.COMPLETED",
    ]
    failed, retry = events(deliveries)[:2]
    retry_at = failed["resource"]["billing_info"]["last_failed_payment"]["next_payment_retry_time"]
    assert retry["resource"]["create_time"] == retry_at


def test_finite_plan_expires_after_its_last_cycle(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """A 2-cycle plan: first sale at approval, second on renewal, then EXPIRED."""
    sub_id = active(api, fake, total_cycles=2)
    assert verified(rig, fake.renew(sub_id)) == ["PAYMENT.SALE.COMPLETED"]
    expired = fake.renew(sub_id)
    assert verified(rig, expired) == ["BILLING.SUBSCRIPTION.EXPIRED"]
    assert api.ok("GET", f"/v1/billing/subscriptions/{sub_id}")["status"] == "EXPIRED"
    with pytest.raises(ValueError, match="EXPIRED"):
        fake.renew(sub_id)


def test_cancel_suspend_activate_answer_204_and_queue_webhooks(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Suspend, activate and cancel: 204 each, SUSPENDED/ACTIVATED/CANCELLED in the outbox."""
    sub_id = active(api, fake)
    fake.take_webhooks()
    path = f"/v1/billing/subscriptions/{sub_id}"
    for action in ("suspend", "activate", "cancel"):
        answer = api.call("POST", f"{path}/{action}", {"reason": f"test {action}"})
        assert answer.status_code == 204 and answer.content == b""
    assert verified(rig, fake.take_webhooks()) == [
        "BILLING.SUBSCRIPTION.SUSPENDED",
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "BILLING.SUBSCRIPTION.CANCELLED",
    ]
    got = api.ok("GET", path)
    assert got["status"] == "CANCELLED" and got["status_change_note"] == "test cancel"
    again = api.call("POST", f"{path}/cancel", {"reason": "again"})
    assert again.status_code == 422
    assert again.json()["details"][0]["issue"] == "SUBSCRIPTION_STATUS_INVALID"
    assert fake.advance(timedelta(days=40)) == []


def test_a_replayed_cancel_answers_204_again_without_a_second_webhook(
    api: PayPalHTTP, fake: FakePayPal
) -> None:
    """The same PayPal-Request-Id replays the 204 and changes nothing more."""
    sub_id = active(api, fake)
    fake.take_webhooks()
    path = f"/v1/billing/subscriptions/{sub_id}/cancel"
    for _ in range(2):
        answer = api.call("POST", path, {"reason": "bye"}, PayPal_Request_Id="cancel-1")
        assert answer.status_code == 204 and answer.content == b""
    assert kinds(fake.take_webhooks()) == ["BILLING.SUBSCRIPTION.CANCELLED"]


def test_cancel_needs_a_reason(api: PayPalHTTP, fake: FakePayPal) -> None:
    """PayPal requires ``reason`` on cancel and suspend."""
    sub_id = active(api, fake)
    answer = api.call("POST", f"/v1/billing/subscriptions/{sub_id}/cancel", {})
    assert answer.status_code == 400
    assert answer.json()["details"][0]["issue"] == "MISSING_REQUIRED_PARAMETER"


def test_failure_suspended_subscription_cannot_be_activated_by_the_merchant(
    api: PayPalHTTP, fake: FakePayPal
) -> None:
    """After the failure threshold, ``activate`` is PayPal's SUBSCRIPTION_CANNOT_BE_ACTIVATED."""
    sub_id = active(api, fake, threshold=1)
    fake.renew(sub_id, succeed=False)
    answer = api.call("POST", f"/v1/billing/subscriptions/{sub_id}/activate", {"reason": "x"})
    assert answer.status_code == 422
    assert answer.json()["details"][0]["issue"] == "SUBSCRIPTION_CANNOT_BE_ACTIVATED"


def test_revise_needs_approval_then_sends_updated_and_bills_the_new_price(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Revise answers an approve link; approval sends UPDATED; the next sale is the new price."""
    product = api.product()
    sub_id = active(api, fake, product_id=product)
    new_plan = api.plan("25.00", product_id=product)
    revised = api.ok("POST", f"/v1/billing/subscriptions/{sub_id}/revise", {"plan_id": new_plan})
    assert revised["plan_id"] == new_plan
    assert any(link["rel"] == "approve" for link in revised["links"])
    assert api.ok("GET", f"/v1/billing/subscriptions/{sub_id}")["plan_id"] != new_plan
    updated = fake.approve_revision(sub_id)
    assert verified(rig, updated) == ["BILLING.SUBSCRIPTION.UPDATED"]
    assert events(updated)[0]["resource"]["plan_id"] == new_plan
    sale = events(fake.renew(sub_id))[0]
    assert sale["resource"]["amount"]["total"] == "25.00"
    other = api.plan("30.00")
    refused = api.call("POST", f"/v1/billing/subscriptions/{sub_id}/revise", {"plan_id": other})
    assert refused.json()["details"][0]["issue"] == "PLAN_PRODUCT_NOT_COMPATIBLE"


def test_the_approve_link_approves_and_redirects_to_the_return_url(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """Following ``approve`` (no token needed) activates and redirects with subscription_id."""
    sub = api.subscribe(api.plan())
    fake.take_webhooks()
    href = next(link["href"] for link in sub["links"] if link["rel"] == "approve")
    page = requests.get(href, allow_redirects=False, timeout=5)
    assert page.status_code == 302
    assert page.headers["Location"].startswith("https://host.example/return?")
    assert f"subscription_id={sub['id']}" in page.headers["Location"]
    assert verified(rig, fake.take_webhooks()) == [
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "PAYMENT.SALE.COMPLETED",
    ]


def test_continue_user_action_waits_for_the_merchant_to_activate(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """With user_action CONTINUE approval only marks APPROVED; activate starts billing."""
    context = {
        "return_url": "https://h.example/r",
        "cancel_url": "https://h.example/c",
        "user_action": "CONTINUE",
    }
    sub = api.subscribe(api.plan(), application_context=context)
    fake.take_webhooks()
    assert fake.approve_subscription(sub["id"]) == []
    path = f"/v1/billing/subscriptions/{sub['id']}"
    assert api.ok("GET", path)["status"] == "APPROVED"
    assert api.call("POST", f"{path}/activate", {"reason": "go"}).status_code == 204
    assert verified(rig, fake.take_webhooks()) == [
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "PAYMENT.SALE.COMPLETED",
    ]


def test_future_start_time_bills_at_that_time(api: PayPalHTTP, fake: FakePayPal, rig: Rig) -> None:
    """A start_time 3 days ahead: no sale at approval, the first one 3 days later."""
    start = (fake.billing_now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sub = api.subscribe(api.plan(), start_time=start)
    assert kinds(fake.approve_subscription(sub["id"])) == ["BILLING.SUBSCRIPTION.ACTIVATED"]
    got = api.ok("GET", f"/v1/billing/subscriptions/{sub['id']}")
    assert got["billing_info"]["next_billing_time"] == start
    sale = fake.advance(timedelta(days=3))
    assert verified(rig, sale) == ["PAYMENT.SALE.COMPLETED"]
    assert events(sale)[0]["resource"]["create_time"] == start


def test_sale_custom_can_be_left_out(api: PayPalHTTP, fake: FakePayPal) -> None:
    """``fake.sale_custom = False``: sales carry no ``custom`` (a plugin must look it up)."""
    fake.sale_custom = False
    sub = api.subscribe(api.plan())
    sale = events(fake.approve_subscription(sub["id"]))[1]["resource"]
    assert "custom" not in sale
    assert sale["billing_agreement_id"] == sub["id"]
