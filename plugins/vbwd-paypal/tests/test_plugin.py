"""Configuration, lifecycle, packaging and the public surface of vbwd-paypal."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any

import pytest
import vbwd_paypal
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from vbwd_paypal import PAYPAL_CURRENCY_RULES, PayPalConfig, PayPalPlugin
from vbwd_paypal._webhook_events import decode_custom_id, encode_custom_id

from vbwd_plugins import (
    ConfigValidationError,
    Money,
    PaymentErrorCode,
    PaymentProviderPlugin,
    PluginManager,
)

from .conftest import CLIENT_ID, CLIENT_SECRET, Rig

REQUIRED = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


@pytest.mark.parametrize(
    ("mode", "url"),
    [("sandbox", "https://api-m.sandbox.paypal.com"), ("live", "https://api-m.paypal.com")],
)
def test_mode_selects_the_api_base(mode: str, url: str) -> None:
    """sandbox and live select PayPal's two REST hosts."""
    assert PayPalConfig.model_validate({**REQUIRED, "mode": mode}).base_url == url


def test_api_base_overrides_the_mode() -> None:
    """api_base (a proxy, a fake) wins over mode; a trailing slash is dropped."""
    config = PayPalConfig.model_validate({**REQUIRED, "api_base": "http://127.0.0.1:9/"})
    assert config.base_url == "http://127.0.0.1:9"


def test_defaults() -> None:
    """Sandbox, offline verification, 300 s tolerance, PayPal's certificate hosts."""
    config = PayPalConfig.model_validate(REQUIRED)
    assert config.mode == "sandbox"
    assert config.webhook_verification == "offline"
    assert config.transmission_tolerance == 300
    assert config.cert_hosts == {
        "api.paypal.com",
        "api.sandbox.paypal.com",
        "api-m.paypal.com",
        "api-m.sandbox.paypal.com",
    }
    assert config.capture_on_approval is False
    assert config.ca_bundle is None


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "production"},
        {"api_base": "ftp://paypal.example"},
        {"api_base": "https://user:pw@paypal.example"},
        {"webhook_verification": "trust-me"},
        {"transmission_tolerance": 0},
        {"timeout": -1},
        {"cert_hosts": ["https://api.paypal.com"]},
        {"cert_hosts": ["api.paypal.com:443"]},
        {"cert_hosts": []},
        {"ca_bundle": "/no/such/file.pem"},
        {"unknown_field": 1},
    ],
)
def test_invalid_configuration_is_refused(bad: dict[str, Any]) -> None:
    """Each malformed setting fails validation."""
    with pytest.raises(ValidationError):
        PayPalConfig.model_validate({**REQUIRED, **bad})


def test_manager_reports_bad_fields_without_the_secret() -> None:
    """A bad configuration names the plugin and fields, never the secret's value."""
    manager = PluginManager()
    manager.register_plugin(PayPalPlugin())
    with pytest.raises(ConfigValidationError) as info:
        manager.initialize_plugin("paypal", {"client_secret": "hunter2-secret", "mode": "prod"})
    assert set(info.value.errors) == {"client_id", "mode"}
    assert "hunter2-secret" not in str(info.value)


def test_secret_is_masked_in_repr() -> None:
    """The client secret is a SecretStr: repr and str never show it."""
    config = PayPalConfig.model_validate(REQUIRED)
    assert CLIENT_SECRET not in repr(config)
    assert CLIENT_SECRET not in str(config)
    assert config.client_secret.get_secret_value() == CLIENT_SECRET


def test_reinitializing_replaces_the_mounted_adapters(rig: Rig) -> None:
    """A new api_base unmounts the old one's retry adapter from the session."""
    old = f"{rig.config['api_base']}/"
    assert old in rig.plugin.session.adapters
    rig.plugin.disable()
    rig.plugin.initialize({**rig.config, "api_base": "http://127.0.0.1:9"})
    assert old not in rig.plugin.session.adapters
    assert "http://127.0.0.1:9/" in rig.plugin.session.adapters


def test_operations_before_initialize_fail_as_results() -> None:
    """An uninitialized plugin answers with a failed result, never an exception."""
    result = PayPalPlugin().create_payment_intent(
        Decimal("1.00"), "USD", uuid.uuid4(), uuid.uuid4()
    )
    assert not result.success
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "not initialized" in (result.error_message or "")


def test_plugin_is_a_payment_provider_with_paypal_currency_rules() -> None:
    """The plugin follows the contract and declares PayPal's currency deviations."""
    assert issubclass(PayPalPlugin, PaymentProviderPlugin)
    assert PayPalPlugin.currency_rules is PAYPAL_CURRENCY_RULES
    assert PayPalPlugin.config_schema is PayPalConfig
    assert {code: rule.exponent for code, rule in PAYPAL_CURRENCY_RULES.overrides.items()} == {
        "HUF": 0,
        "JPY": 0,
        "TWD": 0,
    }


def test_entry_point_is_installed() -> None:
    """The installed distribution declares paypal = vbwd_paypal:PayPalPlugin."""
    (entry,) = [ep for ep in entry_points(group="vbwd.plugins") if ep.name == "paypal"]
    assert entry.value == "vbwd_paypal:PayPalPlugin"
    assert entry.load() is PayPalPlugin
    assert entry.dist is not None
    assert entry.dist.name == "vbwd-paypal"


def test_manager_discovers_paypal() -> None:
    """PluginManager.discover() lists paypal from its distribution."""
    found = {d.name: d for d in PluginManager().discover()}
    assert "paypal" in found
    assert found["paypal"].distribution == "vbwd-paypal"


def test_importing_the_core_does_not_import_paypal() -> None:
    """The core never imports a provider: importing it and discovering plugins loads nothing."""
    code = (
        "import sys, vbwd_plugins; vbwd_plugins.PluginManager().discover(); "
        "print('vbwd_paypal' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == "False"


def test_public_surface() -> None:
    """vbwd_paypal exports exactly its documented names, sorted."""
    assert vbwd_paypal.__all__ == sorted(vbwd_paypal.__all__)
    assert set(vbwd_paypal.__all__) == {
        "ORDER_APPROVED",
        "OrderApproved",
        "PAYPAL_CURRENCY_RULES",
        "PayPalAPIError",
        "PayPalClient",
        "PayPalConfig",
        "PayPalError",
        "PayPalPlugin",
        "PayPalTransportError",
        "__version__",
    }
    for name in vbwd_paypal.__all__:
        assert getattr(vbwd_paypal, name) is not None


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["USD", "EUR", "GBP", "HUF", "JPY", "TWD", "CAD"]),
    st.integers(min_value=1, max_value=10**9),
)
def test_amount_strings_round_trip(currency: str, units: int) -> None:
    """For any amount PayPal can express, the value string parses back to the same Money."""
    money = Money.from_minor_units(units, currency)
    try:
        value = money.to_decimal_string(PAYPAL_CURRENCY_RULES)
    except Exception:
        assert currency in {"HUF", "TWD"}  # fractional forints and dollars do not exist on PayPal
        assert units % 100
        return
    assert Money(value, currency) == money
    if currency in {"HUF", "JPY", "TWD"}:
        assert "." not in value
    else:
        assert len(value.split(".")[1]) == 2


def test_settings_are_the_validated_configuration(make_rig: Callable[..., Rig]) -> None:
    """The validated settings object is what the plugin uses."""
    rig = make_rig(timeout=3.5)
    assert rig.plugin.settings.timeout == 3.5
    assert rig.plugin.settings.client_secret.get_secret_value() == CLIENT_SECRET


_ID = st.from_regex(r"[A-Za-z0-9_.-]{1,60}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.uuids().map(str), _ID), st.one_of(st.uuids().map(str), _ID))
def test_custom_id_round_trips(subscription_id: str, user_id: str) -> None:
    """Subscription and user ids come back unchanged from the custom_id written for them."""
    encoded = encode_custom_id(subscription_id, user_id)
    assert len(encoded) <= 127
    assert decode_custom_id(encoded) == (subscription_id, user_id)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=130))
def test_foreign_custom_ids_decode_to_nothing_or_two_ids(custom_id: str) -> None:
    """Any custom_id decodes without error, to two plain ids or to (None, None)."""
    subscription_id, user_id = decode_custom_id(custom_id)
    if subscription_id is None or user_id is None:
        assert (subscription_id, user_id) == (None, None)
    else:
        assert f"{subscription_id},{user_id}" == custom_id
