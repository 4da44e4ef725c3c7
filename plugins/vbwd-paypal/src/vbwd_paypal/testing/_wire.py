"""What travels between the plugin and the fake: ids, PayPal error bodies, recorded requests
and scripted answers."""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    #: The raw query string (``"product_id=PROD-1&page=2"``), empty when there is none.
    query: str = ""

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

    ``status=None`` only delays (then the request is handled normally). ``hold`` keeps each
    matching request unanswered until the event is set (a client's read timeout without a
    race against a fixed delay; set it when the test ends). With
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
    hold: threading.Event | None = None
    bound: str | None = None
    used: int = 0


class Answer(Exception):
    """Raised by an endpoint to answer ``status`` with ``body`` (PayPal's error shapes)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def public(resource: Mapping[str, Any]) -> dict[str, Any]:
    """``resource`` without the fake's own bookkeeping (keys starting with ``_``)."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}
