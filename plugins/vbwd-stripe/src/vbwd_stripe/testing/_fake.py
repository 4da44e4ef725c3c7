"""A stateful fake of Stripe's API on a pytest-httpserver: payments, refunds and billing.

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

Billing (customers, products, prices, Checkout Sessions, SetupIntents, subscriptions,
invoices, disputes) and its test controls come from :class:`BillingControls`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ._clock import BillingControls
from ._ledger import Answer
from ._webhooks import API_VERSION, DEFAULT_WEBHOOK_SECRET
from ._wire import Scripted, SeenRequest, Stored, error_body, missing, redact


class FakeStripe(BillingControls):
    """The fake API for one account; :meth:`install` routes every request of ``server`` to it.

    ``server`` is a started ``pytest_httpserver.HTTPServer`` on 127.0.0.1 (``threaded=True``
    so that a scripted slow answer blocks no other request); point the plugin's
    ``api_base`` at :attr:`url`. The billing controls sign deliveries with
    ``webhook_secret`` (give the plugin the same one).
    """

    def __init__(
        self,
        server: HTTPServer,
        api_key: str,
        *,
        livemode: bool = False,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
    ) -> None:
        super().__init__(api_key, livemode=livemode, webhook_secret=webhook_secret)
        self.server = server
        self.requests: list[SeenRequest] = []
        self._script: deque[Scripted] = deque()
        self._idempotency: dict[str, Stored] = {}
        self._lock = threading.RLock()
        self._release = threading.Event()

    # -- set-up ------------------------------------------------------------------------

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
        """A scripted Stripe error response (pass it to :meth:`script`)."""
        error: dict[str, Any] = {"type": error_type, "message": message}
        if code is not None:
            error["code"] = code
        return Scripted(status=status, error=error, headers=dict(headers or {}))

    def release(self) -> None:
        """Wake every handler that is sleeping through a scripted delay."""
        self._release.set()

    def requests_to(self, path_pattern: str, method: str = "POST") -> list[SeenRequest]:
        """Recorded requests whose path matches ``path_pattern`` (a regex)."""
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    # -- dispatch ----------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/c/pay/"):
            return self._checkout_page(request.path.rsplit("/", 1)[-1])
        params = _params(request)
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
                    "message": "Invalid API Key provided: " + redact(seen.api_key or ""),
                },
            )
        key = seen.idempotency_key if request.method == "POST" else None
        with self._lock:
            if key is not None and key in self._idempotency:
                return self._replay(key, params)
            status, body = self._route(request.method, request.path, params, key)
            response = self._json_response(status, body)
            if key is not None:
                kept = {
                    k: v
                    for k, v in response.headers.items()
                    if k.lower() not in {"content-type", "content-length"}
                }
                self._idempotency[key] = Stored(params, status, response.get_data(), kept)
            return response

    def _replay(self, key: str, params: dict[str, str]) -> Response:
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

    def _route(self, method: str, path: str, params: dict[str, str], key: str | None) -> Answer:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self._create_intent(params, key)
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None:
                return missing("payment_intent", parts[2])
            if method == "GET" and len(parts) == 3:
                return 200, self._expanded(intent, params)
            action = parts[3] if len(parts) == 4 else None
            if method == "POST" and action == "confirm":
                return self._confirm(intent, params.get("payment_method"))
            if method == "POST" and action == "capture":
                return self._capture(intent, params)
            if method == "POST" and action == "cancel":
                return self._cancel(intent, params)
        billing = self._route_billing(method, parts, params, key)
        billing = billing or self._route_subscriptions(method, parts, params)
        if billing is not None:
            return billing
        if method == "POST" and parts == ["v1", "refunds"]:
            return self._refund(params)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "refunds"]:
            refund = self.refunds.get(parts[2])
            return (200, refund) if refund is not None else missing("refund", parts[2])
        return 404, error_body(
            "invalid_request_error", f"Unrecognized request URL ({method}: {path}).", None
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

    def _checkout_page(self, session_id: str) -> Response:
        """The hosted page a Checkout Session's ``url`` opens (a placeholder)."""
        session = self.sessions.get(session_id)
        if session is None or session["status"] != "open":
            return Response("<h1>This Checkout Session is no longer available.</h1>", 404)
        html = f"<h1>Fake Stripe Checkout</h1><p>{session_id} ({session['mode']})</p>"
        return Response(html, 200, content_type="text/html")


def _params(request: Request) -> dict[str, str]:
    """Form and query parameters; a repeated ``a[]`` becomes ``a[0]``, ``a[1]``, ..."""
    params: dict[str, str] = {}
    for key in request.values:
        values = request.values.getlist(key)
        if key.endswith("[]"):
            params.update({f"{key[:-2]}[{n}]": value for n, value in enumerate(values)})
        else:
            params[key] = values[0]
    return params
