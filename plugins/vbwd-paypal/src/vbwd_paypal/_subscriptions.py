"""PayPal billing subscriptions -> the contract's :class:`Subscription` (pure functions).

PayPal's ``status`` says less than the contract's: ``billing_info`` tells the rest.

======================  =====================================================================
PayPal ``status``       :class:`SubscriptionStatus`
======================  =====================================================================
``APPROVAL_PENDING``    ``PENDING`` (``approval_url`` is the ``approve`` link)
``APPROVED``            ``PENDING`` (approved by the payer, not activated yet)
``ACTIVE``              ``TRIALING`` while a ``TRIAL`` cycle ran and no ``REGULAR`` cycle has
                        been billed yet; ``PAST_DUE`` when ``failed_payments_count`` > 0;
                        else ``ACTIVE``
``SUSPENDED``           ``UNPAID`` when ``failed_payments_count`` > 0 (PayPal suspends once its
                        failure threshold is reached and stops retrying); else ``PAUSED``
``CANCELLED``           ``CANCELLED``
``EXPIRED``             ``EXPIRED``
======================  =====================================================================

``current_period_end`` is ``billing_info.next_billing_time`` (what has been paid for, or the
trial, lasts until then); ``current_period_start`` is the last payment's time, else the
subscription's ``start_time``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from vbwd_plugins.payments import Subscription, SubscriptionStatus

from ._mapping import SUBSCRIPTION_STATUS
from ._results import link, resource_id
from ._webhook_events import decode_custom_id

__all__ = [
    "CANCEL_NOW_NOTE",
    "RESUME_NOTE",
    "billing_info",
    "cancel_note",
    "cancellation",
    "failed_payments",
    "in_trial",
    "moment",
    "paid_through",
    "subscription_of",
    "subscription_status",
]


#: ``reason`` of the cancellations and activations this plugin asks for. PayPal keeps it as
#: the subscription's ``status_change_note``, which its webhooks carry: the only way a
#: ``BILLING.SUBSCRIPTION.CANCELLED`` can say which cancellation the host asked for.
CANCEL_NOW_NOTE: Final = "vbwd: cancelled now"
RESUME_NOTE: Final = "vbwd: resumed"
_AT_PERIOD_END: Final = "vbwd: cancelled at period end"
_PERIOD_END_NOTE: Final = re.compile(
    re.escape(_AT_PERIOD_END) + r"(?:, paid through (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ))?"
)


def cancel_note(at_period_end: bool, paid_through: datetime | None) -> str:
    """The cancellation ``reason``: now, or at the period end with the paid-through time."""
    if not at_period_end:
        return CANCEL_NOW_NOTE
    if paid_through is None:
        return _AT_PERIOD_END
    return f"{_AT_PERIOD_END}, paid through {paid_through.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def cancellation(resource: Mapping[str, Any]) -> tuple[bool, datetime | None] | None:
    """``(at_period_end, ends_at)`` of a cancellation this plugin asked for, else ``None``."""
    note = resource.get("status_change_note")
    if note == CANCEL_NOW_NOTE:
        return False, None
    found = _PERIOD_END_NOTE.fullmatch(note) if isinstance(note, str) else None
    if found is None:
        return None
    return True, moment(found.group(1))


def moment(value: object) -> datetime | None:
    """An RFC 3339 time PayPal wrote (``"2024-05-01T10:00:00Z"``), or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def billing_info(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """``resource["billing_info"]``, or ``{}`` (PayPal fills it once a subscription is active)."""
    info = resource.get("billing_info")
    return info if isinstance(info, Mapping) else {}


def failed_payments(resource: Mapping[str, Any]) -> int:
    """Consecutive failed payments (``billing_info.failed_payments_count``; reset by a success)."""
    count = billing_info(resource).get("failed_payments_count")
    if isinstance(count, bool) or not isinstance(count, int | str):
        return 0
    try:
        return max(int(count), 0)
    except ValueError:
        return 0


def _executions(resource: Mapping[str, Any], tenure: str) -> list[Mapping[str, Any]]:
    found = billing_info(resource).get("cycle_executions")
    return [
        item
        for item in (found if isinstance(found, list) else [])
        if isinstance(item, Mapping) and item.get("tenure_type") == tenure
    ]


def _deferred(resource: Mapping[str, Any]) -> bool:
    """Whether the subscription starts (first bills) an hour or more after its creation."""
    start, created = moment(resource.get("start_time")), moment(resource.get("create_time"))
    return start is not None and created is not None and start - created >= timedelta(hours=1)


def in_trial(resource: Mapping[str, Any]) -> bool:
    """Whether it is in a free period: no regular cycle billed yet, and either a trial cycle
    has run or its ``start_time`` was set later than its creation (a trial by start time).

    PayPal counts a trial cycle as completed when it starts; the first regular payment
    marks the trial's end.
    """
    regular = _executions(resource, "REGULAR")
    if any(_int(item.get("cycles_completed")) > 0 for item in regular):
        return False
    trials = _executions(resource, "TRIAL")
    return any(_int(item.get("cycles_completed")) > 0 for item in trials) or _deferred(resource)


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def subscription_status(resource: Mapping[str, Any]) -> SubscriptionStatus:
    """The contract's status of a PayPal subscription (see the module table)."""
    text = str(resource.get("status", ""))
    status = SUBSCRIPTION_STATUS.get(text, SubscriptionStatus.PENDING)
    failed = failed_payments(resource)
    if status is SubscriptionStatus.ACTIVE:
        if failed:
            return SubscriptionStatus.PAST_DUE
        return SubscriptionStatus.TRIALING if in_trial(resource) else status
    if status is SubscriptionStatus.PAUSED and failed:
        return SubscriptionStatus.UNPAID
    return status


def paid_through(resource: Mapping[str, Any]) -> datetime | None:
    """``billing_info.next_billing_time``: the end of the paid (or trial) period."""
    return moment(billing_info(resource).get("next_billing_time"))


def _period_start(resource: Mapping[str, Any]) -> datetime | None:
    last = billing_info(resource).get("last_payment")
    paid = moment(last.get("time")) if isinstance(last, Mapping) else None
    starts = [
        t for t in (moment(resource.get("start_time")), moment(resource.get("create_time"))) if t
    ]
    return paid or (min(starts) if starts else None)


def _quantity(resource: Mapping[str, Any]) -> int:
    quantity = _int(resource.get("quantity"))
    return quantity if quantity >= 1 else 1


def subscription_of(
    resource: Mapping[str, Any],
    *,
    approval_url: str | None = None,
    now: datetime | None = None,
) -> Subscription:
    """A PayPal subscription as the contract's :class:`Subscription`.

    ``approval_url`` overrides the resource's ``approve`` link (a revision's). A subscription
    this plugin cancelled at the period end is ``ACTIVE`` (or ``TRIALING``) with
    ``cancel_at_period_end`` until the paid-through time its note records, then
    ``CANCELLED``: PayPal stopped billing at once, but the payer keeps the paid time.
    """
    status = subscription_status(resource)
    cancel_at_period_end, period_end = False, None
    cancelled = cancellation(resource) if status is SubscriptionStatus.CANCELLED else None
    if cancelled is not None and cancelled[0]:
        cancel_at_period_end, period_end = cancelled
        if period_end is not None and period_end > (now or datetime.now(UTC)):
            status = (
                SubscriptionStatus.TRIALING if in_trial(resource) else SubscriptionStatus.ACTIVE
            )
    subscription_id, user_id = decode_custom_id(resource.get("custom_id"))
    subscriber = resource.get("subscriber")
    payer = subscriber.get("payer_id") if isinstance(subscriber, Mapping) else None
    plan_id = resource.get("plan_id")
    end = paid_through(resource) or period_end
    if approval_url is None and status is SubscriptionStatus.PENDING:
        approval_url = link(resource, "approve")
    return Subscription(
        id=resource_id(resource),
        status=status,
        provider_plan_id=plan_id if isinstance(plan_id, str) and plan_id else None,
        customer_id=payer if isinstance(payer, str) and payer else None,
        quantity=_quantity(resource),
        current_period_start=_period_start(resource),
        current_period_end=end,
        trial_end=end if status is SubscriptionStatus.TRIALING else None,
        cancel_at_period_end=cancel_at_period_end,
        approval_url=approval_url,
        subscription_id=subscription_id,
        user_id=user_id,
        provider_status=str(resource.get("status", "")) or None,
    )
