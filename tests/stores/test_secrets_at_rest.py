"""Secrets at rest: sealed before the store, never plaintext in its bytes, round-trip exact."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, SecretStr

from tests.stores._support import StoreTarget
from vbwd_plugins.config._secrets import FernetSecretBox, rotate_store, seal_secrets, unseal_secrets
from vbwd_plugins.errors import SecretsError
from vbwd_plugins.stores import StateStore

KEY_OLD = FernetSecretBox.generate_key()
KEY_NEW = FernetSecretBox.generate_key()


class Endpoint(BaseModel):
    """Nested model holding a secret."""

    url: str
    secret: SecretStr


class ProviderConfig(BaseModel):
    """A schema with top-level, optional, nested and list secrets."""

    api_key: SecretStr
    account: str = Field(min_length=1)
    live: bool = False
    retries: int = 3
    webhook: Endpoint | None = None
    extra_keys: list[SecretStr] = []
    labels: dict[str, str] = {}


def _store_config(store: StateStore, name: str, model: BaseModel, box: FernetSecretBox) -> None:
    sealed = seal_secrets(model.model_dump(), box, plugin_name=name)
    store.save(name, status="enabled", config=sealed, expected_version=None)


def _load(store: StateStore, name: str, box: FernetSecretBox) -> ProviderConfig:
    record = store.get(name)
    assert record is not None
    return ProviderConfig.model_validate(unseal_secrets(record.config, box, plugin_name=name))


def test_raw_storage_holds_no_plaintext_secret(target: StoreTarget) -> None:
    """The SQLite file bytes / raw PostgreSQL row contain the account but no secret."""
    box = FernetSecretBox([KEY_NEW])
    store = target.open()
    model = ProviderConfig(
        api_key=SecretStr("sk_live_PLAINTEXT_api_0001"),
        account="acct_VISIBLE_77",
        webhook=Endpoint(url="https://hooks", secret=SecretStr("whsec_PLAINTEXT_0002")),
        extra_keys=[SecretStr("sk_live_PLAINTEXT_0003")],
    )
    _store_config(store, "stripe", model, box)
    store.close()
    raw = target.raw_contents()
    assert b"acct_VISIBLE_77" in raw  # we are looking at the right bytes
    for plaintext in (b"PLAINTEXT_api_0001", b"PLAINTEXT_0002", b"PLAINTEXT_0003"):
        assert plaintext not in raw


def test_nul_in_a_plain_field_is_a_config_error() -> None:
    """A NUL character outside a secret cannot be stored anywhere: rejected when sealing."""
    from vbwd_plugins import ConfigValidationError

    with pytest.raises(ConfigValidationError) as info:
        seal_secrets({"labels": {"a": "x\x00y"}}, FernetSecretBox([KEY_NEW]), plugin_name="p")
    assert set(info.value.errors) == {"labels.a"}
    sealed = seal_secrets({"k": SecretStr("x\x00y")}, FernetSecretBox([KEY_NEW]), plugin_name="p")
    assert "\x00" not in str(sealed)


def test_stored_secrets_without_key_fail_naming_plugin(store: StateStore) -> None:
    """Loading sealed secrets with no key configured is a SecretsError, never plaintext."""
    model = ProviderConfig(api_key=SecretStr("sk_x"), account="a")
    _store_config(store, "paypal", model, FernetSecretBox([KEY_NEW]))
    with pytest.raises(SecretsError, match=r"'paypal'.*no encryption key"):
        _load(store, "paypal", FernetSecretBox())
    with pytest.raises(SecretsError, match=r"'paypal'.*cannot be decrypted"):
        _load(store, "paypal", FernetSecretBox([KEY_OLD]))


def test_rotate_store_reencrypts_every_record(store: StateStore) -> None:
    """After rotation the old key can be dropped; records without secrets are untouched."""
    old = FernetSecretBox([KEY_OLD])
    model = ProviderConfig(
        api_key=SecretStr("sk_rot"),
        account="a",
        webhook=Endpoint(url="u", secret=SecretStr("wh_rot")),
    )
    _store_config(store, "stripe", model, old)
    _store_config(store, "paypal", model, old)
    store.save("plain", status="enabled", config={"n": 1}, expected_version=None)
    both = FernetSecretBox([KEY_NEW, KEY_OLD])
    assert rotate_store(store, both) == ["paypal", "stripe"]
    assert rotate_store(store, both) == []  # already current: nothing rewritten
    plain = store.get("plain")
    assert plain is not None and plain.version == 1
    only_new = FernetSecretBox([KEY_NEW])
    loaded = _load(store, "stripe", only_new)
    assert loaded.api_key.get_secret_value() == "sk_rot"
    assert loaded.webhook is not None and loaded.webhook.secret.get_secret_value() == "wh_rot"
    with pytest.raises(SecretsError):
        _load(store, "paypal", old)


#: Plain fields cannot hold NUL (PostgreSQL's jsonb refuses it); secrets can, sealed.
storable = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
text = st.text(storable, max_size=40)
secret = st.text(max_size=40).map(SecretStr)
configs = st.builds(
    ProviderConfig,
    api_key=secret,
    account=st.text(storable, min_size=1, max_size=20),
    live=st.booleans(),
    retries=st.integers(-(2**40), 2**40),
    webhook=st.none() | st.builds(Endpoint, url=text, secret=secret),
    extra_keys=st.lists(secret, max_size=3),
    labels=st.dictionaries(st.text(storable, max_size=10), text, max_size=3),
)


def _reveal(model: ProviderConfig) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return ("secret", value.get_secret_value())
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    revealed: dict[str, Any] = walk(model.model_dump())
    return revealed


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(model=configs)
def test_validate_encrypt_store_load_decrypt_round_trip(
    store: StateStore, model: ProviderConfig
) -> None:
    """validate -> encrypt -> store -> load -> decrypt -> validate gives the same values."""
    box = FernetSecretBox([KEY_NEW])
    validated = ProviderConfig.model_validate(_reveal_input(model))
    existing = store.get("prop")
    sealed = seal_secrets(validated.model_dump(), box, plugin_name="prop")
    store.save(
        "prop",
        status="enabled",
        config=sealed,
        expected_version=None if existing is None else existing.version,
    )
    loaded = _load(store, "prop", box)
    assert _reveal(loaded) == _reveal(validated)


def _reveal_input(model: ProviderConfig) -> dict[str, Any]:
    """The model as an admin would submit it: plain strings for secrets."""

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    plain: dict[str, Any] = walk(model.model_dump())
    return plain
