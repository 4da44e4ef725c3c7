"""A stateful fake of the PayPal REST API, served over real HTTP on 127.0.0.1.

It covers what the plugin uses: OAuth tokens, Orders v2 (create, get, capture,
authorize), Payments v2 (captures, authorizations, refunds), catalog products, billing
plans and subscriptions with their sales and disputes (recurring billing, with test
controls that return signed webhooks: see ``_billing.py``), webhook certificates and
remote signature verification. Answers have PayPal's shapes, including error bodies
``{name, message, debug_id, details}``. Tests script failures, delays and expiries, and
read back every request exactly as the server saw it.

The fake is a werkzeug handler: mount it on a ``pytest_httpserver.HTTPServer`` with
``server.expect_request(re.compile(".*")).respond_with_handler(fake)``, and on a second,
TLS server for the certificate downloads of offline verification.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.wrappers import Request, Response

from ._catalog import CatalogAPI
from ._disputes import DisputesAPI
from ._orders import OrdersAPI
from ._payments import PaymentsAPI
from ._resources import Reply
from ._signing import transmission_message
from ._subscriptions import SubscriptionsAPI
from ._wire import Answer, Recorded, Script, error_body, new_id


class FakePayPal(OrdersAPI, PaymentsAPI, CatalogAPI, SubscriptionsAPI, DisputesAPI):
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
        self.orders = {}
        self.captures = {}
        self.authorizations = {}
        self.refunds = {}
        #: ``"error"``: the next capture/authorize is a 422 decline; ``"status"``: a DECLINED
        #: capture.
        self.decline_next = None
        self.idempotent: dict[str, tuple[str, bytes, int, bytes]] = {}
        self.certificates: dict[str, bytes] = {}
        self.deliveries: dict[str, bytes] = {}
        self.webhook_id = "WH-TEST-0000000000000001"
        self.token_delay = 0.0
        self._reset_billing()

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
        hold: threading.Event | None = None,
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
            hold,
        )
        with self.lock:
            self.scripts.append(entry)
        return entry

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
            request.query_string.decode("latin-1"),
        )
        with self.lock:
            self.requests.append(record)
            script = self._script_for(record)
        if script is not None:
            if script.hold is not None:
                script.hold.wait(60)
            if script.delay:
                time.sleep(script.delay)
            if script.status is not None:
                return self._response(script.status, script.body, script.headers)
        try:
            return self._route(record)
        except Answer as answer:
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
                raise Answer(404, error_body("RESOURCE_NOT_FOUND", "No such certificate"))
            return Response(pem, 200, content_type="application/x-pem-file")
        if path == "/webapps/billing/subscriptions" and method == "GET":
            return self._approval_page(record)
        self._authorize(record)
        with self.lock:
            if method == "POST" and (rid := record.header("PayPal-Request-Id")) is not None:
                replay = self.idempotent.get(rid)
                if replay is not None:
                    seen_path, seen_body, status, answer = replay
                    if seen_path != path or seen_body != record.body:
                        raise Answer(
                            422,
                            error_body(
                                "UNPROCESSABLE_ENTITY",
                                "The requested action could not be performed.",
                                "PAYPAL_REQUEST_ID_PREVIOUSLY_USED",
                            ),
                        )
                    if status == 204:
                        return Response(b"", 204)
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
            raise Answer(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        if record.body != b"grant_type=client_credentials":
            raise Answer(400, {"error": "unsupported_grant_type", "error_description": "bad"})
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
            raise Answer(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "Token signature verification failed",
                },
            )

    # -- resources -----------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, record: Recorded) -> Reply:
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
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
            *self._billing_routes(),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(record, *match.groups())
        raise Answer(404, error_body("RESOURCE_NOT_FOUND", f"No route for {method} {path}"))

    def _billing_routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        subscription = r"/v1/billing/subscriptions/([\w-]+)"
        return [
            ("POST", r"/v1/catalogs/products", self._create_product),
            ("GET", r"/v1/catalogs/products/([\w.-]+)", self._get_product),
            ("POST", r"/v1/billing/plans", self._create_plan),
            ("GET", r"/v1/billing/plans", self._list_plans),
            ("GET", r"/v1/billing/plans/([\w-]+)", self._get_plan),
            ("POST", r"/v1/billing/subscriptions", self._create_subscription),
            ("GET", subscription, self._get_subscription),
            ("POST", subscription + "/cancel", self._cancel_subscription),
            ("POST", subscription + "/suspend", self._suspend_subscription),
            ("POST", subscription + "/activate", self._activate_subscription),
            ("POST", subscription + "/revise", self._revise_subscription),
            ("GET", r"/v1/payments/sale/(\w+)", self._get_sale),
            ("POST", r"/v1/payments/sale/(\w+)/refund", self._refund_sale),
            ("GET", r"/v1/payments/refund/(\w+)", self._get_sale_refund),
            ("GET", r"/v1/customer/disputes/([\w-]+)", self._get_dispute),
        ]

    def _verify_webhook(self, record: Recorded) -> Reply:
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
            raise Answer(
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
            message = transmission_message(
                body["transmission_id"], body["transmission_time"], body["webhook_id"], raw
            )
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
