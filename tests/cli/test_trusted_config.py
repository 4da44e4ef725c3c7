"""``config set`` and the fields that decide where secrets go (Stripe's api_base, PayPal's
cert_hosts): a change needs the secrets again, http:// only to loopback, the environment pins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support import DistFactory
from tests.cli.conftest import GROUP, Run

STRIPE_KEY = "sk_test_cli_trusted_key_0001"
OTHER_KEY = "sk_test_cli_trusted_key_0002"
PAYPAL_SECRET = "paypal-cli-trusted-secret-0001"


@pytest.fixture(autouse=True)
def providers(make_dist: DistFactory, secret_key: str) -> Path:
    """Both providers installed in the test group, a secret key set and both configured."""
    return make_dist(
        "cli-providers",
        "1.0.0",
        {"stripe": "vbwd_stripe:StripePlugin", "paypal": "vbwd_paypal:PayPalPlugin"},
        group=GROUP,
    )


@pytest.fixture
def configured(cli: Run) -> None:
    """Stripe and PayPal configured from the shell with their secrets."""
    code, _, err = cli(
        "config", "set", "stripe", f"api_key={STRIPE_KEY}", "webhook_secret=whsec_cli_0001"
    )
    assert code == 0, err
    code, _, err = cli("config", "set", "paypal", "client_id=c-1", f"client_secret={PAYPAL_SECRET}")
    assert code == 0, err


@pytest.mark.usefixtures("configured")
def test_config_set_refuses_a_new_api_base_without_the_key(cli: Run) -> None:
    """A new api_base alone (or with the key masked) is one error line naming the plugin,
    the field and the secret to give again; with the key it is saved."""
    for argv in (
        ["api_base=https://evil.example"],
        ["api_base=https://evil.example", "api_key=**********"],
    ):
        code, out, err = cli("config", "set", "stripe", *argv)
        assert code == 1 and out == ""
        assert "'stripe'" in err and "api_base" in err and "supply api_key again" in err
        assert "Traceback" not in err and STRIPE_KEY not in err
    assert '"https://api.stripe.com"' in cli("config", "show", "stripe")[1]
    code, out, err = cli(
        "config", "set", "stripe", "api_base=https://proxy.example", f"api_key={OTHER_KEY}"
    )
    assert code == 0, err
    assert '"https://proxy.example"' in out


@pytest.mark.usefixtures("configured")
def test_config_set_refuses_plain_http_to_a_remote_host(cli: Run) -> None:
    """http:// is refused for a remote host, accepted for loopback (with the key given)."""
    code, _, err = cli(
        "config", "set", "stripe", "api_base=http://evil.example", f"api_key={OTHER_KEY}"
    )
    assert code == 1 and "loopback" in err
    code, _, err = cli(
        "config", "set", "stripe", "api_base=http://127.0.0.1:12111", f"api_key={OTHER_KEY}"
    )
    assert code == 0, err


@pytest.mark.usefixtures("configured")
def test_config_set_refuses_new_cert_hosts_without_the_client_secret(cli: Run) -> None:
    """Adding a certificate host needs client_secret in the same command."""
    hosts = 'cert_hosts:=["api.paypal.com", "certs.evil.example"]'
    code, _, err = cli("config", "set", "paypal", hosts)
    assert code == 1
    assert "'paypal'" in err and "cert_hosts" in err and "supply client_secret again" in err
    code, out, err = cli("config", "set", "paypal", hosts, f"client_secret={PAYPAL_SECRET}")
    assert code == 0, err
    assert "certs.evil.example" in out and PAYPAL_SECRET not in out


@pytest.mark.usefixtures("configured")
def test_the_environment_pins_cert_hosts(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """VBWD_PAYPAL_CERT_HOSTS wins over what config set gives, which is then not refused."""
    monkeypatch.setenv("VBWD_PAYPAL_CERT_HOSTS", '["api-m.paypal.com"]')
    code, out, err = cli(
        "config", "set", "paypal", 'cert_hosts:=["certs.evil.example"]', "timeout:=4"
    )
    assert code == 0, err
    assert "certs.evil.example" not in out
