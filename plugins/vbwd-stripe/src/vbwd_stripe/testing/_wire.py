"""What travels between the SDK and the fake: recorded requests, scripted answers, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

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
class Stored:
    """A response saved under its idempotency key, replayed for the same parameters."""

    params: dict[str, str]
    status: int
    body: bytes
    headers: dict[str, str]


def nested(params: Mapping[str, str], name: str) -> dict[str, str]:
    """``metadata[a]=1&metadata[b]=2`` -> ``{"a": "1", "b": "2"}``."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: value
        for key, value in params.items()
        if key.startswith(prefix) and key.endswith("]")
    }


def error_body(
    error_type: str, message: str, param: str | None, *, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {...}}`` as Stripe writes it (with ``doc_url`` when there is a code)."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return {"error": error}


def missing(kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
    """Stripe's 404 for an unknown object id."""
    return 404, error_body(
        "invalid_request_error", f"No such {kind}: '{object_id}'", "id", code="resource_missing"
    )


def unexpected_state(intent: Mapping[str, Any], action: str) -> tuple[int, dict[str, Any]]:
    """Stripe's 400 for an action the PaymentIntent's status does not allow."""
    return 400, error_body(
        "invalid_request_error",
        f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}.",
        None,
        code="payment_intent_unexpected_state",
    )


def redact(key: str) -> str:
    """An API key as Stripe echoes it in errors: the ends kept, the middle starred."""
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "***"
