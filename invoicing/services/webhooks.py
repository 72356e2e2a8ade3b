"""Webhook deliveries: one attempt (claim, sign, send, record), the sweep, operator actions,
and the key of Lago's ``jwt`` signatures.

A delivery is a state machine in its row; every transition is a conditional UPDATE here:

    pending --claim--> sending --2xx--> succeeded
                          |--- other failure, attempts left ---> pending (next_attempt_at)
                          '--- 410, invalid URL, attempts used up ---> failed
    failed --retry now--> pending        succeeded --resend--> pending   (same id)

While a delivery is ``sending``, ``next_attempt_at`` is its lease: a worker killed mid-attempt
leaves the row there, and once the lease has run out the sweep hands it back (pending) or,
with no attempt left, fails it. A worker that finishes after losing its lease still records
its attempt (the request did go out) but no longer moves the delivery.

Policies (README "Webhooks"):
- Every failure but 410 and an invalid URL is retried on ``WEBHOOK_RETRY_SCHEDULE``, 4xx
  included as in Lago and Svix: a receiver answering 401 or 404 is usually misconfigured for
  a while, not for ever. A forbidden address is retried too: DNS answers change and an
  operator may widen ``WEBHOOK_ALLOWED_NETWORKS``, and a refused attempt opens no connection.
- An endpoint is disabled on a 410, or when it has failed without a single success for
  ``WEBHOOK_DISABLE_AFTER_SECONDS``; one success resets the clock.
- One attempt in flight per endpoint: a receiver that hangs holds one worker process for
  the deadline, never all of them; its other due deliveries wait their turn ("deferred").
- Deliveries to a disabled endpoint are not attempted: they are failed ("endpoint
  disabled") when they come up, so nothing piles up unseen. Re-enabling the endpoint and
  "retry now" on those deliveries sends them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from invoicing.dispatch import DELIVER_WEBHOOK_TASK, send, send_on_commit
from invoicing.errors import NotAllowed
from invoicing.models import (
    PdfJob,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSigningKey,
)
from invoicing.representations import lago
from invoicing.services.files import pdf_download_url
from invoicing.signals import webhook_attempted
from invoicing.webhooks import sender, signing
from invoicing.webhooks.guard import parse_allowed_networks
from invoicing.webhooks.schedule import next_delay
from invoicing.webhooks.sender import AttemptResult, Outcome

logger = logging.getLogger("invoicing.webhooks")

Status = WebhookDelivery.Status

# The attempt row keeps the first 20 KB of the answer: enough to see why a receiver refused.
MAX_RESPONSE_BYTES = 20_480
# A retry due this soon gets a broker message with a countdown (the 0 s and 5 s steps,
# Retry-After of a few seconds); anything later waits for the sweep, so a long delay never
# sits in the broker, where a restart or a visibility timeout would lose or duplicate it.
COUNTDOWN_NUDGE_MAX_S = 30
SWEEP_BATCH = 500
# Internal outcomes of an attempt that could not be built (our side, not the receiver's):
# a bug fails the delivery (retrying the same code gives the same error); a database
# that did not answer is retried on the schedule, like a receiver that did not.
OUTCOME_INTERNAL_ERROR = "internal_error"
OUTCOME_INTERNAL_TRANSIENT = "internal_transient"
_INTERNAL = (OUTCOME_INTERNAL_ERROR, OUTCOME_INTERNAL_TRANSIENT)
ENDPOINT_DISABLED_ERROR = "endpoint disabled"
GONE_REASON = "410 Gone"


@dataclass(frozen=True)
class AttemptReport:
    delivery_id: str
    # "succeeded" | "retry" | "failed": what the attempt did to the delivery; "deferred": not
    # attempted, another attempt to its endpoint is in flight; "skipped": nothing to do (not
    # due, claimed by another worker, gone, endpoint disabled) or no longer ours to move.
    result: str
    outcome: str = ""  # the sender's outcome, when an attempt was made
    status_code: int | None = None


# ----------------------------------------------------------------- signing key


def webhook_signing_key_pem() -> bytes:
    """The RSA private key of ``jwt`` signatures: the configured one, else the one generated
    on first use and kept (receivers pin the public key, so it must not change by itself)."""
    if settings.WEBHOOK_JWT_PRIVATE_KEY:
        return settings.WEBHOOK_JWT_PRIVATE_KEY.encode()
    row = WebhookSigningKey.objects.filter(pk=1).first()
    if row is None:
        # Two workers may get here at once: both insert, one wins, both read the winner.
        pem = signing.generate_rsa_private_key_pem().decode()
        WebhookSigningKey.objects.bulk_create(
            [WebhookSigningKey(pk=1, private_key_pem=pem)], ignore_conflicts=True
        )
        row = WebhookSigningKey.objects.get(pk=1)
    return row.private_key_pem.encode()


def webhook_public_key_b64() -> str:
    """What ``GET /api/v1/webhooks/json_public_key`` serves."""
    return signing.public_key_b64(webhook_signing_key_pem())


# ----------------------------------------------------------------- body and headers


def _invoice_payload(event: WebhookEvent) -> dict:
    payload = lago.invoice_webhook_reordered(dict(event.payload))
    invoice = payload.get("invoice")
    if not isinstance(invoice, dict):
        return payload
    # Download URLs expire, so each attempt carries a fresh one (the event stores none).
    job = PdfJob.objects.filter(
        invoice_id=event.object_id, is_current=True, state=PdfJob.State.READY
    ).first()
    if job is not None:
        invoice["file_url"] = pdf_download_url(job)
    return payload


def webhook_body(event: WebhookEvent) -> bytes:
    """The exact bytes of one attempt: Lago's payload as compact UTF-8 JSON."""
    payload = _invoice_payload(event) if event.object_type == "invoice" else event.payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _standard_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    secrets = [endpoint.standard_secret] if endpoint.standard_secret else []
    if (
        endpoint.previous_standard_secret
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        secrets.append(endpoint.previous_standard_secret)
    return secrets


def webhook_headers(
    delivery: WebhookDelivery, body: bytes, *, now: dt.datetime | None = None
) -> dict[str, str]:
    """Signed headers for one attempt; signed afresh each time (Standard Webhooks verifiers
    reject a timestamp older than ~5 minutes)."""
    endpoint = delivery.endpoint
    now = now or timezone.now()
    algo = endpoint.signature_algo
    return signing.build_headers(
        algo=algo,
        delivery_id=str(delivery.pk),
        body=body,
        timestamp=int(time.time()),
        hmac_key=endpoint.organization.hmac_key if algo == signing.ALGO_HMAC else "",
        jwt_private_key_pem=webhook_signing_key_pem() if algo == signing.ALGO_JWT else b"",
        issuer=settings.PUBLIC_BASE_URL,
        standard_secrets=_standard_secrets(endpoint, now),
    )


# ----------------------------------------------------------------- one attempt


def _lease_s() -> float:
    return settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LEASE_MARGIN_SECONDS


def _due(now: dt.datetime) -> Q:
    due_now = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(status=Status.PENDING) & due_now


def _in_flight(endpoint_id: Any, now: dt.datetime):
    # A ``sending`` row past its lease is a lost attempt, not one in flight.
    return WebhookDelivery.objects.filter(
        endpoint_id=endpoint_id, status=Status.SENDING, next_attempt_at__gte=now
    )


def _nudge_next_on_commit(endpoint_id: Any, now: dt.datetime) -> None:
    """Hand the endpoint's slot to its oldest due delivery (deferred ones wait for this)."""
    next_id = (
        WebhookDelivery.objects.filter(_due(now), endpoint_id=endpoint_id)
        .order_by("next_attempt_at", "created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if next_id is not None:
        send_on_commit(DELIVER_WEBHOOK_TASK, str(next_id))


def _fail_for_disabled_endpoint(ids: list[Any], now: dt.datetime) -> int:
    return WebhookDelivery.objects.filter(pk__in=ids, status=Status.PENDING).update(
        status=Status.FAILED, next_attempt_at=None, last_error=ENDPOINT_DISABLED_ERROR,
        updated_at=now,
    )  # fmt: skip


def webhook_delivery_attempt(*, delivery_id: str | UUID) -> AttemptReport:
    """Make one attempt of a due delivery. Safe to call any number of times, concurrently:
    only the caller whose conditional UPDATE claims the row sends anything.

    The HTTP request runs outside any transaction (it may take the whole deadline); the
    attempt row and the delivery's transition are then written in one transaction.
    """
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_related("event", "endpoint", "endpoint__organization")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return AttemptReport(str(delivery_id), "skipped")
    if not delivery.endpoint.enabled:
        _fail_for_disabled_endpoint([delivery.pk], now)
        return AttemptReport(str(delivery_id), "skipped")
    with transaction.atomic():
        # One attempt in flight per endpoint (the endpoint row lock makes the check and the
        # claim one step): a receiver that hangs for the whole deadline then holds one
        # worker process, never the fleet, so other endpoints and PDFs keep moving. The
        # delivery stays due; the attempt in flight nudges it when it finishes.
        WebhookEndpoint.objects.select_for_update().filter(pk=delivery.endpoint_id).first()
        if _in_flight(delivery.endpoint_id, now).exists():
            return AttemptReport(str(delivery_id), "deferred")
        claimed = WebhookDelivery.objects.filter(_due(now), pk=delivery.pk).update(
            status=Status.SENDING,
            attempt_count=F("attempt_count") + 1,
            last_attempt_at=now,
            next_attempt_at=now + dt.timedelta(seconds=_lease_s()),
            updated_at=now,
        )
    if not claimed:
        return AttemptReport(str(delivery_id), "skipped")
    # Nobody else moves a ``sending`` row before its lease ends, so this is our attempt.
    attempt_number = WebhookDelivery.objects.values_list("attempt_count", flat=True).get(
        pk=delivery.pk
    )
    try:
        body = webhook_body(delivery.event)
        headers = webhook_headers(delivery, body, now=now)
    except Exception as exc:
        # Not the receiver's doing, and nothing was sent.
        logger.exception("webhook delivery %s: attempt %s not built", delivery.pk, attempt_number)
        transient = isinstance(exc, (OperationalError, InterfaceError))
        outcome = OUTCOME_INTERNAL_TRANSIENT if transient else OUTCOME_INTERNAL_ERROR
        failure = Attempt(outcome, error=f"{type(exc).__name__}: {exc}"[:500])
        return _record(delivery, attempt_number, started_at=now, attempt=failure)
    result = sender.post(
        delivery.endpoint.webhook_url,
        body=body,
        headers=headers,
        allowed_networks=parse_allowed_networks(settings.WEBHOOK_ALLOWED_NETWORKS),
        deadline_s=settings.WEBHOOK_TIMEOUT_SECONDS,
        max_response_bytes=MAX_RESPONSE_BYTES,
    )
    return _record(delivery, attempt_number, started_at=now, attempt=Attempt.of(result))


@dataclass(frozen=True)
class Attempt:
    """What one attempt gave, as recorded: the sender's result, or an internal error."""

    outcome: str
    duration_ms: int = 0
    status_code: int | None = None
    error: str = ""
    response_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    remote_ip: str | None = None
    retry_after_s: float | None = None

    @classmethod
    def of(cls, result: AttemptResult) -> Attempt:
        return cls(
            outcome=str(result.outcome),
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
            response_body=result.response_body[:MAX_RESPONSE_BYTES],
            response_headers=result.response_headers,
            remote_ip=result.remote_ip,
            retry_after_s=result.retry_after_s,
        )

    @property
    def description(self) -> str:
        if self.error:
            return self.error
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.outcome


def _record(
    delivery: WebhookDelivery, attempt_number: int, *, started_at: dt.datetime, attempt: Attempt
) -> AttemptReport:
    now = timezone.now()
    outcome = attempt.outcome
    endpoint = delivery.endpoint
    countdown: float | None = None
    if outcome == Outcome.SUCCESS:
        state, next_at = Status.SUCCEEDED, None
    elif outcome in (Outcome.GONE, Outcome.INVALID_URL, OUTCOME_INTERNAL_ERROR):
        state, next_at = Status.FAILED, None
    else:
        delay = next_delay(
            attempt_number,
            schedule=settings.WEBHOOK_RETRY_SCHEDULE,
            retry_after_s=attempt.retry_after_s,
        )
        if delay is None:
            state, next_at = Status.FAILED, None
        else:
            state, next_at = Status.PENDING, now + dt.timedelta(seconds=delay)
            if delay <= COUNTDOWN_NUDGE_MAX_S:
                countdown = delay
    try:
        moved = _write_attempt(delivery, attempt_number, started_at, attempt, state, next_at, now)
    except IntegrityError:
        # The endpoint was deleted, and its deliveries with it, while the request was out.
        return AttemptReport(str(delivery.pk), "skipped", outcome, attempt.status_code)
    if moved and countdown is not None:
        send_on_commit(DELIVER_WEBHOOK_TASK, str(delivery.pk), countdown=countdown)
    _nudge_next_on_commit(endpoint.pk, now)
    webhook_attempted.send(
        sender=WebhookDelivery, delivery_id=str(delivery.pk),
        event_type=delivery.event.event_type, endpoint_id=str(endpoint.pk),
        organization_id=str(endpoint.organization_id), outcome=outcome,
        status_code=attempt.status_code, duration_ms=attempt.duration_ms,
    )  # fmt: skip
    if not moved:
        return AttemptReport(str(delivery.pk), "skipped", outcome, attempt.status_code)
    label = {Status.SUCCEEDED: "succeeded", Status.FAILED: "failed"}.get(state, "retry")
    return AttemptReport(str(delivery.pk), label, outcome, attempt.status_code)


@transaction.atomic
def _write_attempt(
    delivery: WebhookDelivery, attempt_number: int, started_at: dt.datetime, attempt: Attempt,
    state: str, next_at: dt.datetime | None, now: dt.datetime,
) -> bool:  # fmt: skip
    """The attempt row, the delivery's transition and the endpoint's health, in one
    transaction; False when the delivery was no longer ours to move."""
    WebhookDeliveryAttempt.objects.create(
        delivery_id=delivery.pk,
        attempt_number=attempt_number,
        started_at=started_at,
        duration_ms=attempt.duration_ms,
        outcome=attempt.outcome,
        status_code=attempt.status_code,
        error=attempt.error,
        response_body=attempt.response_body,
        response_headers=attempt.response_headers,
        remote_ip=attempt.remote_ip,
    )
    # Fenced on the attempt number: if the sweep took the row back after our lease ran
    # out, the attempt is history but the delivery belongs to the newer one.
    moved = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, attempt_count=attempt_number
    ).update(
        status=state,
        next_attempt_at=next_at,
        last_status_code=attempt.status_code,
        last_error="" if state == Status.SUCCEEDED else attempt.description,
        updated_at=now,
    )
    if attempt.outcome not in _INTERNAL:
        _endpoint_health(delivery.endpoint, attempt.outcome, now)
    return bool(moved)


def _endpoint_health(endpoint: WebhookEndpoint, outcome: str, now: dt.datetime) -> None:
    """A success ends the endpoint's failing streak; a 410 disables it at once; a streak
    older than WEBHOOK_DISABLE_AFTER_SECONDS disables it. Conditional updates, because
    attempts to one endpoint finish concurrently."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if outcome == Outcome.SUCCESS:
        endpoints.filter(failing_since__isnull=False).update(failing_since=None, updated_at=now)
        return
    endpoints.filter(failing_since__isnull=True).update(failing_since=now, updated_at=now)
    if outcome == Outcome.GONE:
        reason = GONE_REASON
        disabled = endpoints.filter(enabled=True)
    else:
        cutoff = now - dt.timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
        disabled = endpoints.filter(enabled=True, failing_since__lt=cutoff)
        streak_start = endpoints.values_list("failing_since", flat=True).first()
        reason = (
            f"failing continuously since {streak_start:%Y-%m-%d %H:%M} UTC"
            if streak_start
            else "failing continuously"
        )
    if disabled.update(enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now):
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


# ----------------------------------------------------------------- sweep


@dataclass(frozen=True)
class SweepResult:
    nudged: int  # messages sent for due deliveries (recovered ones included)
    recovered: int  # lost attempts handed back to pending
    failed: int  # lost with no attempt left, or to a disabled endpoint


def webhook_deliveries_sweep(*, limit: int = SWEEP_BATCH) -> SweepResult:
    """Run by beat every few seconds: send due deliveries, take back lost attempts, fail
    deliveries to disabled endpoints. Each step handles at most ``limit`` rows."""
    now = timezone.now()
    max_attempts = len(settings.WEBHOOK_RETRY_SCHEDULE)
    lost_error = "the previous attempt was lost: its worker stopped before recording it"

    lost = list(
        WebhookDelivery.objects.filter(status=Status.SENDING, next_attempt_at__lt=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    failed = recovered = 0
    if lost:
        # The conditions are repeated on the row itself: a late worker may have finished.
        still_lost = WebhookDelivery.objects.filter(
            pk__in=lost, status=Status.SENDING, next_attempt_at__lt=now
        )
        failed += still_lost.filter(attempt_count__gte=max_attempts).update(
            status=Status.FAILED, next_attempt_at=None,
            last_error=lost_error + "; no attempt left", updated_at=now,
        )  # fmt: skip
        # Dated back so that the nudge below sends them in this same sweep.
        recovered = still_lost.update(
            status=Status.PENDING, next_attempt_at=now, last_error=lost_error,
            updated_at=now - dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS),
        )  # fmt: skip

    to_disabled = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, endpoint__enabled=False).values_list(
            "pk", flat=True
        )[:limit]
    )
    if to_disabled:
        failed += _fail_for_disabled_endpoint(to_disabled, now)

    # A message is already on its way when the row was touched recently (just created,
    # re-armed, or failed with a countdown nudge); otherwise the delivery became due long
    # after its last message, or that message was lost.
    requeue_after = dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    not_nudged = Q(updated_at__lte=now - requeue_after) | Q(
        updated_at__lt=F("next_attempt_at") - dt.timedelta(seconds=COUNTDOWN_NUDGE_MAX_S)
    )
    # An endpoint with an attempt in flight is left alone: that attempt nudges the next.
    busy = Exists(_in_flight(OuterRef("endpoint_id"), now))
    due = list(
        WebhookDelivery.objects.filter(_due(now), not_nudged, ~busy, endpoint__enabled=True)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    if due:
        WebhookDelivery.objects.filter(pk__in=due, status=Status.PENDING).update(updated_at=now)
        for delivery_id in due:
            send(DELIVER_WEBHOOK_TASK, str(delivery_id))
    return SweepResult(nudged=len(due), recovered=recovered, failed=failed)


# ----------------------------------------------------------------- operators


def _rearm(delivery: WebhookDelivery, from_status: str) -> WebhookDelivery:
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    if not endpoint.enabled:
        raise NotAllowed("the endpoint is disabled: enable it first", code="endpoint_disabled")
    now = timezone.now()
    with transaction.atomic():
        rearmed = WebhookDelivery.objects.filter(pk=delivery.pk, status=from_status).update(
            status=Status.PENDING, next_attempt_at=now, updated_at=now
        )
        if not rearmed:
            raise NotAllowed(
                f"only a {from_status} delivery can be sent again this way",
                code=f"delivery_not_{from_status}",
            )
        send_on_commit(DELIVER_WEBHOOK_TASK, str(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def webhook_delivery_retry_now(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """A failed delivery is attempted again now, with the same id. It resumes its schedule
    where it stopped; one that had used every attempt gets exactly one more."""
    return _rearm(delivery, Status.FAILED)


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """A succeeded delivery is sent again now (a new attempt, the same id: receivers that
    de-duplicate on ``X-Lago-Unique-Key`` / ``webhook-id`` see the same message)."""
    return _rearm(delivery, Status.SUCCEEDED)


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Re-enable an endpoint with a clean record. Deliveries failed while it was disabled
    stay failed; "retry now" sends the ones still wanted."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, failing_since=None, disabled_at=None, disabled_reason="",
        updated_at=timezone.now(),
    )  # fmt: skip
    endpoint.refresh_from_db()
    return endpoint
