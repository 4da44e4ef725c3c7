"""Subscriptions v1: ``/v1/billing/subscriptions`` (create, read, cancel, suspend, activate,
revise) and the payer's approval page the ``approve`` links lead to."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

from werkzeug.wrappers import Response

from ._billing import BillingEngine
from ._cycles import check_money, invalid, parse_time
from ._resources import Reply
from ._signing import paypal_time
from ._wire import Answer, Recorded, error_body, new_id

_QUANTITY = re.compile(r"[0-9]+|([0-9]+)?[.][0-9]+")
_CUSTOM_ID = re.compile(r"[\x20-\x7E]{1,127}")
_GRACE = 300  # seconds a start_time may lie in the past (clock skew), else PayPal's 400


def _status_invalid(action: str, expected: str) -> Answer:
    return invalid(
        "SUBSCRIPTION_STATUS_INVALID",
        "/status",
        f"Invalid subscription status for {action} action; subscription status should be "
        f"{expected}.",
        422,
    )


def _reason(record: Recorded, *, required: bool) -> str | None:
    body = record.json if isinstance(record.json, dict) else {}
    reason = body.get("reason")
    if reason is None:
        if required:
            raise invalid("MISSING_REQUIRED_PARAMETER", "/reason", "A required field is missing.")
        return None
    if not isinstance(reason, str) or not 1 <= len(reason) <= 128:
        raise invalid("INVALID_STRING_MAX_LENGTH", "/reason", "The value of a field is too long.")
    return reason


class SubscriptionsAPI(BillingEngine):
    """The subscription endpoints; what they cause waits in the outbox (``take_webhooks``)."""

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise self._not_found()
        return sub

    def _active_plan(self, plan_id: Any) -> dict[str, Any]:
        plan = self.plans.get(plan_id) if isinstance(plan_id, str) else None
        if plan is None:
            raise Answer(
                404,
                error_body(
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                    "Requested resource ID was not found.",
                ),
            )
        if plan["status"] != "ACTIVE":
            raise invalid(
                "PLAN_STATUS_INVALID",
                "/plan_id",
                "Invalid plan status for subscription creation; plan status should be active.",
                422,
            )
        return plan

    def _create_subscription(self, record: Recorded) -> Reply:
        body = record.json
        if not isinstance(body, dict):
            raise invalid("MISSING_REQUEST_BODY", "/", "Request body is missing.")
        if body.get("plan_id") is None:
            raise invalid("MISSING_REQUIRED_PARAMETER", "/plan_id", "A required field is missing.")
        if body.get("plan") is not None:
            raise invalid(
                "INVALID_PARAMETER_VALUE", "/plan", "FakePayPal does not support plan overrides."
            )
        plan = self._active_plan(body["plan_id"])
        sub_id = f"I-{new_id(12)}"
        sub: dict[str, Any] = {"id": sub_id, "plan_id": plan["id"], "status": "APPROVAL_PENDING"}
        if (quantity := body.get("quantity")) is not None:
            if not isinstance(quantity, str) or not _QUANTITY.fullmatch(quantity):
                raise invalid("INVALID_PARAMETER_SYNTAX", "/quantity", "A decimal string.")
            if not plan["quantity_supported"]:
                raise invalid(
                    "SUBSCRIPTION_CANNOT_HAVE_QUANTITY",
                    "/quantity",
                    "Subscription can't have quantity as the plan does not support quantity.",
                    422,
                )
            sub["quantity"] = quantity
        if (custom_id := body.get("custom_id")) is not None:
            if not isinstance(custom_id, str) or not _CUSTOM_ID.fullmatch(custom_id):
                issue = (
                    "INVALID_STRING_MAX_LENGTH"
                    if isinstance(custom_id, str) and len(custom_id) > 127
                    else "INVALID_PARAMETER_SYNTAX"
                )
                raise invalid(issue, "/custom_id", "1 to 127 printable ASCII characters.")
            sub["custom_id"] = custom_id
        start = self.billing_now
        if body.get("start_time") is not None:
            start = parse_time(body["start_time"], "/start_time")
            if (self.billing_now - start).total_seconds() > _GRACE:
                raise invalid(
                    "INVALID_PARAMETER_VALUE",
                    "/start_time",
                    "Start time must be a valid future date and time.",
                )
        if body.get("shipping_amount") is not None:
            check_money(body["shipping_amount"], "/shipping_amount")
            sub["shipping_amount"] = body["shipping_amount"]
        context = body.get("application_context") or {}
        if not isinstance(context, dict):
            raise invalid("INVALID_PARAMETER_SYNTAX", "/application_context", "An object.")
        if context and not (context.get("return_url") and context.get("cancel_url")):
            raise invalid(
                "MISSING_REQUIRED_PARAMETER",
                "/application_context/return_url",
                "return_url and cancel_url are required.",
            )
        if len(str(context.get("brand_name", ""))) > 127:
            raise invalid(
                "INVALID_STRING_MAX_LENGTH", "/application_context/brand_name", "Too long."
            )
        subscriber = body.get("subscriber")
        sub.update(
            start_time=paypal_time(start),
            subscriber=dict(subscriber) if isinstance(subscriber, dict) else {},
            plan_overridden=False,
            create_time=self._at(),
            update_time=self._at(),
            status_update_time=self._at(),
            _start=start,
            _token=f"BA-{new_id(17)}",
            _user_action=context.get("user_action", "SUBSCRIBE_NOW"),
            _return_url=context.get("return_url"),
            _cancel_url=context.get("cancel_url"),
            _cycles=[dict(c) for c in plan["billing_cycles"]],
            _activated=False,
            _failed=0,
            _last_payment=None,
            _last_failed=None,
            _outstanding=Decimal(0),
            _suspended_by=None,
            _due=None,
            _retry_at=None,
        )
        sub["_executed"] = [0] * len(sub["_cycles"])
        self.subscriptions[sub_id] = sub
        self.outbox.append(self._sub_event(sub, "BILLING.SUBSCRIPTION.CREATED"))
        return 201, self._sub_view(sub)

    def _get_subscription(self, record: Recorded, subscription_id: str) -> Reply:
        return 200, self._sub_view(self._subscription(subscription_id))

    def _cancel_subscription(self, record: Recorded, subscription_id: str) -> Reply:
        sub = self._subscription(subscription_id)
        reason = _reason(record, required=True)
        if sub["status"] not in ("ACTIVE", "SUSPENDED", "APPROVED"):
            raise _status_invalid("cancel", "active or suspended")
        self._status(sub, "CANCELLED", reason)
        sub["_due"] = sub["_retry_at"] = None
        self.outbox.append(self._sub_event(sub, "BILLING.SUBSCRIPTION.CANCELLED"))
        return 204, None

    def _suspend_subscription(self, record: Recorded, subscription_id: str) -> Reply:
        sub = self._subscription(subscription_id)
        reason = _reason(record, required=True)
        if sub["status"] != "ACTIVE":
            raise _status_invalid("suspend", "active")
        self._status(sub, "SUSPENDED", reason)
        sub["_suspended_by"] = "merchant"
        self.outbox.append(self._sub_event(sub, "BILLING.SUBSCRIPTION.SUSPENDED"))
        return 204, None

    def _activate_subscription(self, record: Recorded, subscription_id: str) -> Reply:
        sub = self._subscription(subscription_id)
        reason = _reason(record, required=False)
        if sub["status"] == "APPROVED":
            self.outbox.extend(self._activate(sub))
            return 204, None
        if sub["status"] != "SUSPENDED":
            raise _status_invalid("activate", "suspended")
        if sub["_suspended_by"] == "failures":
            raise invalid(
                "SUBSCRIPTION_CANNOT_BE_ACTIVATED",
                "/status",
                "Subscription cannot be activated after payment failure threshold has reached.",
                422,
            )
        self._status(sub, "ACTIVE", reason)
        sub["_suspended_by"] = None
        self.outbox.append(self._sub_event(sub, "BILLING.SUBSCRIPTION.ACTIVATED"))
        return 204, None

    def _revise_subscription(self, record: Recorded, subscription_id: str) -> Reply:
        sub = self._subscription(subscription_id)
        body = record.json if isinstance(record.json, dict) else {}
        if body.get("plan_id") is None:
            raise invalid("MISSING_REQUIRED_PARAMETER", "/plan_id", "A required field is missing.")
        if sub["status"] not in ("ACTIVE", "SUSPENDED"):
            raise _status_invalid("revise", "active or suspended")
        plan = self._active_plan(body["plan_id"])
        if plan["product_id"] != self.plans[sub["plan_id"]]["product_id"]:
            raise invalid(
                "PLAN_PRODUCT_NOT_COMPATIBLE",
                "/plan_id",
                "The old and the new plans should be for the same product.",
                422,
            )
        if self._currency({"_cycles": plan["billing_cycles"]}) != self._currency(sub):
            raise invalid(
                "CURRENCY_MISMATCH",
                "/plan_id",
                "The currency code is different from the plan's currency code.",
                422,
            )
        context = body.get("application_context") or {}
        sub["_pending_plan"] = plan["id"]
        sub["_revision_token"] = f"BA-{new_id(17)}"
        if isinstance(context, dict) and context.get("return_url"):
            sub["_return_url"] = context["return_url"]
        answer = {
            "plan_id": plan["id"],
            "plan_overridden": False,
            "links": [
                self._link(self._payer_page(sub["_revision_token"]), "approve"),
                self._link(f"/v1/billing/subscriptions/{sub['id']}", "edit", "PATCH"),
                self._link(f"/v1/billing/subscriptions/{sub['id']}", "self"),
            ],
        }
        if "quantity" in sub:
            answer["quantity"] = sub["quantity"]
        return 200, answer

    def _approval_page(self, record: Recorded) -> Response:
        """``GET`` on an ``approve`` link: the payer approves, then is sent to ``return_url``.

        What the approval causes waits in the outbox, as for API calls.
        """
        token = parse_qs(record.query).get("ba_token", [""])[-1]
        with self.lock:
            for sub in self.subscriptions.values():
                if sub["_token"] == token and sub["status"] == "APPROVAL_PENDING":
                    self.outbox.extend(self._approve(sub))
                    break
                if sub.get("_revision_token") == token:
                    self.outbox.extend(self._apply_revision(sub))
                    break
            else:
                return Response("No such approval", 404, content_type="text/plain")
        if not sub["_return_url"]:
            return Response("Approved", 200, content_type="text/plain")
        query = urlencode({"subscription_id": sub["id"], "ba_token": token, "token": token})
        separator = "&" if "?" in sub["_return_url"] else "?"
        return Response("", 302, {"Location": f"{sub['_return_url']}{separator}{query}"})
