"""The webhook pipeline: verify, translate, record, deliver; framework-neutral.

:meth:`WebhookProcessor.process` takes what any web framework has (provider name, headers,
raw body) and returns a :class:`WebhookResponse` to send back. It is the one orchestrator
of a webhook, in five steps:

1. **verify**: the provider's ``receive_webhook`` checks the signature (failing closed),
2. **parse** the body and identify the event,
3. **translate** it into standard events (``translate_webhook``: pure, nothing dispatched),
4. **record** the inbox row, those events and one delivery per (event, listener) in ONE
   store transaction (:meth:`~vbwd_plugins.delivery.DeliveryService.record_webhook`),
5. **deliver**: inline (no delivery engine), run the deliveries in this request; deferred,
   hand them to the engine and answer at once.

A payload error in steps 2-3 records nothing. The status codes are chosen for what the
provider does next: 2xx stops its retries, anything else schedules one.

====  ==========================================================================
200   every delivery succeeded (``processed``; dead ones are acknowledged), the webhook
      was delivered before (``duplicate``), or, deferred, it is recorded (``accepted``)
400   the body or its event is malformed although the signature verified
401   the delivery did not verify (signature, timestamp, certificate, mode); audit-logged
404   no enabled payment provider of that name handles webhooks
409   another worker is running one of its deliveries right now; the provider retries
500   a listener failed (inline): the redelivery runs only the deliveries that did not
      succeed; or the store could not record the webhook
====  ==========================================================================

Refusals are written to the ``vbwd_plugins.audit`` logger: provider, the provider's
reason ("no signature matched", "livemode mismatch", "verification error: TypeError"),
remote address and event id when readable; never a signature, a secret or the payload.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, final

from vbwd_plugins.delivery._model import DeliveryClaim, DeliveryStatus, WebhookReceipt
from vbwd_plugins.delivery._outbox import Outbox
from vbwd_plugins.delivery._runner import DEFAULT_LEASE, RunOutcome, RunResult
from vbwd_plugins.delivery._service import DeliveryService
from vbwd_plugins.errors import (
    EventSerializationError,
    StoreError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import Capability
from vbwd_plugins.plugins._model import PluginStatus
from vbwd_plugins.telemetry._spans import span, webhook_request
from vbwd_plugins.webhooks._inbox import MAX_EVENT_ID, InboxRecord, InboxStatus, WebhookInbox

if TYPE_CHECKING:
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = ["AUDIT_LOGGER", "DEFAULT_LEASE", "WebhookProcessor", "WebhookResponse"]

logger = logging.getLogger(__name__)
#: Name of the logger that receives one WARNING record per rejected delivery.
AUDIT_LOGGER: Final = "vbwd_plugins.audit"
audit_logger = logging.getLogger(AUDIT_LOGGER)

#: Statuses of a delivery that has neither succeeded nor died.
_UNFINISHED: Final = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RUNNING})
#: Inbox statuses of a webhook received before deliveries were recorded.
_PRE_OUTBOX: Final = frozenset({InboxStatus.FAILED, InboxStatus.PROCESSING})

#: Keys whose values are never stored or handed on (besides any key ending in "secret",
#: such as a Stripe PaymentIntent's ``client_secret``).
SECRET_KEYS: Final = frozenset(
    {"password", "passphrase", "access_token", "refresh_token", "id_token", "api_key"}
)
REDACTED: Final = "[redacted]"
_SECRET_NAMES: dict[object, bool] = {}  # key name -> whether it names a secret (a cache)
_SECRET_NAMES_MAX: Final = 4096
_PEEK_LIMIT: Final = 65536  # bytes of an unverified body we parse for the audit log
# ``json.dumps(value, separators=...)`` builds a new encoder on every call; one is enough.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer the provider: an HTTP status and a small JSON object.

    ``body`` holds ``status`` (``processed``, ``accepted``, ``duplicate``, ``in_progress``,
    ``failed``, ``rejected``, ``not_found``, ``error``) and, once known, ``event_id``;
    never secrets or the payload.
    """

    status: int
    body: dict[str, Any]


@final
class WebhookProcessor:
    """Runs webhook deliveries through the enabled provider plugins and the outbox.

    ``inbox`` defaults to ``manager.store`` (both shipped stores record webhooks and
    deliveries). Deliveries run through ``manager.deliveries``, inline or on the engine
    set with ``manager.set_delivery_engine``; given ``inbox=`` or a ``lease`` of its own,
    the processor keeps a :class:`~vbwd_plugins.delivery.DeliveryService` of its own (with
    the manager's engine). ``lease`` is how long a runner's claim on a delivery lasts.
    Safe to share between threads.
    """

    def __init__(
        self,
        manager: PluginManager,
        inbox: WebhookInbox | None = None,
        *,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        store = manager.store if inbox is None else inbox
        if not isinstance(store, WebhookInbox) or not isinstance(store, Outbox):
            raise StoreError(
                "WebhookProcessor needs a webhook inbox that records deliveries: create the "
                "PluginManager with store=SQLiteStateStore(...) or PostgresStateStore(...), "
                "or pass inbox="
            )
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
        self._manager = manager
        self._inbox = store
        self._lease = lease
        self._own: DeliveryService | None = None
        if inbox is not None or lease != DEFAULT_LEASE:
            self._own = DeliveryService(
                store, manager.event_dispatcher, policy=manager.retry_policy, lease=lease
            )

    @property
    def inbox(self) -> WebhookInbox:
        """Where received webhooks are recorded."""
        return self._inbox

    @property
    def manager(self) -> PluginManager:
        """The plugin manager providers are looked up in."""
        return self._manager

    @property
    def lease(self) -> timedelta:
        """How long a claim on a delivery lasts."""
        return self._lease

    @property
    def deliveries(self) -> DeliveryService:
        """Records webhooks with their deliveries and runs them."""
        own = self._own
        if own is None:
            return self._manager.deliveries
        own.engine = self._manager.delivery_engine
        return own

    # -- deliveries ----------------------------------------------------------------

    def process(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        remote_addr: str | None = None,
    ) -> WebhookResponse:
        """Verify, translate, record and deliver one webhook; never raises for bad input.

        ``headers`` are the request's headers (any case), ``body`` the raw bytes exactly
        as received, ``remote_addr`` the client address for the audit log.
        """
        with webhook_request(provider, remote_addr, len(body)) as request:
            return request.answered(self._process(provider, headers, body, remote_addr))

    def _process(
        self, provider: str, headers: Mapping[str, str], body: bytes, remote_addr: str | None
    ) -> WebhookResponse:
        plugin = self._provider(provider)
        if plugin is None:
            logger.info("webhook for unknown or disabled provider %.100r: 404", provider)
            return _response(404, "not_found", error="unknown or disabled provider")
        if not isinstance(body, bytes):
            body = bytes(body)
        try:
            with span("vbwd.webhook.verify", **{"vbwd.webhook.provider": provider}):
                received = plugin.receive_webhook(headers, body)
        except WebhookVerificationError as exc:
            self._audit(provider, exc.reason, remote_addr, plugin, body)
            return _response(401, "rejected", error="verification failed")
        except WebhookPayloadError as exc:
            logger.warning("webhook for %r rejected: malformed payload: %s", provider, exc)
            return _response(400, "rejected", error="malformed payload")
        except Exception:
            logger.exception("webhook for %r: parse_webhook raised; answering 500", provider)
            return _response(500, "error", error="could not parse the event")
        event_id = _inbox_key(received.event_id, body)
        try:
            events = plugin.translate_webhook(received.payload)
        except WebhookVerificationError as exc:  # the event itself is refused (too old...)
            self._audit(provider, exc.reason, remote_addr, None, b"", event_id=event_id)
            return _response(401, "rejected", event_id, error="verification failed")
        except WebhookPayloadError as exc:
            logger.warning("webhook %r/%r rejected: malformed event: %s", provider, event_id, exc)
            return _response(400, "rejected", event_id, error="malformed payload")
        except Exception:
            logger.exception(
                "webhook %r/%r: translate_webhook raised; answering 500", provider, event_id
            )
            return _response(500, "error", event_id, error="could not translate the event")
        try:
            text = _compact_json(_redact(received.payload))
        except (TypeError, ValueError) as exc:  # parse_webhook returned a non-JSON value
            logger.error("webhook %r/%r cannot be stored: %s", provider, event_id, exc)
            return _response(500, "error", event_id, error="event cannot be stored")
        receipt = WebhookReceipt(provider, event_id, received.event_type, text)
        service = self.deliveries
        inline = service.engine is None  # then the new deliveries are recorded claimed
        try:
            with span("vbwd.webhook.record", **{"vbwd.webhook.events": len(events)}):
                accepted = service.record_webhook(receipt, events, claim=inline)
        except EventSerializationError as exc:
            logger.error("webhook %r/%r: an event cannot be stored: %s", provider, event_id, exc)
            return _response(500, "error", event_id, error="event cannot be stored")
        except StoreError as exc:
            logger.error(
                "webhook %r/%r not recorded, so not delivered (answering 500; the provider "
                "retries): %s",
                provider,
                event_id,
                exc,
            )
            return _response(500, "error", event_id, error="inbox unavailable")
        if not accepted.new and not accepted.pending:
            logger.debug("webhook %r/%r already delivered: 200", provider, event_id)
            return _response(200, "duplicate", event_id)
        return self._deliver(
            service, event_id, accepted.pending, first=accepted.new, claims=accepted.claims
        )

    def replay(self, provider: str, event_id: str) -> WebhookResponse:
        """Run again the deliveries of a stored webhook that did not succeed.

        Dead ones are made pending again; succeeded ones are never run again. A webhook
        received before deliveries were recorded (FAILED, no events) gets them now, one per
        current listener. 200 all delivered (or, deferred, submitted); 404 no such provider
        or event; 409 nothing left to deliver, or a worker is running one now; 500 a
        listener failed again.
        """
        plugin = self._provider(provider)
        if plugin is None:
            return _response(404, "not_found", event_id, error="unknown or disabled provider")
        service = self.deliveries
        outbox = service.outbox
        try:
            record = self._inbox.inbox_get(provider, event_id)
            if record is None:
                return _response(404, "not_found", event_id, error="no such event in the inbox")
            if record.status in _PRE_OUTBOX and not self._record_old(plugin, service, record):
                return _response(500, "error", event_id, error="could not translate the event")
            revived = set(outbox.deliveries_retry(webhook=(provider, event_id)))
            waiting = [
                one.id
                for one in outbox.deliveries_of_webhook(provider, event_id)
                if one.id in revived or one.status in _UNFINISHED
            ]
        except StoreError as exc:
            logger.error("replay of webhook %r/%r: the store failed: %s", provider, event_id, exc)
            return _response(500, "error", event_id, error="inbox unavailable")
        if not waiting:
            return _response(409, "processed", event_id, error="already processed")
        logger.info("replaying webhook %r/%r: %d delivery(ies)", provider, event_id, len(waiting))
        return self._deliver(service, event_id, tuple(waiting), first=False)

    # -- internals -------------------------------------------------------------------

    @staticmethod
    def _record_old(
        plugin: PaymentProviderPlugin, service: DeliveryService, record: InboxRecord
    ) -> bool:
        """Record a pre-outbox webhook's events (the store makes its row RECORDED if it is
        FAILED, or PROCESSING under an expired claim); ``False`` if they cannot be made."""
        try:
            events = plugin.translate_webhook(record.payload)
            payload = _compact_json(record.payload)
            receipt = WebhookReceipt(record.provider, record.event_id, record.event_type, payload)
            service.record_webhook(receipt, events)
        except StoreError:
            raise
        except Exception:
            logger.exception(
                "replay of %r/%r: its events cannot be recorded", record.provider, record.event_id
            )
            return False
        return True

    def _provider(self, name: str) -> PaymentProviderPlugin | None:
        plugin = self._manager.get_plugin(name) if isinstance(name, str) else None
        if (
            isinstance(plugin, PaymentProviderPlugin)
            and plugin.status is PluginStatus.ENABLED
            and Capability.WEBHOOKS in plugin.capabilities
        ):
            return plugin
        return None

    def _deliver(
        self,
        service: DeliveryService,
        event_id: str,
        pending: tuple[str, ...],
        *,
        first: bool,
        claims: tuple[DeliveryClaim, ...] = (),
    ) -> WebhookResponse:
        """Run ``pending`` inline (under ``claims`` where given) and answer for them, or
        submit them and answer 200."""
        engine = service.engine
        if engine is not None and not claims:
            service.deliver(pending)  # a failed submission is logged; the sweep re-submits
            return _response(200, "accepted" if pending or not first else "processed", event_id)
        try:
            results = service.run_inline(pending, claims)
        except StoreError as exc:
            logger.error("webhook %r: a delivery could not be claimed: %s", event_id, exc)
            return _response(500, "error", event_id, error="inbox unavailable")
        failed = sum(result.outcome is RunOutcome.RETRY for result in results)
        if failed:
            return _response(
                500, "failed", event_id, error=f"{failed} of {len(results)} listener(s) failed"
            )
        if any(self._held(service, result) for result in results):
            logger.info("webhook %r: a delivery is running in another worker: 409", event_id)
            return _response(409, "in_progress", event_id)
        if not first and all(result.outcome is RunOutcome.SKIPPED for result in results):
            return _response(200, "duplicate", event_id)  # another worker delivered them all
        return _response(200, "processed", event_id)

    @staticmethod
    def _held(service: DeliveryService, result: RunResult) -> bool:
        """Whether a skipped delivery is still unfinished (another runner holds it)."""
        if result.outcome is not RunOutcome.SKIPPED:
            return False
        try:
            found = service.outbox.delivery_get(result.delivery_id)
        except StoreError:
            return True
        return found is not None and found.status in _UNFINISHED

    def _audit(
        self,
        provider: str,
        reason: str,
        remote_addr: str | None,
        plugin: PaymentProviderPlugin | None,
        body: bytes,
        *,
        event_id: str | None = None,
    ) -> None:
        if event_id is None and plugin is not None:
            event_id = _peek_event_id(plugin, body)
        reason = reason[:300] if reason[:300].isprintable() else repr(reason[:300])
        audit_logger.warning(
            "webhook rejected: provider=%.100r reason=%s remote_addr=%.100r event_id=%.100r",
            provider,
            reason,
            remote_addr,
            event_id,
            extra={
                "webhook_provider": provider,
                "webhook_reason": reason,
                "webhook_remote_addr": remote_addr,
                "webhook_event_id": event_id,
            },
        )


def _response(
    status: int, outcome: str, event_id: str | None = None, *, error: str | None = None
) -> WebhookResponse:
    body: dict[str, Any] = {"status": outcome}
    if event_id is not None:
        body["event_id"] = event_id
    if error is not None:
        body["error"] = error
    return WebhookResponse(status, body)


def _inbox_key(event_id: str | None, body: bytes) -> str:
    """The provider's event id, or a digest when it is missing or unusable as a key."""
    if event_id:
        if len(event_id) <= MAX_EVENT_ID and event_id.isprintable():
            return event_id
        return "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _peek_event_id(plugin: PaymentProviderPlugin, body: bytes) -> str | None:
    """The event id of an *unverified* body, for the audit log only (small bodies)."""
    if len(body) > _PEEK_LIMIT:
        return None
    try:
        event_id = plugin.webhook_event_id(json.loads(body))
    except Exception:  # noqa: BLE001 - an unverified body: any failure means "unknown"
        return None
    return event_id[:100] if isinstance(event_id, str) and event_id.isprintable() else None


def _is_secret(key: object) -> bool:
    known = _SECRET_NAMES.get(key)
    if known is None:
        lowered = key.lower() if isinstance(key, str) else ""
        known = lowered.endswith("secret") or lowered in SECRET_KEYS
        if len(_SECRET_NAMES) < _SECRET_NAMES_MAX:
            _SECRET_NAMES[key] = known
    return known


def _redact(value: Any) -> Any:
    """``value`` with secret-named fields replaced; shares every unchanged part."""
    if type(value) is dict:  # parsed JSON: exactly dict and list
        copy: dict[Any, Any] | None = None
        known = _SECRET_NAMES.get  # the cache first: a call per key is most of the walk
        for key, item in value.items():
            secret = known(key)
            if secret is None:
                secret = _is_secret(key)
            if secret and item is not None and item != "":
                new = REDACTED
            elif type(item) is dict or type(item) is list:
                new = _redact(item)
            else:
                continue
            if new is not item:
                if copy is None:
                    copy = dict(value)
                copy[key] = new
        return value if copy is None else copy
    if type(value) is list:
        items: list[Any] | None = None
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                new = _redact(item)
                if new is not item:
                    if items is None:
                        items = list(value)
                    items[index] = new
        return value if items is None else items
    return value
