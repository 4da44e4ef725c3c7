"""Small test doubles shared by the mock provider and the conformance suite (no pytest here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from vbwd_plugins.events._dispatcher import Event, EventDispatcher

__all__ = ["BillingScenario", "RecordingDispatcher", "WebhookDelivery", "WebhookVariant"]


class WebhookVariant(StrEnum):
    """The kinds of webhook delivery the conformance suite asks a harness for."""

    #: Correctly signed with the configured secret, fresh timestamp: must verify.
    VALID = "valid"
    #: Signed correctly, then the body changed (e.g. a different amount): must not verify.
    TAMPERED_BODY = "tampered_body"
    #: Signed with a different secret / key than the plugin is configured with.
    WRONG_SECRET = "wrong_secret"
    #: Correctly signed, but timestamped well before the plugin's tolerance.
    STALE_TIMESTAMP = "stale_timestamp"
    #: Correctly signed, but timestamped well after now plus the tolerance.
    FUTURE_TIMESTAMP = "future_timestamp"


class BillingScenario(StrEnum):
    """What a harness's ``subscription_webhooks`` is asked for (see ``BillingHarness``).

    The first five are things only the provider's side can make happen: the harness drives
    its fake server (approve, advance its clock, decline the renewal). The rest follow a
    call the suite has just made through the plugin: the harness returns the webhooks the
    server sent for it. Each names the standard event the suite then expects.
    """

    #: The suite created the subscription: ``subscription.created``.
    CREATED = "created"
    #: Make it usable as the payer would (approve it; pay the first invoice where creating
    #: it did not): ``subscription.activated``.
    ACTIVATED = "activated"
    #: Advance the server past the current period's end; the renewal is paid:
    #: ``subscription.renewed`` (the plan's amount times the quantity).
    RENEWED = "renewed"
    #: Advance past the period's end with the renewal charge declined (first attempt):
    #: ``subscription.payment_failed``.
    PAYMENT_FAILED = "payment_failed"
    #: Decline the renewal until the provider marks the subscription past due:
    #: ``subscription.past_due``.
    PAST_DUE = "past_due"
    #: The suite created it with a trial; advance to the provider's reminder before the
    #: trial ends: ``subscription.trial_will_end``.
    TRIAL_WILL_END = "trial_will_end"
    #: The suite called ``cancel_subscription(at_period_end=True)``:
    #: ``subscription.cancelled`` with ``at_period_end=True``.
    CANCELLED_AT_PERIOD_END = "cancelled_at_period_end"
    #: The suite called ``cancel_subscription(at_period_end=False)``:
    #: ``subscription.cancelled`` with ``at_period_end=False``.
    CANCELLED_NOW = "cancelled_now"
    #: The suite called ``change_subscription_plan``: ``subscription.updated``. Where the
    #: provider needs the payer's consent to the change (PayPal's revise answers an
    #: approval link), approve it as the payer first.
    PLAN_CHANGED = "plan_changed"
    #: The suite called ``pause_subscription``: ``subscription.paused``.
    PAUSED = "paused"
    #: The suite called ``resume_subscription``: ``subscription.resumed``.
    RESUMED = "resumed"


@dataclass(frozen=True)
class WebhookDelivery:
    """One HTTP webhook request as the provider would send it: headers and raw body."""

    headers: Mapping[str, str]
    body: bytes
    #: Free-form notes for failure messages (e.g. the event type inside).
    description: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


class RecordingDispatcher(EventDispatcher):
    """An :class:`~vbwd_plugins.EventDispatcher` that also remembers every dispatched event."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def dispatch(self, event: Event, strict: bool | None = None) -> Event:
        """Record ``event``, then dispatch it to listeners as usual."""
        self.events.append(event)
        return super().dispatch(event, strict)

    def named(self, name: str) -> list[Event]:
        """The recorded events called ``name``."""
        return [event for event in self.events if event.name == name]

    def clear(self) -> None:
        """Forget the recorded events."""
        self.events.clear()
