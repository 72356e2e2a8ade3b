"""Signatures checked with independent verifiers: PyJWT, stdlib hmac, openssl-computed
known answers, and the ``standardwebhooks`` reference package."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from invoicing.webhooks import signing

BODY = json.dumps(
    {
        "webhook_type": "invoice.generated",
        "object_type": "invoice",
        "organization_id": "6f1c3e3a-0000-4000-8000-000000000001",
        "invoice": {"lago_id": "1f4e", "customer": {"name": "Zoë Ünicode"}},
    },
    separators=(",", ":"),
    ensure_ascii=False,
).encode("utf-8")
ISSUER = "https://billing.example.com"


@pytest.fixture(scope="module")
def private_pem() -> bytes:
    return signing.generate_rsa_private_key_pem()


def served_public_pem(private_pem: bytes) -> bytes:
    """What a Lago client does with ``GET /api/v1/webhooks/json_public_key``."""
    response = json.loads(
        json.dumps({"webhook": {"public_key": signing.public_key_b64(private_pem)}})
    )
    return base64.b64decode(response["webhook"]["public_key"])


def test_generated_key_is_pkcs8_rsa_2048(private_pem: bytes) -> None:
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


def test_public_key_b64_is_base64_of_the_public_pem(private_pem: bytes) -> None:
    pem = served_public_pem(private_pem)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    public = serialization.load_pem_public_key(pem)
    private = serialization.load_pem_private_key(private_pem, password=None)
    assert public.public_numbers() == private.public_key().public_numbers()


def test_jwt_verifies_with_the_served_public_key(private_pem: bytes) -> None:
    token = signing.sign_jwt(BODY.decode(), private_key_pem=private_pem, issuer=ISSUER)
    claims = jwt.decode(token, served_public_pem(private_pem), algorithms=["RS256"], issuer=ISSUER)
    assert claims == {"data": BODY.decode(), "iss": ISSUER}
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_jwt_fails_with_another_key(private_pem: bytes) -> None:
    token = signing.sign_jwt(BODY.decode(), private_key_pem=private_pem, issuer=ISSUER)
    other = served_public_pem(signing.generate_rsa_private_key_pem())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["RS256"])


def test_hmac_known_answer() -> None:
    # Computed with: printf '%s' BODY | openssl dgst -sha256 -hmac KEY -binary | base64
    body = b'{"webhook_type":"invoice.generated"}'
    expected = "d9IP9u5Dkv3phcsmFlf/uXbvNlUwGuQBYSHzvjw2qGQ="
    assert signing.sign_hmac(body, "org-hmac-key") == expected


def test_hmac_covers_exact_bytes() -> None:
    signature = signing.sign_hmac(BODY, "k")
    expected = base64.b64encode(hmac.new(b"k", BODY, hashlib.sha256).digest()).decode()
    assert signature == expected
    assert signing.sign_hmac(BODY + b" ", "k") != signature


def test_standard_signature_known_answer() -> None:
    # The worked example from the Svix / Standard Webhooks verification docs.
    headers = signing.standard_signature_headers(
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_generated_standard_secret() -> None:
    secret = signing.generate_standard_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 32
    assert secret != signing.generate_standard_secret()


def test_standard_headers_verify_with_either_rotated_secret() -> None:
    old, new = signing.generate_standard_secret(), signing.generate_standard_secret()
    headers = signing.standard_signature_headers(
        msg_id="dlv_1", timestamp=int(time.time()), body=BODY, secrets=[new, old]
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_standard_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(BODY.replace(b"1f4e", b"1f4f"), headers)


def test_standard_headers_without_secret_carry_no_signature() -> None:
    headers = signing.standard_signature_headers(
        msg_id="dlv_1", timestamp=1700000000, body=BODY, secrets=[]
    )
    assert headers == {"webhook-id": "dlv_1", "webhook-timestamp": "1700000000"}


def test_invalid_standard_secret_is_rejected() -> None:
    with pytest.raises(ValueError):
        signing.standard_signature_headers(
            msg_id="x", timestamp=1, body=b"{}", secrets=["whsec_not base64!"]
        )


def _build(private_pem: bytes, algo: str, secrets: list[str]) -> dict[str, str]:
    return signing.build_headers(
        algo=algo,
        delivery_id="7d0e8f1a-delivery",
        body=BODY,
        timestamp=int(time.time()),
        hmac_key="org-hmac-key",
        jwt_private_key_pem=private_pem,
        issuer=ISSUER,
        standard_secrets=secrets,
    )


def test_build_headers_jwt(private_pem: bytes) -> None:
    secret = signing.generate_standard_secret()
    headers = _build(private_pem, "jwt", [secret])
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == signing.USER_AGENT
    assert headers["X-Lago-Unique-Key"] == "7d0e8f1a-delivery"
    assert headers["webhook-id"] == "7d0e8f1a-delivery"
    assert headers["X-Lago-Signature-Algorithm"] == "jwt"
    claims = jwt.decode(
        headers["X-Lago-Signature"],
        served_public_pem(private_pem),
        algorithms=["RS256"],
        issuer=ISSUER,
    )
    assert claims["data"].encode("utf-8") == BODY
    Webhook(secret).verify(BODY, headers)


def test_build_headers_hmac_without_standard_secret(private_pem: bytes) -> None:
    headers = _build(private_pem, "hmac", [])
    assert headers["X-Lago-Signature-Algorithm"] == "hmac"
    expected = hmac.new(b"org-hmac-key", BODY, hashlib.sha256).digest()
    assert base64.b64decode(headers["X-Lago-Signature"]) == expected
    assert headers["webhook-id"] == "7d0e8f1a-delivery"
    assert "webhook-signature" not in headers


def test_build_headers_standard_omits_lago_signature(private_pem: bytes) -> None:
    secret = signing.generate_standard_secret()
    headers = _build(private_pem, "standard", [secret])
    assert "X-Lago-Signature" not in headers
    assert "X-Lago-Signature-Algorithm" not in headers
    assert headers["X-Lago-Unique-Key"] == headers["webhook-id"] == "7d0e8f1a-delivery"
    Webhook(secret).verify(BODY, headers)


def test_build_headers_refuses_unsigned_or_unknown(private_pem: bytes) -> None:
    with pytest.raises(ValueError):
        _build(private_pem, "standard", [])
    with pytest.raises(ValueError):
        _build(private_pem, "md5", [])
    with pytest.raises(ValueError):
        signing.build_headers(
            algo="hmac",
            delivery_id="d",
            body=BODY,
            timestamp=1,
            hmac_key="",
            jwt_private_key_pem=private_pem,
            issuer=ISSUER,
            standard_secrets=[],
        )
