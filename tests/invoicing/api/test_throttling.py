"""Rates per API key and per organization (issue 15): one tenant cannot take
the web tier from another, and each face says so in its own format."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from invoicing.services.organizations import api_key_issue
from tests.factories import make_organization

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mid_window(monkeypatch):
    """Windows are aligned on the clock: hold it in the middle of a minute so
    no test straddles two windows."""
    from invoicing.api import throttling

    monkeypatch.setattr(throttling.time, "time", lambda: 1_800_000_030.0)


def _rates(per_key: str | None, per_org: str | None):
    from django.conf import settings

    return override_settings(
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"api_key": per_key, "organization": per_org},
        }
    )


def _lago(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_key_over_its_rate_gets_lagos_429_with_the_rate_headers():
    _, key = make_organization()
    client = _lago(key)
    with _rates("3/min", None):
        seen = []
        for _ in range(3):
            response = client.get("/api/v1/taxes")
            assert response.status_code == 200
            seen.append((response["x-ratelimit-limit"], response["x-ratelimit-remaining"]))
        refused = client.get("/api/v1/taxes")
    assert seen == [("3", "2"), ("3", "1"), ("3", "0")]
    assert refused.status_code == 429
    assert refused.json() == {
        "status": 429,
        "error": "Too Many Requests",
        "code": "too_many_requests",
    }
    assert refused["x-ratelimit-remaining"] == "0"
    # The clock stands 30 s into its minute: the window starts again in 30 s.
    assert refused["x-ratelimit-reset"] == "30"
    assert refused["Retry-After"] == "30"


def test_an_organizations_keys_share_its_rate_and_other_tenants_are_untouched():
    organization, key = make_organization()
    second = api_key_issue(organization=organization, name="second").raw_key
    _, other_key = make_organization()
    with _rates(None, "4/min"):
        answers = [_lago(k).get("/api/v1/taxes").status_code for k in (key, second) * 3]
        other = [_lago(other_key).get("/api/v1/taxes").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 200, 429, 429]
    assert other == [200, 200, 200, 200]


def test_the_lotus_face_answers_a_429_in_its_own_format():
    _, key = make_organization()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    with _rates("1/min", None):
        assert client.get("/api/customers/").status_code == 200
        refused = client.get("/api/customers/")
    assert refused.status_code == 429
    body = refused.json()
    assert body["type"].endswith("#client-error") and body["title"] == "throttled"
    assert int(refused["Retry-After"]) >= 1


def test_lago_python_client_reads_the_limit(live_server):
    from lago_python_client.client import Client
    from lago_python_client.exceptions import LagoRateLimitError
    from lago_python_client.services.rate_limit import RateLimitRetryConfig

    _, key = make_organization()
    client = Client(api_key=key, api_url=live_server.url)
    client.rate_limit_retry_config = RateLimitRetryConfig(max_retries=0)
    with _rates("2/min", None):
        client.taxes.find_all()
        client.taxes.find_all()
        with pytest.raises(LagoRateLimitError) as error:
            client.taxes.find_all()
    assert error.value.status_code == 429
    assert (error.value.limit, error.value.remaining) == (2, 0)
    assert error.value.reset and error.value.reset >= 1


def test_a_redis_outage_serves_requests_rather_than_failing_them(settings):
    _, key = make_organization()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with _rates("1/min", None):
        statuses = [_lago(key).get("/api/v1/taxes").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


def test_without_redis_each_process_counts_its_own(settings):
    _, key = make_organization()
    settings.REDIS_URL = ""
    with _rates("2/min", None):
        statuses = [_lago(key).get("/api/v1/taxes").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
