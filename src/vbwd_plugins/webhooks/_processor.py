"""The webhook pipeline: receive, record in the inbox, handle, mark; framework-neutral.

:meth:`WebhookProcessor.process` takes what any web framework has (provider name, headers,
raw body) and returns a :class:`WebhookResponse` to send back. It is the one orchestrator
of a delivery: the provider's ``receive_webhook`` verifies (failing closed), parses and
identifies it; the processor records it, hands it to ``handle_webhook`` and marks the
outcome. The status codes are chosen for what the provider does next: 2xx stops its
retries, anything else schedules one.

====  ==========================================================================
200   handled now (``processed``), or already handled before (``duplicate``)
400   the body is malformed although the signature verified (or the handler said so)
401   the delivery did not verify (signature, timestamp, certificate, mode); audit-logged
404   no enabled payment provider of that name handles webhooks
409   another worker is handling this event right now; the provider retries later
500   the handler or a listener failed (the row is marked failed and the next
      delivery retries it), or the inbox could not record the event
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

from vbwd_plugins.errors import StoreError, WebhookPayloadError, WebhookVerificationError
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import Capability
from vbwd_plugins.plugins._model import PluginStatus
from vbwd_plugins.webhooks._inbox import MAX_ERROR, MAX_EVENT_ID, InboxStatus, WebhookInbox

if TYPE_CHECKING:
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = ["AUDIT_LOGGER", "DEFAULT_LEASE", "WebhookProcessor", "WebhookResponse"]

logger = logging.getLogger(__name__)
#: Name of the logger that receives one WARNING record per rejected delivery.
AUDIT_LOGGER: Final = "vbwd_plugins.audit"
audit_logger = logging.getLogger(AUDIT_LOGGER)

#: How long a worker's claim on an event lasts before another delivery may take it over.
DEFAULT_LEASE: Final = timedelta(minutes=5)

#: Keys whose values are never stored or handed on (besides any key ending in "secret",
#: such as a Stripe PaymentIntent's ``client_secret``).
SECRET_KEYS: Final = frozenset(
    {"password", "passphrase", "access_token", "refresh_token", "id_token", "api_key"}
)
REDACTED: Final = "[redacted]"
_SECRET_NAMES: dict[object, bool] = {}  # key name -> whether it names a secret (a cache)
_SECRET_NAMES_MAX: Final = 4096
_PEEK_LIMIT: Final = 65536  # bytes of an unverified body we parse for the audit log


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer the provider: an HTTP status and a small JSON object.

    ``body`` holds ``status`` (``processed``, ``duplicate``, ``in_progress``, ``failed``,
    ``rejected``, ``not_found``, ``error``) and, once known, ``event_id``; never secrets
    or the payload.
    """

    status: int
    body: dict[str, Any]


@final
class WebhookProcessor:
    """Runs webhook deliveries through the enabled provider plugins and the inbox.

    ``inbox`` defaults to ``manager.store`` (both shipped stores are inboxes). ``lease``
    is how long a claim lasts: a worker that crashes mid-delivery blocks that event for
    at most this long. Keep handlers well below it. Safe to share between threads.
    """

    def __init__(
        self,
        manager: PluginManager,
        inbox: WebhookInbox | None = None,
        *,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        if inbox is None:
            store = manager.store
            if not isinstance(store, WebhookInbox):
                raise StoreError(
                    "WebhookProcessor needs a webhook inbox: create the PluginManager with "
                    "store=SQLiteStateStore(...) or PostgresStateStore(...), or pass inbox="
                )
            inbox = store
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
        self._manager = manager
        self._inbox = inbox
        self._lease = lease

    @property
    def inbox(self) -> WebhookInbox:
        """Where received events are recorded."""
        return self._inbox

    @property
    def manager(self) -> PluginManager:
        """The plugin manager providers are looked up in."""
        return self._manager

    @property
    def lease(self) -> timedelta:
        """How long a claim on an event lasts."""
        return self._lease

    # -- deliveries ----------------------------------------------------------------

    def process(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        remote_addr: str | None = None,
    ) -> WebhookResponse:
        """Verify, record, handle and acknowledge one delivery; never raises for bad input.

        ``headers`` are the request's headers (any case), ``body`` the raw bytes exactly
        as received, ``remote_addr`` the client address for the audit log.
        """
        plugin = self._provider(provider)
        if plugin is None:
            logger.info("webhook for unknown or disabled provider %.100r: 404", provider)
            return _response(404, "not_found", error="unknown or disabled provider")
        if not isinstance(body, bytes):
            body = bytes(body)
        try:
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
        event_type = received.event_type
        stored = _redact(received.payload)
        try:
            text = json.dumps(stored, separators=(",", ":"))
        except (TypeError, ValueError) as exc:  # parse_webhook returned a non-JSON value
            logger.error("webhook %r/%r cannot be stored: %s", provider, event_id, exc)
            return _response(500, "error", event_id, error="event cannot be stored")
        return self._run(plugin, provider, event_id, event_type, stored, text, remote_addr)

    def replay(self, provider: str, event_id: str) -> WebhookResponse:
        """Handle a failed (or abandoned) stored event again, from its stored payload.

        200 handled; 404 no such provider or event; 409 the event is processed, or a
        worker is handling it now; 400/401/500 as for :meth:`process`.
        """
        plugin = self._provider(provider)
        if plugin is None:
            return _response(404, "not_found", event_id, error="unknown or disabled provider")
        try:
            record = self._inbox.inbox_get(provider, event_id)
        except StoreError as exc:
            logger.error("replay of webhook %r/%r: the inbox failed: %s", provider, event_id, exc)
            return _response(500, "error", event_id, error="inbox unavailable")
        if record is None:
            return _response(404, "not_found", event_id, error="no such event in the inbox")
        if record.status is InboxStatus.PROCESSED:
            return _response(409, "processed", event_id, error="already processed")
        logger.info("replaying webhook %r/%r (%s)", provider, event_id, record.status.value)
        text = json.dumps(record.payload, separators=(",", ":"))
        return self._run(
            plugin, provider, event_id, record.event_type, record.payload, text, None, replay=True
        )

    # -- internals -------------------------------------------------------------------

    def _provider(self, name: str) -> PaymentProviderPlugin | None:
        plugin = self._manager.get_plugin(name) if isinstance(name, str) else None
        if (
            isinstance(plugin, PaymentProviderPlugin)
            and plugin.status is PluginStatus.ENABLED
            and Capability.WEBHOOKS in plugin.capabilities
        ):
            return plugin
        return None

    def _run(
        self,
        plugin: PaymentProviderPlugin,
        provider: str,
        event_id: str,
        event_type: str | None,
        payload: dict[str, Any],
        text: str,
        remote_addr: str | None,
        *,
        replay: bool = False,
    ) -> WebhookResponse:
        """Claim the event, handle it if the claim is ours, and record the outcome."""
        try:
            claim = self._inbox.inbox_claim(
                provider, event_id, event_type=event_type, payload=text, lease=self._lease
            )
        except StoreError as exc:
            logger.error(
                "webhook %r/%r not recorded, so not handled (answering 500; the provider "
                "retries): %s",
                provider,
                event_id,
                exc,
            )
            return _response(500, "error", event_id, error="inbox unavailable")
        token = claim.token
        if token is None:
            if claim.status is InboxStatus.PROCESSED:
                if replay:
                    return _response(409, "processed", event_id, error="already processed")
                logger.debug("webhook %r/%r already processed: 200", provider, event_id)
                return _response(200, "duplicate", event_id)
            logger.info("webhook %r/%r is being handled by another worker: 409", provider, event_id)
            return _response(409, "in_progress", event_id)
        try:
            plugin.handle_webhook(payload)
        except Exception as exc:  # noqa: BLE001 - recorded as failed; the provider retries
            return self._failed(plugin, provider, event_id, token, exc, remote_addr)
        try:
            if not self._inbox.inbox_complete(provider, event_id, token):
                logger.warning(
                    "webhook %r/%r was handled, but its claim had expired and was taken over: "
                    "it may be handled twice; raise the lease (now %s) above the handler's time",
                    provider,
                    event_id,
                    self._lease,
                )
        except StoreError as exc:
            # Answering an error now would make the provider redeliver an event that was
            # handled: the row stays claimed until its lease ends and shows what happened.
            logger.error(
                "webhook %r/%r was handled but could not be marked processed: %s",
                provider,
                event_id,
                exc,
            )
        return _response(200, "processed", event_id)

    def _failed(
        self,
        plugin: PaymentProviderPlugin,
        provider: str,
        event_id: str,
        token: str,
        exc: Exception,
        remote_addr: str | None,
    ) -> WebhookResponse:
        if isinstance(exc, WebhookVerificationError):
            status, error = 401, "verification failed"
            self._audit(provider, exc.reason, remote_addr, None, b"", event_id=event_id)
        elif isinstance(exc, WebhookPayloadError):
            status, error = 400, "malformed payload"
        else:
            status, error = 500, "handler failed"
        logger.error(
            "webhook %r/%r failed (answering %d; the next delivery retries it)",
            provider,
            event_id,
            status,
            exc_info=exc,
        )
        try:
            if not self._inbox.inbox_fail(provider, event_id, token, describe_error(exc)):
                logger.warning(
                    "webhook %r/%r: the claim was lost before marking it failed", provider, event_id
                )
        except StoreError as store_exc:
            logger.error(
                "webhook %r/%r could not be marked failed (it is retried once its claim "
                "expires): %s",
                provider,
                event_id,
                store_exc,
            )
        return _response(status, "failed", event_id, error=error)

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
        for key, item in value.items():
            if item is not None and item != "" and _is_secret(key):
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


def describe_error(exc: BaseException) -> str:
    """``"Type: message"`` (with an exception group's members), safe to store."""
    parts = [f"{type(exc).__name__}: {exc}"]
    if isinstance(exc, BaseExceptionGroup):
        parts += [describe_error(inner) for inner in exc.exceptions]
    text = "; ".join(parts).replace("\x00", "\\x00")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
