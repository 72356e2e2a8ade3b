"""Schemathesis against the served OpenAPI schema (``/api/schema/``), through
the WSGI app in this process: every operation fuzzed with org A's key, then
replayed with org A's real ids (so the found paths are exercised, not only
404s) and with org B's ids (never found, never leaked)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.system.conftest import Tenant, assert_no_leak, make_tenant

# The WSGI handler closes the database connection after each request, which a
# test wrapped in a transaction cannot survive: these tests commit for real.
pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

# Bounded so the module runs in about a minute (about 25 operations).
MAX_EXAMPLES = 12

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(db, settings):
    # Lotus pdf_url waits for a worker; none runs here, so do not wait.
    settings.LOTUS_PDF_WAIT_SECONDS = 0
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def tenants(db) -> tuple[Tenant, Tenant]:
    # E-invoicing tenants: download_xml finds a stored XML, as download a PDF.
    return (
        make_tenant("A", with_pdf=True, einvoicing=True),
        make_tenant("B", with_pdf=True, einvoicing=True),
    )


def _call(case, headers: dict[str, str]):
    # Generated credentials are dropped, so the key under test is the one
    # that authenticates.
    kept = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in ("authorization", "x-api-key")
    }
    case.headers = {**kept, **headers}
    return case.call()


def _rates(settings, rate: str) -> None:
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = dict.fromkeys(rest["DEFAULT_THROTTLE_RATES"], rate)
    settings.REST_FRAMEWORK = rest


@pytest.fixture
def limits_out_of_reach(settings):
    """The fuzz sends thousands of requests a minute with one key: under the shipped
    limits most of the later operations would answer 429 (documented) instead of
    being fuzzed. Found in a CI run that went faster than this machine's."""
    _rates(settings, "100000000/min")


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzzed_operations(case, tenants, limits_out_of_reach):
    a, b = tenants

    response = _call(case, a.auth)
    case.validate_response(response, checks=CHECKS)
    assert_no_leak(response.content, b)

    # No key, a wrong key, and org B's key in the wrong header scheme are
    # never let through.
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"X-API-KEY": b.key + "x"}):
        refused = _call(case, headers)
        assert refused.status_code == 401, (headers, refused.status_code, refused.text)
        case.validate_response(refused, checks=CHECKS)

    if case.path_parameters:
        # Fresh cases rather than edits of the generated one: schemathesis
        # re-derives an edited case's headers, dropping the key.
        own = {k: a.path_values().get(k, v) for k, v in case.path_parameters.items()}
        theirs = {k: b.path_values().get(k, v) for k, v in own.items()}
        for values, is_ours in ((own, True), (theirs, False)):
            replay = case.operation.Case(
                path_parameters=values,
                query=case.query,
                body=case.body,
                media_type=case.media_type,
            )
            response = _call(replay, a.auth)
            replay.validate_response(response, checks=CHECKS)
            assert_no_leak(response.content, b)
            if not is_ours:
                assert response.status_code in (400, 404, 422), (replay.path, response.text)


# Regressions for what the fuzzing found, deterministic.


def test_every_operation_documents_the_parsers_errors(api_schema):
    """Found: a body that is not JSON got an undocumented 400 (and 413/415
    were undocumented too) on every Lago write."""
    for result in api_schema.get_all_operations():
        operation = result.ok()
        documented = set(operation.definition.raw["responses"])
        assert {"400", "413", "415"} <= documented, (operation.label, documented)


def test_an_endpoint_answer_without_a_new_secret_matches_its_schema(api_schema, tenants):
    """Found: create/update of a non-standard endpoint answered without
    ``secret``, which the schema declared required."""
    a, _ = tenants
    operation = api_schema["/api/v1/webhook_endpoints/{endpoint_id}"]["PUT"]
    case = operation.Case(
        path_parameters={"endpoint_id": str(a.endpoint.id)},
        body={"webhook_endpoint": {"signature_algo": "jwt", "name": ""}},
        media_type="application/json",
        headers=a.auth,
    )
    response = case.call()
    assert response.status_code == 200
    assert "secret" not in response.json()["webhook_endpoint"]
    case.validate_response(response, checks=CHECKS)


def test_every_operation_documents_the_rate_limits(api_schema):
    """Found in CI: a fast fuzzing run met the per-key limit, and the 429 it got (with
    Retry-After, as lago-python-client reads it) was documented nowhere."""
    for result in api_schema.get_all_operations():
        operation = result.ok()
        assert "429" in operation.definition.raw["responses"], operation.label


def test_a_rate_limited_answer_matches_the_schema(api_schema, tenants, settings):
    """The 429 itself, in each face's error format, conforms to what is documented. The
    key's count is one for both faces: two requests pass, every one after is limited."""
    a, _ = tenants
    _rates(settings, "2/min")
    taxes = api_schema["/api/v1/taxes"]["GET"]
    customers = api_schema["/api/customers/"]["GET"]
    calls = (taxes, taxes, taxes, customers)
    answers = [operation.Case(headers=a.auth).call() for operation in calls]
    assert [r.status_code for r in answers] == [200, 200, 429, 429], answers[-1].text
    for operation, limited in zip(calls[2:], answers[2:], strict=True):
        # schemathesis keeps headers as lower-case names with lists of values.
        [wait] = limited.headers["retry-after"]
        assert int(wait) >= 1
        operation.Case(headers=a.auth).validate_response(limited, checks=CHECKS)
