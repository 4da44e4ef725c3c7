"""Stripe's webhook signature scheme, verified without the SDK.

``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``. Each ``v1`` is
HMAC-SHA256 over ``f"{t}."`` + the raw body, keyed with the whole ``whsec_...`` string.
Any ``v1`` matching any configured secret passes (Stripe signs with the old and new secret
while an endpoint secret rolls over, and we accept a previous secret while a host
rotates); ``v0`` (a test-mode scheme) is ignored.

Unlike the SDK, the timestamp must be within the tolerance in *both* directions: a
timestamp far in the future is as suspect as an old one, and accepting it would let a
captured future-dated delivery be replayed for longer than the tolerance.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable
from typing import Final, final

__all__ = ["SignatureVerifier"]

#: Longer headers are refused before any HMAC is computed (Stripe's are ~150 bytes).
MAX_HEADER_LENGTH: Final = 4096
#: At most this many ``v1`` entries are checked (Stripe sends one, two during a roll).
MAX_SIGNATURES: Final = 8

_hmac_digest = hmac.digest  # one-shot, in C (OpenSSL): no HMAC object per delivery
_compare = hmac.compare_digest


@final
class SignatureVerifier:
    """Checks ``Stripe-Signature`` headers against a set of endpoint secrets.

    ``clock`` returns the current Unix time; tests pass their own.
    """

    __slots__ = ("_clock", "_secrets", "tolerance")

    def __init__(
        self,
        secrets: Iterable[str],
        tolerance: int = 300,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys = tuple(secret.encode("utf-8") for secret in secrets if secret)
        if not keys:
            raise ValueError("at least one webhook secret is required")
        if tolerance <= 0:
            raise ValueError(f"tolerance must be positive seconds, got {tolerance!r}")
        self._secrets: Final = keys
        self._clock: Final = clock
        self.tolerance: Final = tolerance

    def check(self, payload: bytes | str, header: str | None) -> str | None:
        """Why the delivery is refused, or ``None`` when it verifies.

        The reason never contains a signature or secret; it is meant for a log line.
        """
        if not isinstance(header, str) or not header:
            return "no Stripe-Signature header"
        if len(header) > MAX_HEADER_LENGTH or not header.isascii():
            return "malformed Stripe-Signature header"
        timestamp = ""
        signatures: list[str] = []
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key == "v1":
                signatures.append(value)
            elif key == "t":
                timestamp = value
        if not timestamp.isdigit() or len(timestamp) > 12:
            return "no valid timestamp in Stripe-Signature header"
        if not signatures:
            return "no v1 signature in Stripe-Signature header"
        if len(signatures) > MAX_SIGNATURES:
            return "too many signatures in Stripe-Signature header"
        age = self._clock() - int(timestamp)
        if age > self.tolerance:
            return f"timestamp outside tolerance ({int(age)} s old, tolerance {self.tolerance} s)"
        if -age > self.tolerance:
            return (
                f"timestamp outside tolerance ({int(-age)} s in the future, "
                f"tolerance {self.tolerance} s)"
            )
        body = payload.encode("utf-8") if isinstance(payload, str) else payload
        signed = timestamp.encode("ascii") + b"." + body
        for secret in self._secrets:
            expected = _hmac_digest(secret, signed, "sha256").hex()
            for candidate in signatures:
                if _compare(expected, candidate):
                    return None
        return "no signature matched"

    def verify(self, payload: bytes | str, header: str) -> bool:
        """Whether the delivery verifies (see :meth:`check`)."""
        return self.check(payload, header) is None
