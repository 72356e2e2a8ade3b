"""Delivery attempts against real receivers on 127.0.0.1: every signature checked by code
that is not ours, the state machine, retries on one id, 3xx / 410 / 429, the deadline, the
response cap, endpoint health and operator actions."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import tracemalloc

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from invoicing.errors import NotAllowed
from invoicing.models import WebhookDelivery, WebhookEndpoint
from invoicing.services import webhooks
from invoicing.services.webhook_endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
)
from invoicing.signals import webhook_attempted
from tests.factories import make_invoice

from .conftest import Reply
from .scripted import ScriptedReceiver, endpoint, hang, make_due

pytestmark = pytest.mark.django_db

DEADLINE = 2.0
MARGIN = 1.0


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = DEADLINE
    settings.WEBHOOK_RETRY_SCHEDULE = (0, 5, 300, 1800)


def header(request, name: str) -> str | None:
    return {k.lower(): v for k, v in request.headers.items()}.get(name.lower())


def created_delivery(organization, ep: WebhookEndpoint) -> WebhookDelivery:
    invoice = make_invoice(organization)
    return WebhookDelivery.objects.get(
        endpoint=ep, event__object_id=invoice.id, event__event_type="invoice.created"
    )


def attempt(delivery: WebhookDelivery) -> webhooks.AttemptReport:
    report = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return report


# --- signatures, verified independently ----------------------------------------------------


def test_jwt_hmac_and_standard_signatures_verify_with_independent_code(
    org_and_key, receiver_factory
):
    organization, key = org_and_key
    receiver = receiver_factory()
    jwt_ep = endpoint(organization, receiver.url + "?jwt", signature_algo="jwt")
    hmac_ep = endpoint(organization, receiver.url + "?hmac", signature_algo="hmac")
    std_ep = webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": receiver.url + "?std", "signature_algo": "standard"},
    )
    deliveries = [created_delivery(organization, ep) for ep in (jwt_ep, hmac_ep, std_ep)]
    for delivery in deliveries:
        assert attempt(delivery).result == "succeeded"
    by_path = {r.path.split("?")[1]: r for r in receiver.requests}

    # jwt: PyJWT with the public key served to API clients.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    served = api.get("/api/v1/webhooks/json_public_key").json()["webhook"]["public_key"]
    public_pem = base64.b64decode(served)
    got = by_path["jwt"]
    claims = jwt.decode(
        header(got, "X-Lago-Signature"),
        public_pem,
        algorithms=["RS256"],
        issuer=settings.PUBLIC_BASE_URL,
    )
    assert claims["data"] == got.body.decode("utf-8")
    assert header(got, "X-Lago-Signature-Algorithm") == "jwt"

    # hmac: the standard library, keyed with the organization's key, over the exact bytes.
    got = by_path["hmac"]
    expected = base64.b64encode(
        hmac.new(organization.hmac_key.encode(), got.body, hashlib.sha256).digest()
    ).decode()
    assert header(got, "X-Lago-Signature") == expected
    assert header(got, "X-Lago-Signature-Algorithm") == "hmac"

    # standard: the reference verifier from PyPI; no Lago signature beside it.
    got = by_path["std"]
    assert Webhook(std_ep.standard_secret).verify(got.body, got.headers)["webhook_type"] == (
        "invoice.created"
    )
    assert header(got, "X-Lago-Signature") is None

    for delivery, path in zip(deliveries, ("jwt", "hmac", "std"), strict=True):
        got = by_path[path]
        assert header(got, "X-Lago-Unique-Key") == str(delivery.pk)
        assert header(got, "webhook-id") == str(delivery.pk)
        assert header(got, "Content-Type") == "application/json"


def test_rotation_sends_both_signatures_during_the_grace_period_only(
    organization, receiver_factory
):
    receiver = receiver_factory()
    ep = webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": receiver.url, "signature_algo": "standard"},
    )
    old_secret = ep.standard_secret
    ep = webhook_endpoint_rotate_secret(endpoint=ep)
    new_secret = ep.standard_secret
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    grace = ep.previous_secret_expires_at - timezone.now()
    assert dt.timedelta(hours=23, minutes=59) < grace <= dt.timedelta(hours=24)

    attempt(created_delivery(organization, ep))
    got = receiver.requests[-1]
    assert len(header(got, "webhook-signature").split(" ")) == 2
    Webhook(old_secret).verify(got.body, got.headers)
    Webhook(new_secret).verify(got.body, got.headers)

    WebhookEndpoint.objects.filter(pk=ep.pk).update(
        previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    attempt(created_delivery(organization, ep))
    got = receiver.requests[-1]
    Webhook(new_secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(got.body, got.headers)


def test_body_is_compact_utf8_lago_payload_in_lago_order(organization, receiver_factory):
    receiver = receiver_factory()
    ep = endpoint(organization, receiver.url)
    invoice = make_invoice(organization, purchase_order_number="Bon de commande n°7")
    delivery = WebhookDelivery.objects.get(endpoint=ep, event__object_id=invoice.id)
    attempt(delivery)
    body = receiver.requests[-1].body
    payload = json.loads(body)
    assert body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert "n°7".encode() in body  # raw UTF-8, not \\u escapes
    assert list(payload) == ["webhook_type", "object_type", "organization_id", "invoice"]
    assert payload["webhook_type"] == "invoice.created"
    assert payload["organization_id"] == str(organization.id)
    fields = list(payload["invoice"])
    assert fields[:4] == ["lago_id", "billing_entity_code", "sequential_id", "number"]
    assert fields[-1] == "customer"
    assert payload["invoice"]["lago_id"] == str(invoice.id)
    assert payload["invoice"]["customer"]["lago_id"] == str(invoice.customer_id)


# --- retries and the state machine ---------------------------------------------------------


def test_500_twice_then_200_is_three_attempts_with_one_id(organization):
    receiver = ScriptedReceiver([Reply(500), Reply(500), Reply(200)])
    try:
        ep = endpoint(organization, receiver.url, signature_algo="hmac")
        delivery = created_delivery(organization, ep)
        signals = []
        webhook_attempted.connect(lambda **kw: signals.append(kw), weak=False, dispatch_uid="t")
        try:
            assert attempt(delivery).result == "retry"
            assert delivery.status == "pending" and delivery.last_status_code == 500
            # The second step of the schedule is 5 s (+/-20 % jitter).
            wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
            assert 3.5 < wait < 6.5
            assert attempt(delivery).result == "skipped"  # not due yet: nothing sent
            assert len(receiver.requests) == 1
            make_due(delivery)
            assert attempt(delivery).result == "retry"
            assert ep.failing_since is None
            ep.refresh_from_db()
            assert ep.failing_since is not None
            make_due(delivery)
            assert attempt(delivery).result == "succeeded"
        finally:
            webhook_attempted.disconnect(dispatch_uid="t")
    finally:
        receiver.close()

    assert delivery.status == "succeeded" and delivery.attempt_count == 3
    assert delivery.next_attempt_at is None and delivery.last_error == ""
    keys = {header(r, "X-Lago-Unique-Key") for r in receiver.requests}
    ids = {header(r, "webhook-id") for r in receiver.requests}
    assert len(receiver.requests) == 3 and keys == ids == {str(delivery.pk)}
    attempts = list(delivery.attempts.values_list("attempt_number", "outcome", "status_code"))
    assert attempts == [(1, "server_error", 500), (2, "server_error", 500), (3, "success", 200)]
    ep.refresh_from_db()
    assert ep.failing_since is None  # a success ends the failing streak
    assert [s["outcome"] for s in signals] == ["server_error", "server_error", "success"]
    assert signals[-1]["delivery_id"] == str(delivery.pk)
    assert signals[-1]["event_type"] == "invoice.created"
    assert signals[-1]["status_code"] == 200
    assert {"endpoint_id", "organization_id", "duration_ms"} <= set(signals[-1])


def test_the_last_attempt_fails_the_delivery(organization, receiver_factory, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0, 5)
    ep = endpoint(organization, receiver_factory(Reply(502)).url)
    delivery = created_delivery(organization, ep)
    assert attempt(delivery).result == "retry"
    make_due(delivery)
    assert attempt(delivery).result == "failed"
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    assert delivery.last_error == "HTTP 502" and delivery.attempt_count == 2


def test_a_redirect_is_a_failure_and_is_not_followed(organization, receiver_factory):
    target = receiver_factory()
    redirector = receiver_factory(Reply(302, {"Location": target.url}, b""))
    delivery = created_delivery(organization, endpoint(organization, redirector.url))
    assert attempt(delivery).result == "retry"
    assert delivery.last_status_code == 302
    assert delivery.attempts.get().outcome == "redirect"
    assert len(redirector.requests) == 1 and target.requests == []


def test_410_fails_the_delivery_and_disables_the_endpoint(organization, receiver_factory):
    receiver = receiver_factory(Reply(410))
    ep = endpoint(organization, receiver.url)
    delivery = created_delivery(organization, ep)
    later = created_delivery(organization, ep)
    assert attempt(delivery).result == "failed"
    ep.refresh_from_db()
    assert not ep.enabled and ep.disabled_reason == "410 Gone" and ep.disabled_at is not None
    # Pending deliveries to a disabled endpoint are failed, not attempted.
    assert attempt(later).result == "skipped"
    assert later.status == "failed" and later.last_error == "endpoint disabled"
    assert len(receiver.requests) == 1
    # And no new delivery is made for it.
    invoice = make_invoice(organization)
    assert not WebhookDelivery.objects.filter(event__object_id=invoice.id).exists()


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(organization, receiver_factory, status):
    ep = endpoint(organization, receiver_factory(Reply(status, {"Retry-After": "120"})).url)
    delivery = created_delivery(organization, ep)
    before = timezone.now()
    assert attempt(delivery).result == "retry"
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 120 <= wait <= 120 * 1.2 + 1  # never sooner than asked; jitter only adds
    assert delivery.attempts.get().response_headers["Retry-After"] == "120"


def test_the_attempt_row_keeps_what_the_receiver_answered(organization, receiver_factory):
    headers = {"Retry-After": "7", "Content-Type": "text/plain"}
    reply = Reply(503, headers, "busy, réessayez".encode())
    ep = endpoint(organization, receiver_factory(reply).url)
    delivery = created_delivery(organization, ep)
    before = timezone.now()
    assert attempt(delivery).result == "retry"
    row = delivery.attempts.get()
    assert (row.attempt_number, row.outcome, row.status_code) == (1, "rate_limited", 503)
    assert bytes(row.response_body) == "busy, réessayez".encode()
    assert row.response_headers == headers
    assert row.remote_ip == "127.0.0.1"
    assert before - dt.timedelta(seconds=1) <= row.started_at <= timezone.now()
    assert 0 <= row.duration_ms < DEADLINE * 1000
    assert delivery.last_status_code == 503 and delivery.status == "pending"


def test_a_hanging_receiver_cannot_outlast_the_deadline(organization, raw_server_factory):
    server = raw_server_factory(hang)
    delivery = created_delivery(organization, endpoint(organization, server.url))
    started = time.monotonic()
    assert attempt(delivery).result == "retry"
    elapsed = time.monotonic() - started
    assert DEADLINE - 0.1 <= elapsed <= DEADLINE + MARGIN
    recorded = delivery.attempts.get()
    assert recorded.outcome == "timeout" and recorded.status_code is None
    assert DEADLINE * 1000 - 100 <= recorded.duration_ms <= (DEADLINE + MARGIN) * 1000
    assert "deadline" in delivery.last_error


def _endless_200(conn, stop) -> None:
    from .conftest import read_request

    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(100 * 1024 * 1024 // len(chunk)):
        if stop.is_set():
            return
        conn.sendall(chunk)  # raises once the client has hung up, ending the loop


def test_a_100_mb_answer_costs_20_kb(organization, raw_server_factory):
    server = raw_server_factory(_endless_200)
    delivery = created_delivery(organization, endpoint(organization, server.url))
    tracemalloc.start()
    try:
        started = time.monotonic()
        report = attempt(delivery)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.result == "succeeded"
    assert elapsed < DEADLINE
    assert peak < 5 * 1024 * 1024
    stored = delivery.attempts.get()
    assert len(bytes(stored.response_body)) == 20_480


# --- endpoint health -----------------------------------------------------------------------


def test_an_endpoint_failing_for_days_is_disabled(organization, receiver_factory):
    ep = endpoint(organization, receiver_factory(Reply(500)).url)
    WebhookEndpoint.objects.filter(pk=ep.pk).update(
        failing_since=timezone.now() - dt.timedelta(days=5, minutes=1)
    )
    attempt(created_delivery(organization, ep))
    ep.refresh_from_db()
    assert not ep.enabled
    assert ep.disabled_reason.startswith("failing continuously since")


def test_an_endpoint_failing_now_and_then_is_never_disabled(organization):
    receiver = ScriptedReceiver([Reply(500), Reply(200), Reply(500), Reply(500)])
    try:
        ep = endpoint(organization, receiver.url)
        six_days_ago = timezone.now() - dt.timedelta(days=6)
        attempt(created_delivery(organization, ep))  # fails: the streak starts now
        # ... days pass, and the endpoint keeps failing now and then ...
        WebhookEndpoint.objects.filter(pk=ep.pk).update(failing_since=six_days_ago)
        attempt(created_delivery(organization, ep))  # one success ends the streak
        ep.refresh_from_db()
        assert ep.failing_since is None
        attempt(created_delivery(organization, ep))  # a new streak, minutes old
        attempt(created_delivery(organization, ep))
    finally:
        receiver.close()
    ep.refresh_from_db()
    assert ep.enabled and ep.failing_since > six_days_ago + dt.timedelta(days=5)


def test_a_failing_endpoint_younger_than_the_limit_stays_enabled(organization, receiver_factory):
    ep = endpoint(organization, receiver_factory(Reply(500)).url)
    WebhookEndpoint.objects.filter(pk=ep.pk).update(
        failing_since=timezone.now() - dt.timedelta(days=4)
    )
    attempt(created_delivery(organization, ep))
    ep.refresh_from_db()
    assert ep.enabled


# --- operators -----------------------------------------------------------------------------


def test_retry_now_and_resend_keep_the_delivery_id(organization, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0,)
    receiver = ScriptedReceiver([Reply(500), Reply(200), Reply(200)])
    try:
        ep = endpoint(organization, receiver.url)
        delivery = created_delivery(organization, ep)
        assert attempt(delivery).result == "failed"  # a one-attempt schedule

        with pytest.raises(NotAllowed):
            webhooks.webhook_delivery_resend(delivery=delivery)
        webhooks.webhook_delivery_retry_now(delivery=delivery)
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.next_attempt_at <= timezone.now()
        assert attempt(delivery).result == "succeeded"

        with pytest.raises(NotAllowed):
            webhooks.webhook_delivery_retry_now(delivery=delivery)
        webhooks.webhook_delivery_resend(delivery=delivery)
        assert attempt(delivery).result == "succeeded"
    finally:
        receiver.close()
    assert [a.attempt_number for a in delivery.attempts.all()] == [1, 2, 3]
    assert {header(r, "X-Lago-Unique-Key") for r in receiver.requests} == {str(delivery.pk)}
    assert len(receiver.requests) == 3


def test_retry_now_needs_an_enabled_endpoint_and_enable_clears_the_record(
    organization, receiver_factory
):
    ep = endpoint(organization, receiver_factory(Reply(410)).url)
    delivery = created_delivery(organization, ep)
    attempt(delivery)
    with pytest.raises(NotAllowed):
        webhooks.webhook_delivery_retry_now(delivery=delivery)
    ep = webhooks.webhook_endpoint_enable(endpoint=ep)
    assert ep.enabled and ep.failing_since is None
    assert ep.disabled_at is None and ep.disabled_reason == ""
    webhooks.webhook_delivery_retry_now(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == "pending"


# --- internal failures ---------------------------------------------------------------------


def test_an_attempt_that_cannot_be_built_fails_without_sending(
    organization, receiver_factory, monkeypatch
):
    receiver = receiver_factory()
    delivery = created_delivery(organization, endpoint(organization, receiver.url))

    def broken(*args, **kwargs):
        raise RuntimeError("no key")

    monkeypatch.setattr(webhooks.signing, "build_headers", broken)
    assert attempt(delivery).result == "failed"
    assert delivery.last_error == "RuntimeError: no key"
    assert delivery.attempts.get().outcome == "internal_error"
    assert receiver.requests == []


def test_a_database_hiccup_while_building_an_attempt_is_retried(
    organization, receiver_factory, monkeypatch
):
    """Issue 15: a read that timed out while the body was built failed the
    delivery for good; it is transient, so the schedule retries it, and the
    next attempt goes out."""
    from django.db import OperationalError

    receiver = receiver_factory()
    delivery = created_delivery(organization, endpoint(organization, receiver.url))
    real_body = webhooks.webhook_body

    def timing_out(event):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(webhooks, "webhook_body", timing_out)
    assert attempt(delivery).result == "retry"
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert delivery.attempts.get().outcome == "internal_transient"
    assert receiver.requests == []
    monkeypatch.setattr(webhooks, "webhook_body", real_body)
    make_due(delivery)
    assert attempt(delivery).result == "succeeded"
    assert len(receiver.requests) == 1
