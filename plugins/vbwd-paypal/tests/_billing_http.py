"""Shared by the billing kit tests: a bearer ``requests`` client for the fake PayPal
(``api`` fixture), plan/subscription builders and webhook helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from vbwd_paypal.testing import FakePayPal, WebhookSigner

from vbwd_plugins.testing import WebhookDelivery

from .conftest import CLIENT_ID, CLIENT_SECRET, FakeServers, Rig

MONTHLY = {"interval_unit": "MONTH", "interval_count": 1}


@dataclass
class PayPalHTTP:
    """A bearer-authenticated ``requests`` client for the fake's API."""

    base: str
    session: requests.Session

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
        """Send ``body`` as JSON (headers given as ``PayPal_Request_Id=...``)."""
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        return self.session.request(
            method, f"{self.base}{path}", json=body, headers=sent, timeout=5
        )

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """Call and return the JSON answer, failing on any non-2xx status."""
        response = self.call(method, path, body, **headers)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def product(self, **extra: Any) -> str:
        """A new SERVICE product's id."""
        return str(
            self.ok("POST", "/v1/catalogs/products", {"name": "Pro", "type": "SERVICE", **extra})[
                "id"
            ]
        )

    def plan(
        self,
        value: str = "10.00",
        currency: str = "USD",
        *,
        trial_days: int = 0,
        total_cycles: int = 0,
        threshold: int = 3,
        product_id: str | None = None,
    ) -> str:
        """A new ACTIVE monthly plan's id (with a free trial of ``trial_days``)."""
        cycles: list[dict[str, Any]] = []
        if trial_days:
            cycles.append(
                {
                    "frequency": {"interval_unit": "DAY", "interval_count": trial_days},
                    "tenure_type": "TRIAL",
                    "sequence": 1,
                    "total_cycles": 1,
                }
            )
        cycles.append(
            {
                "frequency": MONTHLY,
                "tenure_type": "REGULAR",
                "sequence": len(cycles) + 1,
                "total_cycles": total_cycles,
                "pricing_scheme": {"fixed_price": {"value": value, "currency_code": currency}},
            }
        )
        body = {
            "product_id": product_id or self.product(),
            "name": "Pro monthly",
            "billing_cycles": cycles,
            "payment_preferences": {
                "auto_bill_outstanding": True,
                "payment_failure_threshold": threshold,
            },
        }
        return str(self.ok("POST", "/v1/billing/plans", body)["id"])

    def subscribe(self, plan_id: str, **extra: Any) -> dict[str, Any]:
        """A new subscription (APPROVAL_PENDING)."""
        body = {
            "plan_id": plan_id,
            "custom_id": "sub-1,user-1",
            "application_context": {
                "return_url": "https://host.example/return",
                "cancel_url": "https://host.example/cancel",
                "brand_name": "Example",
            },
            **extra,
        }
        answer: dict[str, Any] = self.ok("POST", "/v1/billing/subscriptions", body)
        return answer


@pytest.fixture
def api(servers: FakeServers, signer: WebhookSigner) -> Iterator[PayPalHTTP]:
    """A client holding a fresh token, as the plugin would (the signer is set up too)."""
    session = requests.Session()
    token = session.post(
        f"{servers.api_base}/v1/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=5,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    yield PayPalHTTP(servers.api_base, session)
    session.close()


def events(deliveries: list[WebhookDelivery]) -> list[dict[str, Any]]:
    """The parsed webhook events."""
    return [json.loads(d.body) for d in deliveries]


def kinds(deliveries: list[WebhookDelivery]) -> list[str]:
    """The event types, in order."""
    return [e["event_type"] for e in events(deliveries)]


def verified(rig: Rig, deliveries: list[WebhookDelivery]) -> list[str]:
    """Assert the plugin's verification accepts every delivery; return the event types."""
    for delivery in deliveries:
        assert rig.plugin.verify_webhook_request(delivery.headers, delivery.body), delivery
    return kinds(deliveries)


def active(api: PayPalHTTP, fake: FakePayPal, **plan: Any) -> str:
    """An ACTIVE subscription's id (approved; its first webhooks are dropped)."""
    sub = api.subscribe(api.plan(**plan))
    fake.approve_subscription(sub["id"])
    return str(sub["id"])
