"""Webhook verification (offline and remote) and the translation to standard events."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vbwd_paypal._config import DEFAULT_CERT_HOSTS
from vbwd_paypal._webhooks import check_cert_url, signed_message
from vbwd_paypal.testing import TestPKI
from vbwd_paypal.testing import WebhookSigner as Signer
from vbwd_paypal.testing import make_event as webhook_event

from vbwd_plugins import (
    PaymentErrorCode,
    PaymentEventData,
    WebhookVerificationError,
)
from vbwd_plugins.payments import (
    PaymentFailed,
    PaymentRefunded,
)

from .conftest import (
    SANDBOX_CERT_HOST,
    FakeClock,
    Rig,
    capture_resource,
    custom_id,
    refund_resource,
)

SUB, USER = str(uuid.uuid4()), str(uuid.uuid4())
CERTS = "/v1/notifications/certs/"


def completed_body(capture_id: str = "3C679366HH908993F", units: int = 1000) -> bytes:
    """A PAYMENT.CAPTURE.COMPLETED delivery body."""
    resource = capture_resource(capture_id, units, "USD", custom=custom_id(SUB, USER))
    return json.dumps(webhook_event("PAYMENT.CAPTURE.COMPLETED", resource)).encode()


def no_request_was_made(rig: Rig) -> bool:
    """Nothing reached the fake, the TLS certificate host or the network guard."""
    return rig.fake.calls() == [] and rig.tls.sent == [] and rig.guard.attempts == []


# -- offline verification --------------------------------------------------------------------


def test_valid_delivery_is_accepted_and_emits_one_event(rig: Rig, signer: Signer) -> None:
    """A correctly signed delivery verifies and emits payment.completed through the manager."""
    body = completed_body()
    payload = rig.plugin.process_webhook(signer.headers(body), body)
    assert payload["event_type"] == "PAYMENT.CAPTURE.COMPLETED"
    (event,) = rig.dispatcher.events
    data = PaymentEventData.from_event(event)
    assert event.name == "payment.completed"
    assert data.transaction_id == "3C679366HH908993F"
    assert data.amount == 1000
    assert data.currency == "USD"
    assert data.subscription_id == SUB
    assert data.user_id == USER
    assert data.provider == "paypal"
    assert data.provider_event_id == payload["id"]
    assert data.metadata["order_id"] == "5O190127TN364715T"
    (download,) = rig.fake.calls("GET", CERTS)
    assert download.header("Authorization") is None


def test_certificate_is_downloaded_once_per_url(rig: Rig, signer: Signer) -> None:
    """The verified certificate is cached per URL; a second delivery downloads nothing."""
    for _ in range(3):
        body = completed_body()
        assert rig.plugin.verify_webhook_request(signer.headers(body), body)
    assert len(rig.fake.calls("GET", CERTS)) == 1


def test_cached_certificate_is_dropped_when_it_expires(
    rig: Rig, signer: Signer, clock: FakeClock
) -> None:
    """After the certificate's notAfter the cache refetches it, and it is now rejected."""
    body = completed_body()
    assert rig.plugin.verify_webhook_request(signer.headers(body), body)
    clock.advance(timedelta(days=91).total_seconds())
    with pytest.raises(WebhookVerificationError, match="not valid now"):
        rig.plugin.verify_request(signer.headers(body, sent_at=clock.now()), body)
    assert len(rig.fake.calls("GET", CERTS)) == 2


def test_tampered_body_is_rejected(rig: Rig, signer: Signer) -> None:
    """Changing one byte of the body after signing breaks the CRC32 in the signed string."""
    body = completed_body()
    headers = signer.headers(body)
    tampered = body.replace(b'"10.00"', b'"99.00"')
    assert not rig.plugin.verify_webhook_request(headers, tampered)
    with pytest.raises(WebhookVerificationError):
        rig.plugin.process_webhook(headers, tampered)
    with pytest.raises(WebhookVerificationError, match="signature does not match"):
        rig.plugin.verify_request(headers, tampered)
    assert rig.dispatcher.events == []


def test_wrong_webhook_id_is_rejected(rig: Rig, signer: Signer) -> None:
    """A delivery signed for another webhook (another app) does not verify here."""
    body = completed_body()
    headers = signer.headers(body, webhook_id="WH-SOMEONE-ELSES-WEBHOOK")
    assert not rig.plugin.verify_webhook_request(headers, body)


def test_signature_by_another_key_is_rejected(rig: Rig, signer: Signer, pki: TestPKI) -> None:
    """A signature made with a key other than the certificate's does not verify."""
    body = completed_body()
    headers = signer.headers(body, key=pki.self_signed.key)
    with pytest.raises(WebhookVerificationError, match="signature does not match"):
        rig.plugin.verify_request(headers, body)


@pytest.mark.parametrize(
    "cert_url",
    [
        f"http://{SANDBOX_CERT_HOST}{CERTS}CERT-1",
        f"https://evil.example.com{CERTS}CERT-1",
        f"https://{SANDBOX_CERT_HOST}.evil.example{CERTS}CERT-1",
        f"https://evil.example.com/{SANDBOX_CERT_HOST}{CERTS}CERT-1",
        f"https://user@{SANDBOX_CERT_HOST}{CERTS}CERT-1",
        f"https://{SANDBOX_CERT_HOST}@evil.example.com{CERTS}CERT-1",
        f"https://{SANDBOX_CERT_HOST}:8443{CERTS}CERT-1",
        f"https://{SANDBOX_CERT_HOST}:443{CERTS}CERT-1",
        f"https://{SANDBOX_CERT_HOST}./v1/notifications/certs/CERT-1",
        f"https://{SANDBOX_CERT_HOST.upper()}{CERTS}CERT-1",
        "https://127.0.0.1/v1/notifications/certs/CERT-1",
        "https://[::1]/v1/notifications/certs/CERT-1",
        f"https://{SANDBOX_CERT_HOST}/v1/oauth2/token",
        f"https://{SANDBOX_CERT_HOST}{CERTS}",
        f"https://{SANDBOX_CERT_HOST}{CERTS}../../v1/oauth2/token",
        f"https://{SANDBOX_CERT_HOST}{CERTS}%2e%2e/x",
        f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-1?next=https://evil.example.com",
        f"https://{SANDBOX_CERT_HOST}{CERTS}CERT-1#x",
        f"https://{SANDBOX_CERT_HOST}\\@evil.example.com{CERTS}CERT-1",
        f"https://{SANDBOX_CERT_HOST}{CERTS}CERT 1",
        "file:///etc/passwd",
        f"//{SANDBOX_CERT_HOST}{CERTS}CERT-1",
    ],
)
def test_cert_url_outside_the_allow_list_is_rejected_without_a_request(
    rig: Rig, signer: Signer, cert_url: str
) -> None:
    """Any URL but https://<PayPal host>/v1/notifications/certs/<name> is refused, unfetched."""
    body = completed_body()
    headers = signer.headers(body, cert_url=cert_url)
    with pytest.raises(WebhookVerificationError, match="PAYPAL-CERT-URL"):
        rig.plugin.verify_request(headers, body)
    assert no_request_was_made(rig)


@pytest.mark.parametrize("host", sorted(DEFAULT_CERT_HOSTS))
def test_every_paypal_certificate_host_is_accepted(rig: Rig, signer: Signer, host: str) -> None:
    """Certificates from each of PayPal's four certificate hosts verify."""
    body = completed_body()
    headers = signer.headers(body, cert_url=f"https://{host}{CERTS}CERT-360caa42-fca2a594-a5cafa77")
    rig.plugin.verify_request(headers, body)
    assert rig.tls.sent == [f"https://{host}{CERTS}CERT-360caa42-fca2a594-a5cafa77"]
    assert rig.guard.attempts == []


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_transmission_time_outside_the_tolerance_is_rejected(
    rig: Rig, signer: Signer, clock: FakeClock, offset: int
) -> None:
    """A delivery older or newer than transmission_tolerance (300 s) is refused, unfetched.

    The clock stands still on a whole second, so PayPal's whole-second transmission time
    is exactly ``offset`` seconds away (no margin lost to truncation or to elapsed time).
    """
    clock.freeze(datetime.now(UTC).replace(microsecond=0))
    body = completed_body()
    headers = signer.headers(body, sent_at=clock.now() + timedelta(seconds=offset))
    with pytest.raises(WebhookVerificationError, match="transmission time"):
        rig.plugin.verify_request(headers, body)
    assert no_request_was_made(rig)


@pytest.mark.parametrize("offset", [-300, 300])
def test_transmission_time_exactly_at_the_tolerance_is_accepted(
    rig: Rig, signer: Signer, clock: FakeClock, offset: int
) -> None:
    """The tolerance is inclusive: 300 s either way still verifies (frozen clock, exact)."""
    clock.freeze(datetime.now(UTC).replace(microsecond=0))
    body = completed_body()
    headers = signer.headers(body, sent_at=clock.now() + timedelta(seconds=offset))
    rig.plugin.verify_request(headers, body)


def test_transmission_tolerance_is_configurable(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """With transmission_tolerance=3600 a 20-minute-old delivery verifies."""
    rig = make_rig(transmission_tolerance=3600)
    body = completed_body()
    headers = signer.headers(body, sent_at=datetime.now(UTC) - timedelta(minutes=20))
    assert rig.plugin.verify_webhook_request(headers, body)


@pytest.mark.parametrize(
    "header",
    [
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    ],
)
def test_missing_header_is_rejected(rig: Rig, signer: Signer, header: str) -> None:
    """Each of the five PAYPAL-* headers is required."""
    body = completed_body()
    headers = {k: v for k, v in signer.headers(body).items() if k != header}
    assert not rig.plugin.verify_webhook_request(headers, body)
    assert no_request_was_made(rig)


def test_headers_are_matched_case_insensitively(rig: Rig, signer: Signer) -> None:
    """Frameworks lower-case header names; verification does not care."""
    body = completed_body()
    headers = {k.lower(): v for k, v in signer.headers(body).items()}
    assert rig.plugin.verify_webhook_request(headers, body)


@pytest.mark.parametrize("algo", ["SHA1withRSA", "sha256withrsa", "none"])
def test_other_auth_algorithms_are_rejected(rig: Rig, signer: Signer, algo: str) -> None:
    """Only SHA256withRSA is accepted (no downgrade to what the sender names)."""
    body = completed_body()
    headers = {**signer.headers(body), "PAYPAL-AUTH-ALGO": algo}
    with pytest.raises(WebhookVerificationError, match="PAYPAL-AUTH-ALGO"):
        rig.plugin.verify_request(headers, body)


def test_rejection_reason_is_logged(
    rig: Rig, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """verify_webhook_request answers False and logs the reason at warning."""
    body = completed_body()
    headers = signer.headers(body, cert_url=f"https://evil.example.com{CERTS}X")
    with caplog.at_level(logging.WARNING):
        assert not rig.plugin.verify_webhook_request(headers, body)
    (record,) = [r for r in caplog.records if "allow-listed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "PAYPAL-CERT-URL host 'evil.example.com' is not an allow-listed" in record.getMessage()


def test_refusal_reason_is_the_bare_cause(rig: Rig, signer: Signer) -> None:
    """The error's reason says what failed without the "PayPal webhook rejected" prefix."""
    body = completed_body()
    headers = signer.headers(body, cert_url=f"https://evil.example.com{CERTS}X")
    with pytest.raises(WebhookVerificationError) as info:
        rig.plugin.receive_webhook(headers, body)
    assert info.value.reason.startswith("PAYPAL-CERT-URL host 'evil.example.com'")
    assert str(info.value).startswith("PayPal webhook rejected: ")


def test_event_type_is_read_from_event_type(rig: Rig, signer: Signer) -> None:
    """PayPal names its event type ``event_type``; receive_webhook reads it from there."""
    body = completed_body()
    received = rig.plugin.receive_webhook(signer.headers(body), body)
    assert received.event_type == json.loads(body)["event_type"]
    assert received.event_id == json.loads(body)["id"]


def test_missing_webhook_id_rejects_every_delivery(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """Without webhook_id nothing can be verified: rejected, nothing fetched."""
    rig = make_rig(webhook_id=None)
    body = completed_body()
    with pytest.raises(WebhookVerificationError, match="webhook_id"):
        rig.plugin.verify_request(signer.headers(body), body)
    assert no_request_was_made(rig)


def test_seed_style_verify_webhook_answers_false(rig: Rig) -> None:
    """A single signature cannot verify a PayPal delivery: verify_webhook is always False."""
    assert rig.plugin.verify_webhook(completed_body(), "signature") is False


def test_default_trust_store_rejects_the_test_certificates(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """With the default trust store (certifi) the test PKI's certificate is not trusted."""
    rig = make_rig(ca_bundle=None)
    body = completed_body()
    with pytest.raises(WebhookVerificationError, match="does not chain to a trusted root"):
        rig.plugin.verify_request(signer.headers(body), body)


# -- remote verification ---------------------------------------------------------------------


def test_remote_verification_posts_the_delivery_to_paypal(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """In remote mode PayPal's verify endpoint decides; nothing is downloaded locally."""
    rig = make_rig(webhook_verification="remote")
    body = completed_body()
    headers = signer.headers(body)
    assert rig.plugin.verify_webhook_request(headers, body)
    (call,) = rig.fake.calls("POST", "/v1/notifications/verify-webhook-signature")
    assert call.json["webhook_event"] == json.loads(body)
    assert call.json["webhook_id"] == rig.fake.webhook_id
    assert call.json["transmission_sig"] == headers["PAYPAL-TRANSMISSION-SIG"]
    assert rig.fake.calls("GET", CERTS) == []


def test_remote_verification_failure_is_rejected(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """PayPal answering FAILURE (tampered body) rejects the delivery."""
    rig = make_rig(webhook_verification="remote")
    body = completed_body()
    headers = signer.headers(body)
    with pytest.raises(WebhookVerificationError, match="FAILURE"):
        rig.plugin.verify_request(headers, body.replace(b'"10.00"', b'"99.00"'))


def test_remote_mode_still_refuses_foreign_cert_urls_unasked(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """A foreign certificate URL is refused before PayPal is even asked."""
    rig = make_rig(webhook_verification="remote")
    body = completed_body()
    headers = signer.headers(body, cert_url=f"https://evil.example.com{CERTS}CERT-1")
    assert not rig.plugin.verify_webhook_request(headers, body)
    assert no_request_was_made(rig)


def test_remote_verification_error_fails_closed(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """If the verify endpoint is down, the delivery is rejected (PayPal will redeliver)."""
    rig = make_rig(webhook_verification="remote", max_retries=0)
    rig.fake.script("POST", "/v1/notifications/verify-webhook-signature", 503, {"name": "X"})
    body = completed_body()
    assert not rig.plugin.verify_webhook_request(signer.headers(body), body)


# -- translation and handling ----------------------------------------------------------------


def deliver(rig: Rig, signer: Signer, event: dict[str, object]) -> list[PaymentEventData]:
    """Process a signed delivery of ``event``; return the standard events emitted."""
    body = json.dumps(event).encode()
    rig.dispatcher.clear()
    rig.plugin.process_webhook(signer.headers(body), body)
    return [PaymentEventData.from_event(e) for e in rig.dispatcher.events]


def test_refund_event_carries_this_refunds_amount(rig: Rig, signer: Signer) -> None:
    """PAYMENT.CAPTURE.REFUNDED reports the refund's amount, not the total refunded so far."""
    resource = refund_resource("1Y107995YT783435V", "0JF852973C016714D", 300, "EUR")
    (data,) = deliver(
        rig, signer, webhook_event("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund")
    )
    assert isinstance(data, PaymentRefunded)
    assert data.amount == 300
    assert data.transaction_id == "0JF852973C016714D"
    assert data.refund_id == "1Y107995YT783435V"


@pytest.mark.parametrize("event_type", ["PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"])
def test_denied_and_declined_captures_are_payment_failed(
    rig: Rig, signer: Signer, event_type: str
) -> None:
    """Denied or declined captures emit payment.failed with DECLINED."""
    resource = capture_resource("CAPDECLINED000001", 500, "USD", status="DECLINED")
    (data,) = deliver(rig, signer, webhook_event(event_type, resource))
    assert isinstance(data, PaymentFailed)
    assert data.error_code is PaymentErrorCode.DECLINED
    assert data.subscription_id is None


def test_huf_amounts_are_iso_minor_units_in_events(rig: Rig, signer: Signer) -> None:
    """PayPal's "1000" HUF (no decimals) is 100000 ISO minor units in the event."""
    resource = capture_resource("CAPHUF00000000001", 100000, "HUF")
    assert resource["amount"] == {"currency_code": "HUF", "value": "1000"}
    (data,) = deliver(rig, signer, webhook_event("PAYMENT.CAPTURE.COMPLETED", resource))
    assert data.amount == 100000


def test_other_event_types_are_ignored_and_logged_at_debug(
    rig: Rig, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """Unmapped types (e.g. PAYMENT.CAPTURE.REVERSED) emit nothing and log at debug."""
    with caplog.at_level(logging.DEBUG, logger="vbwd_paypal"):
        events = deliver(
            rig, signer, webhook_event("PAYMENT.CAPTURE.REVERSED", capture_resource("C1", 1, "USD"))
        )
    assert events == []
    assert "PAYMENT.CAPTURE.REVERSED" in caplog.text


def approved_order(rig: Rig, manual: bool = False) -> str:
    """An order the payer has approved."""
    result = rig.plugin.create_payment_intent(
        Decimal("10.00"), "USD", uuid.UUID(SUB), uuid.UUID(USER), manual_capture=manual
    )
    assert result.transaction_id is not None
    rig.fake.approve(result.transaction_id)
    return result.transaction_id


# -- the URL check as a property ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_accepted_cert_url_is_a_paypal_certificate_url(url: str) -> None:
    """Whatever string is accepted is https, on an allowed host, under the certs path."""
    try:
        check_cert_url(url, DEFAULT_CERT_HOSTS)
    except WebhookVerificationError:
        return
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    assert scheme == "https"
    assert host in DEFAULT_CERT_HOSTS
    assert f"/{path}".startswith(CERTS)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(DEFAULT_CERT_HOSTS)),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,60}", fullmatch=True),
)
def test_every_well_formed_paypal_cert_url_is_accepted(host: str, name: str) -> None:
    """https://<allowed host>/v1/notifications/certs/<name> always passes the check."""
    check_cert_url(f"https://{host}{CERTS}{name}", DEFAULT_CERT_HOSTS)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_signed_string_uses_the_unsigned_crc32(body: bytes) -> None:
    """The CRC32 in the signed string is the unsigned decimal PayPal's SDKs compute."""
    message = signed_message("tid", "2024-01-01T00:00:00Z", "WH-1", body).decode()
    crc = int(message.rsplit("|", 1)[1])
    assert 0 <= crc < 2**32


def test_webhook_for_a_processed_payment_names_the_same_transaction(
    rig: Rig, signer: Signer
) -> None:
    """The capture PayPal reports in PAYMENT.CAPTURE.* is the id process_payment returned."""
    order_id = approved_order(rig)
    processed = rig.plugin.process_payment(order_id, "paypal")
    assert processed.transaction_id is not None
    capture = {k: v for k, v in rig.fake.captures[processed.transaction_id].items() if k[0] != "_"}
    (data,) = deliver(rig, signer, webhook_event("PAYMENT.CAPTURE.COMPLETED", capture))
    assert data.transaction_id == processed.transaction_id
    assert data.metadata["order_id"] == order_id
    assert (data.subscription_id, data.user_id) == (SUB, USER)
    refund = rig.plugin.refund_payment(processed.transaction_id, Decimal("4.00"))
    assert refund.transaction_id is not None
    (refunded,) = deliver(
        rig,
        signer,
        webhook_event(
            "PAYMENT.CAPTURE.REFUNDED",
            rig.fake.refunds[refund.transaction_id],
            resource_type="refund",
        ),
    )
    assert isinstance(refunded, PaymentRefunded)
    assert refunded.transaction_id == processed.transaction_id
    assert refunded.refund_id == refund.transaction_id
    assert refunded.amount == 400
    assert (refunded.subscription_id, refunded.user_id) == (SUB, USER)
