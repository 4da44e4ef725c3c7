"""A throw-away PKI for the tests: root, intermediate, signing leaves and a TLS server cert.

Shaped like PayPal's: the signing certificate is a TLS-style leaf for
``messageverificationcerts.sandbox.paypal.com`` issued by an intermediate, served as
"leaf + intermediate" PEM; the root is what the plugin's ``ca_bundle`` trusts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIGNING_NAME = "messageverificationcerts.sandbox.paypal.com"
CERT_HOSTS = (
    "api.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.paypal.com",
    "api-m.sandbox.paypal.com",
)


@dataclass(frozen=True)
class Issued:
    """A certificate, its private key and the chain PEM a server would send."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def pem(self) -> bytes:
        """Leaf then intermediates, PEM (what ``PAYPAL-CERT-URL`` serves)."""
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain)
        )

    @property
    def key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vbwd test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca(
    common_name: str, issuer: Issued | None, now: dt.datetime, *, path_length: int | None
) -> Issued:
    key = _key()
    signer_key = key if issuer is None else issuer.key
    issuer_name = _name(common_name) if issuer is None else issuer.cert.subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        cert = cert.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Issued(cert.sign(signer_key, hashes.SHA256()), key)


def leaf(
    issuer: Issued | None,
    names: tuple[str, ...],
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    san: bool = True,
    ekus: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    common_name: str | None = None,
) -> Issued:
    """An end-entity certificate for ``names`` (subjectAltName; common name ``names[0]``
    unless ``common_name`` is given); self-signed when ``issuer`` is None."""
    key = _key()
    subject = _name(common_name or names[0])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    signer = key if issuer is None else issuer.key
    chain = () if issuer is None else (issuer.cert,)
    return Issued(builder.sign(signer, hashes.SHA256()), key, chain)


@dataclass(frozen=True)
class TestPKI:
    """Everything the webhook and TLS tests need, written once per session."""

    __test__ = False  # not a test class

    root: Issued
    intermediate: Issued
    signing: Issued
    signing_without_san: Issued
    expired: Issued
    self_signed: Issued
    tls: Issued
    ca_file: Path
    tls_cert_file: Path
    tls_key_file: Path

    def issue(
        self, *names: str, san: bool = True, common_name: str | None = None, days: int = 90
    ) -> Issued:
        """A signing leaf for ``names`` from the test intermediate, valid from yesterday.

        For certificates the plugin must refuse although they chain to the trusted root:
        another name (``pki.issue("evil.example")``), the other mode's PayPal name, or a
        subjectAltName that disagrees with the common name (``common_name=...``).
        """
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
        return leaf(
            self.intermediate,
            names,
            not_before=start,
            not_after=end,
            san=san,
            common_name=common_name,
        )

    @classmethod
    def create(cls, directory: Path) -> TestPKI:
        """Generate the PKI and write the PEM files into ``directory``."""
        now = dt.datetime.now(dt.UTC)
        root = _ca("vbwd Test Root CA", None, now, path_length=1)
        intermediate = _ca("vbwd Test Issuing CA", root, now, path_length=0)
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=90)
        signing = leaf(intermediate, (SIGNING_NAME,), not_before=start, not_after=end)
        without_san = leaf(
            intermediate, (SIGNING_NAME,), not_before=start, not_after=end, san=False
        )
        expired = leaf(
            intermediate,
            (SIGNING_NAME,),
            not_before=now - dt.timedelta(days=400),
            not_after=now - dt.timedelta(days=1),
        )
        self_signed = leaf(None, (SIGNING_NAME,), not_before=start, not_after=end)
        tls = leaf(intermediate, CERT_HOSTS, not_before=start, not_after=end)
        ca_file = directory / "test-root.pem"
        ca_file.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
        tls_cert_file = directory / "tls-chain.pem"
        tls_cert_file.write_bytes(tls.pem)
        tls_key_file = directory / "tls-key.pem"
        tls_key_file.write_bytes(tls.key_pem)
        return cls(
            root=root,
            intermediate=intermediate,
            signing=signing,
            signing_without_san=without_san,
            expired=expired,
            self_signed=self_signed,
            tls=tls,
            ca_file=ca_file,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
        )
