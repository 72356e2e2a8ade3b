"""The sweep (due deliveries, lost attempts, disabled endpoints), the lease fence, and what
may be in flight: an endpoint's window, an organization's cap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from invoicing.models import WebhookDelivery, WebhookEndpoint
from invoicing.services import webhooks
from invoicing.webhooks.sender import AttemptResult, Outcome
from tests.factories import make_invoice, make_organization

from .conftest import Reply
from .scripted import endpoint

pytestmark = pytest.mark.django_db

S = WebhookDelivery.Status


@pytest.fixture
def sent(monkeypatch):
    """Delivery ids the service names in messages to the broker, one entry per id."""
    messages: list[str] = []

    def record(task, ids, **kw):
        messages.extend([ids] if isinstance(ids, str) else ids)

    monkeypatch.setattr(webhooks, "send", record)
    monkeypatch.setattr(webhooks, "send_on_commit", record)
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


def _attempt(delivery: WebhookDelivery) -> str:
    return webhooks.webhook_delivery_attempt(delivery_id=delivery.pk).result


def _in_flight(delivery: WebhookDelivery) -> None:
    _set(delivery, status=S.SENDING, attempt_count=1, next_attempt_at=_ago(-30))


def test_an_endpoint_starts_with_one_attempt_in_flight(organization, receiver_factory, sent):
    receiver = receiver_factory(Reply(200))
    busy = endpoint(organization, receiver.url + "?busy")
    free = endpoint(organization, receiver.url + "?free")
    invoice = make_invoice(organization)
    waiting = WebhookDelivery.objects.get(endpoint=busy, event__object_id=invoice.id)
    elsewhere = WebhookDelivery.objects.get(endpoint=free, event__object_id=invoice.id)
    _in_flight(_delivery(organization, busy))

    assert _attempt(waiting) == "deferred"
    assert _attempt(elsewhere) == "succeeded"
    assert [r.path for r in receiver.requests] == ["/hook?free"]
    waiting.refresh_from_db()
    assert waiting.status == S.PENDING and waiting.attempt_count == 0
    # A lost attempt (its lease over) is not in flight.
    WebhookDelivery.objects.filter(endpoint=busy, status=S.SENDING).update(next_attempt_at=_ago(1))
    assert _attempt(waiting) == "succeeded"


def test_fast_answers_widen_the_window_and_a_failure_shrinks_it(
    organization, receiver_factory, sent
):
    receiver = receiver_factory(Reply(200))
    ep = endpoint(organization, receiver.url)
    first, second, third = (_delivery(organization, ep) for _ in range(3))
    assert _attempt(first) == "succeeded"  # answered at once: the window is now 2
    _in_flight(_delivery(organization, ep))
    assert _attempt(second) == "succeeded"  # one in flight, room for one more: window 3
    _in_flight(_delivery(organization, ep))
    _in_flight(_delivery(organization, ep))
    assert _attempt(third) == "deferred"  # three in flight

    receiver.reply = Reply(500)
    WebhookDelivery.objects.filter(endpoint=ep, status=S.SENDING).update(next_attempt_at=_ago(1))
    assert _attempt(third) == "retry"  # a failure: back to one attempt at a time
    _in_flight(_delivery(organization, ep))
    later = _delivery(organization, ep)
    assert _attempt(later) == "deferred"


def test_a_failing_endpoint_gets_one_attempt_at_a_time_whatever_this_process_learnt(
    organization, receiver_factory, sent
):
    receiver = receiver_factory(Reply(200))
    ep = endpoint(organization, receiver.url)
    for _ in range(4):
        assert _attempt(_delivery(organization, ep)) == "succeeded"
    # Another worker saw it fail: the database says so, and that is what counts.
    WebhookEndpoint.objects.filter(pk=ep.pk).update(failing_since=_ago(60))
    _in_flight(_delivery(organization, ep))
    assert _attempt(_delivery(organization, ep)) == "deferred"


def test_an_organization_has_at_most_its_cap_in_flight(organization, receiver_factory, settings):
    settings.WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT = 2
    receiver = receiver_factory(Reply(200))
    first, second, third = (endpoint(organization, f"{receiver.url}?{n}") for n in range(3))
    _in_flight(_delivery(organization, first))
    _in_flight(_delivery(organization, second))
    assert _attempt(_delivery(organization, third)) == "deferred"
    # Another organization is not held back by it.
    other, _ = make_organization()
    assert _attempt(_delivery(other, endpoint(other, receiver.url))) == "succeeded"


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
