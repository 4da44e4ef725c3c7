"""What the billing endpoints and controls share: PayPal's money rules for plans, billing
cycle arithmetic, the webhook outbox and the state the fake keeps for recurring billing."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Protocol

from vbwd_plugins.testing import WebhookDelivery

from ._resources import ZERO_DECIMAL, Resources
from ._signing import make_event, paypal_time
from ._wire import Answer, error_body


class Signer(Protocol):
    """What signs a delivery (:class:`WebhookSigner`; typed here to avoid an import cycle)."""

    def headers(self, body: bytes) -> dict[str, str]:
        """The ``PAYPAL-*`` headers for ``body``."""
        ...


#: The currencies PayPal's REST API accepts. None has three decimals: KWD, BHD, JOD, OMR and
#: TND are refused (``CURRENCY_NOT_SUPPORTED``), as PayPal does.
PAYPAL_CURRENCIES: Final = frozenset(
    {
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
        "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    }
)  # fmt: skip

#: The largest ``interval_count`` PayPal allows for each ``interval_unit``.
MAX_INTERVAL: Final = {"DAY": 365, "WEEK": 52, "MONTH": 12, "YEAR": 1}

#: How long PayPal waits before retrying a failed subscription payment.
RETRY_AFTER: Final = timedelta(days=5)


def invalid(issue: str, field: str, description: str, status: int = 400) -> Answer:
    """A PayPal validation error naming the field (``details[0].field``) it is about."""
    name = "INVALID_REQUEST" if status == 400 else "UNPROCESSABLE_ENTITY"
    message = (
        "Request is not well-formed, syntactically incorrect, or violates schema."
        if status == 400
        else "The requested action could not be performed, semantically incorrect, or failed "
        "business validation."
    )
    body = error_body(name, message, issue, description)
    body["details"][0].update({"field": field, "location": "body"})
    return Answer(status, body)


def check_money(amount: Any, field: str) -> Decimal:
    """Validate a PayPal ``money`` object for plans and subscriptions; return its value.

    The currency must be one PayPal supports (422 ``CURRENCY_NOT_SUPPORTED``), then the
    orders' rules apply: no decimals for HUF, JPY and TWD, at most two for the rest
    (422 ``DECIMAL_PRECISION``).
    """
    currency = amount.get("currency_code") if isinstance(amount, Mapping) else None
    if isinstance(currency, str) and currency not in PAYPAL_CURRENCIES:
        raise invalid(
            "CURRENCY_NOT_SUPPORTED",
            f"{field}/currency_code",
            f"Currency code {currency!r} is not currently supported.",
            422,
        )
    return Resources._check_amount(dict(amount) if isinstance(amount, Mapping) else amount)


def money_value(value: Decimal, currency: str) -> str:
    """``value`` as PayPal writes an amount of ``currency`` (``"10.00"``, ``"1000"``)."""
    return f"{value:.0f}" if currency in ZERO_DECIMAL else f"{value:.2f}"


def money(value: Decimal, currency: str) -> dict[str, str]:
    """A v2 ``money`` object."""
    return {"currency_code": currency, "value": money_value(value, currency)}


def add_interval(anchor: datetime, unit: str, count: int) -> datetime:
    """``anchor`` plus ``count`` units; months and years keep the day, clamped to the month."""
    if unit == "DAY":
        return anchor + timedelta(days=count)
    if unit == "WEEK":
        return anchor + timedelta(weeks=count)
    months = count * (12 if unit == "YEAR" else 1)
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 time from a request, or PayPal's 400."""
    if isinstance(value, str) and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
    ):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    raise invalid("INVALID_PARAMETER_SYNTAX", field, "Not an Internet date and time.")


def cycle_price(cycle: Mapping[str, Any]) -> Decimal:
    """The fixed price of one billing cycle (a free trial has none, or ``"0"``)."""
    fixed = (cycle.get("pricing_scheme") or {}).get("fixed_price")
    return Decimal(fixed["value"]) if fixed else Decimal(0)


class BillingResources(Resources):
    """Products, plans, subscriptions, sales and disputes, and the webhook outbox.

    The attributes are set by :meth:`_reset_billing`. Fields of stored resources that start
    with ``_`` are the fake's bookkeeping and never shown to the client.
    """

    products: dict[str, dict[str, Any]]
    plans: dict[str, dict[str, Any]]
    subscriptions: dict[str, dict[str, Any]]
    sales: dict[str, dict[str, Any]]
    sale_refunds: dict[str, dict[str, Any]]
    disputes: dict[str, dict[str, Any]]
    #: Events caused by API calls (subscription created, cancelled, a sale refunded...),
    #: waiting for :meth:`take_webhooks`.
    outbox: list[dict[str, Any]]
    #: Every webhook event the billing side produced, in order (for assertions).
    webhook_events: list[dict[str, Any]]
    #: Set by creating a :class:`WebhookSigner` for this fake; signs returned deliveries.
    signer: Signer | None
    #: Whether ``PAYMENT.SALE.*`` resources carry the subscription's ``custom_id`` as
    #: ``custom`` (PayPal's own samples omit it; payloads seen for subscriptions with a
    #: ``custom_id`` carry it). Set ``False`` to test a plugin's fallback.
    sale_custom: bool
    billing_now: datetime
    _failures: dict[str, list[str]]

    def _reset_billing(self) -> None:
        self.products, self.plans, self.subscriptions = {}, {}, {}
        self.sales, self.sale_refunds, self.disputes = {}, {}, {}
        self.outbox, self.webhook_events = [], []
        self.signer = None
        self.sale_custom = True
        self.billing_now = datetime.now(UTC).replace(microsecond=0)
        self._failures = {}

    def _at(self) -> str:
        return paypal_time(self.billing_now)

    def _event(
        self, event_type: str, resource: Mapping[str, Any], resource_type: str, summary: str
    ) -> dict[str, Any]:
        event = make_event(
            event_type,
            resource,
            resource_type=resource_type,
            resource_version="2.0" if resource_type == "subscription" else "1.0",
            summary=summary,
            create_time=self.billing_now,
        )
        self.webhook_events.append(event)
        return event

    def _sign(self, events: list[dict[str, Any]]) -> list[WebhookDelivery]:
        """Signed deliveries for ``events``, in order, as PayPal would post them."""
        if events and self.signer is None:
            raise RuntimeError(
                "FakePayPal has no webhook signer: create WebhookSigner(fake, pki, cert_url) "
                "before using the billing controls"
            )
        deliveries = []
        for event in events:
            body = json.dumps(event).encode()
            assert self.signer is not None
            deliveries.append(
                WebhookDelivery(
                    self.signer.headers(body),
                    body,
                    event["event_type"],
                    {"event_type": event["event_type"], "event_id": event["id"]},
                )
            )
        return deliveries

    def take_webhooks(self) -> list[WebhookDelivery]:
        """The signed deliveries for events that API calls caused, oldest first; empties
        the outbox.

        ``BILLING.SUBSCRIPTION.CREATED`` (create), ``.CANCELLED`` (cancel), ``.SUSPENDED``
        (suspend), ``.ACTIVATED`` (activate, and a first ``PAYMENT.SALE.COMPLETED`` when
        that activation bills), ``.UPDATED`` (a revision approved on the payer page) and
        ``PAYMENT.SALE.REFUNDED`` (sale refund) wait here. Test controls return theirs
        directly instead.
        """
        with self.lock:
            events, self.outbox = self.outbox, []
            return self._sign(events)
