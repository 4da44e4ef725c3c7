"""A small PayPal REST client on one ``requests.Session``.

Retry rule: urllib3's :class:`~urllib3.util.Retry` retries connection errors, read
timeouts, ``429`` and ``5xx`` for ``GET`` **and** ``POST``. That is safe because every
``POST`` this client sends is either free of side effects (the OAuth token, remote
webhook verification) or carries a ``PayPal-Request-Id``, which PayPal uses to return the
first request's result instead of acting twice; :meth:`PayPalClient.call` refuses a
money-moving ``POST`` without one. The header is set once per call, so every retry of it
carries the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, final

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from vbwd_plugins import PaymentErrorCode
from vbwd_plugins.telemetry import ProviderCall, provider_call

from ._config import PayPalConfig
from ._errors import PayPalAPIError, PayPalError, PayPalTransportError
from ._mapping import error_code_for
from ._token import AccessToken, TokenCache

__all__ = ["PayPalClient", "PayPalRetry", "mount_adapters", "url_template"]

logger = logging.getLogger(__name__)

#: POST endpoints that change nothing at PayPal, so they need no ``PayPal-Request-Id``.
_SIDE_EFFECT_FREE_POSTS: Final = frozenset({"/v1/notifications/verify-webhook-signature"})
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: Path segments followed by a resource id (replaced in span names and metric labels).
_COLLECTIONS: Final = frozenset({"orders", "authorizations", "captures", "refunds", "certs"})
#: PayPal's id of a request, for its support.
DEBUG_ID: Final = "PayPal-Debug-Id"


class PayPalRetry(Retry):
    """urllib3 ``Retry`` that also caps a server's ``Retry-After`` at ``backoff_max``."""

    def parse_retry_after(self, retry_after: str) -> float:
        """The server's wait, never longer than ``backoff_max`` seconds."""
        return min(super().parse_retry_after(retry_after), float(self.backoff_max))


def _retry(config: PayPalConfig) -> PayPalRetry:
    retries = config.max_retries
    return PayPalRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "POST"}),
        status_forcelist=_RETRY_STATUSES,
        backoff_factor=config.retry_backoff,
        backoff_max=config.retry_backoff_max,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def mount_adapters(session: requests.Session, config: PayPalConfig) -> tuple[str, ...]:
    """Mount a retrying adapter for the API and one without retries for the certificate
    paths; return the prefixes mounted.

    Certificate downloads happen inside unauthenticated webhook requests and must never be
    retried there (see ``_certs``). An adapter the host mounted itself at exactly a
    certificate prefix (a test's loopback adapter) is left in place.
    """
    prefixes = [f"{config.base_url}/"]
    session.mount(prefixes[0], HTTPAdapter(max_retries=_retry(config)))
    no_retry = HTTPAdapter(max_retries=Retry(total=0, read=False, redirect=False))
    for host in sorted(config.cert_hosts):
        prefix = f"https://{host}/v1/notifications/certs/"
        if prefix not in session.adapters:
            session.mount(prefix, no_retry)
            prefixes.append(prefix)
    return tuple(prefixes)


@final
class PayPalClient:
    """Authenticated JSON calls against PayPal's REST API.

    Every call has a (connect, read) timeout; a ``401`` invalidates the token used and
    the call is repeated once with a fresh token.
    """

    def __init__(
        self,
        config: PayPalConfig,
        session: requests.Session,
        *,
        clock: Callable[[], float],
    ) -> None:
        self._config: Final = config
        self._session: Final = session
        self._base: Final = config.base_url
        self._timeout: Final = (config.connect_timeout, config.timeout)
        self._tokens: Final = TokenCache(self._fetch_token, clock=clock)

    @property
    def tokens(self) -> TokenCache:
        """The access-token cache."""
        return self._tokens

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the JSON answer (``{}`` for an empty body).

        Raises :class:`PayPalAPIError` for an error answer and
        :class:`PayPalTransportError` when no answer came.
        """
        if (
            method == "POST"
            and request_id is None
            and path.split("?", 1)[0] not in _SIDE_EFFECT_FREE_POSTS
        ):
            raise ValueError(f"POST {path} moves money and needs a PayPal-Request-Id")
        with provider_call("paypal", method, url_template(path)) as span:
            try:
                token = self._tokens.get()
                response = self._send(method, path, token, body, request_id)
                if response.status_code == 401:
                    logger.info("PayPal answered 401 to %s %s; refreshing the token", method, path)
                    self._tokens.invalidate(token)
                    response = self._send(method, path, self._tokens.get(), body, request_id)
                data = _json_or_raise(response, f"{method} {path}")
            except PayPalError as exc:
                _failed(span, exc)
                raise
            span.answered(response.status_code, request_id=response.headers.get(DEBUG_ID))
            return data

    # -- internals ----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        body: Mapping[str, Any] | None,
        request_id: str | None,
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Prefer": "return=representation",
        }
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        try:
            return self._session.request(
                method,
                f"{self._base}{path}",
                json=None if body is None else dict(body),
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _transport_error(exc, f"{method} {path}") from exc

    def _fetch_token(self) -> AccessToken:
        path = "/v1/oauth2/token"
        with provider_call("paypal", "POST", path) as span:
            try:
                response = self._session.post(
                    f"{self._base}{path}",
                    data={"grant_type": "client_credentials"},
                    auth=(self._config.client_id, self._config.client_secret.get_secret_value()),
                    headers={"Accept": "application/json"},
                    timeout=self._timeout,
                    allow_redirects=False,
                )
                data = _json_or_raise(response, f"POST {path}")
            except requests.RequestException as exc:
                error = _transport_error(exc, f"POST {path}")
                _failed(span, error)
                raise error from exc
            except PayPalError as exc:
                _failed(span, exc)
                raise
            span.answered(response.status_code, request_id=response.headers.get(DEBUG_ID))
        value = data.get("access_token")
        expires_in = data.get("expires_in")
        if not isinstance(value, str) or not value:
            raise PayPalAPIError(
                "PayPal's token answer has no access_token",
                error_code=PaymentErrorCode.PROVIDER_ERROR,
                status_code=response.status_code,
            )
        seconds = (
            float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else 0.0
        )
        logger.debug("obtained a PayPal access token valid for %.0f s", seconds)
        return AccessToken(value, max(seconds, 0.0))


def url_template(path: str) -> str:
    """``path`` without its query and with resource ids replaced: a span name, a label."""
    parts = path.split("?", 1)[0].split("/")
    return "/".join(
        "{id}" if index and parts[index - 1] in _COLLECTIONS else part
        for index, part in enumerate(parts)
    )


def _failed(span: ProviderCall, exc: PayPalError) -> None:
    """Record a failed call: the standard error code (a transport failure: its kind)."""
    if isinstance(exc, PayPalTransportError):
        span.failed("timeout" if exc.timed_out else "unreachable")
    elif isinstance(exc, PayPalAPIError):
        span.failed(exc.error_code.value, status_code=exc.status_code, request_id=exc.debug_id)
    else:
        span.failed(exc.error_code.value)


def _json_or_raise(response: requests.Response, what: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or :class:`PayPalAPIError` built from the error body."""
    try:
        data: object = response.json() if response.content else {}
    except ValueError:
        data = None
    if 200 <= response.status_code < 300:
        if not isinstance(data, dict):
            raise PayPalAPIError(
                f"{what}: PayPal answered HTTP {response.status_code} without a JSON object",
                error_code=PaymentErrorCode.PROVIDER_ERROR,
                status_code=response.status_code,
            )
        return data
    body = data if isinstance(data, dict) else {}
    name = body.get("name", body.get("error"))
    message = body.get("message", body.get("error_description"))
    debug_id = body.get("debug_id") or response.headers.get("PayPal-Debug-Id")
    details = body.get("details")
    issues = [
        str(detail["issue"])
        for detail in (details if isinstance(details, list) else [])
        if isinstance(detail, dict) and detail.get("issue")
    ]
    name_text = name if isinstance(name, str) else None
    text = f"{what}: PayPal answered HTTP {response.status_code}"
    if name_text:
        text += f" {name_text}"
    if isinstance(message, str) and message:
        text += f": {message}"
    if issues:
        text += f" ({', '.join(issues)})"
    if isinstance(debug_id, str) and debug_id:
        text += f" [debug_id {debug_id}]"
    raise PayPalAPIError(
        text,
        error_code=error_code_for(response.status_code, name_text, issues),
        status_code=response.status_code,
        name=name_text,
        debug_id=debug_id if isinstance(debug_id, str) else None,
        issues=issues,
    )


def _transport_error(exc: requests.RequestException, what: str) -> PayPalTransportError:
    """Classify a failed request: sent but unanswered (timeout) or never delivered."""
    reason: object = exc
    if exc.args and hasattr(exc.args[0], "reason"):  # MaxRetryError wraps the last cause
        reason = exc.args[0].reason
    timed_out = isinstance(exc, requests.ReadTimeout) or (
        isinstance(reason, ReadTimeoutError)
        and not isinstance(reason, ConnectTimeoutError | NewConnectionError)
    )
    if timed_out:
        message = f"{what}: no answer from PayPal in time; the outcome is unknown"
    else:
        message = f"{what}: PayPal could not be reached ({type(reason).__name__})"
    return PayPalTransportError(message, timed_out=timed_out)
