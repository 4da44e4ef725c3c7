"""Encryption of secret fields: keys from the environment, sealing, rotation, failures."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretBytes, SecretStr

from tests.config._models import PayConfig
from vbwd_plugins import ConfigValidationError
from vbwd_plugins.config._secrets import (
    SEALED_KEY,
    FernetSecretBox,
    SecretBox,
    has_sealed,
    load_secret_keys,
    reseal_secrets,
    seal_secrets,
    unseal_secrets,
)
from vbwd_plugins.errors import SecretsError

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def test_box_satisfies_protocol_and_round_trips() -> None:
    """FernetSecretBox is a SecretBox; decrypt(encrypt(x)) == x and the token hides x."""
    box = FernetSecretBox([KEY_A])
    assert isinstance(box, SecretBox)
    token = box.encrypt("sk_live_x", plugin_name="p")
    assert "sk_live_x" not in token
    assert box.decrypt(token, plugin_name="p") == "sk_live_x"


def test_first_key_encrypts_all_keys_decrypt() -> None:
    """With keys [B, A], tokens of A still open and new tokens need B."""
    old = FernetSecretBox([KEY_A]).encrypt("v", plugin_name="p")
    both = FernetSecretBox([KEY_B, KEY_A])
    assert both.decrypt(old, plugin_name="p") == "v"
    new = both.encrypt("w", plugin_name="p")
    assert FernetSecretBox([KEY_B]).decrypt(new, plugin_name="p") == "w"
    with pytest.raises(SecretsError):
        FernetSecretBox([KEY_A]).decrypt(new, plugin_name="p")


def test_wrong_key_names_plugin_and_gives_no_plaintext() -> None:
    """Decrypting with an unrelated key raises SecretsError naming the plugin."""
    token = FernetSecretBox([KEY_A]).encrypt("sk_live_HIDDEN", plugin_name="stripe")
    with pytest.raises(SecretsError) as info:
        FernetSecretBox([KEY_B]).decrypt(token, plugin_name="stripe")
    assert info.value.plugin_name == "stripe"
    assert "'stripe'" in str(info.value)
    assert "HIDDEN" not in str(info.value)


def test_no_key_refuses_both_ways() -> None:
    """A box without keys never encrypts nor decrypts, and says how to configure one."""
    box = FernetSecretBox()
    with pytest.raises(SecretsError, match="no encryption key") as info:
        box.encrypt("x", plugin_name="paypal")
    assert info.value.plugin_name == "paypal"
    assert "VBWD_PLUGINS_SECRET_KEYS" in str(info.value)
    with pytest.raises(SecretsError, match="'paypal'"):
        box.decrypt("gAAAA", plugin_name="paypal")


def test_invalid_key_is_rejected_without_echo() -> None:
    """A malformed key is reported by position, never printed."""
    with pytest.raises(SecretsError, match="#2") as info:
        FernetSecretBox([KEY_A, "not-a-real-key-MATERIAL"])
    assert "MATERIAL" not in str(info.value)


def test_box_repr_and_pickle_hide_keys() -> None:
    """repr shows the key count only; pickling is refused."""
    box = FernetSecretBox([KEY_A, KEY_B])
    assert repr(box) == "<FernetSecretBox keys=2>"
    assert KEY_A not in repr(box)
    with pytest.raises(TypeError):
        pickle.dumps(box)


def test_keys_from_env_variable() -> None:
    """VBWD_PLUGINS_SECRET_KEYS holds comma-separated keys, newest first."""
    assert load_secret_keys({"VBWD_PLUGINS_SECRET_KEYS": f" {KEY_B}, {KEY_A} ,"}) == [KEY_B, KEY_A]
    assert load_secret_keys({"VBWD_PLUGINS_SECRET_KEYS": "  "}) == []
    assert load_secret_keys({}) == []
    assert FernetSecretBox.from_env({"VBWD_PLUGINS_SECRET_KEYS": KEY_A}).key_count == 1


def test_keys_from_file(tmp_path: Path) -> None:
    """VBWD_PLUGINS_SECRET_KEYS_FILE names a file: one key a line, comments ignored."""
    path = tmp_path / "keys"
    path.write_text(f"# newest first\n{KEY_B}\n\n{KEY_A}\n", encoding="utf-8")
    assert load_secret_keys({"VBWD_PLUGINS_SECRET_KEYS_FILE": str(path)}) == [KEY_B, KEY_A]


def test_key_file_problems_are_errors(tmp_path: Path) -> None:
    """A missing or empty key file, or both variables set, is a SecretsError."""
    with pytest.raises(SecretsError, match="cannot be read"):
        load_secret_keys({"VBWD_PLUGINS_SECRET_KEYS_FILE": str(tmp_path / "missing")})
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SecretsError, match="holds no key"):
        load_secret_keys({"VBWD_PLUGINS_SECRET_KEYS_FILE": str(empty)})
    with pytest.raises(SecretsError, match="only one"):
        load_secret_keys(
            {"VBWD_PLUGINS_SECRET_KEYS": KEY_A, "VBWD_PLUGINS_SECRET_KEYS_FILE": str(empty)}
        )


def test_seal_replaces_every_secret_at_any_depth(box: FernetSecretBox) -> None:
    """seal_secrets finds top-level, nested, optional and list secrets; JSON-safe result."""
    model = PayConfig.model_validate(
        {
            "api_key": "sk_A_HIDDEN",
            "account": "acct",
            "webhook": {"url": "https://h", "signing_secret": "wh_HIDDEN"},
            "backup_keys": ["b1_HIDDEN", "b2_HIDDEN"],
        }
    )
    sealed = seal_secrets(model.model_dump(), box, plugin_name="pay")
    assert "HIDDEN" not in repr(sealed)
    assert set(sealed["api_key"]) == {SEALED_KEY}
    assert has_sealed(sealed) and not has_sealed({"a": [1, {"b": "c"}]})
    opened = unseal_secrets(sealed, box, plugin_name="pay")
    again = PayConfig.model_validate(opened)
    assert again.api_key.get_secret_value() == "sk_A_HIDDEN"
    assert again.webhook is not None
    assert again.webhook.signing_secret.get_secret_value() == "wh_HIDDEN"
    assert [k.get_secret_value() for k in again.backup_keys] == ["b1_HIDDEN", "b2_HIDDEN"]


def test_secret_bytes_round_trip(box: FernetSecretBox) -> None:
    """SecretBytes values are sealed too and come back as SecretBytes."""
    sealed = seal_secrets({"pem": SecretBytes(b"\x00\xffkey")}, box, plugin_name="p")
    opened = unseal_secrets(sealed, box, plugin_name="p")
    assert opened["pem"].get_secret_value() == b"\x00\xffkey"


def test_nul_outside_secrets_is_a_config_error(box: FernetSecretBox) -> None:
    """NUL in a plain value or key cannot be stored; it is rejected naming the field."""
    with pytest.raises(ConfigValidationError) as info:
        seal_secrets({"a": ["ok", "x\x00"]}, box, plugin_name="p")
    assert set(info.value.errors) == {"a[1]"}
    with pytest.raises(ConfigValidationError):
        seal_secrets({"b": {"k\x00": 1}}, box, plugin_name="p")


def test_unserializable_value_is_a_config_error(box: FernetSecretBox) -> None:
    """A value that cannot be stored as JSON is rejected naming the field."""
    with pytest.raises(ConfigValidationError) as info:
        seal_secrets({"ok": 1, "nested": {"bad": object()}}, box, plugin_name="p")
    assert set(info.value.errors) == {"nested.bad"}


def test_unseal_wrong_key_names_plugin_and_field(box: FernetSecretBox) -> None:
    """Opening a sealed field with the wrong key fails with plugin and field named."""
    sealed = seal_secrets({"inner": {"key": SecretStr("v")}}, box, plugin_name="stripe")
    with pytest.raises(SecretsError) as info:
        unseal_secrets(sealed, FernetSecretBox([KEY_B]), plugin_name="stripe")
    assert info.value.plugin_name == "stripe"
    assert "secret field: inner.key" in info.value.__notes__


def test_failing_custom_box_is_wrapped() -> None:
    """Any exception from a custom box becomes a SecretsError naming the plugin."""

    class Broken:
        def encrypt(self, plaintext: str, *, plugin_name: str) -> str:
            raise ConnectionError("kms down")

        def decrypt(self, token: str, *, plugin_name: str) -> str:
            raise NotImplementedError

        def rotate(self, token: str, *, plugin_name: str) -> str:
            raise NotImplementedError

    with pytest.raises(SecretsError, match=r"'p'.*api_key"):
        seal_secrets({"api_key": SecretStr("x")}, Broken(), plugin_name="p")


def test_reseal_moves_tokens_to_first_key_and_is_idempotent() -> None:
    """reseal re-encrypts old tokens with the new first key; a second pass changes nothing."""
    old_box = FernetSecretBox([KEY_A])
    sealed = seal_secrets({"k": SecretStr("v"), "n": 1}, old_box, plugin_name="p")
    new_box = FernetSecretBox([KEY_B, KEY_A])
    rotated = reseal_secrets(sealed, new_box, plugin_name="p")
    assert rotated["k"] != sealed["k"]
    only_new = FernetSecretBox([KEY_B])
    assert unseal_secrets(rotated, only_new, plugin_name="p")["k"].get_secret_value() == "v"
    assert reseal_secrets(rotated, new_box, plugin_name="p") == rotated


#: Plain strings cannot hold NUL or lone surrogates (PostgreSQL's jsonb refuses them).
plain_text = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
json_scalars = st.none() | st.booleans() | st.integers() | st.text(plain_text, max_size=20)
plain_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(plain_text, max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    data=st.dictionaries(
        st.text(plain_text, min_size=1, max_size=8),
        plain_values | st.text(max_size=30).map(SecretStr),
        max_size=6,
    )
)
def test_seal_unseal_round_trip_property(data: dict[str, object]) -> None:
    """For any JSON-ish config with secrets, unseal(seal(x)) reveals the same values."""
    box = FernetSecretBox([KEY_A])
    sealed = seal_secrets(data, box, plugin_name="p")
    opened = unseal_secrets(sealed, box, plugin_name="p")

    def reveal(value: object) -> object:
        if isinstance(value, SecretStr):
            return ("secret", value.get_secret_value())
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [reveal(v) for v in value]
        return value

    assert reveal(opened) == reveal(data)
