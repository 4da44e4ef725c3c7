"""What the web adapters share: the JSON response, the webhook seam, authorization, limits.

Everything here is framework-neutral; ``flask.py`` and ``asgi.py`` only translate requests
and responses.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from vbwd_plugins.admin._response import AdminResponse

if TYPE_CHECKING:
    from vbwd_plugins.admin._deliveries import DeliveryAdmin
    from vbwd_plugins.admin._service import PluginAdmin
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = [
    "DEFAULT_MAX_BODY",
    "ADMIN_METHODS",
    "DELIVERIES_METHODS",
    "AdminHandle",
    "AdminResponse",
    "BearerToken",
    "HasHeaders",
    "ResponseLike",
    "WebhookHandler",
    "admin_api",
    "admin_disabled",
    "authorization_failed",
    "bearer_token",
    "default_processor",
    "deliveries_api",
    "payload_too_large",
    "refusal",
    "unauthorized",
]

logger = logging.getLogger("vbwd_plugins.web")

#: Largest request body the adapters read (1 MiB): provider webhooks are a few KB.
DEFAULT_MAX_BODY: Final = 1024 * 1024


class ResponseLike(Protocol):
    """Anything with an HTTP ``status`` and a JSON-able ``body`` (``WebhookResponse`` is)."""

    @property
    def status(self) -> int: ...

    @property
    def body(self) -> Mapping[str, Any]: ...


class WebhookHandler(Protocol):
    """The webhook pipeline as the adapters see it (:class:`vbwd_plugins.WebhookProcessor`)."""

    def process(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        remote_addr: str | None = None,
    ) -> ResponseLike: ...


class HasHeaders(Protocol):
    """A request object with case-insensitive ``headers`` (Flask's and Starlette's both are)."""

    @property
    def headers(self) -> Any: ...


def _error(status: int, code: str, message: str, **extra: Any) -> AdminResponse:
    return AdminResponse(status, {"error": code, "message": message, **extra})


def admin_disabled() -> AdminResponse:
    """403: the host configured no authorization check, so the admin API stays closed."""
    return _error(
        403,
        "admin_disabled",
        "The plugin admin API is disabled: the host configured no authorization check "
        "(pass authorize=... when mounting it)",
    )


def unauthorized() -> AdminResponse:
    """401: the host's authorization check refused the request."""
    return AdminResponse(
        401,
        {"error": "unauthorized", "message": "Not authorized to use the plugin admin API"},
        {"WWW-Authenticate": "Bearer"},
    )


def authorization_failed() -> AdminResponse:
    """500: the host's authorization check raised (logged; the request is refused)."""
    return _error(
        500, "authorization_failed", "The authorization check failed; the request was refused"
    )


def payload_too_large(limit: int) -> AdminResponse:
    """413: the body is larger than the adapter accepts."""
    return _error(413, "payload_too_large", f"Request body larger than {limit} bytes")


def refusal(authorize: Callable[[Any], bool] | None, request: object) -> AdminResponse | None:
    """Run the host's check: ``None`` when the request may proceed, else the refusal.

    No check configured -> 403; the check returns false -> 401; it raises -> 500 (fail
    closed, logged with the traceback).
    """
    if authorize is None:
        return admin_disabled()
    try:
        allowed = authorize(request)
    except Exception:
        logger.exception("Plugin admin API: the authorization check raised; request refused")
        return authorization_failed()
    return None if allowed is True else unauthorized()


def default_processor(manager: PluginManager) -> WebhookHandler:
    """The webhook pipeline the adapters use when the host passes none."""
    from vbwd_plugins.webhooks._processor import WebhookProcessor

    return WebhookProcessor(manager)


class BearerToken:
    """An ``authorize`` check accepting ``Authorization: Bearer <token>`` (constant time).

    The console's login form exchanges the same token for a session cookie
    (:meth:`accepts`), signed with a key derived from it (:meth:`derive_key`), so every
    process that knows the token accepts the cookie and changing the token ends sessions.
    """

    __slots__ = ("_expected", "_token")

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("bearer_token() needs a non-empty token")
        self._token = token.encode()
        self._expected = b"Bearer " + self._token

    def __call__(self, request: HasHeaders) -> bool:
        given = request.headers.get("Authorization") or ""
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._expected)

    def __repr__(self) -> str:
        return "bearer_token(...)"

    def accepts(self, token: str) -> bool:
        """Whether ``token`` (typed into a login form) is this token."""
        return hmac.compare_digest(token.encode("utf-8", "replace"), self._token)

    def derive_key(self, purpose: bytes) -> bytes:
        """A key for ``purpose`` derived from the token (the token itself never leaves)."""
        return hmac.new(self._token, b"vbwd-plugins key\0" + purpose, "sha256").digest()


def bearer_token(token: str) -> Callable[[HasHeaders], bool]:
    """An ``authorize`` check accepting ``Authorization: Bearer <token>`` (constant time).

    Works with Flask and Starlette requests alike. An empty ``token`` is refused here, so
    a missing environment variable can never open the admin API. The check is a
    ``BearerToken``, which the console's login form also uses.
    """
    return BearerToken(token)


# -- the admin APIs as the adapters call them -------------------------------------------------

#: One admin API request: method, path below the prefix, body, content type, query parameters.
AdminHandle = Callable[[str, str, bytes, "str | None", Mapping[str, str]], AdminResponse]
#: The methods each admin API answers.
ADMIN_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE"]
DELIVERIES_METHODS: Final = ["GET", "POST"]


def admin_api(admin: PluginAdmin) -> AdminHandle:
    """The plugin admin API behind one route shape (it takes no query parameters)."""
    return lambda method, path, body, content_type, _query: admin.handle(
        method, path, body, content_type=content_type
    )


def deliveries_api(admin: DeliveryAdmin) -> AdminHandle:
    """The deliveries admin API behind the same route shape."""
    return lambda method, path, body, content_type, query: admin.handle(
        method, path, body, content_type=content_type, query=query
    )
