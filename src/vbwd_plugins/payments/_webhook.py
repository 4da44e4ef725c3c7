"""The webhook half of the payment-provider contract: verify, parse, identify, translate.

A provider implements one method, :meth:`WebhookReceiver.verify_request`, which returns
when a delivery is authentic and fresh and otherwise raises
:class:`~vbwd_plugins.errors.WebhookVerificationError` whose ``reason`` says why. The rest
has defaults a provider adjusts with class attributes or by overriding:

* :meth:`~WebhookReceiver.receive_webhook` is the one way a delivery is read, by the
  :class:`~vbwd_plugins.WebhookProcessor` and by ``process_webhook`` alike. It holds the
  contract's only fail-closed guard: whatever else ``verify_request`` raises (or returns)
  refuses the delivery with the reason ``"verification error: <ExceptionType>"``, logged
  with its traceback, never accepted. It then parses the body and reads the event's id
  and type the way the provider says (``webhook_event_id_field`` /
  ``webhook_event_type_field``, or the methods they feed); the core never guesses.
* ``verify_webhook(payload, signature)`` (the original design's) and
  ``verify_webhook_request(headers, body)`` are thin ``bool`` wrappers: ``False`` on any
  refusal, with the reason logged.
* :meth:`~WebhookReceiver.translate_webhook` turns a payload into standard events without
  dispatching them; the default :meth:`~WebhookReceiver.handle_webhook` dispatches them.

A subclass written against the original design (``verify_webhook`` only) still works: its
``verify_webhook`` becomes the check behind ``verify_request``, read from the
``webhook_signature_header``.
"""

from __future__ import annotations

import functools
import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

from vbwd_plugins._json import parse_json
from vbwd_plugins.errors import WebhookPayloadError, WebhookVerificationError
from vbwd_plugins.payments._results import header_value
from vbwd_plugins.plugins._model import BasePlugin

if TYPE_CHECKING:
    from vbwd_plugins.events._dispatcher import Event
    from vbwd_plugins.payments._events import PaymentEventData

__all__ = ["ReceivedWebhook", "WebhookReceiver"]

logger = logging.getLogger(__name__)

#: Longest event type read from a payload (longer or unprintable ones read as ``None``).
MAX_EVENT_TYPE: Final = 200
_SEED_MARK: Final = "__vbwd_seed_verifier__"


@final
@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    """A verified, parsed delivery and what identifies it (from ``receive_webhook``)."""

    payload: dict[str, Any]
    #: The provider's event id (``evt_...``, ``WH-...``); ``None`` when the payload has none.
    event_id: str | None
    #: The provider's event type (``payment_intent.succeeded``); ``None`` when unreadable.
    event_type: str | None


def refusal(plugin_name: str, reason: str) -> WebhookVerificationError:
    """The error that refuses a delivery to ``plugin_name`` for ``reason``."""
    return WebhookVerificationError(
        f"Webhook for {plugin_name!r} refused: {reason}", plugin_name=plugin_name, reason=reason
    )


def _string_field(payload: Mapping[str, Any], name: str | None) -> str | None:
    value = payload.get(name) if name is not None else None
    return value if isinstance(value, str) and value else None


class WebhookReceiver(BasePlugin):
    """The webhook contract :class:`~vbwd_plugins.PaymentProviderPlugin` inherits.

    Subclass ``PaymentProviderPlugin``, not this class.
    """

    #: Header carrying the signature: what ``verify_webhook(payload, signature)`` stands
    #: for, and where an original-design ``verify_webhook`` reads its signature from.
    #: ``None`` for providers that sign with several headers (PayPal).
    webhook_signature_header: ClassVar[str | None] = None
    #: Top-level payload field holding the provider's event id (deduplicates deliveries).
    webhook_event_id_field: ClassVar[str | None] = "id"
    #: Top-level payload field holding the provider's event type (PayPal: ``event_type``).
    webhook_event_type_field: ClassVar[str | None] = "type"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        impl = cls.__dict__.get("verify_webhook")
        if not callable(impl) or getattr(impl, _SEED_MARK, False):
            return
        # An original-design provider: its verify_webhook is the check, run behind the guard.
        cls.verify_webhook = _seed_verify_webhook(impl)  # type: ignore[method-assign]
        inherited = getattr(cls, "verify_request", None)
        if "verify_request" not in cls.__dict__ and (
            getattr(inherited, "__isabstractmethod__", False)
            or getattr(inherited, _SEED_MARK, False)
        ):
            cls.verify_request = _seed_verify_request(impl)  # type: ignore[method-assign]

    # -- what a provider implements ----------------------------------------------------

    @abstractmethod
    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the delivery (all request headers, raw body) is authentic and fresh.

        Otherwise raise :class:`WebhookVerificationError` with a ``reason`` for the audit
        log ("no Stripe-Signature header", "timestamp outside tolerance", "no signature
        matched"); never put a secret or a signature in it. Anything else raised is
        treated as a refusal too (see :meth:`receive_webhook`).
        """

    def parse_webhook(self, body: bytes) -> dict[str, Any]:
        """Parse a verified body into a JSON object; :class:`WebhookPayloadError` otherwise.

        Besides malformed JSON this refuses ``NaN``/``Infinity``, out-of-range numbers and
        nesting deeper than 64 levels (``vbwd_plugins._json``), so they answer 400.

        Checks that need the parsed event (Stripe's livemode) belong here and raise
        :class:`WebhookVerificationError`.
        """
        name = self._plugin_name()
        try:
            payload = parse_json(body)
        except ValueError as exc:
            raise WebhookPayloadError(
                f"Webhook body for {name!r} is not usable JSON: {exc}", plugin_name=name
            ) from None
        if not isinstance(payload, dict):
            raise WebhookPayloadError(
                f"Webhook body for {name!r} is not a JSON object", plugin_name=name
            )
        return payload

    def webhook_event_id(self, payload: Mapping[str, Any]) -> str | None:
        """The provider's id of this event: the ``webhook_event_id_field`` string."""
        return _string_field(payload, self.webhook_event_id_field)

    def webhook_event_type(self, payload: Mapping[str, Any]) -> str | None:
        """The provider's type of this event: the ``webhook_event_type_field`` string."""
        return _string_field(payload, self.webhook_event_type_field)

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
        """Translate a verified, parsed webhook into standard payment event payloads.

        Pure (no I/O, no dispatch). Return an empty sequence for event types the provider
        does not map; amounts are ISO 4217 minor units.
        """
        return ()

    def translate_webhook(self, payload: Mapping[str, Any]) -> list[Event]:
        """The standard events a verified payload stands for, built but not dispatched.

        Raises :class:`WebhookPayloadError` for an event whose fields cannot be read (the
        payload classes refuse bad amounts, currencies, times and text); the pipeline
        translates before it records, so such a delivery answers 400 with nothing stored.
        """
        return [data.to_event() for data in self.payment_events_from_webhook(payload)]

    def handle_webhook(self, payload: dict[str, Any]) -> None:
        """Act on a verified, parsed webhook: by default, dispatch its standard events.

        For direct callers (``process_webhook``); the webhook pipeline records deliveries
        instead. To act at the provider, emit a plugin event from :meth:`translate_webhook`
        and act in a listener of it (PayPal captures an approved order so), which then gets
        a delivery of its own. Raise to have the delivery answered with an error.
        """
        self.dispatch_webhook_events(payload)

    # -- the contract's own ------------------------------------------------------------

    @final
    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> ReceivedWebhook:
        """Verify (failing closed), parse and identify one delivery.

        Raises :class:`WebhookVerificationError` (answer 401; ``reason`` says why) or
        :class:`WebhookPayloadError` (answer 400). Another exception from
        :meth:`parse_webhook` propagates; nothing is handled or dispatched here.
        """
        self._verified(lambda: self._checked_request(headers, body))
        payload = self.parse_webhook(body)
        return ReceivedWebhook(payload, self._read_event_id(payload), self._event_type(payload))

    @final
    def verify_webhook_request(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a delivery verifies; ``False`` (reason logged) instead of raising."""
        return self._passes(lambda: self._checked_request(headers, body))

    def verify_webhook(self, payload: bytes, signature: str) -> bool:
        """Whether ``signature`` (the ``webhook_signature_header`` value) fits ``payload``.

        The original design's check; ``False`` for providers that sign with several
        headers, which :meth:`verify_webhook_request` verifies.
        """
        name = self.webhook_signature_header
        if name is None:
            logger.warning(
                "payment provider %r signs webhooks with several headers; "
                "verify_webhook(payload, signature) cannot verify them: "
                "call verify_webhook_request(headers, body)",
                self._plugin_name(),
            )
            return False
        return self.verify_webhook_request({name: signature}, payload)

    def dispatch_payment_event(self, data: PaymentEventData) -> Event:
        """Dispatch one standard event through :attr:`event_dispatcher` and return it.

        Dispatched strictly: if a listener fails (say, activating the subscription), the
        failure propagates out of :meth:`handle_webhook`, so the delivery is answered with
        an error and the provider redelivers it instead of the payment being lost.
        """
        return self.event_dispatcher.dispatch(data.to_event(), strict=True)

    def dispatch_webhook_events(self, payload: Mapping[str, Any]) -> list[Event]:
        """Dispatch (strictly) what :meth:`translate_webhook` returns; the default handling."""
        events = self.translate_webhook(payload)
        if not events:
            logger.debug(
                "payment provider %r: webhook type %r emits no standard event",
                self._plugin_name(),
                self._event_type(payload),
            )
        dispatch = self.event_dispatcher.dispatch
        return [dispatch(event, strict=True) for event in events]

    # -- internals -----------------------------------------------------------------------

    def _checked_request(self, headers: Mapping[str, str], body: bytes) -> None:
        verify: Callable[[Mapping[str, str], bytes], object] = self.verify_request
        outcome = verify(headers, body)
        if outcome is not None:  # e.g. ``return False``: refusing is raising, so refuse
            raise refusal(
                self._plugin_name(),
                f"verify_request returned {type(outcome).__name__} instead of raising",
            )

    def _verified(self, check: Callable[[], None]) -> None:
        """Run ``check``; the contract's one fail-closed guard around verification."""
        try:
            check()
        except WebhookVerificationError:
            raise
        except Exception as exc:
            name = self._plugin_name()
            kind = type(exc).__name__
            logger.error(
                "payment provider %r: webhook verification raised %s; refusing the delivery",
                name,
                kind,
                exc_info=True,
            )
            raise refusal(name, f"verification error: {kind}") from exc

    def _passes(self, check: Callable[[], None]) -> bool:
        try:
            self._verified(check)
        except WebhookVerificationError as exc:
            logger.warning(
                "payment provider %r: webhook refused: %s", self._plugin_name(), exc.reason
            )
            return False
        return True

    def _read_event_id(self, payload: Mapping[str, Any]) -> str | None:
        try:
            event_id = self.webhook_event_id(payload)
        except Exception:
            logger.exception("payment provider %r: webhook_event_id raised", self._plugin_name())
            return None
        return event_id if isinstance(event_id, str) and event_id else None

    def _event_type(self, payload: Mapping[str, Any]) -> str | None:
        try:
            value = self.webhook_event_type(payload)
        except Exception:
            logger.exception("payment provider %r: webhook_event_type raised", self._plugin_name())
            return None
        if isinstance(value, str) and 0 < len(value) <= MAX_EVENT_TYPE and value.isprintable():
            return value
        return None


# -- original-design providers -------------------------------------------------------------


def _seed_verify_webhook(impl: Callable[..., object]) -> Callable[..., bool]:
    @functools.wraps(impl)
    def verify_webhook(self: WebhookReceiver, payload: bytes, signature: str) -> bool:
        def check() -> None:
            if impl(self, payload, signature) is not True:
                raise refusal(self._plugin_name(), "signature did not verify")

        return self._passes(check)

    setattr(verify_webhook, _SEED_MARK, True)
    return verify_webhook


def _seed_verify_request(impl: Callable[..., object]) -> Callable[..., None]:
    def verify_request(self: WebhookReceiver, headers: Mapping[str, str], body: bytes) -> None:
        """Read ``webhook_signature_header`` and check it with the original ``verify_webhook``."""
        name = self.webhook_signature_header
        if name is None:
            raise refusal(
                self._plugin_name(),
                "the provider sets no webhook_signature_header for its verify_webhook",
            )
        signature = header_value(headers, name)
        if signature is None:
            raise refusal(self._plugin_name(), f"no {name} header")
        if impl(self, body, signature) is not True:
            raise refusal(self._plugin_name(), "signature did not verify")

    setattr(verify_request, _SEED_MARK, True)
    return verify_request
