"""Schema validation of plugin configuration during initialize, get_config and set_config."""

from __future__ import annotations

import logging
import traceback

import pytest
from pydantic import BaseModel, SecretStr, field_validator

from tests.config._models import PayConfig, PayPlugin
from vbwd_plugins import (
    BasePlugin,
    ConfigValidationError,
    PluginMetadata,
    PluginStatus,
)

SECRET = "sk_live_TOPSECRET_4242"


def test_valid_config_becomes_the_validated_model() -> None:
    """initialize validates the mapping and exposes the model as ``config``."""
    plugin = PayPlugin()
    plugin.initialize({"api_key": SECRET, "account": "acct_1", "retries": "5"})
    assert isinstance(plugin.config, PayConfig)
    assert plugin.config.retries == 5
    assert plugin.config.api_key.get_secret_value() == SECRET
    assert plugin.status is PluginStatus.INITIALIZED
    assert plugin.seen == [plugin.config]


def test_error_names_plugin_and_every_bad_field_with_reason() -> None:
    """One ConfigValidationError lists each bad field (dotted paths) and why."""
    plugin = PayPlugin("acme")
    with pytest.raises(ConfigValidationError) as info:
        plugin.initialize(
            {"account": "x", "retries": 99, "webhook": {"url": "https://h"}, "tags": [1]}
        )
    err = info.value
    assert err.plugin_name == "acme"
    assert set(err.errors) == {"api_key", "account", "retries", "webhook.signing_secret", "tags[0]"}
    assert "Field required" in err.errors["api_key"]
    assert "at least 3" in err.errors["account"]
    message = str(err)
    assert "'acme'" in message
    for field in err.errors:
        assert field in message


def test_error_never_contains_input_values() -> None:
    """Neither the message, the errors dict nor a chained pydantic error repeats a value."""
    plugin = PayPlugin()
    with pytest.raises(ConfigValidationError) as info:
        plugin.initialize({"api_key": 12345678, "account": SECRET[:2], "retries": "NOPE_VALUE"})
    text = "".join(traceback.format_exception_only(info.value))
    text += repr(info.value) + repr(info.value.errors) + repr(info.value.args)
    assert "12345678" not in text
    assert "NOPE_VALUE" not in text
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_validator_message_quoting_the_value_is_replaced() -> None:
    """A custom validator that quotes its input does not leak it into the error."""

    class Strict(BaseModel):
        token: SecretStr

        @field_validator("token", mode="before")
        @classmethod
        def _check(cls, value: object) -> object:
            if isinstance(value, str) and not value.startswith("tok_"):
                raise ValueError(f"{value} must start with tok_")
            return value

    class StrictPlugin(PayPlugin):
        config_schema = Strict

    with pytest.raises(ConfigValidationError) as info:
        StrictPlugin().initialize({"token": SECRET})
    assert SECRET not in str(info.value)
    assert info.value.errors["token"] == "Value error, ********** must start with tok_"


@pytest.mark.parametrize("region", ["mars", "u", "e", "s", "o"])
def test_validator_message_is_kept_when_it_does_not_quote_the_value(region: str) -> None:
    """Only the value is masked: input ``u`` does not hide "must be eu or us" (issue 14.9)."""

    class Regional(BaseModel):
        region: str

        @field_validator("region")
        @classmethod
        def _check(cls, value: str) -> str:
            if value not in ("eu", "us"):
                raise ValueError("must be eu or us")
            return value

    class RegionalPlugin(PayPlugin):
        config_schema = Regional

    with pytest.raises(ConfigValidationError) as info:
        RegionalPlugin().initialize({"region": region})
    assert info.value.errors == {"region": "Value error, must be eu or us"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("mars", "Value error, ********** is not a region"),
        ("sk_live_glued", "Value error, key**********! is not a region"),
        ("a\nb", "Value error, '**********' is not a region"),
    ],
)
def test_quoted_value_is_masked_in_place(value: str, shown: str) -> None:
    """A value quoted as a word, glued to text (6+ characters) or escaped by repr is masked."""

    class Quoting(BaseModel):
        region: str

        @field_validator("region")
        @classmethod
        def _check(cls, value: str) -> str:
            quoted = f"key{value}!" if value.startswith("sk_") else value
            quoted = repr(value) if "\n" in value else quoted
            raise ValueError(f"{quoted} is not a region")

    class QuotingPlugin(PayPlugin):
        config_schema = Quoting

    with pytest.raises(ConfigValidationError) as info:
        QuotingPlugin().initialize({"region": value})
    assert info.value.errors == {"region": shown}


def test_failed_validation_keeps_status_and_previous_config() -> None:
    """A rejected re-initialize changes nothing: same status, same model, no hook call."""
    plugin = PayPlugin()
    plugin.initialize({"api_key": SECRET, "account": "acct_1"})
    plugin.enable()
    plugin.disable()
    before = plugin.config
    with pytest.raises(ConfigValidationError):
        plugin.initialize({"api_key": SECRET, "account": ""})
    assert plugin.status is PluginStatus.DISABLED
    assert plugin.config is before
    assert plugin.get_config("account") == "acct_1"
    assert len(plugin.seen) == 1


def test_first_initialize_failure_leaves_plugin_uninitialized() -> None:
    """A plugin whose first configuration is invalid stays where it was."""
    plugin = PayPlugin()
    with pytest.raises(ConfigValidationError):
        plugin.initialize({})
    assert plugin.status is PluginStatus.DISCOVERED
    assert plugin.config is None


def test_hook_failure_restores_previous_model() -> None:
    """If on_initialize raises, the previous validated configuration comes back."""

    class Flaky(PayPlugin):
        fail = False

        def on_initialize(self) -> None:
            if self.fail:
                raise RuntimeError("boom")

    plugin = Flaky()
    plugin.initialize({"api_key": SECRET, "account": "acct_1"})
    before = plugin.config
    plugin.fail = True
    with pytest.raises(Exception, match="boom"):
        plugin.initialize({"api_key": SECRET, "account": "acct_2"})
    assert plugin.config is before
    assert plugin.status is PluginStatus.ERROR


def test_empty_config_keeps_current_model() -> None:
    """As in the original design, initialize() without config keeps the current one."""
    plugin = PayPlugin()
    plugin.initialize({"api_key": SECRET, "account": "acct_1"})
    before = plugin.config
    plugin.initialize()
    plugin.initialize({})
    assert plugin.config is before


def test_illegal_transition_wins_over_bad_config() -> None:
    """An enabled plugin refuses initialize with a state error, even with a bad config."""
    from vbwd_plugins.errors import PluginStateError

    plugin = PayPlugin()
    plugin.initialize({"api_key": SECRET, "account": "acct_1"})
    plugin.enable()
    with pytest.raises(PluginStateError):
        plugin.initialize({"account": ""})


def test_get_config_reads_model_fields() -> None:
    """get_config returns model attributes (secrets stay SecretStr) or the default."""
    plugin = PayPlugin()
    plugin.initialize({"api_key": SECRET, "account": "acct_1"})
    assert plugin.get_config("sandbox") is True
    assert isinstance(plugin.get_config("api_key"), SecretStr)
    assert plugin.get_config("missing", "dflt") == "dflt"


def test_set_config_validates_and_rejects_unknown_fields() -> None:
    """set_config re-validates the whole model; a bad value or unknown key changes nothing."""
    plugin = PayPlugin()
    plugin.initialize({"api_key": SECRET, "account": "acct_1"})
    plugin.set_config("retries", 7)
    assert plugin.config is not None and plugin.get_config("retries") == 7
    with pytest.raises(ConfigValidationError) as info:
        plugin.set_config("retries", 11)
    assert set(info.value.errors) == {"retries"}
    with pytest.raises(ConfigValidationError, match="unknown field"):
        plugin.set_config("retires", 1)
    assert plugin.get_config("retries") == 7
    assert plugin.get_config("api_key").get_secret_value() == SECRET


def test_plain_dict_plugin_keeps_seed_behaviour() -> None:
    """Without a schema, configuration is the seed's plain dict."""

    class Plain(BasePlugin):
        @property
        def metadata(self) -> PluginMetadata:
            return PluginMetadata("plain", "1.0", "t", "d")

    plugin = Plain()
    given = {"anything": object(), "n": 1}
    plugin.initialize(given)
    assert plugin.get_config("n") == 1
    plugin.set_config("new", [1, 2])
    assert plugin.get_config("new") == [1, 2]
    assert dict(plugin.config or {}) == {**given, "new": [1, 2]}
    with pytest.raises(TypeError):
        plugin.config["x"] = 1  # type: ignore[index]


def test_plugins_see_only_their_own_configuration() -> None:
    """Two plugins of one class hold independent configurations; inputs are copied."""
    first, second = PayPlugin("first"), PayPlugin("second")
    given = {"api_key": "sk_first", "account": "acct_first", "tags": ["a"]}
    first.initialize(given)
    second.initialize({"api_key": "sk_second", "account": "acct_second"})
    given["tags"].append("mutated")
    given["account"] = "changed"
    assert first.get_config("account") == "acct_first"
    assert first.get_config("tags") == ["a"]
    assert second.get_config("api_key").get_secret_value() == "sk_second"
    assert "sk_second" not in repr(vars(first))


def test_secrets_never_appear_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """repr/str of the plugin, its model and a logged config show no secret."""
    plugin = PayPlugin()
    plugin.initialize(
        {
            "api_key": SECRET,
            "account": "acct_1",
            "webhook": {"url": "https://h", "signing_secret": "whsec_HIDDEN"},
            "backup_keys": ["sk_backup_HIDDEN"],
        }
    )
    logger = logging.getLogger("tests.config")
    with caplog.at_level(logging.DEBUG):
        logger.info("config %s %r", plugin.config, plugin.config)
        logger.info("plugin %s %r %r", plugin, plugin, plugin.get_config("api_key"))
    shown = caplog.text + repr(plugin) + str(plugin.config) + repr(plugin.config)
    for secret in (SECRET, "whsec_HIDDEN", "sk_backup_HIDDEN"):
        assert secret not in shown
