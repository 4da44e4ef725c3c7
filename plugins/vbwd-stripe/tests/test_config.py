"""Configuration: the schema, its checks, and secrets never shown."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from vbwd_stripe import StripePlugin
from vbwd_stripe._config import DEFAULT_API_BASE, StripeConfig
from vbwd_stripe.testing import FakeStripe

from vbwd_plugins import (
    ConfigValidationError,
    PaymentErrorCode,
    PluginStatus,
)

from .conftest import WEBHOOK_SECRET, config_for

KEY = "sk_test_abcdefghijklmnop1234"


def _config(**overrides: Any) -> dict[str, Any]:
    return {"api_key": KEY, "webhook_secret": WEBHOOK_SECRET, **overrides}


def test_defaults() -> None:
    """Stripe's API, two retries (a StripeClient alone retries none), 300 s tolerance."""
    config = StripeConfig.model_validate(_config())
    assert config.api_base == DEFAULT_API_BASE == "https://api.stripe.com"
    assert config.max_network_retries == 2
    assert config.webhook_tolerance == 300
    assert config.previous_webhook_secrets == []
    assert config.timeout > 0
    assert StripePlugin.config_schema is StripeConfig


@pytest.mark.parametrize(
    ("key", "live"),
    [
        ("sk_test_abc", False),
        ("sk_live_abc", True),
        ("rk_test_abc", False),
        ("rk_live_abc", True),
    ],
)
def test_accepted_keys_and_their_mode(key: str, live: bool) -> None:
    """Secret and restricted keys are accepted; their prefix says test or live mode."""
    assert StripeConfig.model_validate(_config(api_key=key)).livemode is live


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_key", "pk_test_publishable_key_999"),
        ("api_key", "whsec_not_an_api_key_999"),
        ("webhook_secret", "sk_test_not_a_webhook_secret_999"),
        ("webhook_secret", "whsec_"),
        ("previous_webhook_secrets", ["nope_not_a_secret_999"]),
        ("api_base", "ftp://api.stripe.com"),
        ("max_network_retries", -1),
        ("timeout", 0),
        ("webhook_tolerance", 0),
    ],
)
def test_bad_values_are_rejected_without_echoing_them(field: str, value: Any) -> None:
    """A bad field raises ConfigValidationError naming the field, never the value."""
    plugin = StripePlugin()
    with pytest.raises(ConfigValidationError) as info:
        plugin.initialize(_config(**{field: value}))
    error = info.value
    assert error.plugin_name == "stripe"
    assert any(key.startswith(field) for key in error.errors)
    text = str(error) + repr(error.errors)
    for secretish in ("_999", WEBHOOK_SECRET):
        assert secretish not in text
    assert plugin.status is PluginStatus.DISCOVERED


def test_secrets_are_never_displayed() -> None:
    """repr/str/JSON of the configuration mask every secret."""
    config = StripeConfig.model_validate(
        _config(previous_webhook_secrets=["whsec_old_rotated_secret"])
    )
    shown = repr(config) + str(config) + config.model_dump_json()
    for secret in (KEY, WEBHOOK_SECRET, "whsec_old_rotated_secret"):
        assert secret not in shown
    assert isinstance(config.api_key, SecretStr)


def test_api_base_trailing_slash_is_dropped() -> None:
    """A base URL with a trailing slash still builds correct request URLs."""
    assert StripeConfig.model_validate(_config(api_base="http://127.0.0.1:1234/")).api_base == (
        "http://127.0.0.1:1234"
    )


def test_unknown_fields_are_rejected() -> None:
    """A misspelt option is an error, not silently ignored."""
    with pytest.raises(ConfigValidationError, match="webhook_secrte"):
        StripePlugin().initialize(_config(webhook_secrte="whsec_typo"))


def test_reinitialize_with_a_bad_value_keeps_the_working_configuration(
    fake: FakeStripe,
) -> None:
    """A failed re-initialization leaves the previous client and secrets in place."""
    plugin = StripePlugin()
    plugin.initialize(config_for(fake))
    with pytest.raises(ConfigValidationError):
        plugin.initialize(config_for(fake, api_key="pk_live_wrong_kind_of_key"))
    assert plugin.settings.api_key.get_secret_value() == fake.api_key
    assert plugin.status is PluginStatus.INITIALIZED
    assert plugin.get_payment("pi_missing").error_code is PaymentErrorCode.NOT_FOUND


def test_operations_before_initialize_fail_cleanly() -> None:
    """Using an uninitialized plugin gives a failed result / False, never an exception."""
    plugin = StripePlugin()
    assert plugin.get_payment("pi_1").success is False
    assert plugin.verify_webhook(b"{}", "t=1,v1=00") is False


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """VBWD_STRIPE_API_KEY and VBWD_STRIPE_WEBHOOK_SECRET configure the plugin."""
    from vbwd_plugins import PluginManager

    monkeypatch.setenv("VBWD_STRIPE_API_KEY", KEY)
    monkeypatch.setenv("VBWD_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    manager = PluginManager()
    plugin = StripePlugin()
    manager.register_plugin(plugin)
    manager.initialize_plugin("stripe", {"timeout": 3})
    config = plugin.config
    assert isinstance(config, StripeConfig)
    assert config.api_key.get_secret_value() == KEY
    assert config.timeout == 3
