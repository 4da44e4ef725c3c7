"""Errors of the PayPal client; operations turn them into failed ``PaymentResult``\\ s.

They never escape a payment operation (the contract's guard and
:meth:`PayPalPlugin.result_from_exception` convert them), but they are public so that code
using :class:`~vbwd_paypal.PayPalClient` directly can catch them::

    PluginError
    └── PayPalError(RuntimeError)
        ├── PayPalAPIError              PayPal answered with an error body
        └── PayPalTransportError        no usable answer (ConnectionError too)
"""

from __future__ import annotations

from collections.abc import Sequence

from vbwd_plugins import (
    PaymentErrorCode,
    PluginError,
)

__all__ = ["PayPalAPIError", "PayPalError", "PayPalTransportError"]


class PayPalError(PluginError, RuntimeError):
    """Root of the PayPal client's errors; ``error_code`` is the standard code."""

    def __init__(self, message: str, *, error_code: PaymentErrorCode) -> None:
        super().__init__(message, plugin_name="paypal")
        self.error_code = error_code


class PayPalAPIError(PayPalError):
    """PayPal answered with an HTTP error and (usually) a JSON error body.

    ``name``, ``debug_id`` and ``issues`` (the ``details[].issue`` values) come from the
    body; ``debug_id`` is what PayPal support asks for.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: PaymentErrorCode,
        status_code: int,
        name: str | None = None,
        debug_id: str | None = None,
        issues: Sequence[str] = (),
    ) -> None:
        super().__init__(message, error_code=error_code)
        self.status_code = status_code
        self.name = name
        self.debug_id = debug_id
        self.issues = tuple(issues)


class PayPalTransportError(PayPalError, ConnectionError):
    """The request failed before PayPal answered (after the configured retries).

    ``timed_out`` is true when the request was sent but no answer came: its outcome is
    unknown, so the error code is ``TIMEOUT`` and the caller should reconcile with
    ``get_payment``.
    """

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(
            message,
            error_code=PaymentErrorCode.TIMEOUT
            if timed_out
            else PaymentErrorCode.PROVIDER_UNAVAILABLE,
        )
        self.timed_out = timed_out
