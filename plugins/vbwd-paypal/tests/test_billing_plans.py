"""One catalog product for every plan, and plan changes across plans, against the fake PayPal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from vbwd_paypal import PAYPAL_CURRENCY_RULES
from vbwd_paypal.testing import FakePayPal, WebhookSigner

from vbwd_plugins import Event, Money, PaymentErrorCode
from vbwd_plugins.payments import (
    BillingEventData,
    Plan,
    SubscriptionRenewed,
    SubscriptionRequest,
    SubscriptionStatus,
    SubscriptionUpdated,
)
from vbwd_plugins.testing import WebhookDelivery

from .conftest import Rig

SUB, USER = "host-sub-1", "host-user-1"
BASIC = Plan(key="basic", name="Basic", price=Money("5.00", "USD"))
PRO = Plan(key="pro", name="Pro", price=Money("15.00", "USD"))


def _events(rig: Rig, deliveries: Sequence[WebhookDelivery]) -> list[Event]:
    """Verify and translate signed deliveries, as the webhook pipeline would."""
    events: list[Event] = []
    for delivery in deliveries:
        received = rig.plugin.receive_webhook(delivery.headers, delivery.body)
        events.extend(rig.plugin.translate_webhook(received.payload))
    return events


def _subscribed(rig: Rig, plan: Plan) -> str:
    """An active subscription to ``plan`` (its first webhooks taken)."""
    request = SubscriptionRequest(
        plan=plan,
        subscription_id=SUB,
        user_id=USER,
        return_url="https://host.example/return",
        cancel_url="https://host.example/cancel",
    )
    sub = rig.plugin.create_subscription(request).unwrap()
    rig.fake.approve_subscription(sub.id)
    rig.fake.take_webhooks()
    return sub.id


def _payer_approves(url: str) -> None:
    """What the payer does: open the approval link on PayPal (the fake), over HTTP."""
    page = requests.get(url, allow_redirects=False, timeout=5)
    assert page.status_code == 302, page.text
    assert urlsplit(page.headers["Location"]).netloc == "host.example"


def test_every_plan_is_in_the_one_catalog_product(rig: Rig, fake: FakePayPal) -> None:
    """Two plan keys: two billing plans of one product, created once (one product POST)."""
    basic = rig.plugin.ensure_plan(BASIC).unwrap()
    pro = rig.plugin.ensure_plan(PRO).unwrap()
    assert basic.provider_product_id == pro.provider_product_id == "VBWD-SUBSCRIPTIONS"
    assert basic.provider_plan_id != pro.provider_plan_id
    assert list(fake.products) == ["VBWD-SUBSCRIPTIONS"]
    assert len(fake.calls("POST", "/v1/catalogs/products")) == 1


def test_the_catalog_product_is_configurable(
    make_rig: Callable[..., Rig], fake: FakePayPal
) -> None:
    """catalog_product_id names the product; another instance finds it (duplicate id: found)."""
    first = make_rig(catalog_product_id="ACME-PLANS").plugin.ensure_plan(BASIC).unwrap()
    again = make_rig(catalog_product_id="ACME-PLANS").plugin.ensure_plan(BASIC).unwrap()
    assert first == again and first.provider_product_id == "ACME-PLANS"
    assert list(fake.products) == ["ACME-PLANS"] and len(fake.plans) == 1


def test_same_name_and_price_under_another_key_is_another_plan(rig: Rig, fake: FakePayPal) -> None:
    """The key is part of a plan's identity: no two keys share a PayPal billing plan."""
    one = rig.plugin.ensure_plan(BASIC).unwrap()
    other = rig.plugin.ensure_plan(Plan(key="basic-eu", name="Basic", price=BASIC.price)).unwrap()
    assert one.provider_plan_id != other.provider_plan_id
    assert fake.plans[other.provider_plan_id]["description"] == "vbwd plan basic-eu"


@pytest.mark.parametrize("by_id", [False, True], ids=["plan", "ensured-plan-id"])
def test_basic_to_pro_end_to_end(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner, by_id: bool
) -> None:
    """basic -> pro (the Plan, or its ensured provider_plan_id): the revise waits for the payer
    at approval_url; once they approve, subscription.updated names pro, get_subscription
    says pro, the next renewal bills pro's price."""
    sub_id = _subscribed(rig, BASIC)
    basic_id = rig.plugin.get_subscription(sub_id).unwrap().provider_plan_id
    pro_id = rig.plugin.ensure_plan(PRO).unwrap().provider_plan_id
    target = replace(PRO, provider_plan_id=pro_id) if by_id else PRO
    waiting = rig.plugin.change_subscription_plan(sub_id, target).unwrap()
    assert waiting.provider_plan_id == basic_id, "the plan changes only once the payer approves"
    assert waiting.status is SubscriptionStatus.ACTIVE and waiting.approval_url
    assert "ba_token" in parse_qs(urlsplit(waiting.approval_url).query)
    assert fake.calls("POST", f"/v1/billing/subscriptions/{sub_id}/revise")[-1].json == {
        "plan_id": pro_id
    }
    _payer_approves(waiting.approval_url)
    events = _events(rig, fake.take_webhooks())
    updated = [BillingEventData.from_event(e) for e in events if e.name == "subscription.updated"]
    assert len(updated) == 1 and isinstance(updated[0], SubscriptionUpdated)
    assert updated[0].provider_plan_id == pro_id
    assert (updated[0].subscription_id, updated[0].user_id) == (SUB, USER)
    assert rig.plugin.get_subscription(sub_id).unwrap().provider_plan_id == pro_id
    renewal = [BillingEventData.from_event(e) for e in _events(rig, fake.renew(sub_id))]
    assert [(r.amount, r.currency) for r in renewal if isinstance(r, SubscriptionRenewed)] == [
        (1500, "USD")
    ]


def test_a_subscription_of_another_product_changes_within_it(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """A subscription on a plan referenced by id from another product (or made under an
    earlier catalog_product_id) gets its new plan in that product, so PayPal can revise it."""
    legacy = make_foreign_plan(rig, "LEGACY-PRODUCT")
    sub_id = _subscribed(rig, legacy)
    waiting = rig.plugin.change_subscription_plan(sub_id, PRO).unwrap()
    assert waiting.approval_url
    fake.approve_revision(sub_id)
    new_plan = rig.plugin.get_subscription(sub_id).unwrap().provider_plan_id
    assert new_plan is not None and fake.plans[new_plan]["product_id"] == "LEGACY-PRODUCT"


def test_a_referenced_plan_of_another_product_is_refused(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """Changing to a plan referenced by id in another product is INVALID_REQUEST naming
    both products, before any revise (PayPal would answer PLAN_PRODUCT_NOT_COMPATIBLE)."""
    sub_id = _subscribed(rig, BASIC)
    foreign = make_foreign_plan(rig, "OTHER-PRODUCT", price=PRO.price)
    result = rig.plugin.change_subscription_plan(sub_id, foreign)
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "OTHER-PRODUCT" in (result.error_message or "")
    assert "VBWD-SUBSCRIPTIONS" in (result.error_message or "")
    assert fake.calls("POST", f"/v1/billing/subscriptions/{sub_id}/revise") == []


@pytest.mark.parametrize("currency", ["EUR", "JPY"])
def test_a_plan_in_another_currency_is_refused(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner, currency: str
) -> None:
    """PayPal revises only within a currency: INVALID_REQUEST naming both, nothing made."""
    sub_id = _subscribed(rig, BASIC)
    plans = dict(fake.plans)
    other = Plan(key="pro-x", name="Pro", price=Money("1500", currency))
    result = rig.plugin.change_subscription_plan(sub_id, other)
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert currency in (result.error_message or "") and "USD" in (result.error_message or "")
    assert fake.plans == plans
    assert fake.calls("POST", f"/v1/billing/subscriptions/{sub_id}/revise") == []


def make_foreign_plan(rig: Rig, product_id: str, price: Money = BASIC.price) -> Plan:
    """A plan made outside the plugin, in ``product_id``, referenced by its id."""
    client = rig.plugin.client
    product = {"id": product_id, "name": "Old", "type": "SERVICE"}
    client.call("POST", "/v1/catalogs/products", body=product, request_id=f"p-{product_id}")
    body = {
        "product_id": product_id,
        "name": "Legacy",
        "billing_cycles": [
            {
                "frequency": {"interval_unit": "MONTH", "interval_count": 1},
                "tenure_type": "REGULAR",
                "sequence": 1,
                "total_cycles": 0,
                "pricing_scheme": {
                    "fixed_price": {
                        "value": price.to_decimal_string(PAYPAL_CURRENCY_RULES),
                        "currency_code": price.currency,
                    }
                },
            }
        ],
        "payment_preferences": {"payment_failure_threshold": 3},
        "quantity_supported": True,
    }
    created = client.call("POST", "/v1/billing/plans", body=body, request_id=f"q-{product_id}")
    return Plan(key="legacy", name="Legacy", price=price, provider_plan_id=created["id"])
