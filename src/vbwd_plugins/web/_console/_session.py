"""The console's session cookie and CSRF tokens: HMAC-signed, checked in constant time.

A browser cannot send the admin API's bearer token by itself, so the console keeps a
small signed cookie (HttpOnly, SameSite=Strict, scoped to the console's path)::

    base64url(json {"sid", "auth", "exp", "flash"}) "." base64url(HMAC-SHA256(key, payload))

``sid`` is a random session id that every form's CSRF token is bound to (a synchronizer
token: ``HMAC(key, "csrf" + sid)``); ``auth`` says the token login succeeded (until
``exp``). When the host's own ``authorize`` accepts the browser (its session cookies), the
cookie only anchors the CSRF tokens. No library is needed for this, and none fits both
Flask and ASGI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Final

__all__ = ["COOKIE_NAME", "SESSION_SECONDS", "Session", "SessionSigner"]

#: Name of the console's cookie.
COOKIE_NAME: Final = "vbwd_console"
#: How long a token login lasts (8 hours: one working day).
SESSION_SECONDS: Final = 8 * 3600
#: Longest cookie value accepted (a valid one is about 200 bytes).
_MAX_COOKIE: Final = 2048


@dataclass(frozen=True, slots=True)
class Session:
    """What the console remembers about one browser."""

    sid: str
    #: The token login succeeded; valid until ``expires`` (Unix time).
    auth: bool = False
    expires: int = 0
    #: A one-shot message for the next page (after a redirect).
    flash: str | None = None

    @classmethod
    def new(cls, *, auth: bool = False, now: float | None = None) -> Session:
        """A fresh session with a new random id (a login always gets a new one)."""
        now = time.time() if now is None else now
        return cls(secrets.token_urlsafe(18), auth, int(now) + SESSION_SECONDS if auth else 0)

    def logged_in(self, now: float | None = None) -> bool:
        """Whether the token login holds (and has not expired)."""
        return self.auth and (time.time() if now is None else now) < self.expires

    def with_flash(self, message: str | None) -> Session:
        """The same session carrying ``message`` to the next page."""
        return replace(self, flash=message)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and checks session cookies and CSRF tokens with one key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the console's signing key needs at least 16 bytes")
        self._key = hashlib.sha256(b"vbwd-plugins console v1\0" + key).digest()

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\0" + data, hashlib.sha256).digest()

    def dump(self, session: Session) -> str:
        """The cookie value for ``session``."""
        fields = {"sid": session.sid, "auth": session.auth, "exp": session.expires}
        if session.flash:
            fields["flash"] = session.flash
        payload = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(b'session', payload))}"

    def load(self, value: str | None) -> Session | None:
        """The session in a cookie value, or ``None`` if it is missing, altered or malformed."""
        if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
            return None
        encoded, signature = value.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(signature)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(b"session", payload)):
            return None
        try:
            data = json.loads(payload)
            sid, auth, expires = data["sid"], data["auth"], data["exp"]
            flash = data.get("flash")
        except (ValueError, KeyError, TypeError):
            return None
        if not (isinstance(sid, str) and isinstance(auth, bool) and isinstance(expires, int)):
            return None
        return Session(sid, auth, expires, flash if isinstance(flash, str) else None)

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return _b64(self._mac(b"csrf", session.sid.encode()))

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant time)."""
        if session is None or not token:
            return False
        return hmac.compare_digest(
            token.encode("utf-8", "replace"), self.csrf_token(session).encode()
        )
