"""The console: authentication, CSRF, routing and the flash message; views live beside it.

Who may use it is decided as for the admin API: the host's ``authorize(request)``. A
browser the host already accepts (its own session cookies) goes straight in. Otherwise,
when ``authorize`` is a :func:`~vbwd_plugins.web.bearer_token` check (``serve`` uses one),
the login page exchanges that token for a signed session cookie. Without ``authorize``
the console is closed, like the API. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from vbwd_plugins.web._console._delivery_views import DeliveryViews
from vbwd_plugins.web._console._http import (
    ConsoleRequest,
    ConsoleResponse,
    html,
    redirect,
    static_file,
)
from vbwd_plugins.web._console._plugin_views import PluginViews
from vbwd_plugins.web._console._session import (
    COOKIE_NAME,
    SESSION_SECONDS,
    Session,
    SessionSigner,
)
from vbwd_plugins.web._console._view import Route, View

if TYPE_CHECKING:
    from vbwd_plugins.admin._deliveries import DeliveryAdmin
    from vbwd_plugins.admin._response import AdminResponse
    from vbwd_plugins.admin._service import PluginAdmin

__all__ = ["Console", "create_console"]

logger = logging.getLogger("vbwd_plugins.web")


class Console:
    """The admin web page over one :class:`PluginAdmin` and :class:`DeliveryAdmin`."""

    def __init__(
        self,
        admin: PluginAdmin,
        deliveries: DeliveryAdmin,
        processor: object | None,
        *,
        signer: SessionSigner,
        login: Callable[[str], bool] | None,
    ) -> None:
        self._signer = signer
        self._login = login
        plugins = PluginViews(admin)
        operations = DeliveryViews(deliveries, processor, admin.manager)
        self._get: dict[str, Route] = {
            "": plugins.index,
            "plugins": plugins.detail,
            "deliveries": operations.deliveries,
            "webhooks": operations.webhooks,
        }
        self._post: dict[str, Route] = {
            "plugins": plugins.change,
            "deliveries": operations.retry,
            "webhooks": operations.replay,
        }

    def handle(self, request: ConsoleRequest, refused: AdminResponse | None) -> ConsoleResponse:
        """Answer ``request``; ``refused`` is what the host's check said (``None``: allowed)."""
        parts = [part for part in request.path.split("/") if part]
        if len(parts) == 2 and parts[0] == "static" and request.method in ("GET", "HEAD"):
            return static_file(parts[1])
        if refused is not None and refused.status != 401:
            return _closed(request, refused)
        session = self._signer.load(request.cookie)
        fresh = session is None
        if session is None:
            session = Session.new()
        if parts == ["login"] or parts == ["logout"]:
            response, session = self._sign_in(request, session, parts[0], host_ok=refused is None)
        elif refused is not None and not session.logged_in():
            if request.method == "GET":
                response = redirect(f"{request.base}/login")
            else:
                response = _plain(401, request, "Sign in first: your session has expired.")
        elif request.method == "POST" and not self._csrf_ok(request, session):
            response = _plain(403, request, _CSRF_REFUSED)
        else:
            response, session = self._route(request, parts, session)
        stored = self._signer.load(request.cookie)
        if fresh or response.set_cookie is not None or session != stored:
            response.set_cookie = self._cookie(request, session)
        return response

    def _csrf_ok(self, request: ConsoleRequest, session: Session) -> bool:
        if request.fetch_site == "cross-site":
            return False
        token = request.form.get("csrf_token", [""])[-1]
        return self._signer.csrf_ok(session, token)

    def _route(
        self, request: ConsoleRequest, parts: list[str], session: Session
    ) -> tuple[ConsoleResponse, Session]:
        flash = session.flash if request.method == "GET" else None
        view = View(request, session.with_flash(None), self._signer.csrf_token(session), flash)
        head = parts[0] if parts else ""
        routes = self._get if request.method == "GET" else self._post
        handler = routes.get(head) if request.method in ("GET", "POST") else None
        if handler is None:
            return _plain(
                404 if request.method in ("GET", "POST") else 405, request, "Not found"
            ), (session)
        try:
            response = handler(view, parts[1:])
        except Exception:
            logger.exception("Plugin console: %s %s failed", request.method, request.path)
            response = view.page(500, "error.html", title="Internal error", message=_INTERNAL)
        return response, view.session

    def _sign_in(
        self, request: ConsoleRequest, session: Session, action: str, *, host_ok: bool
    ) -> tuple[ConsoleResponse, Session]:
        """The login form (GET), the token exchange (POST login) and logout."""
        view = View(request, session, self._signer.csrf_token(session), None)
        if request.method == "GET" and action == "login":
            if host_ok or session.logged_in():
                return redirect(view.url()), session
            page = view.page(200, "login.html", available=self._login is not None, error=None)
            return page, session
        if request.method != "POST":
            return _plain(405, request, "Use the form"), session
        if not self._csrf_ok(request, session):
            return _plain(403, request, _CSRF_REFUSED), session
        if action == "logout":
            return redirect(view.url("login")), Session.new()
        token = request.form.get("token", [""])[-1].strip()
        if self._login is None or not token or not self._token_ok(token):
            error = "This token is not accepted." if self._login is not None else None
            page = view.page(401, "login.html", available=self._login is not None, error=error)
            return page, session
        logger.info("Plugin console: signed in with the admin token")
        # A new session id: one planted in the browser before the login is worth nothing.
        return redirect(view.url()), Session.new(auth=True)

    def _token_ok(self, token: str) -> bool:
        assert self._login is not None
        try:
            return self._login(token) is True
        except Exception:
            logger.exception("Plugin console: the token check raised; sign-in refused")
            return False

    def _cookie(self, request: ConsoleRequest, session: Session) -> str:
        attributes = [
            f"{COOKIE_NAME}={self._signer.dump(session)}",
            f"Path={request.base or '/'}",
            f"Max-Age={SESSION_SECONDS}",
            "HttpOnly",
            "SameSite=Strict",
        ]
        if request.secure:
            attributes.append("Secure")
        return "; ".join(attributes)


_CSRF_REFUSED = (
    "This form is out of date or did not come from this console (its CSRF token does not "
    "match your session). Reload the page and try again."
)
_INTERNAL = "The request failed; the server log has the details."


def _plain(status: int, request: ConsoleRequest, message: str) -> ConsoleResponse:
    """A minimal page for refusals (no navigation, nothing from the admin services)."""
    context = {"base": request.base, "status": status, "message": message, "flash": None}
    return html(status, "refused.html", context)


def _closed(request: ConsoleRequest, refused: AdminResponse) -> ConsoleResponse:
    message: Mapping[int, str] = {
        403: "The plugin console is disabled: the host configured no authorization check "
        "(pass authorize=... when mounting it; for serve, set VBWD_ADMIN_TOKEN).",
    }
    text = message.get(refused.status, "The authorization check failed; the request was refused.")
    return _plain(refused.status, request, text)


def create_console(
    admin: PluginAdmin,
    deliveries: DeliveryAdmin,
    processor: object | None,
    *,
    authorize: object | None,
    secret: str | bytes | None = None,
) -> Console:
    """The console for an adapter: token login and signing key chosen from ``authorize``.

    The cookie-signing key is ``secret`` when given (hosts with several processes and their
    own ``authorize`` pass one), else derived from a :func:`~vbwd_plugins.web.bearer_token`
    check, else random for this process (sessions then end when it restarts).
    """
    import secrets as random

    from vbwd_plugins.web._common import BearerToken

    if secret is not None:
        key = secret.encode() if isinstance(secret, str) else secret
    elif isinstance(authorize, BearerToken):
        key = authorize.derive_key(b"console session")
    else:
        key = random.token_bytes(32)
    login = authorize.accepts if isinstance(authorize, BearerToken) else None
    return Console(admin, deliveries, processor, signer=SessionSigner(key), login=login)
