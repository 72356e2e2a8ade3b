"""``/api/v1/webhook_endpoints`` as Lago has it, plus ``standard`` and ``rotate_secret``, and
``/api/v1/webhooks/json_public_key``."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from rest_framework.test import APIClient

from invoicing.models import WebhookEndpoint
from invoicing.webhooks import signing
from tests.factories import make_organization

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/lago"


def _create(api, **fields):
    return api.post(
        "/api/v1/webhook_endpoints",
        {"webhook_endpoint": {"webhook_url": URL, **fields}},
        format="json",
    )


def test_crud_in_lagos_shape(api, organization):
    response = _create(api, name="Billing", event_types=["invoice.generated"])
    assert response.status_code == 200
    created = response.json()["webhook_endpoint"]
    assert set(created) == {
        "lago_id", "lago_organization_id", "webhook_url", "signature_algo", "name",
        "event_types", "created_at",
    }  # fmt: skip
    assert created["lago_organization_id"] == str(organization.id)
    assert created["signature_algo"] == "jwt"  # Lago's default
    assert created["event_types"] == ["invoice.generated"]
    path = f"/api/v1/webhook_endpoints/{created['lago_id']}"

    assert api.get(path).json() == {"webhook_endpoint": created}
    listed = api.get("/api/v1/webhook_endpoints").json()
    assert listed["webhook_endpoints"] == [created]
    assert listed["meta"]["total_count"] == 1

    updated = api.put(
        path,
        {"webhook_endpoint": {"signature_algo": "hmac", "webhook_url": URL + "/v2"}},
        format="json",
    ).json()["webhook_endpoint"]
    assert updated["signature_algo"] == "hmac" and updated["webhook_url"] == URL + "/v2"
    assert updated["name"] == "Billing"  # untouched fields are kept

    assert api.delete(path).json()["webhook_endpoint"]["lago_id"] == created["lago_id"]
    assert api.get(path).json() == {
        "status": 404,
        "error": "Not Found",
        "code": "webhook_endpoint_not_found",
    }
    assert not WebhookEndpoint.objects.exists()


def test_standard_secret_is_shown_on_create_and_rotate_only(api):
    created = _create(api, signature_algo="standard").json()["webhook_endpoint"]
    secret = created["secret"]
    assert secret.startswith("whsec_")
    path = f"/api/v1/webhook_endpoints/{created['lago_id']}"
    assert "secret" not in api.get(path).json()["webhook_endpoint"]
    assert "secret" not in api.get("/api/v1/webhook_endpoints").json()["webhook_endpoints"][0]
    assert (
        "secret"
        not in api.put(path, {"webhook_endpoint": {"name": "x"}}, format="json").json()[
            "webhook_endpoint"
        ]
    )

    rotated = api.post(path + "/rotate_secret").json()["webhook_endpoint"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.previous_standard_secret == secret


def test_switching_to_standard_shows_the_new_secret_once(api):
    created = _create(api).json()["webhook_endpoint"]
    path = f"/api/v1/webhook_endpoints/{created['lago_id']}"
    switched = api.put(path, {"webhook_endpoint": {"signature_algo": "standard"}}, format="json")
    assert switched.json()["webhook_endpoint"]["secret"].startswith("whsec_")
    again = api.put(path, {"webhook_endpoint": {"signature_algo": "standard"}}, format="json")
    assert "secret" not in again.json()["webhook_endpoint"]


def test_rotating_a_non_standard_endpoint_is_refused(api):
    created = _create(api, signature_algo="hmac").json()["webhook_endpoint"]
    response = api.post(f"/api/v1/webhook_endpoints/{created['lago_id']}/rotate_secret")
    assert response.status_code == 405
    assert response.json()["code"] == "not_standard_endpoint"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"webhook_url": "ftp://x.example.com"}, {"webhook_url": ["url_is_invalid"]}),
        ({"webhook_url": "http://169.254.169.254/"}, {"webhook_url": ["url_is_invalid"]}),
        ({"signature_algo": "md5"}, {"signature_algo": ["value_is_invalid"]}),
        # WebhookEndpoint#validate_event_types: a name outside Lago's list.
        ({"event_types": ["Invoice Created"]}, {"event_types": ["invalid_types"]}),
        ({"event_types": ["invoice.exploded"]}, {"event_types": ["invalid_types"]}),
    ],
)
def test_validation_errors(api, fields, details):
    response = _create(api, **fields)
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }


def test_duplicates_and_the_limit_of_ten(api):
    assert _create(api).status_code == 200
    assert _create(api).json()["error_details"] == {"webhook_url": ["value_already_exist"]}
    for n in range(9):
        assert _create(api, webhook_url=f"{URL}/{n}").status_code == 200
    assert _create(api, webhook_url=URL + "/11").json()["error_details"] == {
        "base": ["exceeded_limit"]
    }


def test_another_organizations_endpoint_is_not_found(api):
    other, other_key = make_organization()
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    lago_id = _create(theirs).json()["webhook_endpoint"]["lago_id"]
    body = {"webhook_endpoint": {"name": "mine now"}}
    for method in ("get", "put", "delete"):
        response = getattr(api, method)(
            f"/api/v1/webhook_endpoints/{lago_id}", body if method == "put" else None, format="json"
        )
        assert response.status_code == 404
    assert api.get("/api/v1/webhook_endpoints").json()["webhook_endpoints"] == []
    assert api.get("/api/v1/webhook_endpoints/not-a-uuid").status_code == 404
    assert WebhookEndpoint.objects.filter(organization=other).count() == 1


def test_public_key_is_stable_and_needs_a_key(api):
    first = api.get("/api/v1/webhooks/json_public_key")
    second = api.get("/api/v1/webhooks/json_public_key")
    assert first.status_code == 200 and first.json() == second.json()
    pem = base64.b64decode(first.json()["webhook"]["public_key"])
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    serialization.load_pem_public_key(pem)
    assert APIClient().get("/api/v1/webhooks/json_public_key").status_code == 401


def test_a_configured_jwt_key_is_the_one_served(api, settings):
    private = signing.generate_rsa_private_key_pem()
    settings.WEBHOOK_JWT_PRIVATE_KEY = private.decode()
    served = api.get("/api/v1/webhooks/json_public_key").json()["webhook"]["public_key"]
    assert base64.b64decode(served) == signing.public_key_pem(private)
