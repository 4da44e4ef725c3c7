"""The OAuth2 access token, cached and shared by every thread of one plugin instance.

PayPal issues client-credentials tokens valid for hours (``expires_in`` is typically
32,400 seconds). Fetching one per call would double every request, so the token is
cached until shortly before it expires. A ``401`` means the token was revoked early:
the caller :meth:`~TokenCache.invalidate`\\ s exactly the token it used, so when many
threads see the same ``401`` at once only one of them fetches a new token and the
others pick it up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, final

__all__ = ["AccessToken", "TokenCache"]

#: Refresh this long before expiry at most; short-lived tokens refresh after 90 % of their life.
_MAX_MARGIN: Final = 300.0


@final
@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and how many seconds it was issued for."""

    value: str
    expires_in: float


@final
class TokenCache:
    """Thread-safe cache of one access token.

    ``fetch`` obtains a new token (one HTTP call); ``clock`` is a monotonic clock in
    seconds, injectable so tests can move time forward instead of sleeping.
    """

    __slots__ = ("_clock", "_fetch", "_lock", "_refresh_at", "_token")

    def __init__(
        self,
        fetch: Callable[[], AccessToken],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch: Final = fetch
        self._clock: Final = clock
        self._lock: Final = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def get(self) -> str:
        """The cached token, fetching a new one (once, for all threads) when it is stale."""
        with self._lock:
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            issued_at = self._clock()
            token = self._fetch()
            margin = min(_MAX_MARGIN, token.expires_in * 0.1)
            self._token = token.value
            self._refresh_at = issued_at + token.expires_in - margin
            return token.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after a ``401``, unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def clear(self) -> None:
        """Forget the cached token."""
        with self._lock:
            self._token = None
