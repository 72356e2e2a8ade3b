"""The sweep (due deliveries, lost attempts, disabled endpoints), the lease fence, and one
attempt in flight per endpoint."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from invoicing.models import WebhookDelivery, WebhookEndpoint
from invoicing.services import webhooks
from invoicing.webhooks.sender import AttemptResult, Outcome
from tests.factories import make_invoice

from .conftest import Reply
from .scripted import endpoint

pytestmark = pytest.mark.django_db

S = WebhookDelivery.Status


@pytest.fixture
def sent(monkeypatch):
    """Messages the service sends to the broker (task name, delivery id)."""
    messages: list[str] = []
    monkeypatch.setattr(
        webhooks, "send", lambda task, delivery_id, **kw: messages.append(delivery_id)
    )
    monkeypatch.setattr(
        webhooks, "send_on_commit", lambda task, delivery_id, **kw: messages.append(delivery_id)
    )
    return messages


def _delivery(organization, ep: WebhookEndpoint) -> WebhookDelivery:
    invoice = make_invoice(organization)
    return WebhookDelivery.objects.get(endpoint=ep, event__object_id=invoice.id)


def _set(delivery: WebhookDelivery, **fields) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    delivery.refresh_from_db()


def _ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def test_due_deliveries_are_nudged_once_and_fresh_ones_left_to_their_message(organization, sent):
    ep = endpoint(organization, "https://a.example.com/h")
    fresh, stale, retry_due, future = (_delivery(organization, ep) for _ in range(4))
    # A message left when it was created a moment ago: nothing to do yet.
    # A message was sent two minutes ago and the delivery is still pending: it was lost.
    _set(stale, updated_at=_ago(120), next_attempt_at=_ago(120))
    # Failed 10 min ago, retry due now: no message was ever sent for this retry.
    _set(retry_due, updated_at=_ago(600), next_attempt_at=_ago(1))
    _set(future, updated_at=_ago(600), next_attempt_at=timezone.now() + dt.timedelta(hours=1))

    result = webhooks.webhook_deliveries_sweep()
    assert sorted(sent) == sorted([str(stale.pk), str(retry_due.pk)])
    assert result.nudged == 2
    sent.clear()
    assert webhooks.webhook_deliveries_sweep().nudged == 0  # not again every 5 s
    assert sent == []
    assert fresh.status == S.PENDING


def test_the_sweep_is_bounded(organization, sent):
    ep = endpoint(organization, "https://a.example.com/h")
    for _ in range(5):
        _set(_delivery(organization, ep), updated_at=_ago(120), next_attempt_at=_ago(120))
    assert webhooks.webhook_deliveries_sweep(limit=2).nudged == 2
    assert webhooks.webhook_deliveries_sweep(limit=2).nudged == 2
    assert webhooks.webhook_deliveries_sweep(limit=2).nudged == 1


def test_lost_attempts_are_taken_back_or_failed_when_none_is_left(organization, sent, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0, 5, 300)
    ep = endpoint(organization, "https://a.example.com/h")
    other = endpoint(organization, "https://b.example.com/h")
    lost = _delivery(organization, ep)
    exhausted = _delivery(organization, other)
    in_flight = _delivery(organization, endpoint(organization, "https://c.example.com/h"))
    _set(lost, status=S.SENDING, attempt_count=1, next_attempt_at=_ago(1))
    _set(exhausted, status=S.SENDING, attempt_count=3, next_attempt_at=_ago(1))
    _set(in_flight, status=S.SENDING, attempt_count=1, next_attempt_at=_ago(-30))

    result = webhooks.webhook_deliveries_sweep()
    for d in (lost, exhausted, in_flight):
        d.refresh_from_db()
    assert (result.recovered, result.failed) == (1, 1)
    assert lost.status == S.PENDING and "lost" in lost.last_error
    assert str(lost.pk) in sent  # sent again in the same sweep
    assert exhausted.status == S.FAILED and "no attempt left" in exhausted.last_error
    assert in_flight.status == S.SENDING


def test_pending_deliveries_to_a_disabled_endpoint_are_failed(organization, sent):
    ep = endpoint(organization, "https://a.example.com/h")
    delivery = _delivery(organization, ep)
    WebhookEndpoint.objects.filter(pk=ep.pk).update(enabled=False)
    assert webhooks.webhook_deliveries_sweep().failed == 1
    delivery.refresh_from_db()
    assert delivery.status == S.FAILED and delivery.last_error == "endpoint disabled"
    assert sent == []


def test_a_worker_that_lost_its_lease_records_its_attempt_but_moves_nothing(
    organization, sent, monkeypatch
):
    ep = endpoint(organization, "https://a.example.com/h")
    delivery = _delivery(organization, ep)

    def slow_post(url, **kwargs):
        # While "we" hang past the lease, the sweep hands the delivery to someone else.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=_ago(1))
        webhooks.webhook_deliveries_sweep()
        return AttemptResult(Outcome.SUCCESS, duration_ms=50_000, status_code=200)

    monkeypatch.setattr(webhooks.sender, "post", slow_post)
    report = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert report.result == "skipped" and report.outcome == "success"
    assert delivery.status == S.PENDING  # the sweep's decision stands
    assert list(delivery.attempts.values_list("attempt_number", "outcome")) == [(1, "success")]


def test_one_attempt_in_flight_per_endpoint(organization, receiver_factory, sent):
    receiver = receiver_factory(Reply(200))
    busy = endpoint(organization, receiver.url + "?busy")
    free = endpoint(organization, receiver.url + "?free")
    invoice = make_invoice(organization)
    waiting = WebhookDelivery.objects.get(endpoint=busy, event__object_id=invoice.id)
    elsewhere = WebhookDelivery.objects.get(endpoint=free, event__object_id=invoice.id)
    in_flight = _delivery(organization, busy)
    _set(in_flight, status=S.SENDING, attempt_count=1, next_attempt_at=_ago(-30))

    assert webhooks.webhook_delivery_attempt(delivery_id=waiting.pk).result == "deferred"
    assert webhooks.webhook_delivery_attempt(delivery_id=elsewhere.pk).result == "succeeded"
    assert [r.path for r in receiver.requests] == ["/hook?free"]
    _set(waiting, updated_at=_ago(120))
    sent.clear()
    assert webhooks.webhook_deliveries_sweep().nudged == 0  # the busy endpoint is left alone
    assert sent == []

    # When the attempt in flight ends, the next due delivery of its endpoint is nudged.
    _set(in_flight, status=S.PENDING, next_attempt_at=_ago(0), attempt_count=0)
    webhooks.webhook_delivery_attempt(delivery_id=in_flight.pk)
    assert sent == [str(waiting.pk)]
    assert webhooks.webhook_delivery_attempt(delivery_id=waiting.pk).result == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_while_its_request_is_out(organization, monkeypatch):
    ep = endpoint(organization, "https://a.example.com/h")
    delivery = _delivery(organization, ep)
    monkeypatch.setattr(webhooks, "send_on_commit", lambda *a, **kw: None)

    def post_while_deleted(url, **kwargs):
        WebhookEndpoint.objects.filter(pk=ep.pk).delete()
        return AttemptResult(Outcome.SUCCESS, duration_ms=5, status_code=200)

    monkeypatch.setattr(webhooks.sender, "post", post_while_deleted)
    report = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert report.result == "skipped" and report.outcome == "success"
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()
