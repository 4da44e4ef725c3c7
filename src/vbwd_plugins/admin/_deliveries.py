"""The deliveries admin API, framework-neutral: see what each listener did, retry dead letters.

:class:`DeliveryAdmin` reads the outbox of the manager's store and retries through the
manager's :class:`~vbwd_plugins.delivery.DeliveryService`, so a retried delivery runs where
the host runs deliveries: on its engine (Celery workers) or, inline, in this request with the
host's listeners. :meth:`DeliveryAdmin.handle` routes an already-authorized request::

    GET   /                  deliveries, newest first: ?status=dead&event=...&listener=...&limit=
    GET   /{id}              one delivery with its event
    POST  /{id}/retry        run it again (a dead or pending one; never a succeeded one)
    POST  /retry             {"listener": "..."} or {"all_dead": true}: every dead one matching

The CLI's ``vbwd-plugins deliveries`` commands print the same JSON (:func:`delivery_json`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins._json import parse_json
from vbwd_plugins.admin._response import AdminResponse
from vbwd_plugins.admin._service import error_response
from vbwd_plugins.delivery._model import Delivery, DeliveryStatus, StoredEvent
from vbwd_plugins.delivery._outbox import Outbox
from vbwd_plugins.errors import DeliveryNotFoundError, PluginError, StoreError

if TYPE_CHECKING:
    from vbwd_plugins.delivery._runner import RunResult
    from vbwd_plugins.delivery._service import DeliveryService
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = [
    "DeliveryAdmin",
    "delivery_json",
    "event_json",
    "outbox_of",
    "result_json",
    "retry_deliveries",
    "run_now",
]

logger = logging.getLogger("vbwd_plugins.web")

#: Most deliveries one listing returns.
MAX_LIMIT: Final = 1000


class _BadRequest(Exception):
    """The request itself is malformed (400)."""


class _NotJSON(Exception):
    """A change was sent without a JSON content type (415)."""


def outbox_of(store: object) -> Outbox:
    """``store`` as an :class:`Outbox`, or a :class:`StoreError` saying it is not one."""
    if store is None:
        raise StoreError(
            "Deliveries are recorded in the state store, and this manager has none: "
            "create it with PluginManager(store=...)"
        )
    if not isinstance(store, Outbox):
        raise StoreError(f"The store {store!r} keeps no deliveries (it does not implement Outbox)")
    return store


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """A delivery as JSON-able data (times in ISO 8601)."""
    return {
        "id": delivery.id,
        "event_uid": delivery.event_uid,
        "event_name": delivery.event_name,
        "listener_id": delivery.listener_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "last_error": delivery.last_error,
        "lease_until": _iso(delivery.lease_until),
        "idempotency_key": delivery.idempotency_key,
        "created_at": delivery.created_at.isoformat(),
        "updated_at": delivery.updated_at.isoformat(),
    }


def event_json(event: StoredEvent) -> dict[str, Any]:
    """A recorded event as JSON-able data; its payload parsed when it is JSON."""
    try:
        payload: Any = json.loads(event.payload)
    except ValueError:
        payload = event.payload
    return {
        "uid": event.uid,
        "name": event.name,
        "source": event.source,
        "created_at": event.created_at.isoformat(),
        "payload": payload,
    }


def retry_deliveries(
    outbox: Outbox,
    *,
    delivery_id: str | None = None,
    listener_id: str | None = None,
    all_dead: bool = False,
) -> list[str]:
    """Make deliveries due again: one (dead or pending), a listener's dead ones, or all dead.

    Exactly one of the three selections must be given. A succeeded delivery is refused (it
    is never run again); a running one is left to its runner.
    """
    chosen = [delivery_id is not None, listener_id is not None, all_dead]
    if sum(chosen) != 1:
        raise ValueError("retry one delivery id, one listener's dead deliveries, or all dead ones")
    if delivery_id is None:
        return outbox.deliveries_retry(listener_id=listener_id, status=DeliveryStatus.DEAD)
    delivery = outbox.delivery_get(delivery_id)
    if delivery is None:
        raise DeliveryNotFoundError(
            f"No delivery {delivery_id!r}: list them with 'deliveries list'",
            delivery_id=delivery_id,
        )
    if delivery.status is DeliveryStatus.SUCCEEDED:
        raise ValueError(
            f"Delivery {delivery_id!r} to {delivery.listener_id!r} succeeded: a recorded "
            "success is never run again (publish a new event instead)"
        )
    if delivery.status is DeliveryStatus.RUNNING:
        raise ValueError(
            f"Delivery {delivery_id!r} to {delivery.listener_id!r} is running; if its runner "
            "died, the sweep takes it over when its lease expires"
        )
    return outbox.deliveries_retry(delivery_id=delivery_id, status=delivery.status)


def run_now(service: DeliveryService, delivery_ids: Sequence[str]) -> list[RunResult] | None:
    """Hand ``delivery_ids`` to the service's engine (``None``), or run them inline now."""
    results = service.deliver(list(delivery_ids))
    return None if service.engine is not None else results


def result_json(result: RunResult) -> dict[str, Any]:
    """What one inline run did."""
    return {
        "delivery_id": result.delivery_id,
        "outcome": result.outcome.value,
        "retry_at": _iso(result.retry_at),
        "error": result.error,
    }


class DeliveryAdmin:
    """The deliveries admin operations on one manager (its store and delivery service)."""

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager

    def _outbox(self) -> Outbox:
        return outbox_of(self._manager.store)

    # -- operations -----------------------------------------------------------------------

    def list_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        event_name: str | None = None,
        listener_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Deliveries, most recently updated first, filtered."""
        found = self._outbox().deliveries_list(
            status=status, event_name=event_name, listener_id=listener_id, limit=limit
        )
        return [delivery_json(delivery) for delivery in found]

    def show(self, delivery_id: str) -> dict[str, Any]:
        """One delivery and the event it delivers."""
        outbox = self._outbox()
        delivery = outbox.delivery_get(delivery_id)
        if delivery is None:
            raise DeliveryNotFoundError(f"No delivery {delivery_id!r}", delivery_id=delivery_id)
        event = outbox.event_get(delivery.event_uid)
        return {
            "delivery": delivery_json(delivery),
            "event": None if event is None else event_json(event),
        }

    def retry(
        self,
        *,
        delivery_id: str | None = None,
        listener_id: str | None = None,
        all_dead: bool = False,
    ) -> dict[str, Any]:
        """Make the chosen deliveries due and run them (see ``retry_deliveries`` in this module)."""
        ids = retry_deliveries(
            self._outbox(), delivery_id=delivery_id, listener_id=listener_id, all_dead=all_dead
        )
        results = run_now(self._manager.deliveries, ids)
        return {
            "retried": ids,
            "mode": "inline" if results is not None else "submitted",
            "results": [] if results is None else [result_json(r) for r in results],
        }

    # -- HTTP -----------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> AdminResponse:
        """Answer one authorized request; ``path`` is relative to the deliveries prefix."""
        method = method.upper()
        parts = [part for part in path.split("/") if part]
        try:
            return self._route(method, parts, body, content_type, query or {})
        except DeliveryNotFoundError as exc:
            return AdminResponse(404, {"error": "delivery_not_found", "message": str(exc)})
        except PluginError as exc:
            return error_response(exc)
        except _NotJSON:
            return AdminResponse(
                415,
                {
                    "error": "unsupported_media_type",
                    "message": "Send a JSON body with Content-Type: application/json",
                },
            )
        except (_BadRequest, ValueError) as exc:  # ValueError: a retry that is refused
            return AdminResponse(400, {"error": "bad_request", "message": str(exc)})
        except Exception:
            logger.exception("Deliveries admin API: %s /%s failed", method, "/".join(parts))
            return AdminResponse(
                500, {"error": "internal_error", "message": "Internal error (logged)"}
            )

    def _route(
        self,
        method: str,
        parts: list[str],
        body: bytes,
        content_type: str | None,
        query: Mapping[str, str],
    ) -> AdminResponse:
        if not parts:
            if method != "GET":
                return _not_allowed("GET")
            return AdminResponse(200, {"deliveries": self.list_deliveries(**_filters(query))})
        if parts == ["retry"]:
            if method != "POST":
                return _not_allowed("POST")
            options = _options(body, content_type, {"listener", "all_dead"})
            listener = options.get("listener")
            all_dead = options.get("all_dead", False)
            if listener is not None and not isinstance(listener, str):
                raise _BadRequest("'listener' must be a listener id (a string)")
            if not isinstance(all_dead, bool):
                raise _BadRequest("'all_dead' must be true or false")
            if (listener is None) == (not all_dead):
                raise _BadRequest('Send {"listener": "<listener id>"} or {"all_dead": true}')
            return AdminResponse(200, self.retry(listener_id=listener, all_dead=all_dead))
        if len(parts) == 1:
            if method != "GET":
                return _not_allowed("GET")
            return AdminResponse(200, self.show(parts[0]))
        if len(parts) == 2 and parts[1] == "retry":
            if method != "POST":
                return _not_allowed("POST")
            _options(body, content_type, set())
            return AdminResponse(200, self.retry(delivery_id=parts[0]))
        return AdminResponse(404, {"error": "not_found", "message": "No such deliveries route"})


# -- helpers --------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _filters(query: Mapping[str, str]) -> dict[str, Any]:
    unknown = sorted(set(query) - {"status", "event", "listener", "limit"})
    if unknown:
        raise _BadRequest(f"Unknown filter(s) {unknown}; use status, event, listener, limit")
    status = query.get("status") or None
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise _BadRequest(f"status={status!r} is not one of {[s.value for s in DeliveryStatus]}")
    limit_text = query.get("limit") or "100"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise _BadRequest(f"limit={limit_text!r} must be a number from 1 to {MAX_LIMIT}")
    return {
        "status": None if status is None else DeliveryStatus(status),
        "event_name": query.get("event") or None,
        "listener_id": query.get("listener") or None,
        "limit": int(limit_text),
    }


def _options(body: bytes, content_type: str | None, allowed: set[str]) -> dict[str, Any]:
    """The JSON object of a POST (an empty body is ``{}``). Only ``application/json`` is
    accepted, as by the plugin admin API: a browser cannot send it cross-site unasked."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise _NotJSON
    if not body.strip():
        return {}
    try:
        value = parse_json(body)
    except ValueError as exc:
        raise _BadRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _BadRequest("The request body must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _BadRequest(f"Unknown option(s) {unknown}; accepted: {sorted(allowed)}")
    return value


def _not_allowed(allow: str) -> AdminResponse:
    return AdminResponse(
        405, {"error": "method_not_allowed", "message": f"Allowed: {allow}"}, {"Allow": allow}
    )
