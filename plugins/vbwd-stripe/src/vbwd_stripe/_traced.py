"""Stripe API calls inside a provider-call span: status, ``Request-Id`` and error code only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import stripe

from vbwd_plugins.telemetry import provider_call

from ._error_map import error_code_for

__all__ = ["traced"]

_T = TypeVar("_T")


def traced(method: str, template: str, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``call(*args, **kwargs)``, recorded as ``method template`` (ids never in the name)."""
    with provider_call("stripe", method, template) as span:
        try:
            found = call(*args, **kwargs)
        except stripe.StripeError as exc:
            status = exc.http_status if isinstance(exc.http_status, int) else None
            span.failed(error_code_for(exc).value, status_code=status, request_id=exc.request_id)
            raise
        response = getattr(found, "last_response", None)
        request_id = getattr(response, "request_id", None)
        span.answered(
            getattr(response, "code", None),
            request_id=request_id if isinstance(request_id, str) else None,
        )
        return found
