"""Webhook signatures: Lago's two schemes plus Standard Webhooks.

Lago (``X-Lago-Signature``):
- ``jwt``: RS256 JWT whose claims are ``{"data": <body string>, "iss": <issuer>}``; receivers
  verify with the public key from ``GET /api/v1/webhooks/json_public_key``.
- ``hmac``: base64 of HMAC-SHA256 over the exact body bytes, keyed with the organization key.

Standard Webhooks (https://www.standardwebhooks.com/): ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature: v1,<base64>`` (one per secret, space-separated) over
``{id}.{timestamp}.{body}``, keyed with the base64-decoded part of a ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from secrets import token_bytes

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

USER_AGENT = "InvoiceDocumentService-Webhooks/1.0"

ALGO_JWT = "jwt"
ALGO_HMAC = "hmac"
ALGO_STANDARD = "standard"
ALGORITHMS = (ALGO_JWT, ALGO_HMAC, ALGO_STANDARD)

# A public format marker, not a credential.
STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105
_STANDARD_SECRET_BYTES = 32


def generate_rsa_private_key_pem() -> bytes:
    """A fresh 2048-bit RSA key as unencrypted PKCS#8 PEM (what the settings hold)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


@functools.lru_cache(maxsize=8)
def _load_private_key(private_key_pem: bytes) -> rsa.RSAPrivateKey:
    # Parsing a PEM key costs far more than signing; every delivery uses the same key.
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the webhook signing key must be an RSA private key")
    return key


def public_key_pem(private_key_pem: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") of the signing key."""
    return (
        _load_private_key(private_key_pem)
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def public_key_b64(private_key_pem: bytes) -> str:
    """Base64 of the public key's PEM text, as Lago serves it in ``json_public_key``.

    Lago's Ruby ``Base64.encode64`` wraps lines every 60 characters; we send the same bytes
    without line breaks, which every decoder accepts (lago-python-client uses
    ``base64.b64decode``) and which keeps the JSON string free of ``\\n`` escapes.
    """
    return base64.b64encode(public_key_pem(private_key_pem)).decode("ascii")


def sign_jwt(body: str, *, private_key_pem: bytes, issuer: str) -> str:
    """Lago's ``jwt`` signature: RS256 over ``{"data": body, "iss": issuer}``."""
    return jwt.encode(
        {"data": body, "iss": issuer}, _load_private_key(private_key_pem), algorithm="RS256"
    )


def sign_hmac(body: bytes, key: str) -> str:
    """Lago's ``hmac`` signature: base64 of HMAC-SHA256 over the exact body bytes."""
    digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def generate_standard_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    raw = token_bytes(_STANDARD_SECRET_BYTES)
    return STANDARD_SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def _standard_key(secret: str) -> bytes:
    # The prefix is optional on input, as in the reference libraries.
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Standard Webhooks secret is not valid base64") from exc
    if not key:
        raise ValueError("Standard Webhooks secret is empty")
    return key


def standard_signature_headers(
    *, msg_id: str, timestamp: int, body: bytes, secrets: list[str]
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and, if any secret is given, ``webhook-signature``.

    Several secrets give several ``v1,<sig>`` entries so that, during a rotation, a receiver
    holding either the new or the previous secret accepts the message. ``timestamp`` must be
    the time of the attempt (verifiers reject messages more than ~5 minutes old), so a retry
    is signed afresh.
    """
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp))}
    if secrets:
        signed_content = f"{msg_id}.{int(timestamp)}.".encode() + body
        signatures = []
        for secret in secrets:
            digest = hmac.new(_standard_key(secret), signed_content, hashlib.sha256).digest()
            signatures.append("v1," + base64.b64encode(digest).decode("ascii"))
        headers["webhook-signature"] = " ".join(signatures)
    return headers


def build_headers(
    *,
    algo: str,
    delivery_id: str,
    body: bytes,
    timestamp: int,
    hmac_key: str,
    jwt_private_key_pem: bytes,
    issuer: str,
    standard_secrets: list[str],
) -> dict[str, str]:
    """Every header of one delivery attempt.

    - ``jwt`` / ``hmac``: Lago's ``X-Lago-Signature`` and ``X-Lago-Signature-Algorithm``,
      plus the Standard Webhooks headers (signed only when ``standard_secrets`` is non-empty).
    - ``standard``: no Lago signature headers at all (a Lago verifier is not what such an
      endpoint runs, and an extra signature under another key would only confuse); the
      Standard Webhooks signature is mandatory, so ``standard_secrets`` must be non-empty.

    ``X-Lago-Unique-Key`` and ``webhook-id`` are both the delivery id, identical on every retry,
    so receivers can de-duplicate with either convention.
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown signature algorithm {algo!r}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Lago-Unique-Key": delivery_id,
    }
    if algo == ALGO_JWT:
        headers["X-Lago-Signature"] = sign_jwt(
            body.decode("utf-8"), private_key_pem=jwt_private_key_pem, issuer=issuer
        )
        headers["X-Lago-Signature-Algorithm"] = ALGO_JWT
    elif algo == ALGO_HMAC:
        if not hmac_key:
            raise ValueError("hmac signature requested without an HMAC key")
        headers["X-Lago-Signature"] = sign_hmac(body, hmac_key)
        headers["X-Lago-Signature-Algorithm"] = ALGO_HMAC
    elif not standard_secrets:
        raise ValueError("standard signature requested without a Standard Webhooks secret")
    headers.update(
        standard_signature_headers(
            msg_id=delivery_id, timestamp=timestamp, body=body, secrets=standard_secrets
        )
    )
    return headers
