"""Customers, Products, Prices, Checkout Sessions, SetupIntents and PaymentMethods.

The account's billing catalogue and its hosted-checkout side, on top of :class:`Ledger`
(PaymentIntents, Charges, Refunds). Subscriptions and invoices are in
:mod:`._subscriptions`; the clock and the test controls in :mod:`._clock`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Final

import vbwd_stripe.testing._billing_wire as wire

from ._billing_wire import Obj, invalid, listing, tree
from ._ledger import Answer, Ledger
from ._wire import TEST_PAYMENT_METHODS, error_body, missing

_MODES: Final = frozenset({"payment", "subscription", "setup"})
_SESSION_LIFETIME: Final = 24 * 3600


class Billing(Ledger):
    """The billing objects of one fake account, and the endpoints that create them."""

    def __init__(self, api_key: str, *, livemode: bool = False) -> None:
        super().__init__(api_key, livemode=livemode)
        #: The account's "now" (epoch seconds); only :mod:`._clock` moves it.
        self.clock = int(time.time())
        self.customers: dict[str, Obj] = {}
        self.products: dict[str, Obj] = {}
        self.prices: dict[str, Obj] = {}
        self.sessions: dict[str, Obj] = {}
        self.setup_intents: dict[str, Obj] = {}
        self.payment_methods: dict[str, Obj] = {}
        self.subscriptions: dict[str, Obj] = {}
        self.invoices: dict[str, Obj] = {}
        self.invoice_payments: dict[str, Obj] = {}
        self.disputes: dict[str, Obj] = {}
        #: payment method id -> the test token it was made from (decides its charges).
        self._tokens: dict[str, str] = {}
        #: checkout session id -> what it will create when completed.
        self._session_lines: dict[str, Obj] = {}

    def _now(self) -> int:
        return self.clock

    @property
    def url(self) -> str:
        """Base address of the fake (the server supplies it)."""
        raise NotImplementedError

    # -- routing -----------------------------------------------------------------------

    def _route_billing(
        self, method: str, parts: list[str], params: dict[str, str], key: str | None
    ) -> Answer | None:
        if len(parts) < 2 or parts[0] != "v1":
            return None
        kind, rest = parts[1], parts[2:]
        if kind == "checkout" and rest[:1] == ["sessions"]:
            kind, rest = "checkout/sessions", rest[1:]
        create = {
            "customers": self._create_customer,
            "products": self._create_product,
            "prices": self._create_price,
            "checkout/sessions": self._create_session,
            "setup_intents": self._create_setup_intent,
        }.get(kind)
        if method == "POST" and not rest and create is not None:
            return create(params)
        store = {
            "customers": self.customers,
            "products": self.products,
            "prices": self.prices,
            "checkout/sessions": self.sessions,
            "setup_intents": self.setup_intents,
            "payment_methods": self.payment_methods,
            "invoices": self.invoices,
            "disputes": self.disputes,
        }.get(kind)
        if method == "GET" and kind == "prices" and not rest:
            return self._list_prices(params)
        if store is None or not rest:
            return None
        obj = store.get(rest[0])
        if obj is None:
            return missing(_KIND_NAMES.get(kind, kind), rest[0])
        if method == "GET" and len(rest) == 1:
            if kind == "invoices" and "payments" in _expand(params):
                return 200, {**obj, "payments": self._payments_of(obj["id"])}
            return 200, obj
        if method == "GET" and kind == "customers" and rest[1:] == ["payment_methods"]:
            methods = [pm for pm in self.payment_methods.values() if pm["customer"] == obj["id"]]
            return 200, listing(methods, f"/v1/customers/{obj['id']}/payment_methods")
        if method == "POST" and kind == "payment_methods" and rest[1:] == ["detach"]:
            return self._detach(obj)
        if method == "POST" and kind == "payment_methods" and rest[1:] == ["attach"]:
            return self._attach_existing(obj, params.get("customer", ""))
        return None

    # -- catalogue ---------------------------------------------------------------------

    def _create_customer(self, params: dict[str, str]) -> Answer:
        cus = wire.customer(self._new_id("cus"), params, self.clock, self.livemode)
        self.customers[cus["id"]] = cus
        self._event("customer.created", cus)
        return 200, cus

    def _create_product(self, params: dict[str, str]) -> Answer:
        name = params.get("name")
        if not name:
            return invalid("Missing required param: name.", "name", "parameter_missing")
        pid = params.get("id") or self._new_id("prod")
        if pid in self.products:
            return invalid("Product already exists.", "id", "resource_already_exists")
        prod = wire.product(pid, name, params, self.clock, self.livemode)
        self.products[pid] = prod
        self._event("product.created", prod)
        return 200, prod

    def _create_price(self, params: dict[str, str]) -> Answer:
        product_id = params.get("product")
        if product_id is None and params.get("product_data[name]"):
            made = self._create_product(_sub(params, "product_data"))
            if made[0] != 200:
                return made
            product_id = made[1]["id"]
        if product_id is None:
            return invalid("Missing required param: product.", "product", "parameter_missing")
        if product_id not in self.products:
            return missing("product", product_id)
        checked = _checked_amount(params.get("unit_amount"), params.get("currency", ""))
        if isinstance(checked, tuple):
            return checked
        recurring: dict[str, str] | None = tree(params, "recurring") or None
        if recurring is not None:
            if recurring.get("interval") not in wire.INTERVALS:
                return invalid(
                    f"Invalid recurring[interval]: must be one of {sorted(wire.INTERVALS)}",
                    "recurring[interval]",
                )
            count = recurring.get("interval_count", "1")
            if not count.isdigit() or not 1 <= int(count) <= 365:
                return invalid(
                    "Invalid recurring[interval_count]: must be a positive integer.",
                    "recurring[interval_count]",
                )
        lookup_key = params.get("lookup_key")
        holder = self._price_by_lookup_key(lookup_key) if lookup_key else None
        if holder is not None:
            if params.get("transfer_lookup_key") != "true":
                return invalid(
                    f"A price (`{holder['id']}`) already uses that lookup key.",
                    "lookup_key",
                )
            holder["lookup_key"] = None
        p = wire.price(
            self._new_id("price"),
            product_id,
            checked,
            params["currency"],
            recurring,
            params,
            self.clock,
            self.livemode,
        )
        self.prices[p["id"]] = p
        self._event("price.created", p)
        return 200, p

    def _price_by_lookup_key(self, lookup_key: str) -> Obj | None:
        return next((p for p in self.prices.values() if p["lookup_key"] == lookup_key), None)

    def _list_prices(self, params: dict[str, str]) -> Answer:
        keys = {v for k, v in params.items() if re.fullmatch(r"lookup_keys\[\d*\]", k)}
        found = [p for p in self.prices.values() if not keys or p["lookup_key"] in keys]
        if "active" in params:
            found = [p for p in found if p["active"] == (params["active"] == "true")]
        return 200, listing(sorted(found, key=lambda p: -p["created"]), "/v1/prices")

    # -- hosted checkout ---------------------------------------------------------------

    def _create_session(self, params: dict[str, str]) -> Answer:
        mode = params.get("mode")
        if mode not in _MODES:
            return invalid(f"Invalid mode: must be one of {sorted(_MODES)}", "mode")
        if not params.get("success_url"):
            return invalid("Missing required param: success_url.", "success_url")
        customer_id = params.get("customer")
        if customer_id is not None and customer_id not in self.customers:
            return missing("customer", customer_id)
        line: Obj = {}
        amount, currency = 0, params.get("currency")
        if mode != "setup":
            resolved = self._session_line(mode, params)
            if isinstance(resolved, tuple):
                return resolved
            line = resolved
            amount = line["price"]["unit_amount"] * line["quantity"]
            currency = line["price"]["currency"]
        cs_id = self._new_id("cs")
        session: Obj = {
            "id": cs_id,
            "object": "checkout.session",
            "amount_subtotal": amount if mode != "setup" else None,
            "amount_total": amount if mode != "setup" else None,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": self.clock,
            "currency": currency,
            "customer": customer_id,
            "customer_creation": None if customer_id else _CREATION[mode],
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": self.clock + _SESSION_LIFETIME,
            "invoice": None,
            "livemode": self.livemode,
            "metadata": tree(params, "metadata"),
            "mode": mode,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "setup_intent": None,
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": params["success_url"],
            "url": f"{self.url}/c/pay/{cs_id}",
        }
        self.sessions[cs_id] = session
        self._session_lines[cs_id] = {
            **line,
            "subscription_data": tree(params, "subscription_data"),
            "payment_intent_data": tree(params, "payment_intent_data"),
        }
        return 200, session

    def _session_line(self, mode: str, params: dict[str, str]) -> Obj | Answer:
        first = tree(params, "line_items").get("0")
        if not isinstance(first, dict):
            return invalid(
                f"`line_items` is required in `{mode}` mode.", "line_items", "parameter_missing"
            )
        quantity = first.get("quantity", "1")
        if not isinstance(quantity, str) or not quantity.isdigit() or int(quantity) < 1:
            return invalid("Invalid positive integer", "line_items[0][quantity]")
        if "price" in first:
            p = self.prices.get(first["price"])
            if p is None:
                return missing("price", first["price"])
        elif isinstance(first.get("price_data"), dict):
            answer = self._create_price(_price_data_params(first["price_data"]))
            if answer[0] != 200:
                return answer
            p = answer[1]
        else:
            return invalid("Missing required param: line_items[0][price].", "line_items[0]")
        if mode == "subscription" and p["recurring"] is None:
            return invalid(
                "You must provide at least one recurring price in `subscription` mode when "
                "using prices.",
                "line_items[0][price]",
            )
        if mode == "payment" and p["recurring"] is not None:
            return invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                "line_items[0][price]",
            )
        return {"price": p, "quantity": int(quantity)}

    # -- saved payment methods ---------------------------------------------------------

    def _create_setup_intent(self, params: dict[str, str]) -> Answer:
        customer_id = params.get("customer")
        if customer_id is not None and customer_id not in self.customers:
            return missing("customer", customer_id)
        usage = params.get("usage", "off_session")
        if usage not in {"on_session", "off_session"}:
            return invalid("Invalid usage: must be on_session or off_session", "usage")
        si_id = self._new_id("seti")
        types = [v for k, v in sorted(params.items()) if k.startswith("payment_method_types[")]
        seti: Obj = {
            "id": si_id,
            "object": "setup_intent",
            "cancellation_reason": None,
            "client_secret": f"{si_id}_secret_{self._new_id('s')[2:]}",
            "created": self.clock,
            "customer": customer_id,
            "description": params.get("description"),
            "last_setup_error": None,
            "latest_attempt": None,
            "livemode": self.livemode,
            "metadata": tree(params, "metadata"),
            "next_action": None,
            "payment_method": None,
            "payment_method_types": types or ["card"],
            "status": "requires_payment_method",
            "usage": usage,
        }
        self.setup_intents[si_id] = seti
        self._event("setup_intent.created", seti)
        token = params.get("payment_method")
        if token is not None and params.get("confirm") == "true":
            return self._succeed_setup(seti, token)
        return 200, seti

    def _succeed_setup(self, seti: Obj, token: str) -> Answer:
        if seti["status"] != "requires_payment_method":
            return invalid(
                f"You cannot confirm this SetupIntent because it has a status of {seti['status']}.",
                None,
                "setup_intent_unexpected_state",
            )
        if token not in TEST_PAYMENT_METHODS:
            return missing("PaymentMethod", token)
        pm = self._new_payment_method(token)
        seti.update(payment_method=pm["id"], status="succeeded")
        if seti["customer"] is not None:
            self._attach(pm, seti["customer"])
        self._event("setup_intent.succeeded", seti)
        return 200, seti

    def _new_payment_method(self, token: str) -> Obj:
        pm = wire.payment_method(self._new_id("pm"), token, self.clock, self.livemode)
        self.payment_methods[pm["id"]] = pm
        self._tokens[pm["id"]] = token
        return pm

    def _attach(self, pm: Obj, customer_id: str) -> None:
        pm["customer"] = customer_id
        self._event("payment_method.attached", pm)

    def _attach_existing(self, pm: Obj, customer_id: str) -> Answer:
        if customer_id not in self.customers:
            return missing("customer", customer_id)
        self._attach(pm, customer_id)
        return 200, pm

    def _detach(self, pm: Obj) -> Answer:
        if pm["customer"] is None:
            return invalid(
                "The payment method you provided is not attached to a customer so "
                "detachment is impossible.",
                None,
            )
        previous = {"customer": pm["customer"]}
        cus = self.customers.get(pm["customer"])
        if cus is not None and cus["invoice_settings"]["default_payment_method"] == pm["id"]:
            cus["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        self._event("payment_method.detached", pm, previous_attributes=previous)
        return 200, pm

    def _payments_of(self, invoice_id: str) -> Obj:
        found = [ip for ip in self.invoice_payments.values() if ip["invoice"] == invoice_id]
        return listing(found, f"/v1/invoice_payments?invoice={invoice_id}") | {
            "total_count": len(found)
        }


_KIND_NAMES: Final = {
    "checkout/sessions": "checkout.session",
    "setup_intents": "setupintent",
    "payment_methods": "PaymentMethod",
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "invoices": "invoice",
    "disputes": "dispute",
}
_CREATION: Final = {"payment": "if_required", "subscription": "always", "setup": "always"}


def _expand(params: Mapping[str, str]) -> set[str]:
    return {value for key, value in params.items() if key.startswith("expand[")}


def _sub(params: Mapping[str, str], name: str) -> dict[str, str]:
    """``product_data[metadata][k]`` -> ``metadata[k]`` (the nested object's own params)."""
    prefix = f"{name}["
    out: dict[str, str] = {}
    for key, value in params.items():
        if key.startswith(prefix):
            head, _, tail = key[len(prefix) :].partition("]")
            out[head + tail] = value
    return out


def _price_data_params(data: Mapping[str, Any]) -> dict[str, str]:
    """``line_items[0][price_data]`` as the params of a price (inline product included)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}[{key}]" if prefix else key
            if isinstance(value, Mapping):
                walk(name, value)
            else:
                flat[name] = str(value)

    walk("", data)
    return flat


def _checked_amount(raw: str | None, currency: str) -> int | Answer:
    """``unit_amount`` as an int, or Stripe's 400 naming what is wrong with it."""
    if not re.fullmatch(r"[a-z]{3}", currency):
        return invalid(f"Invalid currency: {currency}.", "currency")
    if raw is None or not raw.isdigit():
        return invalid("Missing required param: unit_amount.", "unit_amount")
    amount = int(raw)
    if len(raw.lstrip("0")) > 8:
        return 400, error_body(
            "invalid_request_error",
            "Invalid integer: unit_amount must be at most 99999999.",
            "unit_amount",
            code="amount_too_large",
        )
    step = wire.minor_unit_step(currency)
    if amount % step:
        return invalid(
            f"Invalid unit_amount {amount} for {currency.upper()}: amounts in this currency "
            f"must be divisible by {step}.",
            "unit_amount",
            "invalid_amount",
        )
    return amount
