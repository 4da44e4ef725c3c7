"""Catalog products and billing plans: ``/v1/catalogs/products`` and ``/v1/billing/plans``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from ._cycles import MAX_INTERVAL, BillingResources, check_money, invalid
from ._resources import Reply
from ._wire import Answer, Recorded, error_body, new_id, public

_PRODUCT_TYPES = ("PHYSICAL", "DIGITAL", "SERVICE")
_PLAN_SUMMARY = ("id", "product_id", "name", "status", "description", "usage_type", "create_time")


def _text(body: Mapping[str, Any], key: str, low: int, high: int, *, required: bool) -> Any:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid("MISSING_REQUIRED_PARAMETER", f"/{key}", "A required field is missing.")
        return None
    if not isinstance(value, str) or not low <= len(value) <= high:
        issue = "INVALID_STRING_MAX_LENGTH" if isinstance(value, str) else "INVALID_PARAMETER_VALUE"
        if isinstance(value, str) and len(value) < low:
            issue = "INVALID_STRING_MIN_LENGTH"
        raise invalid(issue, f"/{key}", f"{key} must be {low} to {high} characters.")
    return value


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("INVALID_PARAMETER_SYNTAX", field, "An integer is expected.")
    if value < low:
        raise invalid("INVALID_INTEGER_MIN_VALUE", field, f"The minimum is {low}.")
    if value > high:
        raise invalid("INVALID_INTEGER_MAX_VALUE", field, f"The maximum is {high}.")
    return value


def _body(record: Recorded) -> dict[str, Any]:
    body = record.json
    if not isinstance(body, dict):
        raise invalid("MISSING_REQUEST_BODY", "/", "Request body is missing.")
    return body


def _representation(record: Recorded) -> bool:
    return (record.header("Prefer") or "").strip().lower() == "return=representation"


class CatalogAPI(BillingResources):
    """Products and plans, validated as PayPal does for what a subscription plugin sends."""

    def _create_product(self, record: Recorded) -> Reply:
        body = _body(record)
        product_id = _text(body, "id", 6, 50, required=False) or f"PROD-{new_id(17)}"
        name = _text(body, "name", 1, 127, required=True)
        if body.get("type") not in _PRODUCT_TYPES:
            raise invalid("INVALID_PARAMETER_VALUE", "/type", f"type is one of {_PRODUCT_TYPES}.")
        if product_id in self.products:
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed, semantically incorrect, or "
                    "failed business validation.",
                    "DUPLICATE_RESOURCE_IDENTIFIER",
                    "Identifier must be unique.",
                ),
            )
        product: dict[str, Any] = {"id": product_id, "name": name, "type": body["type"]}
        for key, high in (("description", 256), ("category", 256)):
            if (value := _text(body, key, 1, high, required=False)) is not None:
                product[key] = value
        for key in ("image_url", "home_url"):
            if (value := _text(body, key, 1, 2000, required=False)) is not None:
                product[key] = value
        product.update(create_time=self._at(), update_time=self._at())
        product["links"] = [
            self._link(f"/v1/catalogs/products/{product_id}", "self"),
            self._link(f"/v1/catalogs/products/{product_id}", "edit", "PATCH"),
        ]
        self.products[product_id] = product
        return 201, product

    def _get_product(self, record: Recorded, product_id: str) -> Reply:
        product = self.products.get(product_id)
        if product is None:
            raise self._not_found()
        return 200, product

    def _check_cycles(self, cycles: Any) -> list[dict[str, Any]]:
        if not isinstance(cycles, list) or not 1 <= len(cycles) <= 12:
            raise invalid("INVALID_PARAMETER_VALUE", "/billing_cycles", "1 to 12 cycles.")
        checked, currencies, sequences = [], set(), set()
        for index, cycle in enumerate(cycles):
            at = f"/billing_cycles/{index}"
            if not isinstance(cycle, dict):
                raise invalid("INVALID_PARAMETER_SYNTAX", at, "A billing cycle is an object.")
            frequency = cycle.get("frequency")
            unit = frequency.get("interval_unit") if isinstance(frequency, dict) else None
            if not isinstance(frequency, dict) or unit not in MAX_INTERVAL:
                raise invalid(
                    "INVALID_PARAMETER_VALUE",
                    f"{at}/frequency/interval_unit",
                    "interval_unit is DAY, WEEK, MONTH or YEAR.",
                )
            count = _integer(
                frequency.get("interval_count", 1),
                f"{at}/frequency/interval_count",
                1,
                MAX_INTERVAL[unit],
            )
            tenure = cycle.get("tenure_type")
            if tenure not in ("TRIAL", "REGULAR"):
                raise invalid("INVALID_PARAMETER_VALUE", f"{at}/tenure_type", "TRIAL or REGULAR.")
            sequence = _integer(cycle.get("sequence"), f"{at}/sequence", 1, 99)
            least = 1 if tenure == "TRIAL" else 0
            total = _integer(cycle.get("total_cycles", 1), f"{at}/total_cycles", least, 999)
            fixed = (cycle.get("pricing_scheme") or {}).get("fixed_price")
            if fixed is None and tenure == "REGULAR":
                raise invalid(
                    "MISSING_REQUIRED_PARAMETER",
                    f"{at}/pricing_scheme",
                    "A regular cycle needs a pricing scheme.",
                )
            if fixed is not None:
                check_money(fixed, f"{at}/pricing_scheme/fixed_price")
                currencies.add(fixed["currency_code"])
            if sequence in sequences:
                raise invalid("INVALID_PARAMETER_VALUE", f"{at}/sequence", "Duplicate sequence.")
            sequences.add(sequence)
            stored = dict(cycle)
            stored.update(
                frequency={"interval_unit": unit, "interval_count": count},
                total_cycles=total,
                sequence=sequence,
            )
            if fixed is not None:
                stored["pricing_scheme"] = {
                    "fixed_price": dict(fixed),
                    "version": 1,
                    "create_time": self._at(),
                    "update_time": self._at(),
                }
            checked.append(stored)
        checked.sort(key=lambda c: c["sequence"])
        tenures = [c["tenure_type"] for c in checked]
        if tenures.count("REGULAR") != 1 or tenures[-1] != "REGULAR" or len(tenures) > 3:
            raise invalid(
                "INVALID_PARAMETER_VALUE",
                "/billing_cycles",
                "At most two trial cycles, then exactly one regular cycle (by sequence).",
            )
        if len(currencies) > 1:
            raise invalid(
                "CURRENCY_MISMATCH", "/billing_cycles", "Cycles must share one currency.", 422
            )
        return checked

    def _create_plan(self, record: Recorded) -> Reply:
        body = _body(record)
        product_id = _text(body, "product_id", 6, 50, required=True)
        if product_id not in self.products:
            raise invalid("INVALID_PARAMETER_VALUE", "/product_id", "No such product.")
        name = _text(body, "name", 1, 127, required=True)
        status = body.get("status", "ACTIVE")
        if status not in ("CREATED", "ACTIVE"):
            raise invalid("INVALID_PARAMETER_VALUE", "/status", "CREATED or ACTIVE.")
        cycles = self._check_cycles(body.get("billing_cycles"))
        preferences = body.get("payment_preferences")
        if not isinstance(preferences, dict):
            raise invalid(
                "MISSING_REQUIRED_PARAMETER", "/payment_preferences", "A required field is missing."
            )
        threshold = _integer(
            preferences.get("payment_failure_threshold", 0),
            "/payment_preferences/payment_failure_threshold",
            0,
            999,
        )
        if preferences.get("setup_fee") is not None:
            check_money(preferences["setup_fee"], "/payment_preferences/setup_fee")
        plan_id = f"P-{new_id(24)}"
        plan: dict[str, Any] = {
            "id": plan_id,
            "product_id": product_id,
            "name": name,
            "status": status,
            "usage_type": "LICENSED",
            "billing_cycles": cycles,
            "payment_preferences": {
                "service_type": "PREPAID",
                "auto_bill_outstanding": bool(preferences.get("auto_bill_outstanding", True)),
                "setup_fee_failure_action": preferences.get("setup_fee_failure_action", "CANCEL"),
                "payment_failure_threshold": threshold,
                **({"setup_fee": preferences["setup_fee"]} if "setup_fee" in preferences else {}),
            },
            "quantity_supported": bool(body.get("quantity_supported", False)),
            "create_time": self._at(),
            "update_time": self._at(),
            "links": [
                self._link(f"/v1/billing/plans/{plan_id}", "self"),
                self._link(f"/v1/billing/plans/{plan_id}", "edit", "PATCH"),
                self._link(f"/v1/billing/plans/{plan_id}/deactivate", "deactivate", "POST"),
            ],
        }
        if (description := _text(body, "description", 1, 127, required=False)) is not None:
            plan["description"] = description
        if isinstance(body.get("taxes"), dict):
            plan["taxes"] = body["taxes"]
        self.plans[plan_id] = plan
        return 201, self._plan_view(plan, full=_representation(record))

    def _plan_view(self, plan: Mapping[str, Any], *, full: bool) -> dict[str, Any]:
        """The plan as PayPal answers: the full plan, or (``return=minimal``, the default)
        its summary without billing cycles and preferences."""
        if full:
            return public(plan)
        view = {key: plan[key] for key in _PLAN_SUMMARY if key in plan}
        view["links"] = plan["links"]
        return view

    def _get_plan(self, record: Recorded, plan_id: str) -> Reply:
        plan = self.plans.get(plan_id)
        if plan is None:
            raise self._not_found()
        return 200, public(plan)

    def _list_plans(self, record: Recorded) -> Reply:
        query = {key: values[-1] for key, values in parse_qs(record.query).items()}
        try:
            size = int(query.get("page_size", "10"))
            page = int(query.get("page", "1"))
        except ValueError:
            raise invalid("INVALID_PARAMETER_VALUE", "page_size", "Not a number.") from None
        if not 1 <= size <= 20 or page < 1:
            raise invalid("INVALID_PARAMETER_VALUE", "page_size", "page_size is 1 to 20.")
        found = [
            plan
            for plan in self.plans.values()
            if query.get("product_id") in (None, plan["product_id"])
        ]
        chunk = found[(page - 1) * size : page * size]
        answer: dict[str, Any] = {
            "plans": [self._plan_view(plan, full=_representation(record)) for plan in chunk],
            "links": [self._link(f"/v1/billing/plans?page_size={size}&page={page}", "self")],
        }
        if query.get("total_required") == "true":
            answer["total_items"] = len(found)
            answer["total_pages"] = (len(found) + size - 1) // size
        return 200, answer
