"""A stateful fake of Stripe's PaymentIntents and Refunds API on a pytest-httpserver.

It speaks the wire format the real SDK speaks: form-encoded parameters in
(``metadata[subscription_id]=...``), Stripe-shaped JSON out, a ``Request-Id`` header on
every response, ``{"error": {...}}`` bodies with Stripe's status codes, and idempotency
as Stripe implements it: a repeated ``Idempotency-Key`` with the same parameters replays
the first response (``Idempotent-Replayed: true``), with different parameters it is a
400 ``idempotency_error``.

Failures are scripted with :meth:`FakeStripe.script`. A scripted failure happens *in
front of* the API (as a load balancer's 5xx or a rate limiter's 429 would), so it is not
saved under the idempotency key and the SDK's retry reaches the real endpoint.
Card declines come from Stripe's test payment methods (``pm_card_chargeDeclined...``)
and are saved and replayed like any response that reached the endpoint.

State changes also produce the events real Stripe would send (:attr:`FakeStripe.events`),
so webhook tests can deliver what the API really did.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_VERSION: Final = "2025-01-27.acacia"

#: Stripe's test payment methods and what confirming with them does.
#: value: ``None`` = succeeds, ``"requires_action"`` = 3DS needed, else a decline code.
TEST_PAYMENT_METHODS: Final[Mapping[str, str | None]] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeDeclinedFraudulent": "fraudulent",
    "pm_card_authenticationRequired": "requires_action",
}

_DECLINE_CODES_AS_CODE: Final = {"expired_card": "expired_card"}
_CANCELABLE: Final = frozenset(
    {
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "requires_capture",
        "processing",
    }
)


@dataclass
class SeenRequest:
    """One request as the fake server saw it."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header, if any."""
        return self.headers.get("idempotency-key")

    @property
    def api_key(self) -> str | None:
        """The bearer token the request carried."""
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


@dataclass
class Scripted:
    """A response served instead of the real endpoint (or a delay before it)."""

    status: int | None = None
    error: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Served verbatim (e.g. an HTML error page) instead of a JSON error.
    raw_body: bytes | None = None
    #: Process the request normally (and save it under its idempotency key), then hold
    #: the answer this long: the client times out although Stripe did the work.
    slow_response: float = 0.0


@dataclass
class _Stored:
    params: dict[str, str]
    status: int
    body: bytes
    headers: dict[str, str]


class FakeStripe:
    """The fake API; ``install()`` routes every request of ``server`` to it."""

    def __init__(self, server: HTTPServer, api_key: str, *, livemode: bool = False) -> None:
        self.server = server
        self.api_key = api_key
        self.livemode = livemode
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[SeenRequest] = []
        self.refund_status = "succeeded"
        self._script: deque[Scripted] = deque()
        self._idempotency: dict[str, _Stored] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._release = threading.Event()

    # -- set-up -----------------------------------------------------------------

    def install(self) -> FakeStripe:
        """Route every request of the server to this fake."""
        self.server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)
        return self

    @property
    def url(self) -> str:
        """Base address to give the SDK (``http://127.0.0.1:PORT``)."""
        return f"http://{self.server.host}:{self.server.port}"

    def script(self, *responses: Scripted) -> None:
        """Serve these before the real endpoint, one per request, in order."""
        with self._lock:
            self._script.extend(responses)

    def fail(
        self,
        status: int,
        error_type: str = "api_error",
        message: str = "An unknown error occurred",
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Scripted:
        """A scripted Stripe error response."""
        error: dict[str, Any] = {"type": error_type, "message": message}
        if code is not None:
            error["code"] = code
        return Scripted(status=status, error=error, headers=dict(headers or {}))

    def release(self) -> None:
        """Wake every handler that is sleeping through a scripted delay."""
        self._release.set()

    # -- helpers for tests -------------------------------------------------------

    def requests_to(self, path_pattern: str, method: str = "POST") -> list[SeenRequest]:
        """Recorded requests whose path matches ``path_pattern`` (a regex)."""
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        """Events of one type, oldest first."""
        return [e for e in self.events if e["type"] == event_type]

    # -- dispatch ------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        params = {key: request.values[key] for key in request.values}
        headers = {key.lower(): value for key, value in request.headers.items()}
        seen = SeenRequest(request.method, request.path, params, headers)
        with self._lock:
            self.requests.append(seen)
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            if scripted.delay:
                self._release.wait(scripted.delay)
            if scripted.status is not None and scripted.raw_body is not None:
                return Response(
                    scripted.raw_body, scripted.status, scripted.headers, content_type="text/html"
                )
            if scripted.status is not None:
                return self._error_response(
                    scripted.status, scripted.error, extra_headers=scripted.headers
                )
        response = self._answer(request, seen, params)
        if scripted is not None and scripted.slow_response:
            self._release.wait(scripted.slow_response)
        return response

    def _answer(self, request: Request, seen: SeenRequest, params: dict[str, str]) -> Response:
        if seen.api_key != self.api_key:
            return self._error_response(
                401,
                {
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided: " + _redact(seen.api_key or ""),
                },
            )
        key = seen.idempotency_key if request.method == "POST" else None
        with self._lock:
            if key is not None and key in self._idempotency:
                stored = self._idempotency[key]
                if stored.params != params:
                    return self._error_response(
                        400,
                        {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with "
                            "the same parameters they were first used with. Try using a key "
                            f"other than '{key}' if you meant to execute a different request.",
                        },
                    )
                return Response(
                    stored.body,
                    stored.status,
                    {**stored.headers, "Idempotent-Replayed": "true"},
                    content_type="application/json",
                )
            status, body = self._route(request.method, request.path, params, key)
            response = self._json_response(status, body)
            if key is not None:
                kept = {
                    k: v
                    for k, v in response.headers.items()
                    if k.lower() not in {"content-type", "content-length"}
                }
                self._idempotency[key] = _Stored(params, status, response.get_data(), kept)
            return response

    def _route(
        self, method: str, path: str, params: dict[str, str], key: str | None
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self._create_intent(params, key)
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None:
                return _missing("payment_intent", parts[2])
            if method == "GET" and len(parts) == 3:
                return 200, self._expanded(intent, params)
            action = parts[3] if len(parts) == 4 else None
            if method == "POST" and action == "confirm":
                return self._confirm(intent, params.get("payment_method"))
            if method == "POST" and action == "capture":
                return self._capture(intent, params)
            if method == "POST" and action == "cancel":
                return self._cancel(intent, params)
        if method == "POST" and parts == ["v1", "refunds"]:
            return self._refund(params)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "refunds"]:
            refund = self.refunds.get(parts[2])
            return (200, refund) if refund is not None else _missing("refund", parts[2])
        return 404, _error_body(
            "invalid_request_error", f"Unrecognized request URL ({method}: {path}).", None
        )

    # -- endpoints ---------------------------------------------------------------------

    def _create_intent(self, params: dict[str, str], key: str | None) -> tuple[int, dict[str, Any]]:
        amount_raw = params.get("amount")
        if amount_raw is None or not amount_raw.isdigit():
            return 400, _error_body(
                "invalid_request_error", "Missing required param: amount.", "amount"
            )
        amount = int(amount_raw)
        if amount < 1 or len(amount_raw) > 8:
            return 400, _error_body(
                "invalid_request_error",
                "Amount must be at least 1 and at most 8 digits.",
                "amount",
                code="amount_too_small" if amount < 1 else "amount_too_large",
            )
        currency = params.get("currency", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            return 400, _error_body(
                "invalid_request_error", f"Invalid currency: {currency}.", "currency"
            )
        intent_id = self._new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": params.get("capture_method", "automatic_async"),
            "client_secret": f"{intent_id}_secret_{self._new_id('s')[2:]}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": self.livemode,
            "metadata": _nested(params, "metadata"),
            "payment_method": params.get("payment_method"),
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
        }
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.intents[intent_id] = intent
        self._event("payment_intent.created", intent, idempotency_key=key)
        if params.get("confirm") == "true":
            return self._confirm(intent, intent["payment_method"])
        return 200, intent

    def _confirm(
        self, intent: dict[str, Any], payment_method: str | None
    ) -> tuple[int, dict[str, Any]]:
        if intent["status"] not in {
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        }:
            return _unexpected_state(intent, "confirm")
        payment_method = payment_method or intent["payment_method"]
        if payment_method not in TEST_PAYMENT_METHODS:
            return 400, _error_body(
                "invalid_request_error",
                f"No such PaymentMethod: '{payment_method}'",
                "payment_method",
                code="resource_missing",
            )
        intent["payment_method"] = payment_method
        outcome = TEST_PAYMENT_METHODS[payment_method]
        if outcome == "requires_action":
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk"}
            return 200, intent
        charge = self._new_charge(intent, paid=outcome is None)
        intent["latest_charge"] = charge["id"]
        if outcome is not None:
            error = _error_body(
                "card_error",
                "Your card was declined."
                if outcome == "generic_decline"
                else "Your card has insufficient funds."
                if outcome == "insufficient_funds"
                else "Your card was declined.",
                None,
                code=_DECLINE_CODES_AS_CODE.get(outcome, "card_declined"),
            )
            error["error"]["decline_code"] = outcome
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = dict(error["error"])
            error["error"]["payment_intent"] = copy.deepcopy(intent)
            self._event("charge.failed", charge)
            self._event("payment_intent.payment_failed", intent)
            return 402, error
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            self._event("charge.succeeded", charge)
            self._event("payment_intent.amount_capturable_updated", intent)
        else:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            self._event("charge.succeeded", charge)
            self._event("payment_intent.succeeded", intent)
        return 200, intent

    def _capture(
        self, intent: dict[str, Any], params: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if intent["status"] != "requires_capture":
            return _unexpected_state(intent, "capture")
        amount = int(params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            return 400, _error_body(
                "invalid_request_error",
                "The amount to capture is greater than the capturable amount.",
                "amount_to_capture",
                code="amount_too_large",
            )
        charge = self.charges[intent["latest_charge"]]
        charge.update(captured=True, amount_captured=amount)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._event("charge.captured", charge)
        self._event("payment_intent.succeeded", intent)
        return 200, intent

    def _cancel(self, intent: dict[str, Any], params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if intent["status"] not in _CANCELABLE:
            return _unexpected_state(intent, "cancel")
        intent.update(
            status="canceled",
            cancellation_reason=params.get("cancellation_reason"),
            canceled_at=int(time.time()),
            amount_capturable=0,
        )
        self._event("payment_intent.canceled", intent)
        return 200, intent

    def _refund(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent_id = params.get("payment_intent")
        intent = self.intents.get(intent_id or "")
        if intent is None:
            return _missing("payment_intent", intent_id or "")
        if intent["status"] != "succeeded":
            return 400, _error_body(
                "invalid_request_error",
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                "payment_intent",
                code="charge_not_refundable",
            )
        charge = self.charges[intent["latest_charge"]]
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(params.get("amount", remaining))
        if amount < 1 or amount > remaining:
            return 400, _error_body(
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                "amount",
                code="amount_too_large",
            )
        refund: dict[str, Any] = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "metadata": _nested(params, "metadata"),
            "payment_intent": intent["id"],
            "reason": params.get("reason"),
            "status": self.refund_status,
        }
        self.refunds[refund["id"]] = refund
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._event("charge.refunded", charge, previous_attributes=previous)
        self._event("refund.created", refund)
        return 200, refund

    # -- plumbing -------------------------------------------------------------------------

    def _expanded(self, intent: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        """``expand[]=latest_charge`` replaces the charge id with the charge."""
        expand = {value for key, value in params.items() if key.startswith("expand[")}
        charge_id = intent.get("latest_charge")
        if "latest_charge" not in expand or charge_id is None:
            return intent
        return {**intent, "latest_charge": copy.deepcopy(self.charges[charge_id])}

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):08d}{self.api_key[-4:]}"

    def _new_charge(self, intent: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        manual = intent["capture_method"] == "manual"
        charge: dict[str, Any] = {
            "id": self._new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0 if manual or not paid else intent["amount"],
            "amount_refunded": 0,
            "captured": paid and not manual,
            "created": int(time.time()),
            "currency": intent["currency"],
            "livemode": self.livemode,
            "metadata": dict(intent["metadata"]),
            "paid": paid,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": "succeeded" if paid else "failed",
        }
        self.charges[charge["id"]] = charge
        return charge

    def _event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        previous_attributes: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        self.events.append(
            {
                "id": self._new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": int(time.time()),
                "data": data,
                "livemode": self.livemode,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": idempotency_key},
                "type": event_type,
            }
        )

    def _json_response(
        self, status: int, body: Mapping[str, Any], extra_headers: Mapping[str, str] | None = None
    ) -> Response:
        headers = {"Request-Id": self._new_id("req"), "Stripe-Version": API_VERSION}
        headers.update(extra_headers or {})
        return Response(json.dumps(body), status, headers, content_type="application/json")

    def _error_response(
        self,
        status: int,
        error: Mapping[str, Any],
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        return self._json_response(status, {"error": dict(error)}, extra_headers)


def _nested(params: Mapping[str, str], name: str) -> dict[str, str]:
    """``metadata[a]=1&metadata[b]=2`` -> ``{"a": "1", "b": "2"}``."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: value
        for key, value in params.items()
        if key.startswith(prefix) and key.endswith("]")
    }


def _error_body(
    error_type: str, message: str, param: str | None, *, code: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return {"error": error}


def _missing(kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
    return 404, _error_body(
        "invalid_request_error", f"No such {kind}: '{object_id}'", "id", code="resource_missing"
    )


def _unexpected_state(intent: dict[str, Any], action: str) -> tuple[int, dict[str, Any]]:
    return 400, _error_body(
        "invalid_request_error",
        f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}.",
        None,
        code="payment_intent_unexpected_state",
    )


def _redact(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "***"
