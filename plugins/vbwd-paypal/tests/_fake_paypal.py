"""A stateful fake of the PayPal REST API, served over real HTTP on 127.0.0.1.

It covers what the plugin uses: OAuth tokens, Orders v2 (create, get, capture,
authorize), Payments v2 (captures, authorizations, refunds), webhook certificates and
remote signature verification. Answers have PayPal's shapes, including error bodies
``{name, message, debug_id, details}``. Tests script failures, delays and expiries, and
read back every request exactly as the server saw it.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from requests.adapters import HTTPAdapter
from werkzeug.wrappers import Request, Response

_ZERO_DECIMAL = frozenset({"HUF", "JPY", "TWD"})
_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id(length: int = 17) -> str:
    """A PayPal-looking resource id."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now_iso() -> str:
    """The current time as PayPal writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(
    name: str, message: str, issue: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """A PayPal error body."""
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": new_id(13).lower()}
    if issue is not None:
        body["details"] = [{"issue": issue, "description": description or issue}]
    return body


@dataclass
class Recorded:
    """One request as the fake server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        return self.headers.get(name.lower())


@dataclass
class Script:
    """A scripted answer for matching requests.

    ``status=None`` only delays (then the request is handled normally). With
    ``per_operation`` the script covers the first matching request and every retry of it
    (same ``PayPal-Request-Id``, or the same token for requests without one), then expires
    as soon as a different operation arrives; otherwise it covers ``times`` requests.
    """

    method: str
    pattern: re.Pattern[str]
    status: int | None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    per_operation: bool = False
    bound: str | None = None
    used: int = 0


class FakePayPal:
    """The fake API's state and request handler (mounted on one or more HTTPServers)."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = "http://fake-paypal.invalid"
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every resource, token, script and recorded request."""
        with self.lock:
            self._reset()

    def _reset(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: list[Script] = []
        self.tokens: dict[str, bool] = {}
        self.expires_in = 32_400
        self.auto_approve = False
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, dict[str, Any]] = {}
        self.authorizations: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.decline_next: str | None = None
        self.idempotent: dict[str, tuple[str, bytes, int, bytes]] = {}
        self.certificates: dict[str, bytes] = {}
        self.deliveries: dict[str, bytes] = {}
        self.webhook_id = "WH-TEST-0000000000000001"
        self.token_delay = 0.0

    # -- what tests read ---------------------------------------------------------------

    def calls(self, method: str | None = None, path: str = "") -> list[Recorded]:
        """Recorded requests, filtered by method and path prefix (or regex with ``^``)."""
        with self.lock:
            found = list(self.requests)
        if method is not None:
            found = [r for r in found if r.method == method]
        if path.startswith("^"):
            return [r for r in found if re.match(path, r.path)]
        return [r for r in found if r.path.startswith(path)]

    @property
    def token_requests(self) -> int:
        """How many access tokens were requested."""
        return len(self.calls("POST", "/v1/oauth2/token"))

    def request_ids(self) -> list[str]:
        """Every ``PayPal-Request-Id`` received, in order (retries included)."""
        return [rid for r in self.calls() if (rid := r.header("PayPal-Request-Id")) is not None]

    # -- what tests script ---------------------------------------------------------------

    def script(
        self,
        method: str,
        path: str,
        status: int | None,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
        per_operation: bool = False,
    ) -> Script:
        """Answer matching requests (``path`` is a regex matched in full) as scripted."""
        entry = Script(
            method,
            re.compile(path),
            status,
            body,
            dict(headers or {}),
            delay,
            times,
            per_operation,
        )
        with self.lock:
            self.scripts.append(entry)
        return entry

    def approve(self, order_id: str) -> None:
        """What the payer does on PayPal's approval page."""
        with self.lock:
            order = self.orders[order_id]
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
                order["status"] = "APPROVED"
                order["payer"] = {"payer_id": new_id(13), "email_address": "buyer@example.com"}

    def revoke_tokens(self) -> None:
        """Invalidate every issued token (PayPal rotated them early)."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = False

    def serve_certificate(self, name: str, pem: bytes) -> str:
        """Serve ``pem`` under ``/v1/notifications/certs/<name>``; return the path."""
        path = f"/v1/notifications/certs/{name}"
        with self.lock:
            self.certificates[path] = pem
        return path

    # -- the WSGI side -------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        record = Recorded(
            request.method,
            request.path,
            {k.lower(): v for k, v in request.headers.items()},
            body,
            time.monotonic(),
        )
        with self.lock:
            self.requests.append(record)
            script = self._script_for(record)
        if script is not None:
            if script.delay:
                time.sleep(script.delay)
            if script.status is not None:
                return self._response(script.status, script.body, script.headers)
        try:
            return self._route(record)
        except _Answer as answer:
            return self._response(answer.status, answer.body)

    def _script_for(self, record: Recorded) -> Script | None:
        operation = record.header("PayPal-Request-Id") or record.header("Authorization") or ""
        for script in list(self.scripts):
            if script.method != record.method or not script.pattern.fullmatch(record.path):
                continue
            if script.per_operation:
                if script.bound is None:
                    script.bound = operation
                    return script
                if script.bound == operation:
                    return script
                self.scripts.remove(script)
                continue
            script.used += 1
            if script.used >= script.times:
                self.scripts.remove(script)
            return script
        return None

    def _response(
        self, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> Response:
        headers = dict(headers or {})
        if isinstance(body, dict):
            if "debug_id" in body:
                headers.setdefault("PayPal-Debug-Id", str(body["debug_id"]))
            return Response(json.dumps(body), status, headers, content_type="application/json")
        if body is None:
            return Response(b"", status, headers)
        data = body if isinstance(body, bytes) else str(body).encode()
        return Response(data, status, headers, content_type="text/plain")

    def _route(self, record: Recorded) -> Response:
        path, method = record.path, record.method
        if path == "/v1/oauth2/token" and method == "POST":
            return self._token(record)
        if path.startswith("/v1/notifications/certs/") and method == "GET":
            with self.lock:
                pem = self.certificates.get(path)
            if pem is None:
                raise _Answer(404, error_body("RESOURCE_NOT_FOUND", "No such certificate"))
            return Response(pem, 200, content_type="application/x-pem-file")
        self._authorize(record)
        with self.lock:
            if method == "POST" and (rid := record.header("PayPal-Request-Id")) is not None:
                replay = self.idempotent.get(rid)
                if replay is not None:
                    seen_path, seen_body, status, answer = replay
                    if seen_path != path or seen_body != record.body:
                        raise _Answer(
                            422,
                            error_body(
                                "UNPROCESSABLE_ENTITY",
                                "The requested action could not be performed.",
                                "PAYPAL_REQUEST_ID_PREVIOUSLY_USED",
                            ),
                        )
                    return Response(answer, status, content_type="application/json")
            status, answer = self._dispatch(method, path, record)
            if method == "POST" and (rid := record.header("PayPal-Request-Id")) is not None:
                self.idempotent[rid] = (path, record.body, status, json.dumps(answer).encode())
        if status == 204:
            return Response(b"", 204)
        return Response(json.dumps(answer), status, content_type="application/json")

    def _token(self, record: Recorded) -> Response:
        if self.token_delay:
            time.sleep(self.token_delay)
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if record.header("Authorization") != f"Basic {expected}":
            raise _Answer(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        if record.body != b"grant_type=client_credentials":
            raise _Answer(400, {"error": "unsupported_grant_type", "error_description": "bad"})
        token = f"A21AA{secrets.token_urlsafe(24)}"
        with self.lock:
            self.tokens[token] = True
            expires_in = self.expires_in
        return Response(
            json.dumps(
                {
                    "scope": "https://uri.paypal.com/services/payments/payment",
                    "access_token": token,
                    "token_type": "Bearer",
                    "app_id": "APP-80W284485P519543T",
                    "expires_in": expires_in,
                    "nonce": new_id(20),
                }
            ),
            200,
            content_type="application/json",
        )

    def _authorize(self, record: Recorded) -> None:
        header = record.header("Authorization") or ""
        token = header.removeprefix("Bearer ")
        with self.lock:
            valid = header.startswith("Bearer ") and self.tokens.get(token, False)
        if not valid:
            raise _Answer(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "Token signature verification failed",
                },
            )

    # -- resources -----------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, record: Recorded) -> tuple[int, Any]:
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("POST", r"/v2/checkout/orders", self._create_order),
            ("GET", r"/v2/checkout/orders/(\w+)", self._get_order),
            ("POST", r"/v2/checkout/orders/(\w+)/capture", self._capture_order),
            ("POST", r"/v2/checkout/orders/(\w+)/authorize", self._authorize_order),
            ("GET", r"/v2/payments/captures/(\w+)", self._get_capture),
            ("POST", r"/v2/payments/captures/(\w+)/refund", self._refund),
            ("GET", r"/v2/payments/authorizations/(\w+)", self._get_authorization),
            ("POST", r"/v2/payments/authorizations/(\w+)/capture", self._capture_authorization),
            ("POST", r"/v2/payments/authorizations/(\w+)/void", self._void),
            ("GET", r"/v2/payments/refunds/(\w+)", self._get_refund),
            ("POST", r"/v1/notifications/verify-webhook-signature", self._verify_webhook),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(record, *match.groups())
        raise _Answer(404, error_body("RESOURCE_NOT_FOUND", f"No route for {method} {path}"))

    def _link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": f"{self.base_url}{path}", "rel": rel, "method": method}

    @staticmethod
    def _check_amount(amount: Any) -> Decimal:
        if not isinstance(amount, dict):
            raise _Answer(
                400, error_body("INVALID_REQUEST", "amount missing", "MISSING_REQUIRED_PARAMETER")
            )
        currency, value = amount.get("currency_code"), amount.get("value")
        if not isinstance(currency, str) or not isinstance(value, str):
            raise _Answer(
                400, error_body("INVALID_REQUEST", "bad amount", "INVALID_PARAMETER_VALUE")
            )
        pattern = r"\d{1,10}" if currency in _ZERO_DECIMAL else r"\d{1,10}(\.\d{1,2})?"
        if not re.fullmatch(pattern, value):
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "DECIMAL_PRECISION",
                    f"{currency} does not support {value!r}",
                ),
            )
        return Decimal(value)

    def _create_order(self, record: Recorded) -> tuple[int, Any]:
        body = record.json
        if not isinstance(body, dict) or body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            raise _Answer(
                400, error_body("INVALID_REQUEST", "bad intent", "INVALID_PARAMETER_VALUE")
            )
        units = body.get("purchase_units")
        if not isinstance(units, list) or len(units) != 1:
            raise _Answer(
                400, error_body("INVALID_REQUEST", "purchase_units", "INVALID_ARRAY_LENGTH")
            )
        unit = dict(units[0])
        self._check_amount(unit.get("amount"))
        custom_id = unit.get("custom_id")
        if custom_id is not None and len(custom_id) > 127:
            raise _Answer(400, error_body("INVALID_REQUEST", "custom_id", "INVALID_STRING_LENGTH"))
        order_id = new_id()
        unit.setdefault("reference_id", "default")
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": "CREATED",
            "purchase_units": [unit],
            "create_time": now_iso(),
            "links": [
                self._link(f"/v2/checkout/orders/{order_id}", "self"),
                {
                    "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}",
                    "rel": "approve",
                    "method": "GET",
                },
                self._link(f"/v2/checkout/orders/{order_id}", "update", "PATCH"),
                self._link(
                    f"/v2/checkout/orders/{order_id}/{body['intent'].lower()}",
                    body["intent"].lower(),
                    "POST",
                ),
            ],
        }
        if "payment_source" in body:
            order["payment_source"] = body["payment_source"]
        self.orders[order_id] = order
        return 201, order

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise _Answer(
                404,
                error_body(
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                    "Specified resource ID does not exist.",
                ),
            )
        if self.auto_approve and order["status"] == "CREATED":
            self.approve(order_id)
        return order

    def _view(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """The order as PayPal shows it: payments with their current status."""
        view = _public(order)
        unit = dict(view["purchase_units"][0])
        payments: dict[str, Any] = {}
        if order.get("_captures"):
            payments["captures"] = [_public(self.captures[i]) for i in order["_captures"]]
        if order.get("_authorizations"):
            payments["authorizations"] = [
                dict(self.authorizations[i]) for i in order["_authorizations"]
            ]
        if payments:
            unit["payments"] = payments
        view["purchase_units"] = [unit]
        return view

    def _get_order(self, record: Recorded, order_id: str) -> tuple[int, Any]:
        return 200, self._view(self._order(order_id))

    def _ready(self, order: dict[str, Any], action: str) -> None:
        if order["status"] == "COMPLETED":
            issue = "ORDER_ALREADY_CAPTURED" if action == "capture" else "ORDER_ALREADY_AUTHORIZED"
            raise _Answer(422, error_body("UNPROCESSABLE_ENTITY", "Already done.", issue))
        if order["status"] != "APPROVED":
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment.",
                ),
            )
        if order["intent"] != action.upper():
            raise _Answer(
                422,
                error_body("UNPROCESSABLE_ENTITY", "Wrong intent.", "ACTION_DOES_NOT_MATCH_INTENT"),
            )

    def _declined(self) -> str | None:
        mode, self.decline_next = self.decline_next, None
        if mode == "error":
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "INSTRUMENT_DECLINED",
                    "The instrument presented was either declined by the processor or bank.",
                ),
            )
        return mode

    def _new_capture(
        self, unit: Mapping[str, Any], amount: Mapping[str, Any], order_id: str, status: str
    ) -> dict[str, Any]:
        capture_id = new_id()
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": status,
            "amount": dict(amount),
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                self._link(f"/v2/payments/captures/{capture_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}/refund", "refund", "POST"),
                self._link(f"/v2/checkout/orders/{order_id}", "up"),
            ],
            "_refunded": "0",
        }
        if unit.get("custom_id") is not None:
            capture["custom_id"] = unit["custom_id"]
        if status == "DECLINED":
            capture["status_details"] = {"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}
        self.captures[capture_id] = capture
        return capture

    def _capture_order(self, record: Recorded, order_id: str) -> tuple[int, Any]:
        order = self._order(order_id)
        self._ready(order, "capture")
        mode = self._declined()
        unit = order["purchase_units"][0]
        capture = self._new_capture(
            unit, unit["amount"], order_id, "DECLINED" if mode == "status" else "COMPLETED"
        )
        order["_captures"] = [capture["id"]]
        order["status"] = "COMPLETED"
        return 201, self._view(order)

    def _authorize_order(self, record: Recorded, order_id: str) -> tuple[int, Any]:
        order = self._order(order_id)
        self._ready(order, "authorize")
        self._declined()
        unit = order["purchase_units"][0]
        authorization_id = new_id()
        authorization: dict[str, Any] = {
            "id": authorization_id,
            "status": "CREATED",
            "amount": dict(unit["amount"]),
            "expiration_time": (datetime.now(UTC) + timedelta(days=29)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                self._link(f"/v2/payments/authorizations/{authorization_id}", "self"),
                self._link(
                    f"/v2/payments/authorizations/{authorization_id}/capture", "capture", "POST"
                ),
                self._link(f"/v2/payments/authorizations/{authorization_id}/void", "void", "POST"),
                self._link(f"/v2/checkout/orders/{order_id}", "up"),
            ],
        }
        if unit.get("custom_id") is not None:
            authorization["custom_id"] = unit["custom_id"]
        self.authorizations[authorization_id] = authorization
        order["_authorizations"] = [authorization_id]
        order["status"] = "COMPLETED"
        return 201, self._view(order)

    def _not_found(self) -> _Answer:
        return _Answer(
            404,
            error_body(
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
                "Specified resource ID does not exist. Please check the resource ID and try again.",
            ),
        )

    def _get_capture(self, record: Recorded, capture_id: str) -> tuple[int, Any]:
        capture = self.captures.get(capture_id)
        if capture is None:
            raise self._not_found()
        return 200, _public(capture)

    def _get_authorization(self, record: Recorded, authorization_id: str) -> tuple[int, Any]:
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise self._not_found()
        return 200, authorization

    def _get_refund(self, record: Recorded, refund_id: str) -> tuple[int, Any]:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise self._not_found()
        return 200, refund

    def _capture_authorization(self, record: Recorded, authorization_id: str) -> tuple[int, Any]:
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise self._not_found()
        if authorization["status"] not in ("CREATED", "PARTIALLY_CAPTURED"):
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "AUTHORIZATION_ALREADY_CAPTURED"
                    if authorization["status"] == "CAPTURED"
                    else "AUTHORIZATION_VOIDED",
                ),
            )
        body = record.json or {}
        amount = body.get("amount") or authorization["amount"]
        value = self._check_amount(amount)
        if value > Decimal(authorization["amount"]["value"]):
            raise _Answer(
                422, error_body("UNPROCESSABLE_ENTITY", "Too much.", "MAX_CAPTURE_AMOUNT_EXCEEDED")
            )
        order_id = authorization["supplementary_data"]["related_ids"]["order_id"]
        order = self.orders[order_id]
        unit = order["purchase_units"][0]
        capture = self._new_capture(unit, amount, order_id, "COMPLETED")
        authorization["status"] = "CAPTURED"
        authorization["update_time"] = now_iso()
        order.setdefault("_captures", []).append(capture["id"])
        return 201, _public(capture)

    def _void(self, record: Recorded, authorization_id: str) -> tuple[int, Any]:
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise self._not_found()
        if authorization["status"] != "CREATED":
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "PREVIOUSLY_CAPTURED"
                    if authorization["status"] == "CAPTURED"
                    else "PREVIOUSLY_VOIDED",
                ),
            )
        authorization["status"] = "VOIDED"
        authorization["update_time"] = now_iso()
        if record.header("Prefer") == "return=representation":
            return 200, authorization
        return 204, None

    def _refund(self, record: Recorded, capture_id: str) -> tuple[int, Any]:
        capture = self.captures.get(capture_id)
        if capture is None:
            raise self._not_found()
        total = Decimal(capture["amount"]["value"])
        refunded = Decimal(capture["_refunded"])
        if capture["status"] == "REFUNDED":
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "CAPTURE_FULLY_REFUNDED",
                ),
            )
        body = record.json or {}
        if body.get("amount") is not None:
            amount = dict(body["amount"])
            value = self._check_amount(amount)
            if amount["currency_code"] != capture["amount"]["currency_code"]:
                raise _Answer(
                    422, error_body("UNPROCESSABLE_ENTITY", "Currency.", "REFUND_CURRENCY_MISMATCH")
                )
        else:
            value = total - refunded
            amount = {"currency_code": capture["amount"]["currency_code"], "value": str(value)}
            if capture["amount"]["currency_code"] not in _ZERO_DECIMAL:
                amount["value"] = f"{value:.2f}"
        if refunded + value > total:
            raise _Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "REFUND_AMOUNT_EXCEEDED",
                ),
            )
        refunded += value
        capture["_refunded"] = str(refunded)
        capture["status"] = "REFUNDED" if refunded == total else "PARTIALLY_REFUNDED"
        capture["update_time"] = now_iso()
        refund_id = new_id()
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": amount,
            "seller_payable_breakdown": {
                "gross_amount": amount,
                "total_refunded_amount": {
                    "currency_code": amount["currency_code"],
                    "value": capture["_refunded"],
                },
            },
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                self._link(f"/v2/payments/refunds/{refund_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}", "up"),
            ],
        }
        if body.get("custom_id") is not None:
            refund["custom_id"] = body["custom_id"]
        self.refunds[refund_id] = refund
        return 201, refund

    def _verify_webhook(self, record: Recorded) -> tuple[int, Any]:
        body = record.json or {}
        required = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        missing = [name for name in required if body.get(name) in (None, "")]
        if missing:
            raise _Answer(
                400,
                error_body("VALIDATION_ERROR", f"missing {missing}", "MISSING_REQUIRED_PARAMETER"),
            )
        raw = self.deliveries.get(body["transmission_id"])
        pem = self.certificates.get(urlsplit(body["cert_url"]).path)
        ok = (
            raw is not None
            and pem is not None
            and body["webhook_id"] == self.webhook_id
            and json.loads(raw) == body["webhook_event"]
        )
        if ok and raw is not None and pem is not None:
            key = x509.load_pem_x509_certificates(pem)[0].public_key()
            assert isinstance(key, rsa.RSAPublicKey)
            message = (
                f"{body['transmission_id']}|{body['transmission_time']}|"
                f"{body['webhook_id']}|{zlib.crc32(raw)}"
            ).encode()
            try:
                key.verify(
                    base64.b64decode(body["transmission_sig"]),
                    message,
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except (InvalidSignature, ValueError):
                ok = False
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}


class _Answer(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _public(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


class LoopbackTLSAdapter(HTTPAdapter):
    """Sends ``https://<PayPal host>/...`` to the fake's TLS port on 127.0.0.1.

    The TLS handshake still verifies the fake's certificate **for the PayPal host name**
    against the test CA, so the plugin's production path (https, allow-listed host,
    certificate-verified TLS) is exercised unchanged; only the address is local.
    """

    def __init__(self, port: int, ca_file: str) -> None:
        super().__init__(max_retries=0)
        self._port = port
        self._ca_file = ca_file
        self.sent: list[str] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(str(request.url))
        if kwargs.get("verify", True) is not False:
            kwargs["verify"] = self._ca_file
        return super().send(request, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        name = host_params["host"]
        host_params.update(host="127.0.0.1", port=self._port)
        pool_kwargs.update(server_hostname=name, assert_hostname=name)
        return host_params, pool_kwargs


class NoNetworkAdapter(HTTPAdapter):
    """Records and refuses every request it is asked to send (no traffic leaves the test)."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.attempts: list[str] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        import requests

        self.attempts.append(str(request.url))
        raise requests.ConnectionError(f"test network guard: refused {request.url}")
