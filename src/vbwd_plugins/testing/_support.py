"""Small test doubles shared by the mock provider and the conformance suite (no pytest here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from vbwd_plugins.events._dispatcher import Event, EventDispatcher

__all__ = ["RecordingDispatcher", "WebhookDelivery", "WebhookVariant"]


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
