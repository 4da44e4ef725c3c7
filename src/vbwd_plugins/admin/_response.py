"""The answer of an admin operation, as the web adapters and the CLI receive it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AdminResponse"]


@dataclass(frozen=True, slots=True)
class AdminResponse:
    """An HTTP answer of the admin API: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
