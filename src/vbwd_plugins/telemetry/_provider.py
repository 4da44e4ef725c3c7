"""One payment provider API call: a CLIENT span and the call metrics.

Provider distributions wrap each call to their provider::

    with provider_call("paypal", "POST", "/v2/checkout/orders/{id}/capture") as call:
        response = session.post(...)
        call.answered(response.status_code, request_id=response.headers.get("PayPal-Debug-Id"))

Only the method, the URL template, the status, the provider's request id and an error
code are recorded: never a secret, a header, an id from the path or a payload.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vbwd_plugins.telemetry._live import failed
from vbwd_plugins.telemetry._metrics import instruments
from vbwd_plugins.telemetry._state import tracer

if TYPE_CHECKING:
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.trace import Tracer

__all__ = ["ProviderCall", "provider_call"]


class ProviderCall:
    """A provider call as the provider code sees it; this base class records nothing."""

    __slots__ = ()

    def __enter__(self) -> ProviderCall:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def answered(self, status_code: int | None = None, *, request_id: str | None = None) -> None:
        """The provider answered; ``request_id`` is its id for the request (for support)."""

    def failed(
        self, code: str, *, status_code: int | None = None, request_id: str | None = None
    ) -> None:
        """The call failed with ``code`` (a short, bounded code such as ``card_declined``)."""


_NOOP = ProviderCall()


class _LiveCall(ProviderCall):
    __slots__ = ("_code", "_labels", "_manager", "_span", "_started")

    def __init__(self, active: Tracer, provider: str, method: str, template: str) -> None:
        from opentelemetry.trace import SpanKind

        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.template": template,
            "vbwd.provider": provider,
        }
        self._manager = active.start_as_current_span(
            f"{method} {template}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._labels = {"provider": provider, "operation": f"{method} {template}"}
        self._code: str | None = None
        self._started = 0.0
        self._span: OtelSpan | None = None

    def __enter__(self) -> ProviderCall:
        self._span = self._manager.__enter__()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        seconds = time.perf_counter() - self._started
        if exc is not None and self._code is None:
            self.failed(type(exc).__qualname__)
        found = instruments()
        if found is not None:
            outcome = "ok" if self._code is None else "error"
            found.provider_duration.record(seconds, {**self._labels, "outcome": outcome})
            if self._code is not None:
                found.provider_errors.add(1, {**self._labels, "code": self._code})
        self._manager.__exit__(kind, exc, traceback)

    def answered(self, status_code: int | None = None, *, request_id: str | None = None) -> None:
        span = self._span
        if span is None:
            return
        if status_code is not None:
            span.set_attribute("http.response.status_code", status_code)
        if request_id:
            span.set_attribute("vbwd.provider.request_id", request_id[:200])

    def failed(
        self, code: str, *, status_code: int | None = None, request_id: str | None = None
    ) -> None:
        self._code = code = str(code)[:60]
        self.answered(status_code, request_id=request_id)
        if self._span is not None:
            failed(self._span, code)


def provider_call(provider: str, method: str, template: str) -> ProviderCall:
    """A ``with`` block around one call to ``provider``'s API (see the module docstring).

    ``template`` is the URL path with ids replaced (``/v1/payment_intents/{id}``): it
    names the span and labels the metrics, so it must not hold an id.
    """
    active = tracer()
    return _NOOP if active is None else _LiveCall(active, provider, method, template)
