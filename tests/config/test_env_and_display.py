"""Environment variables, precedence of configuration sources and masked display."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import BaseModel, Field, SecretStr

from tests.config._models import PayConfig, PayPlugin
from vbwd_plugins import ConfigValidationError
from vbwd_plugins.config._schema import MASK, env_config, env_var_name, merge_config, public_config
from vbwd_plugins.config._secrets import seal_secrets

SECRET = "sk_live_ENVSECRET_77"


def test_env_var_name_scheme() -> None:
    """VBWD_<PLUGIN>_<FIELD>, upper-cased, '-' becomes '_'."""
    assert env_var_name("stripe", "api_key") == "VBWD_STRIPE_API_KEY"
    assert env_var_name("acme-pay", "webhook_secret") == "VBWD_ACME_PAY_WEBHOOK_SECRET"


def test_env_config_reads_only_own_schema_fields() -> None:
    """Only this plugin's declared fields are read; other plugins' variables are ignored."""
    environ = {
        "VBWD_PAY_API_KEY": SECRET,
        "VBWD_PAY_RETRIES": "4",
        "VBWD_PAY_UNKNOWN": "x",
        "VBWD_OTHER_API_KEY": "sk_other",
        "VBWD_PAYX_ACCOUNT": "nope",
    }
    assert env_config("pay", PayConfig, environ) == {"api_key": SECRET, "retries": "4"}


def test_env_structured_fields_take_json() -> None:
    """Lists and nested models come from JSON values."""
    environ = {
        "VBWD_PAY_TAGS": '["a", "b"]',
        "VBWD_PAY_WEBHOOK": '{"url": "https://h", "signing_secret": "whsec_x"}',
    }
    values = env_config("pay", PayConfig, environ)
    assert values["tags"] == ["a", "b"]
    model = PayConfig.model_validate({"api_key": "k", "account": "acct", **values})
    assert model.webhook is not None
    assert model.webhook.signing_secret.get_secret_value() == "whsec_x"


def test_env_bad_json_names_variable_not_value() -> None:
    """Invalid JSON in a structured variable is reported by name, never echoed."""
    with pytest.raises(ConfigValidationError) as info:
        env_config("pay", PayConfig, {"VBWD_PAY_TAGS": "[NOT_JSON_SECRETISH"})
    assert "VBWD_PAY_TAGS" in str(info.value)
    assert "NOT_JSON_SECRETISH" not in str(info.value)
    assert set(info.value.errors) == {"tags"}


def test_env_uses_field_alias_as_input_key() -> None:
    """A field with an alias receives the environment value under its alias."""

    class Aliased(BaseModel):
        client_id: str = Field(alias="clientId")

    assert env_config("p", Aliased, {"VBWD_P_CLIENT_ID": "abc"}) == {"clientId": "abc"}


def test_precedence_env_over_given_over_stored_over_default() -> None:
    """Environment > configuration given now > stored > schema default."""
    stored = {"api_key": "sk_stored", "account": "acct_stored", "retries": 1}
    environ = {"VBWD_PAY_RETRIES": "9"}
    given = {"api_key": "sk_given", "account": "acct_given", "retries": 2}
    merged, from_env = merge_config("pay", PayConfig, stored=stored, given=given, environ=environ)
    model = PayConfig.model_validate(merged)
    assert model.api_key.get_secret_value() == "sk_given"
    assert model.account == "acct_given"
    assert model.retries == 9
    assert model.sandbox is True
    assert from_env == {"retries"}
    merged, _ = merge_config("pay", PayConfig, stored=stored, given=None, environ={})
    assert merged == stored


def test_given_config_replaces_stored_one() -> None:
    """A given configuration is not merged key by key into the stored one."""
    stored = {"api_key": "sk_stored", "account": "acct_stored", "tags": ["x"]}
    merged, _ = merge_config(
        "pay", PayConfig, stored=stored, given={"api_key": "k", "account": "acct"}, environ={}
    )
    assert merged == {"api_key": "k", "account": "acct"}


def test_mask_round_trip_keeps_stored_secret() -> None:
    """Submitting the masked display back does not overwrite the stored secret."""
    stored = {"api_key": SecretStr("sk_real"), "account": "acct"}
    merged, _ = merge_config(
        "pay", PayConfig, stored=stored, given={"api_key": MASK, "account": "acct2"}, environ={}
    )
    assert merged["api_key"].get_secret_value() == "sk_real"
    assert merged["account"] == "acct2"


def test_merge_without_schema_ignores_environment() -> None:
    """A plugin without schema takes no environment variables (its fields are unknown)."""
    merged, from_env = merge_config(
        "plain", None, stored={"a": 1}, given={"b": 2}, environ={"VBWD_PLAIN_B": "9"}
    )
    assert merged == {"b": 2}
    assert from_env == frozenset()


def test_public_config_masks_every_secret_and_is_json() -> None:
    """The public view masks top-level, nested and list secrets and dumps as JSON."""
    plugin = PayPlugin()
    plugin.initialize(
        {
            "api_key": SECRET,
            "account": "acct_1",
            "webhook": {"url": "https://h", "signing_secret": "whsec_HIDDEN"},
            "backup_keys": ["sk_b1_HIDDEN", "sk_b2_HIDDEN"],
        }
    )
    view = public_config(plugin.config)
    text = json.dumps(view)
    for secret in (SECRET, "whsec_HIDDEN", "sk_b1_HIDDEN", "sk_b2_HIDDEN"):
        assert secret not in text
    assert view["api_key"] == MASK
    assert view["webhook"] == {"url": "https://h", "signing_secret": MASK}
    assert view["backup_keys"] == [MASK, MASK]
    assert view["account"] == "acct_1"


def test_public_config_of_plain_dict(box: object) -> None:
    """Plain dicts: SecretStr, sealed values and credential-like keys are masked."""
    from vbwd_plugins.config._secrets import FernetSecretBox

    assert isinstance(box, FernetSecretBox)
    sealed = seal_secrets({"k": SecretStr("sealed_HIDDEN")}, box, plugin_name="p")["k"]
    config = {
        "api_key": "plain_HIDDEN",
        "client_secret": "cs_HIDDEN",
        "nested": {"password": "pw_HIDDEN", "monkey": "banana"},
        "wrapped": SecretStr("wrapped_HIDDEN"),
        "stored": sealed,
        "when": dt.date(2024, 1, 2),
        "obj": object(),
    }
    view = public_config(config)
    text = json.dumps(view)
    assert "HIDDEN" not in text
    assert view["nested"]["monkey"] == "banana"
    assert view["when"] == "2024-01-02"
    assert view["obj"] == "<object>"
    assert public_config(None) == {}


def test_environment_applies_without_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """A manager without a store still takes VBWD_<PLUGIN>_<FIELD>, over the given value."""
    from vbwd_plugins import PluginManager

    monkeypatch.setenv("VBWD_PAY_API_KEY", SECRET)
    monkeypatch.setenv("VBWD_PAY_RETRIES", "7")
    manager = PluginManager()
    plugin = PayPlugin()
    manager.register_plugin(plugin)
    manager.initialize_plugin("pay", {"account": "acct_1", "api_key": "sk_given", "retries": 1})
    config = plugin.config
    assert isinstance(config, PayConfig)
    assert config.api_key.get_secret_value() == SECRET
    assert (config.retries, config.account) == (7, "acct_1")
    monkeypatch.setenv("VBWD_PAY_ACCOUNT", "acct_env")
    manager.initialize_plugin("pay")  # no config given: the current one, environment on top
    assert plugin.config == config.model_copy(update={"account": "acct_env"})


def test_deeply_nested_json_from_the_environment_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A structured field's JSON nested beyond the limit is refused clearly, not a traceback."""
    from pydantic import BaseModel

    from vbwd_plugins.config._schema import env_config
    from vbwd_plugins.errors import ConfigValidationError

    class Schema(BaseModel):
        hosts: list[object] = []

    monkeypatch.setenv("VBWD_DEEP_HOSTS", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigValidationError, match="VBWD_DEEP_HOSTS is not valid JSON"):
        env_config("deep", Schema)
