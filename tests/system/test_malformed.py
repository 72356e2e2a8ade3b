"""Hostile bodies against every write route of both faces: a clear 4xx in the
face's own format, never a 500, and never a half-written row."""

from __future__ import annotations

import copy
import json

import pytest
from rest_framework.test import APIClient

from invoicing.models import AddOn, Customer, Fee, Invoice, PdfJob, Tax, WebhookEndpoint
from tests.system.conftest import Tenant, make_tenant

pytestmark = [pytest.mark.system, pytest.mark.django_db]

MODELS = (Customer, Tax, AddOn, Invoice, Fee, WebhookEndpoint, PdfJob)


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant("A")


@pytest.fixture
def client(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.key}")
    return client


def _write_routes(t: Tenant) -> list[tuple[str, str, dict]]:
    """(method, path, a valid body) for every route that writes."""
    fee = {"add_on_code": t.add_on.code, "units": "2", "unit_amount_cents": 100}
    return [
        ("post", "/api/v1/customers", {"customer": {"external_id": "new-c", "name": "N"}}),
        ("post", "/api/v1/taxes", {"tax": {"code": "new-t", "name": "VAT", "rate": "10"}}),
        ("put", f"/api/v1/taxes/{t.tax.code}", {"tax": {"name": "VAT 2"}}),
        (
            "post",
            "/api/v1/add_ons",
            {"add_on": {"code": "new-a", "name": "N", "amount_cents": 5, "amount_currency": "EUR"}},
        ),
        ("put", f"/api/v1/add_ons/{t.add_on.code}", {"add_on": {"name": "N2"}}),
        (
            "post",
            "/api/v1/invoices",
            {"invoice": {"external_customer_id": t.customer.external_id, "fees": [fee]}},
        ),
        (
            "put",
            f"/api/v1/invoices/{t.draft.id}",
            {"invoice": {"payment_status": "pending", "metadata": [{"key": "k", "value": "v"}]}},
        ),
        (
            "post",
            "/api/v1/webhook_endpoints",
            {"webhook_endpoint": {"webhook_url": "https://new.example.com/h", "name": "n"}},
        ),
        (
            "put",
            f"/api/v1/webhook_endpoints/{t.endpoint.id}",
            {"webhook_endpoint": {"name": "renamed"}},
        ),
        (
            "post",
            "/api/customers/",
            {
                "customer_id": "new-lotus",
                "email": "a@example.com",
                "customer_name": "N",
                "properties": {"tier": "gold"},
                "address": {"city": "Paris", "country": "FR"},
            },
        ),
    ]


def _snapshot() -> dict:
    return {model.__name__: sorted(map(repr, model.objects.values())) for model in MODELS}


def _assert_face_error(path: str, response, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, (path, response.status_code, response.content)
    if status is not None:
        assert response.status_code == status, (path, response.status_code, response.content)
    body = response.json()
    if path.startswith("/api/v1/"):
        assert body["status"] == response.status_code and body["error"], body
    else:
        assert set(body) >= {"type", "detail", "title"}, body
        assert body["type"].startswith("https://docs.uselotus.io/errors/error-responses#")


def _send_raw(client, method, path, raw: bytes, content_type="application/json"):
    return client.generic(method.upper(), path, raw, content_type=content_type)


# Bodies that are not acceptable JSON at all: the parser's 400.
RAW_BODIES = {
    "malformed": b'{"a": ',
    "invalid utf-8": b'{"a": "\xff\xfe"}',
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "-Infinity": b'{"a": -Infinity}',
    # Deep enough to exhaust Python's recursion limit in json.loads.
    "deeply nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "lone surrogate": b'{"a": "\\ud800"}',
    "trailing garbage": b'{"a": 1} x',
}


@pytest.mark.parametrize("kind", RAW_BODIES)
def test_unparseable_bodies_are_400_in_the_face_format(client, tenant, kind):
    for method, path, _ in _write_routes(tenant):
        before = _snapshot()
        response = _send_raw(client, method, path, RAW_BODIES[kind])
        if kind == "lone surrogate":
            # Valid JSON; the string is refused by validation, or stored only
            # if PostgreSQL accepted it. Never a 500.
            assert response.status_code < 500, (path, response.content)
            continue
        _assert_face_error(path, response, 400)
        assert _snapshot() == before, (kind, path)


def test_a_body_over_max_request_bytes_is_413_everywhere(client, tenant, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    for method, path, body in _write_routes(tenant):
        raw = json.dumps({**body, "padding": "x" * 2048}).encode()
        before = _snapshot()
        response = _send_raw(client, method, path, raw)
        _assert_face_error(path, response, 413)
        assert _snapshot() == before, path


def test_a_body_that_is_not_json_is_415(client, tenant):
    for method, path, _ in _write_routes(tenant):
        response = _send_raw(client, method, path, b"a=1", content_type="text/plain")
        _assert_face_error(path, response, 415)


@pytest.mark.parametrize("top", [[], "s", 1, None, True, [{"a": 1}]])
def test_a_body_of_the_wrong_type_is_refused(client, tenant, top):
    for method, path, _ in _write_routes(tenant):
        before = _snapshot()
        response = _send_raw(client, method, path, json.dumps(top).encode())
        _assert_face_error(path, response)
        assert _snapshot() == before, (top, path)


NUL = "a\x00b"
TOO_LONG = "x" * 100_000
# Values refused wherever they go: no field accepts NUL or 100,000 characters.
ALWAYS_REFUSED = {"NUL byte": NUL, "over-long string": TOO_LONG}
# Values some fields take (a number where a number goes); never a 500.
ODD = {
    "1e30": 1e30,
    "10**30": 10**30,
    "beyond bigint": 2**63,
    "negative": -(10**12),
    "3 decimals": "1.005",
    "array": [1, "a"],
    "object": {"a": [1]},
    "bool": True,
    # Unknown keys are ignored (a partial update with one is a no-op), except
    # in free-form objects, which must refuse it (see the properties test).
    "NUL key": {"a\x00": 1},
    "emoji and RTL": "\U0001f4a9\u202e\ufeff",
    "deep object": json.loads('{"a":' * 200 + "1" + "}" * 200),
}


def _leaves(body, prefix=()):
    """Paths to every value of the body, containers included."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield (*prefix, key)
            yield from _leaves(value, (*prefix, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield (*prefix, index)
            yield from _leaves(value, (*prefix, index))


def _replace(body, path, value):
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def _mutations(tenant):
    for method, path, body in _write_routes(tenant):
        # The Lago root key itself is a leaf too: an array or a string for it.
        for leaf in _leaves(body):
            for name, value in {**ALWAYS_REFUSED, **ODD}.items():
                yield method, path, leaf, name, _replace(body, leaf, value)


def test_hostile_values_in_every_field_never_500_nor_half_write(client, tenant):
    failures = []
    for method, path, leaf, name, body in _mutations(tenant):
        before = _snapshot()
        response = getattr(client, method)(path, body, format="json")
        where = (method, path, ".".join(map(str, leaf)), name, response.status_code)
        if response.status_code >= 500:
            failures.append(where)
            continue
        if name in ALWAYS_REFUSED or (name == "NUL key" and leaf[-1] == "properties"):
            if not 400 <= response.status_code < 500:
                failures.append(where)
                continue
        if response.status_code >= 400:
            _assert_face_error(path, response)
            if _snapshot() != before:
                failures.append((*where, "rows changed"))
    assert not failures, failures


def test_nul_inside_lotus_properties_is_a_400_not_a_500(client, tenant):
    # PostgreSQL's jsonb refuses \u0000 in keys and strings alike.
    for properties in ({"k": NUL}, {"a\x00": 1}, {"k": [{"deep": NUL}]}):
        before = _snapshot()
        response = client.post(
            "/api/customers/",
            {"customer_id": "p", "email": "p@example.com", "properties": properties},
            format="json",
        )
        _assert_face_error("/api/customers/", response, 400)
        assert _snapshot() == before


def test_nul_and_over_long_ids_in_the_path_are_404_not_500(client, tenant):
    for path in [
        "/api/v1/customers/{}",
        "/api/v1/taxes/{}",
        "/api/v1/add_ons/{}",
        "/api/v1/invoices/{}",
        "/api/v1/webhook_endpoints/{}",
        "/api/customers/{}/",
    ]:
        for key in ("a%00b", "x" * 5000):
            response = client.get(path.format(key))
            _assert_face_error(path, response, 404)
    for key in ("a%00b", "x" * 5000):
        for path in ("/api/invoices/{}/", "/api/invoices/{}/pdf_url/"):
            response = client.get(path.format(key))
            assert response.status_code in (400, 404), response.content
            _assert_face_error(path, response)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/invoices", "/api/v1/customers", "/api/invoices/", "/api/customers/"],
)
def test_hostile_query_strings_are_4xx_or_ignored(client, tenant, path):
    for query in (
        "page=0",
        "page=-1",
        "page=99999999999999999999",
        "per_page=100000",
        "external_customer_id=a%00b",
        "customer_id=a%00b",
        "status=%00",
        "payment_status=a%00b",
        "issuing_date_from=9999-99-99",
        "issuing_date_to=0000-01-01",
        "page=1&page=2",
        "page=%ff%fe",
    ):
        response = client.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query, response.content)
        if response.status_code >= 400:
            _assert_face_error(path, response)
