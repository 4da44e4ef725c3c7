"""The operations pages: each listener's deliveries (retry, dead letters) and the webhook inbox
(replay). Reads and retries go through :class:`DeliveryAdmin`; a replay through the webhook
processor, exactly as ``vbwd-plugins inbox replay`` and the JSON API do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.delivery._model import DeliveryStatus
from vbwd_plugins.errors import PluginError

if TYPE_CHECKING:
    from vbwd_plugins.admin._deliveries import DeliveryAdmin
    from vbwd_plugins.plugins._manager import PluginManager
    from vbwd_plugins.web._console._http import ConsoleResponse
    from vbwd_plugins.web._console._view import View

__all__ = ["DeliveryViews"]

_LIMIT: Final = 200
_INBOX_STATUSES: Final = ("processing", "processed", "failed", "recorded")


class DeliveryViews:
    """GET ``/deliveries`` and ``/webhooks``; POST ``/deliveries/retry``, ``/webhooks/replay``."""

    def __init__(
        self, admin: DeliveryAdmin, processor: object | None, manager: PluginManager
    ) -> None:
        self._admin = admin
        self._processor = processor
        self._manager = manager

    def deliveries(self, view: View, rest: list[str]) -> ConsoleResponse:
        """Deliveries filtered by status, event and listener, newest first."""
        query = view.request.query
        status = query.get("status") or None
        if status not in (None, *(s.value for s in DeliveryStatus)):
            status = None
        filters = {
            "status": status or "",
            "event": query.get("event", "").strip(),
            "listener": query.get("listener", "").strip(),
        }
        error = None
        rows: list[dict[str, Any]] = []
        try:
            rows = self._admin.list_deliveries(
                status=None if status is None else DeliveryStatus(status),
                event_name=filters["event"] or None,
                listener_id=filters["listener"] or None,
                limit=_LIMIT,
            )
        except PluginError as exc:
            error = str(exc)
        return view.page(
            200,
            "deliveries.html",
            rows=rows,
            filters=filters,
            statuses=[s.value for s in DeliveryStatus],
            error=error,
            limit=_LIMIT,
        )

    def retry(self, view: View, rest: list[str]) -> ConsoleResponse:
        """Run one delivery again, or every dead one (of a listener)."""
        if rest != ["retry"]:
            return view.page(404, "error.html", title="Not found", message="No such action")
        form = view.request.form
        delivery_id = form.get("delivery_id", [""])[-1] or None
        listener = form.get("listener", [""])[-1] or None
        try:
            if delivery_id is not None:
                result = self._admin.retry(delivery_id=delivery_id)
            elif listener is not None:
                result = self._admin.retry(listener_id=listener)
            else:
                result = self._admin.retry(all_dead=True)
        except (PluginError, ValueError) as exc:
            return view.done("deliveries", str(exc), error=True)
        return view.done("deliveries", _retried(result), error=_failed(result))

    def webhooks(self, view: View, rest: list[str]) -> ConsoleResponse:
        """The webhook inbox with each event's deliveries counted by status."""
        from vbwd_plugins.admin._deliveries import outbox_of
        from vbwd_plugins.webhooks._inbox import InboxStatus, WebhookInbox

        query = view.request.query
        status = query.get("status") or None
        if status not in (None, *_INBOX_STATUSES):
            status = None
        provider = query.get("provider", "").strip() or None
        rows: list[dict[str, Any]] = []
        error = None
        store = self._manager.store
        try:
            if not isinstance(store, WebhookInbox):
                raise PluginError("This host's store keeps no webhook inbox", plugin_name=None)
            outbox = outbox_of(store)
            records = store.inbox_list(
                status=None if status is None else InboxStatus(status),
                provider=provider,
                limit=_LIMIT,
            )
            for record in records:
                counts = dict.fromkeys((s.value for s in DeliveryStatus), 0)
                for one in outbox.deliveries_of_webhook(record.provider, record.event_id):
                    counts[one.status.value] += 1
                rows.append({"record": record, "counts": counts})
        except PluginError as exc:
            error = str(exc)
        return view.page(
            200,
            "webhooks.html",
            rows=rows,
            filters={"status": status or "", "provider": provider or ""},
            statuses=_INBOX_STATUSES,
            error=error,
            can_replay=callable(getattr(self._processor, "replay", None)),
            limit=_LIMIT,
        )

    def replay(self, view: View, rest: list[str]) -> ConsoleResponse:
        """Run again the deliveries of one stored webhook that did not succeed."""
        if rest != ["replay"]:
            return view.page(404, "error.html", title="Not found", message="No such action")
        replay = getattr(self._processor, "replay", None)
        if not callable(replay):
            return view.done("webhooks", "This host's webhook pipeline cannot replay", error=True)
        provider = view.request.form.get("provider", [""])[-1]
        event_id = view.request.form.get("event_id", [""])[-1]
        answer = replay(provider, event_id)
        status = int(getattr(answer, "status", 500))
        body = getattr(answer, "body", {}) or {}
        detail = body.get("error") or body.get("status") or ""
        text = f"Replay of {provider} {event_id}: {status} {detail}".strip()
        return view.done("webhooks", text, error=status != 200)


def _retried(result: dict[str, Any]) -> str:
    ids = result["retried"]
    if not ids:
        return "Nothing to retry."
    if result["mode"] == "submitted":
        return f"Handed {len(ids)} delivery(ies) to the delivery engine."
    outcomes = ", ".join(f"{r['delivery_id']}: {r['outcome']}" for r in result["results"])
    return f"Retried {len(ids)} delivery(ies): {outcomes}."


def _failed(result: dict[str, Any]) -> bool:
    return any(r["outcome"] != "succeeded" for r in result["results"])
