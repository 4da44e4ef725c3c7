"""The testing kit's catalog products and billing plans (``vbwd_paypal.testing``) over real
HTTP: shapes, validation and PayPal's money rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vbwd_paypal.testing import PAYPAL_CURRENCIES

from ._billing_http import MONTHLY, PayPalHTTP, api

# The ``api`` fixture is imported so that pytest finds it in this module.
__all__ = ["api"]

# -- products and plans --------------------------------------------------------------


def test_product_round_trip_and_a_reused_id_is_refused(api: PayPalHTTP) -> None:
    """A product is created (201) and read back; an explicit id used twice is a 422."""
    created = api.call(
        "POST", "/v1/catalogs/products", {"id": "SKU-PRO-1", "name": "Pro", "type": "SERVICE"}
    )
    assert created.status_code == 201
    assert created.json()["id"] == "SKU-PRO-1"
    assert api.ok("GET", "/v1/catalogs/products/SKU-PRO-1")["name"] == "Pro"
    again = api.call(
        "POST", "/v1/catalogs/products", {"id": "SKU-PRO-1", "name": "X", "type": "SERVICE"}
    )
    assert again.status_code == 422
    assert again.json()["details"][0]["issue"] == "DUPLICATE_RESOURCE_IDENTIFIER"
    assert api.product().startswith("PROD-")


def test_product_needs_a_name_and_a_known_type(api: PayPalHTTP) -> None:
    """PayPal's 400 names the missing or invalid field."""
    missing = api.call("POST", "/v1/catalogs/products", {"type": "SERVICE"})
    assert missing.status_code == 400
    assert missing.json()["details"][0]["field"] == "/name"
    bad_type = api.call("POST", "/v1/catalogs/products", {"name": "Pro", "type": "TOY"})
    assert bad_type.status_code == 400
    assert {"name", "message", "debug_id", "details"} <= set(bad_type.json())


def test_plan_answers_minimal_by_default_and_full_on_request(api: PayPalHTTP) -> None:
    """Create answers a summary unless ``Prefer: return=representation``; GET is full."""
    plan_id = api.plan(trial_days=14)
    assert plan_id.startswith("P-") and len(plan_id) == 26
    plan = api.ok("GET", f"/v1/billing/plans/{plan_id}")
    assert [c["tenure_type"] for c in plan["billing_cycles"]] == ["TRIAL", "REGULAR"]
    assert "pricing_scheme" not in plan["billing_cycles"][0]
    assert plan["billing_cycles"][1]["pricing_scheme"]["fixed_price"] == {
        "value": "10.00",
        "currency_code": "USD",
    }
    assert plan["payment_preferences"]["payment_failure_threshold"] == 3
    product_id = plan["product_id"]
    body = {
        "product_id": product_id,
        "name": "Yearly",
        "billing_cycles": [
            {
                "frequency": {"interval_unit": "YEAR", "interval_count": 1},
                "tenure_type": "REGULAR",
                "sequence": 1,
                "total_cycles": 0,
                "pricing_scheme": {"fixed_price": {"value": "100", "currency_code": "USD"}},
            }
        ],
        "payment_preferences": {},
    }
    minimal = api.ok("POST", "/v1/billing/plans", body)
    assert "billing_cycles" not in minimal and minimal["status"] == "ACTIVE"
    full = api.ok("POST", "/v1/billing/plans", body, Prefer="return=representation")
    assert full["billing_cycles"][0]["frequency"]["interval_unit"] == "YEAR"


def test_plans_are_listed_by_product(api: PayPalHTTP) -> None:
    """``GET /v1/billing/plans?product_id=`` lists that product's plans only."""
    product = api.product()
    mine = {api.plan(product_id=product), api.plan("20.00", product_id=product)}
    api.plan()
    listed = api.ok("GET", f"/v1/billing/plans?product_id={product}&total_required=true")
    assert {p["id"] for p in listed["plans"]} == mine
    assert listed["total_items"] == 2


@pytest.mark.parametrize(
    ("cycles", "issue"),
    [
        ([], "INVALID_PARAMETER_VALUE"),
        (
            [{"frequency": {"interval_unit": "HOUR"}, "tenure_type": "REGULAR", "sequence": 1}],
            "INVALID_PARAMETER_VALUE",
        ),
        (
            [
                {
                    "frequency": {"interval_unit": "MONTH", "interval_count": 13},
                    "tenure_type": "REGULAR",
                    "sequence": 1,
                }
            ],
            "INVALID_INTEGER_MAX_VALUE",
        ),
        (
            [{"frequency": MONTHLY, "tenure_type": "REGULAR", "sequence": 1}],
            "MISSING_REQUIRED_PARAMETER",
        ),
        (
            [{"frequency": MONTHLY, "tenure_type": "TRIAL", "sequence": 1}],
            "INVALID_PARAMETER_VALUE",
        ),
    ],
)
def test_invalid_billing_cycles_are_refused(
    api: PayPalHTTP, cycles: list[dict[str, Any]], issue: str
) -> None:
    """Unknown units, too many intervals, an unpriced or missing regular cycle: 400."""
    body = {
        "product_id": api.product(),
        "name": "Bad",
        "billing_cycles": cycles,
        "payment_preferences": {},
    }
    answer = api.call("POST", "/v1/billing/plans", body)
    assert answer.status_code == 400
    assert answer.json()["details"][0]["issue"] == issue


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(sorted(PAYPAL_CURRENCIES | {"KWD", "BHD", "TND", "XYZ"})),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=3),
)
def test_plan_prices_follow_paypal_currency_rules(
    api: PayPalHTTP, currency: str, units: int, places: int
) -> None:
    """A price is accepted iff PayPal supports the currency and its decimals fit it."""
    value = f"{Decimal(units).scaleb(-places):.{places}f}"
    body = {
        "product_id": api.product(),
        "name": "Any",
        "billing_cycles": [
            {
                "frequency": MONTHLY,
                "tenure_type": "REGULAR",
                "sequence": 1,
                "pricing_scheme": {"fixed_price": {"value": value, "currency_code": currency}},
            }
        ],
        "payment_preferences": {},
    }
    answer = api.call("POST", "/v1/billing/plans", body)
    decimals_fit = places <= (0 if currency in ("HUF", "JPY", "TWD") else 2)
    if currency not in PAYPAL_CURRENCIES:
        assert answer.status_code == 422
        assert answer.json()["details"][0]["issue"] == "CURRENCY_NOT_SUPPORTED"
    elif not decimals_fit:
        assert answer.status_code == 422
        assert answer.json()["details"][0]["issue"] == "DECIMAL_PRECISION"
    else:
        assert answer.status_code == 201, answer.text
