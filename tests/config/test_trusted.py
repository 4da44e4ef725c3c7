"""Fields that decide where secrets go: an operator changes them only with the secrets again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError
from vbwd_paypal import PayPalPlugin
from vbwd_stripe import StripePlugin

from vbwd_plugins import BasePlugin, PluginManager, PluginMetadata
from vbwd_plugins.admin import PluginAdmin
from vbwd_plugins.config import BaseURL, FernetSecretBox, Trusted, check_base_url
from vbwd_plugins.errors import ConfigValidationError
from vbwd_plugins.stores import SQLiteStateStore

MASK = "**********"
STRIPE_KEY = "sk_test_trusted_fields_key_0001"
OTHER_KEY = "sk_test_trusted_fields_key_0002"
STRIPE_HOOK = "whsec_trusted_fields_0001"
PAYPAL_SECRET = "paypal-trusted-fields-secret-0001"


class AcmeConfig(BaseModel):
    """A third party's schema: one URL guarding every secret, one field guarding one."""

    api_key: SecretStr
    signing_secret: SecretStr
    region: str = "eu"
    api_base: BaseURL = "https://api.acme.example"
    relay_hosts: Annotated[frozenset[str], Trusted("api_key")] = frozenset({"relay.acme.example"})


class AcmePlugin(BasePlugin):
    """A third-party plugin using the marker."""

    metadata = PluginMetadata("acme", "1.0.0", "tests", "third-party schema")
    config_schema = AcmeConfig


@pytest.fixture(autouse=True)
def _no_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    """No VBWD_* variable of the tests' plugins leaks in from outside."""
    for prefix in ("STRIPE", "PAYPAL", "ACME"):
        for field in ("API_KEY", "API_BASE", "CERT_HOSTS", "CLIENT_SECRET", "MODE"):
            monkeypatch.delenv(f"VBWD_{prefix}_{field}", raising=False)


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[PluginAdmin]:
    """An admin service over a store, with Stripe, PayPal and Acme configured."""
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    with SQLiteStateStore(tmp_path / "state.sqlite3") as store:
        manager = PluginManager(store=store, secret_box=box)
        for plugin in (StripePlugin(), PayPalPlugin(), AcmePlugin()):
            manager.register_plugin(plugin)
        manager.configure_plugin("stripe", {"api_key": STRIPE_KEY, "webhook_secret": STRIPE_HOOK})
        manager.configure_plugin(
            "paypal", {"client_id": "client-1", "client_secret": PAYPAL_SECRET}
        )
        manager.configure_plugin("acme", {"api_key": "acme-key", "signing_secret": "acme-sig"})
        yield PluginAdmin(manager)


def patch(admin: PluginAdmin, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """PATCH /{name}/config through the admin API's router: (status, JSON body)."""
    answer = admin.handle(
        "PATCH", f"/{name}/config", json.dumps(body).encode(), content_type="application/json"
    )
    return answer.status, answer.body


def test_masked_api_key_cannot_follow_a_new_stripe_api_base(admin: PluginAdmin) -> None:
    """PATCH api_base with the key left masked is refused (422), naming plugin, field and key."""
    status, body = patch(admin, "stripe", {"api_base": "https://evil.example", "api_key": MASK})
    assert status == 422 and body["plugin"] == "stripe"
    assert set(body["fields"]) == {"api_base"}
    assert "'stripe'" in body["message"] and "api_base" in body["message"]
    assert "supply api_key again" in body["message"]
    assert "webhook_secret" not in body["message"]  # never sent to the API: not asked for
    assert STRIPE_KEY not in json.dumps(body)
    assert admin.public_config("stripe")["api_base"] == "https://api.stripe.com"
    status, _ = patch(admin, "stripe", {"api_base": "https://evil.example"})
    assert status == 422


def test_stripe_api_base_changes_with_the_key_given_again(admin: PluginAdmin) -> None:
    """The same change with the API key supplied is accepted; unchanged api_base needs nothing."""
    status, body = patch(
        admin, "stripe", {"api_base": "https://proxy.example/", "api_key": OTHER_KEY}
    )
    assert status == 200, body
    assert body["config"]["api_base"] == "https://proxy.example"
    status, body = patch(admin, "stripe", {"api_base": "https://proxy.example", "timeout": 5})
    assert status == 200, body
    status, body = patch(admin, "stripe", {"max_network_retries": 1})
    assert status == 200, body


def test_plain_http_is_refused_for_a_remote_host(admin: PluginAdmin) -> None:
    """http:// is refused for any host but loopback, even with the key given again."""
    status, body = patch(admin, "stripe", {"api_base": "http://evil.example", "api_key": OTHER_KEY})
    assert status == 422 and "loopback" in body["fields"]["api_base"]
    status, body = patch(
        admin, "stripe", {"api_base": "http://127.0.0.1:8080", "api_key": OTHER_KEY}
    )
    assert status == 200, body


def test_paypal_cert_hosts_and_verification_need_the_client_secret(admin: PluginAdmin) -> None:
    """Adding a certificate host or switching to remote verification needs client_secret."""
    hosts = ["api.paypal.com", "certs.evil.example"]
    for change in ({"cert_hosts": hosts}, {"webhook_verification": "remote"}, {"mode": "live"}):
        status, body = patch(admin, "paypal", {**change, "client_secret": MASK})
        (field,) = change
        assert status == 422, change
        assert body["plugin"] == "paypal" and set(body["fields"]) == {field}
        assert "supply client_secret again" in body["fields"][field]
    status, body = patch(admin, "paypal", {"cert_hosts": hosts, "client_secret": PAYPAL_SECRET})
    assert status == 200, body
    assert sorted(body["config"]["cert_hosts"]) == sorted(hosts)
    status, body = patch(admin, "paypal", {"cert_hosts": list(reversed(hosts)), "timeout": 3})
    assert status == 200, body  # the same hosts in another order are no change


def test_put_replacing_with_masks_is_refused_too(admin: PluginAdmin) -> None:
    """PUT (replace) round-tripping the masked view with a new api_base is refused as well."""
    shown = admin.public_config("stripe")
    body = json.dumps({**shown, "api_base": "https://evil.example"}).encode()
    answer = admin.handle("PUT", "/stripe/config", body, content_type="application/json")
    assert answer.status == 422 and "api_key" in answer.body["fields"]["api_base"]


def test_the_environment_pins_a_trusted_field(
    admin: PluginAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VBWD_STRIPE_API_BASE wins; an operator's api_base is then ignored, not refused."""
    monkeypatch.setenv("VBWD_STRIPE_API_BASE", "https://pinned.example")
    status, body = patch(admin, "stripe", {"api_base": "https://evil.example", "timeout": 7})
    assert status == 200, body
    assert body["config"]["api_base"] == "https://pinned.example"
    plugin = admin.manager.get_plugin("stripe")
    assert plugin is not None and plugin.get_config("api_base") == "https://pinned.example"


def test_a_secret_pinned_by_the_environment_needs_the_field_pinned_too(
    admin: PluginAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the key from VBWD_STRIPE_API_KEY an operator cannot re-supply it: refused, and the
    message says to pin api_base in the environment too."""
    monkeypatch.setenv("VBWD_STRIPE_API_KEY", STRIPE_KEY)
    status, body = patch(
        admin, "stripe", {"api_base": "https://evil.example", "api_key": OTHER_KEY}
    )
    assert status == 422
    assert "VBWD_STRIPE_API_KEY" in body["message"] and "VBWD_STRIPE_API_BASE" in body["message"]


def test_a_third_party_schema_uses_the_marker(admin: PluginAdmin) -> None:
    """BaseURL guards every secret of the schema; Trusted("api_key") only the key."""
    status, body = patch(admin, "acme", {"api_base": "https://evil.example", "api_key": "new-key"})
    assert status == 422
    assert "supply signing_secret again" in body["fields"]["api_base"]
    status, body = patch(
        admin,
        "acme",
        {"api_base": "https://other.example", "api_key": "k2", "signing_secret": "s2"},
    )
    assert status == 200, body
    status, body = patch(admin, "acme", {"relay_hosts": ["relay.evil.example"]})
    assert status == 422 and "supply api_key again" in body["fields"]["relay_hosts"]
    status, body = patch(admin, "acme", {"relay_hosts": ["relay.evil.example"], "api_key": "k3"})
    assert status == 200, body
    schema = admin.config_schema("acme")
    assert schema is not None
    assert schema["properties"]["relay_hosts"]["x-vbwd-trusted"] == {"resupply": ["api_key"]}


def test_host_code_is_not_bound_unless_it_says_operator(admin: PluginAdmin) -> None:
    """configure_plugin from host code changes api_base alone; operator=True applies the rule."""
    manager = admin.manager
    manager.configure_plugin("stripe", {"api_base": "https://proxy.example"}, patch=True)
    assert manager.get_public_config("stripe")["api_base"] == "https://proxy.example"
    with pytest.raises(ConfigValidationError, match="supply api_key again") as info:
        manager.configure_plugin(
            "stripe", {"api_base": "https://evil.example"}, patch=True, operator=True
        )
    assert info.value.plugin_name == "stripe" and set(info.value.errors) == {"api_base"}


def test_first_configuration_through_the_admin_api(tmp_path: Path) -> None:
    """A plugin configured for the first time gives its secrets anyway: any api_base is fine."""
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    with SQLiteStateStore(tmp_path / "state.sqlite3") as store:
        manager = PluginManager(store=store, secret_box=box)
        manager.register_plugin(StripePlugin())
        status, body = patch(
            PluginAdmin(manager),
            "stripe",
            {"api_key": STRIPE_KEY, "webhook_secret": STRIPE_HOOK, "api_base": "https://p.example"},
        )
    assert status == 200, body


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example",
        "http://127.0.0.1.evil.example",
        "http://10.0.0.1",
        "ftp://api.example",
        "https://user:pw@api.example",
        "https://api.example/?a=1",
        "https://api.example/#x",
        "https://",
        "https://api.example:99999",
        " https://api.example",
        "https://api.example/\x00",
    ],
)
def test_base_url_refuses(url: str) -> None:
    """check_base_url refuses anything but https (http to loopback), never echoing the URL."""
    with pytest.raises(ValueError) as info:
        check_base_url(url)
    if len(url.strip()) > len("https://"):
        assert url.strip() not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example/", "https://api.example"),
        ("https://api.example:8443/v1/", "https://api.example:8443/v1"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("http://127.5.0.1", "http://127.5.0.1"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_base_url_accepts(url: str, expected: str) -> None:
    """https anywhere and http to loopback pass, without the trailing slash."""
    assert check_base_url(url) == expected


def test_the_outermost_marker_wins() -> None:
    """Annotated[BaseURL | None, Trusted("api_key")] narrows BaseURL's own "every secret"."""
    from vbwd_plugins.config._trust import trusted_fields

    class Narrowed(BaseModel):
        api_key: SecretStr
        other_secret: SecretStr
        base: Annotated[BaseURL | None, Trusted("api_key")] = None
        plain: BaseURL = "https://x.example"

    assert trusted_fields(Narrowed) == {
        "base": ("api_key",),
        "plain": ("api_key", "other_secret"),
    }


def test_a_marker_naming_an_unknown_field_is_a_schema_error() -> None:
    """Trusted("no_such_field") is refused when the schema is first checked."""

    class Broken(BaseModel):
        key: SecretStr
        url: Annotated[str, Trusted("no_such_field")] = "https://x.example"

    class BrokenPlugin(BasePlugin):
        metadata = PluginMetadata("broken", "1.0.0", "tests", "bad marker")
        config_schema = Broken

    manager = PluginManager()
    manager.register_plugin(BrokenPlugin())
    manager.configure_plugin("broken", {"key": "k"})
    with pytest.raises(TypeError, match="no_such_field"):
        manager.configure_plugin("broken", {"url": "https://y.example"}, patch=True, operator=True)
    with pytest.raises(ValidationError):
        AcmeConfig.model_validate({"api_key": "k", "signing_secret": "s", "api_base": "http://x.y"})
