"""Which PayPal resource a transaction id names: an order, capture, authorization or refund
(Orders/Payments v2), or a subscription's sale or a sale's refund (Payments v1).

The contract hands every operation one ``transaction_id``; PayPal has a different endpoint
per kind of resource. :class:`ResourceFinder` tries the kinds an operation accepts,
starting with the kind it last saw that id as (results remember the ids they name), so a
known id costs one request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Final, final

from vbwd_plugins import PaymentErrorCode, PaymentResult

from ._errors import PayPalAPIError
from ._results import ID_KEYS, payments_of, related_order

__all__ = ["ResourceFinder"]

#: How many ids' kinds are remembered (least recently used forgotten first).
MAX_REMEMBERED: Final = 4096
_KIND_PATHS: Final = {
    "capture": "/v2/payments/captures/",
    "order": "/v2/checkout/orders/",
    "authorization": "/v2/payments/authorizations/",
    "refund": "/v2/payments/refunds/",
    "sale": "/v1/payments/sale/",
    "sale_refund": "/v1/payments/refund/",
}


@final
class ResourceFinder:
    """Looks resources up through ``get(path)`` (a GET on the REST client); thread-safe."""

    def __init__(self, get: Callable[[str], dict[str, Any]]) -> None:
        self._get_path: Final = get
        self._kinds: OrderedDict[str, str] = OrderedDict()
        self._lock: Final = threading.Lock()

    def get(self, kind: str, resource_id: str) -> dict[str, Any]:
        """The resource of ``kind`` with ``resource_id``."""
        return self._get_path(f"{_KIND_PATHS[kind]}{resource_id}")

    def remember(self, transaction_id: str, kind: str) -> None:
        """Note that ``transaction_id`` names a resource of ``kind``."""
        with self._lock:
            self._kinds[transaction_id] = kind
            self._kinds.move_to_end(transaction_id)
            while len(self._kinds) > MAX_REMEMBERED:
                self._kinds.popitem(last=False)

    def remember_result(self, result: PaymentResult) -> None:
        """Remember every id a result's metadata names."""
        for key, kind in ID_KEYS.items():
            if isinstance(result.metadata.get(key), str):
                self.remember(result.metadata[key], kind)

    def forget(self) -> None:
        """Forget every remembered kind (the configuration, so the account, changed)."""
        with self._lock:
            self._kinds.clear()

    def find(self, transaction_id: str, kinds: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """The resource ``transaction_id`` names, trying ``kinds`` (remembered kind first)."""
        with self._lock:
            hint = self._kinds.get(transaction_id)
        order = [hint, *kinds] if hint in kinds else list(kinds)
        last: PayPalAPIError | None = None
        for kind in dict.fromkeys(order):
            if kind is None:
                continue
            try:
                resource = self.get(kind, transaction_id)
            except PayPalAPIError as exc:
                if exc.error_code is not PaymentErrorCode.NOT_FOUND:
                    raise
                last = exc
                continue
            self.remember(transaction_id, kind)
            return kind, resource
        raise last or PayPalAPIError(
            f"{transaction_id!r} is not a PayPal {' or '.join(kinds)}",
            error_code=PaymentErrorCode.NOT_FOUND,
            status_code=404,
        )

    def refundable(self, transaction_id: str) -> tuple[str, dict[str, Any], str | None]:
        """What a refund of ``transaction_id`` refunds: ``("capture", capture, order id)``
        for a capture or order id, ``("sale", sale, None)`` for a subscription's sale id."""
        kind, resource = self.find(transaction_id, ("capture", "order", "sale"))
        if kind == "sale":
            return kind, resource, None
        capture, order_id = self._capture_in(kind, resource, transaction_id)
        return "capture", capture, order_id

    def capture_of(self, transaction_id: str) -> tuple[dict[str, Any], str | None]:
        """The capture a capture id or an order id names, and the order id if known."""
        kind, resource = self.find(transaction_id, ("capture", "order"))
        return self._capture_in(kind, resource, transaction_id)

    @staticmethod
    def _capture_in(
        kind: str, resource: dict[str, Any], transaction_id: str
    ) -> tuple[dict[str, Any], str | None]:
        if kind == "capture":
            return resource, related_order(resource)
        captures = payments_of(resource, "captures")
        if not captures:
            raise PayPalAPIError(
                f"PayPal order {transaction_id} has no capture to refund "
                f"(order status {resource.get('status')})",
                error_code=PaymentErrorCode.INVALID_REQUEST,
                status_code=422,
            )
        return dict(captures[-1]), transaction_id

    def authorization_of(self, transaction_id: str) -> tuple[dict[str, Any], str | None]:
        """The authorization an authorization id or an order id names."""
        kind, resource = self.find(transaction_id, ("authorization", "order"))
        if kind == "authorization":
            return resource, related_order(resource)
        authorizations = payments_of(resource, "authorizations")
        if not authorizations:
            raise PayPalAPIError(
                f"PayPal order {transaction_id} is not authorized "
                f"(status {resource.get('status')}, intent {resource.get('intent')}): "
                "call process_payment on a manual-capture order first",
                error_code=PaymentErrorCode.INVALID_REQUEST,
                status_code=422,
            )
        return dict(authorizations[-1]), transaction_id
