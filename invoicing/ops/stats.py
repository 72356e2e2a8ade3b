"""The numbers of the operations page: aggregates the database computes over
its indexes (never rows pulled into Python), plus the broker and the workers.

Every query is bounded by an index on a large table: PdfJob (state,
updated_at) and (state, enqueued_at), WebhookDelivery (status, updated_at)
and (status, next_attempt_at), WebhookDeliveryAttempt (started_at, outcome).
Open states (pending, rendering, sending, failed) are small by nature; the
huge ones (ready, succeeded) are only ever counted within a time window.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.db.models.functions import Left
from django.utils import timezone

from invoicing.models import PdfJob, WebhookDelivery, WebhookDeliveryAttempt
from invoicing.ops.broker import QueueDepths, WorkerInfo, queue_depths, workers_answering

# Failure reasons are grouped by their first characters: exception messages
# differ in ids and paths towards the end.
REASON_PREFIX_CHARS = 80
TOP_REASONS = 8
# Reasons are read from the latest failed jobs only: what is failing now, at
# a bounded cost however many old failures have accumulated.
LATEST_FAILED_JOBS = 1_000


@dataclass
class StateCounts:
    state: str
    last_hour: int = 0
    last_day: int = 0
    # All rows in this state now, for the states that need someone's
    # attention; None for terminal successes (too many to count each time).
    now: int | None = None


@dataclass
class Reason:
    label: str
    reason: str
    count: int


@dataclass
class OpsSnapshot:
    generated_at: dt.datetime
    pdf_states: list[StateCounts]
    delivery_states: list[StateCounts]
    oldest_pending_job: PdfJob | None
    most_overdue_delivery: WebhookDelivery | None
    pdf_failures: list[Reason]
    attempt_failures: list[Reason]
    broker: QueueDepths
    workers: list[WorkerInfo] = field(default_factory=list)
    workers_error: str = ""
    # Credit notes' current PDF versions by state (they are counted in
    # pdf_states too): one query on the jobs' credit note index.
    credit_note_pdf_states: dict[str, int] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    # Of elapsed_ms, the wait for workers to answer (bounded by its timeout).
    workers_ms: float = 0.0


def _by_state(model, state_field: str, states: list[str], open_states: list[str], now,
              open_filter: Q) -> list[StateCounts]:  # fmt: skip
    hour, day = now - dt.timedelta(hours=1), now - dt.timedelta(days=1)
    # The state list is spelled out (state IN (...)) so PostgreSQL walks the
    # (state, updated_at) index once per state instead of scanning it all.
    windowed = (
        model.objects.order_by()
        .filter(**{f"{state_field}__in": states, "updated_at__gte": day})
        .values_list(state_field)
        .annotate(hour=Count("pk", filter=Q(updated_at__gte=hour)), day=Count("pk"))
    )
    rows = {state: StateCounts(state) for state in states}
    for state, last_hour, last_day in windowed:
        rows[state].last_hour, rows[state].last_day = last_hour, last_day
    for state in open_states:
        rows[state].now = 0
    current = (
        model.objects.order_by()
        .filter(open_filter, **{f"{state_field}__in": open_states})
        .values_list(state_field)
        .annotate(n=Count("pk"))
    )
    for state, count in current:
        rows[state].now = count
    return list(rows.values())


def _reasons(queryset, label_field: str | None, text_field: str) -> list[Reason]:
    fields = [label_field] if label_field else []
    grouped = (
        queryset.order_by()
        .annotate(reason=Left(text_field, REASON_PREFIX_CHARS))
        .values(*fields, "reason")
        .annotate(n=Count("pk"))
        .order_by("-n")[:TOP_REASONS]
    )
    return [
        Reason(label=row.get(label_field, "") if label_field else "", reason=row["reason"],
               count=row["n"])
        for row in grouped
    ]  # fmt: skip


def ops_snapshot(*, with_workers: bool = True) -> OpsSnapshot:
    started = time.perf_counter()
    now = timezone.now()
    J, D = PdfJob.State, WebhookDelivery.Status
    snapshot = OpsSnapshot(
        generated_at=now,
        pdf_states=_by_state(
            PdfJob,
            "state",
            list(J.values),
            [J.PENDING, J.RENDERING, J.FAILED],
            now,
            Q(is_current=True),
        ),  # fmt: skip
        delivery_states=_by_state(
            WebhookDelivery, "status", list(D.values), [D.PENDING, D.SENDING, D.FAILED], now, Q()
        ),
        oldest_pending_job=PdfJob.objects.filter(state=J.PENDING, is_current=True)
        .select_related("invoice", "credit_note")
        .order_by("created_at")
        .first(),
        most_overdue_delivery=WebhookDelivery.objects.filter(
            status=D.PENDING, next_attempt_at__lte=now
        )
        .select_related("event")
        .order_by("next_attempt_at")
        .first(),
        pdf_failures=_reasons(
            PdfJob.objects.filter(
                pk__in=PdfJob.objects.filter(state=J.FAILED, is_current=True)
                .order_by("-updated_at")
                .values("pk")[:LATEST_FAILED_JOBS]
            ),
            None,
            "last_error",
        ),
        attempt_failures=_reasons(
            WebhookDeliveryAttempt.objects.filter(
                started_at__gte=now - dt.timedelta(days=1)
            ).exclude(outcome="success"),
            "outcome",
            "error",
        ),
        broker=queue_depths(),
        credit_note_pdf_states=dict(
            PdfJob.objects.order_by()
            .filter(credit_note__isnull=False, is_current=True)
            .values_list("state")
            .annotate(n=Count("pk"))
        ),
    )
    if with_workers and snapshot.broker.reachable:
        asked = time.perf_counter()
        try:
            snapshot.workers = workers_answering()
        except Exception as exc:  # a broker that fails between the two calls
            snapshot.workers_error = f"{type(exc).__name__}: {exc}"[:200]
        snapshot.workers_ms = round((time.perf_counter() - asked) * 1000, 1)
    elif with_workers:
        snapshot.workers_error = "broker unreachable"
    snapshot.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return snapshot
