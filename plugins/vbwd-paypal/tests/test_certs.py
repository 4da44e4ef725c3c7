"""PayPal's signing certificate: chain and identity, and the cost of a forged delivery (cheap
checks first, bounded downloads, cached failures)."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter
from vbwd_paypal import PayPalPlugin
from vbwd_paypal._certs import FAILURE_TTL, SIGNING_CERT_NAMES, CertificateFetcher
from vbwd_paypal._config import DEFAULT_CERT_HOSTS
from vbwd_paypal.testing import Issued, LoopbackTLSAdapter, TestPKI, make_event
from vbwd_paypal.testing import WebhookSigner as Signer

from vbwd_plugins import WebhookVerificationError

from ._slow_hosts import SlowHost
from .conftest import SANDBOX_CERT_HOST, FakeClock, FakeServers, Rig, base_config

CERTS = "/v1/notifications/certs/"


def event_body() -> bytes:
    """Any PayPal-shaped event body."""
    return json.dumps(make_event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1"})).encode()


def nothing_fetched(rig: Rig) -> bool:
    """No certificate download was attempted (fake, TLS adapter and guard saw nothing)."""
    return rig.fake.calls() == [] and rig.tls.sent == [] and rig.guard.attempts == []


# -- the certificate: validity, chain, identity, size ------------------------------------------


def test_expired_certificate_is_rejected(rig: Rig, signer: Signer, pki: TestPKI) -> None:
    """A certificate past its notAfter is refused even though its chain is trusted."""
    path = rig.fake.serve_certificate("CERT-expired", pki.expired.pem)
    body = event_body()
    headers = signer.headers(
        body, key=pki.expired.key, cert_url=f"https://{SANDBOX_CERT_HOST}{path}"
    )
    with pytest.raises(WebhookVerificationError, match="not valid now"):
        rig.plugin.verify_request(headers, body)


def test_self_signed_certificate_outside_the_trust_store_is_rejected(
    rig: Rig, signer: Signer, pki: TestPKI
) -> None:
    """A self-signed certificate, served from an allowed URL, does not chain to a trusted root."""
    path = rig.fake.serve_certificate("CERT-self-signed", pki.self_signed.pem)
    body = event_body()
    headers = signer.headers(
        body, key=pki.self_signed.key, cert_url=f"https://{SANDBOX_CERT_HOST}{path}"
    )
    with pytest.raises(WebhookVerificationError, match="does not chain to a trusted root"):
        rig.plugin.verify_request(headers, body)


def test_chain_without_its_intermediate_is_rejected(rig: Rig, signer: Signer, pki: TestPKI) -> None:
    """A leaf served without the intermediate that issued it cannot be chained."""
    path = rig.fake.serve_certificate(
        "CERT-leaf-only",
        pki.signing.pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n",
    )
    body = event_body()
    headers = signer.headers(body, cert_url=f"https://{SANDBOX_CERT_HOST}{path}")
    with pytest.raises(WebhookVerificationError, match="does not chain"):
        rig.plugin.verify_request(headers, body)


def test_leaf_without_subject_alt_name_is_accepted(rig: Rig, signer: Signer, pki: TestPKI) -> None:
    """A signing certificate with only a common name (no SAN) still verifies."""
    path = rig.fake.serve_certificate("CERT-no-san", pki.signing_without_san.pem)
    body = event_body()
    headers = signer.headers(
        body, key=pki.signing_without_san.key, cert_url=f"https://{SANDBOX_CERT_HOST}{path}"
    )
    rig.plugin.verify_request(headers, body)


def serve_leaf(rig: Rig, signer: Signer, leaf: Issued, name: str) -> tuple[dict[str, str], bytes]:
    """Serve ``leaf`` under ``name`` and sign a delivery with its key."""
    path = rig.fake.serve_certificate(name, leaf.pem)
    body = event_body()
    headers = signer.headers(body, key=leaf.key, cert_url=f"https://{SANDBOX_CERT_HOST}{path}")
    return headers, body


@pytest.mark.parametrize(
    ("name", "san", "common_name"),
    [
        ("evil.example", True, None),
        ("evil.example", False, None),
        ("messageverificationcerts.sandbox.paypal.com.evil.example", True, None),
        ("*.sandbox.paypal.com", True, None),
        ("api.sandbox.paypal.com", True, None),
        # the common name says PayPal, the subjectAltName (which decides) does not
        ("evil.example", True, SIGNING_CERT_NAMES["sandbox"]),
    ],
    ids=["san", "cn", "suffix", "wildcard", "other-paypal-host", "cn-but-not-san"],
)
def test_trusted_certificate_for_another_name_is_rejected(
    rig: Rig, signer: Signer, pki: TestPKI, name: str, san: bool, common_name: str | None
) -> None:
    """A leaf that chains to a trusted root but is not PayPal's signing name is refused."""
    leaf = pki.issue(name, san=san, common_name=common_name)
    headers, body = serve_leaf(rig, signer, leaf, "CERT-foreign-name")
    with pytest.raises(WebhookVerificationError, match="not to PayPal's signing name"):
        rig.plugin.verify_request(headers, body)
    assert rig.dispatcher.events == []


def test_live_mode_accepts_only_the_live_signing_name(
    make_rig: Callable[..., Rig], signer: Signer, pki: TestPKI
) -> None:
    """mode=live trusts messageverificationcerts.paypal.com and refuses the sandbox name."""
    rig = make_rig(mode="live")
    live = pki.issue(SIGNING_CERT_NAMES["live"])
    headers, body = serve_leaf(rig, signer, live, "CERT-live")
    rig.plugin.verify_request(headers, body)
    headers, body = serve_leaf(rig, signer, pki.signing, "CERT-sandbox")
    with pytest.raises(WebhookVerificationError, match=r"messageverificationcerts\.paypal\.com"):
        rig.plugin.verify_request(headers, body)


def test_sandbox_mode_refuses_the_live_signing_name(rig: Rig, signer: Signer, pki: TestPKI) -> None:
    """mode=sandbox does not accept PayPal's live signing certificate (nor vice versa)."""
    headers, body = serve_leaf(rig, signer, pki.issue(SIGNING_CERT_NAMES["live"]), "CERT-l")
    with pytest.raises(WebhookVerificationError, match="not to PayPal's signing name"):
        rig.plugin.verify_request(headers, body)


def test_oversized_certificate_download_is_rejected(rig: Rig, signer: Signer) -> None:
    """A certificate URL answering with more than 64 KiB is not read to the end."""
    path = rig.fake.serve_certificate("CERT-huge", b"A" * (70 * 1024))
    body = event_body()
    headers = signer.headers(body, cert_url=f"https://{SANDBOX_CERT_HOST}{path}")
    with pytest.raises(WebhookVerificationError, match="larger than"):
        rig.plugin.verify_request(headers, body)


def test_missing_certificate_is_rejected(rig: Rig, signer: Signer) -> None:
    """A 404 from the certificate URL rejects the delivery."""
    body = event_body()
    headers = signer.headers(body, cert_url=f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-nope")
    with pytest.raises(WebhookVerificationError, match="HTTP 404"):
        rig.plugin.verify_request(headers, body)


# -- cheap checks come first -----------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "not base64 at all!",
        base64.b64encode(b"x" * 16).decode(),
        base64.b64encode(b"x" * 2048).decode(),
    ],
    ids=["not-base64", "too-short", "too-long"],
)
def test_malformed_signature_is_refused_before_any_download(
    rig: Rig, signer: Signer, signature: str
) -> None:
    """A signature that cannot be an RSA signature is refused without fetching anything."""
    payload = event_body()
    headers = {**signer.headers(payload), "PAYPAL-TRANSMISSION-SIG": signature}
    with pytest.raises(WebhookVerificationError, match="PAYPAL-TRANSMISSION-SIG"):
        rig.plugin.verify_request(headers, payload)
    assert nothing_fetched(rig)


@pytest.mark.parametrize("transmission_id", ["a b", "x" * 200, "<script>", "-leading-dash"])
def test_odd_transmission_id_is_refused_before_any_download(
    rig: Rig, signer: Signer, transmission_id: str
) -> None:
    """PayPal's transmission ids are plain tokens (UUIDs); anything else is not fetched for."""
    payload = event_body()
    headers = signer.headers(payload, transmission_id=transmission_id)
    with pytest.raises(WebhookVerificationError, match="PAYPAL-TRANSMISSION-ID"):
        rig.plugin.verify_request(headers, payload)
    assert nothing_fetched(rig)


# -- failures are remembered -------------------------------------------------------------------


def test_failed_certificate_url_is_not_downloaded_again_for_a_while(
    rig: Rig, signer: Signer, clock: FakeClock
) -> None:
    """A URL that failed is refused from memory for FAILURE_TTL, then tried once more."""
    url = f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-gone"
    for _ in range(3):
        payload = event_body()
        with pytest.raises(WebhookVerificationError, match="HTTP 404") as refused:
            rig.plugin.verify_request(signer.headers(payload, cert_url=url), payload)
    assert "recent failure" in refused.value.reason
    assert len(rig.fake.calls("GET", CERTS)) == 1
    clock.advance(FAILURE_TTL.total_seconds() + 1)
    payload = event_body()
    with pytest.raises(WebhookVerificationError, match="HTTP 404"):
        rig.plugin.verify_request(signer.headers(payload, cert_url=url), payload)
    assert len(rig.fake.calls("GET", CERTS)) == 2


def test_certificate_for_another_name_is_remembered_as_a_failure(
    rig: Rig, signer: Signer, pki: TestPKI
) -> None:
    """A refused certificate (here: not PayPal's name) is not downloaded again either."""
    foreign = pki.issue("evil.example")
    path = rig.fake.serve_certificate("CERT-evil", foreign.pem)
    url = f"https://{SANDBOX_CERT_HOST}{path}"
    for _ in range(2):
        payload = event_body()
        headers = signer.headers(payload, key=foreign.key, cert_url=url)
        with pytest.raises(WebhookVerificationError, match="not to PayPal's signing name"):
            rig.plugin.verify_request(headers, payload)
    assert len(rig.fake.calls("GET", CERTS)) == 1


# -- downloads are bounded ---------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_download_beyond_the_concurrency_bound_is_refused_at_once(rig: Rig, signer: Signer) -> None:
    """With two downloads in flight a third delivery is refused "busy", not queued or
    fetched; busy is not remembered, so the same delivery verifies once they finish."""
    release = threading.Event()
    rig.fake.script("GET", rf"{CERTS}CERT-held-\d", None, hold=release, times=2)
    errors: list[BaseException] = []

    def verify_held(n: int) -> None:
        payload = event_body()
        url = f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-held-{n}"
        try:
            rig.plugin.verify_request(signer.headers(payload, cert_url=url), payload)
        except WebhookVerificationError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=verify_held, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: len(rig.fake.calls("GET", CERTS)) == 2)
        payload = event_body()
        headers = signer.headers(payload)
        with pytest.raises(WebhookVerificationError, match="certificate fetch busy"):
            rig.plugin.verify_request(headers, payload)
        assert len(rig.fake.calls("GET", CERTS)) == 2
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert len(errors) == 2  # the held URLs serve no certificate: 404
    rig.plugin.verify_request(headers, payload)


@pytest.fixture
def drip_host(pki: TestPKI) -> Iterator[SlowHost]:
    """A TLS certificate host that answers 200 and then one byte every 20 ms."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.tls_cert_file, pki.tls_key_file)
    with SlowHost(tls=context, drip=b"A") as host:
        yield host


def test_dripping_download_is_cut_at_the_deadline(drip_host: SlowHost, pki: TestPKI) -> None:
    """A host sending a byte at a time (each read within the read timeout) is cut off at
    the overall deadline instead of holding the webhook request for as long as it likes."""
    session = requests.Session()
    session.mount(
        f"https://{SANDBOX_CERT_HOST}{CERTS}", LoopbackTLSAdapter(drip_host.port, str(pki.ca_file))
    )
    fetch = CertificateFetcher(session, connect_timeout=2.0, read_timeout=2.0, deadline=0.3)
    with pytest.raises(WebhookVerificationError, match=r"took longer than 0\.3 s"):
        fetch(f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-drip")
    session.close()


def test_blackholed_certificate_host_is_refused_after_one_attempt(
    make_rig: Callable[..., Rig], signer: Signer, pki: TestPKI
) -> None:
    """A host that never answers costs one connection and one read timeout, no retry."""
    with SlowHost() as host:
        rig = make_rig(timeout=0.5, max_retries=3)
        rig.plugin.session.mount(
            f"https://{SANDBOX_CERT_HOST}{CERTS}", LoopbackTLSAdapter(host.port, str(pki.ca_file))
        )
        payload = event_body()
        with pytest.raises(WebhookVerificationError, match="did not answer in time"):
            rig.plugin.verify_request(signer.headers(payload), payload)
        assert host.accepted == 1


def test_certificate_paths_get_an_adapter_without_retries(
    servers: FakeServers, pki: TestPKI
) -> None:
    """The plugin mounts no-retry adapters on the certificate paths of its own session,
    while API calls keep their retries (max_retries)."""
    plugin = PayPalPlugin()
    plugin.initialize(base_config(servers, pki, max_retries=3))
    try:
        for host in sorted(DEFAULT_CERT_HOSTS):
            adapter = plugin.session.get_adapter(f"https://{host}{CERTS}CERT-1")
            assert isinstance(adapter, HTTPAdapter)
            assert not adapter.max_retries.total, host
        api = plugin.session.get_adapter(f"{servers.api_base}/v2/checkout/orders")
        assert isinstance(api, HTTPAdapter)
        assert api.max_retries.total == 3
    finally:
        plugin.session.close()


def test_reinitializing_keeps_a_hosts_own_certificate_adapter(rig: Rig) -> None:
    """An adapter the host mounted at a certificate path (the tests' loopback) stays."""
    url = f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-1"
    assert rig.plugin.session.get_adapter(url) is rig.tls
    rig.manager.disable_plugin("paypal")
    rig.manager.initialize_plugin("paypal", {**rig.config, "max_retries": 1})
    assert rig.plugin.session.get_adapter(url) is rig.tls
