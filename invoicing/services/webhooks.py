"""Webhook deliveries: claiming due deliveries, attempting them (sign, send), recording what
the attempts gave, the sweep, operator actions, and the key of Lago's ``jwt`` signatures.

A delivery is a state machine in its row; every transition is a conditional UPDATE here:

    pending --claim--> sending --2xx--> succeeded
                          |--- other failure, attempts left ---> pending (next_attempt_at)
                          '--- 410, invalid URL, attempts used up ---> failed
    failed --retry now--> pending        succeeded --resend--> pending   (same id)

While a delivery is ``sending``, ``next_attempt_at`` is its lease: a worker killed mid-attempt
leaves the row there, and once the lease has run out the sweep hands it back (pending) or,
with no attempt left, fails it. A worker that finishes after losing its lease still records
its attempt (the request did go out) but no longer moves the delivery.

Delivery (``webhook_deliveries_pump``, the Celery task): a worker process claims due
deliveries in batches by the scheduling rule of ``invoicing.webhooks.fairness`` (windows per
endpoint, a cap per organization, free slots dealt out in turns), runs their HTTP attempts side
by side over kept-alive connections (``invoicing.webhooks.pump``), and records finished
attempts in batches. What is in flight per endpoint and per organization is counted from the
``sending`` rows, under a lock on the organization's endpoint rows, so the bounds hold for the
whole fleet.

Policies (README "Webhooks"):
- Every failure but 410 and an invalid URL is retried on ``WEBHOOK_RETRY_SCHEDULE``, 4xx
  included as in Lago and Svix: a receiver answering 401 or 404 is usually misconfigured for
  a while, not for ever. A forbidden address is retried too: DNS answers change and an
  operator may widen ``WEBHOOK_ALLOWED_NETWORKS``, and a refused attempt opens no connection.
- An endpoint is disabled on a 410, or when it has failed without a single success for
  ``WEBHOOK_DISABLE_AFTER_SECONDS``; one success resets the clock.
- Deliveries to a disabled endpoint are not attempted: they are failed ("endpoint
  disabled") when they come up, so nothing piles up unseen. Re-enabling the endpoint and
  "retry now" on those deliveries sends them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from invoicing import selectors
from invoicing.dispatch import DELIVER_WEBHOOK_TASK, send, send_on_commit
from invoicing.errors import NotAllowed
from invoicing.models import (
    Organization,
    PdfJob,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSigningKey,
)
from invoicing.representations import lago
from invoicing.services.files import pdf_download_url, xml_download_url
from invoicing.services.invoices import Writes
from invoicing.signals import webhook_attempted
from invoicing.webhooks import sender, signing
from invoicing.webhooks.fairness import Candidate, Windows, share
from invoicing.webhooks.guard import parse_allowed_networks
from invoicing.webhooks.pump import (
    IDLE_LINGER_S,
    WORKER_SHUTDOWN,
    Job,
    Pump,
    PumpReport,
    Stop,
)
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
# Delivery ids one wake-up message names (the sweep's; dispatch batches the others).
NUDGE_IDS = 100
# Endpoints with due deliveries one claim looks at; beyond that, later claims go on from
# where this one stopped, so every endpoint comes up in turn.
CLAIM_SCAN = 500
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
    # attempted, its endpoint or organization has as many attempts in flight as it may;
    # "skipped": nothing to do (not due, claimed by another worker, gone, endpoint disabled)
    # or no longer ours to move.
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


def _invoice_payload(event: WebhookEvent, stored_pdfs: dict | None) -> dict:
    payload = lago.invoice_webhook_reordered(dict(event.payload))
    invoice = payload.get("invoice")
    if not isinstance(invoice, dict):
        return payload
    # Download URLs expire, so each attempt carries a fresh one (the event stores none).
    if stored_pdfs is None:
        stored_pdfs = selectors.invoice_stored_pdf_jobs(invoice_ids=[event.object_id])
    job = stored_pdfs.get(event.object_id)
    if job is not None:
        invoice["file_url"] = pdf_download_url(job)
        if job.xml_checksum:
            # The e-invoice's UBL, stored beside the PDF (Lago's xml_url).
            invoice["xml_url"] = xml_download_url(job)
    return payload


def _credit_note_payload(event: WebhookEvent) -> dict:
    payload = lago.credit_note_webhook_reordered(dict(event.payload))
    note = payload.get("credit_note")
    if isinstance(note, dict):
        job = PdfJob.objects.filter(
            credit_note_id=event.object_id, is_current=True, state=PdfJob.State.READY
        ).first()
        if job is not None:
            note["file_url"] = pdf_download_url(job)
            if job.xml_checksum:
                # The e-invoice's UBL CreditNote, stored beside the PDF.
                note["xml_url"] = xml_download_url(job)
    return payload


def webhook_body(event: WebhookEvent, stored_pdfs: dict | None = None) -> bytes:
    """The exact bytes of one attempt: Lago's payload as compact UTF-8 JSON.
    ``stored_pdfs``: the stored PDF jobs by invoice id, when the caller read them for a
    whole claim at once (``_stored_pdfs``); else this reads the one it needs."""
    if event.object_type == "invoice":
        payload = _invoice_payload(event, stored_pdfs)
    elif event.object_type == "credit_note":
        payload = _credit_note_payload(event)
    else:
        payload = event.payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _stored_pdfs(claimed: list[_Claimed]) -> dict | None:
    """The stored PDF job of every invoice the claimed deliveries are about, in one query
    (one per delivery was a third of a webhook process's CPU at month-end), or None when
    that read failed: each body then reads its own, and fails on its own."""
    ids = {c.delivery.event.object_id for c in claimed if c.delivery.event.object_type == "invoice"}
    if not ids:
        return {}
    try:
        return selectors.invoice_stored_pdf_jobs(invoice_ids=ids)
    except (OperationalError, InterfaceError):
        logger.warning("stored PDFs of %d claimed deliveries not read at once", len(claimed))
        return None


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


# ----------------------------------------------------------------- this process


class _Process:
    """What one worker process keeps from one attempt to the next: kept-alive connections,
    the windows it learnt, the threads attempts run on, whose turn it is."""

    def __init__(self) -> None:
        self.pool = sender.ConnectionPool()
        self.windows = Windows()
        self.turn = 0
        # The last endpoint a claim looked at, when it had to stop before the end.
        self.scan_after: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def configure(self) -> None:
        # Read at each claim, so that changed settings (tests do) apply without a restart.
        self.windows.maximum = max(1, settings.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT)
        self.pool.max_idle_per_key = self.windows.maximum
        self.pool.idle_timeout_s = settings.WEBHOOK_KEEPALIVE_SECONDS

    def executor(self, size: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._executor._max_workers != size:
                if self._executor is not None:
                    self._executor.shutdown(wait=False)
                self._executor = ThreadPoolExecutor(size, thread_name_prefix="webhook-attempt")
            return self._executor


_PROCESS: _Process | None = None


def _process() -> _Process:
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = _Process()
    _PROCESS.configure()
    return _PROCESS


def _forget_process() -> None:
    # A forked child shares its parent's sockets: it closes its copies (which leaves the
    # parent's connections open) and starts with its own pool, windows and threads.
    global _PROCESS
    if _PROCESS is not None:
        _PROCESS.pool.close()
    _PROCESS = None


os.register_at_fork(after_in_child=_forget_process)


# ----------------------------------------------------------------- claiming


def _lease_s() -> float:
    return settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LEASE_MARGIN_SECONDS


def _due(now: dt.datetime) -> Q:
    due_now = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(status=Status.PENDING) & due_now


def _in_flight(now: dt.datetime, endpoint_ids: list[Any] | None = None) -> dict[Any, int]:
    """Attempts in flight per endpoint. A ``sending`` row past its lease is a lost attempt,
    not one in flight."""
    rows = WebhookDelivery.objects.filter(status=Status.SENDING, next_attempt_at__gte=now)
    if endpoint_ids is not None:
        rows = rows.filter(endpoint_id__in=endpoint_ids)
    return dict(rows.values_list("endpoint_id").annotate(n=Count("pk")))


@dataclass(frozen=True)
class _DueEndpoint:
    endpoint_id: Any
    organization_id: Any
    failing: bool


def _due_endpoints(now: dt.datetime, state: _Process) -> list[_DueEndpoint]:
    """Enabled endpoints with due deliveries, at most CLAIM_SCAN of them, going on from where
    the previous claim of this process stopped when it could not look at all of them."""
    if connection.vendor != "postgresql":
        # The one-machine demo (SQLite): a handful of endpoints, each looked at.
        rows = WebhookEndpoint.objects.filter(
            enabled=True, pk__in=WebhookDelivery.objects.filter(_due(now)).values("endpoint_id")
        ).values_list("pk", "organization_id", "failing_since")
        return [_DueEndpoint(pk, org, since is not None) for pk, org, since in rows]
    found = _scan_due_endpoints(now, after=state.scan_after, limit=CLAIM_SCAN)
    if state.scan_after is not None and len(found) < CLAIM_SCAN:
        # Past the last endpoint: wrap around to the first ones.
        seen = {due.endpoint_id for due in found}
        more = _scan_due_endpoints(now, after=None, limit=CLAIM_SCAN - len(found))
        found += [due for due in more if due.endpoint_id not in seen]
    state.scan_after = max(due.endpoint_id for due in found) if len(found) >= CLAIM_SCAN else None
    return found


# A loose index scan over the pending deliveries' index (migration 0013): one index probe
# per endpoint that has pending deliveries, however many deliveries each has, where
# "SELECT DISTINCT endpoint_id" would read every due row of a backlog at every claim.
_SCAN_SQL = """
WITH RECURSIVE pending(endpoint_id) AS (
    (SELECT endpoint_id FROM invoicing_webhookdelivery
      WHERE status = 'pending' AND endpoint_id > %(after)s
      ORDER BY endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.endpoint_id FROM invoicing_webhookdelivery d
             WHERE d.status = 'pending' AND d.endpoint_id > p.endpoint_id
             ORDER BY d.endpoint_id LIMIT 1)
      FROM pending p
     WHERE p.endpoint_id IS NOT NULL
)
SELECT e.id, e.organization_id, e.failing_since IS NOT NULL
  FROM pending p
  -- Each endpoint looked at as the scan reaches it, with a probe of the index for a due
  -- delivery, so that the LIMIT stops the scan. The LIMITs inside keep the planner from
  -- turning these into joins or hashed subplans, which read every due row of a backlog.
  CROSS JOIN LATERAL (
    SELECT id, organization_id, failing_since FROM invoicing_webhookendpoint
     WHERE id = p.endpoint_id AND enabled
       AND (EXISTS (SELECT 1 FROM invoicing_webhookdelivery d
                     WHERE d.endpoint_id = p.endpoint_id AND d.status = 'pending'
                       AND d.next_attempt_at <= %(now)s LIMIT 1)
            OR EXISTS (SELECT 1 FROM invoicing_webhookdelivery d
                        WHERE d.endpoint_id = p.endpoint_id AND d.status = 'pending'
                          AND d.next_attempt_at IS NULL LIMIT 1))
     LIMIT 1
  ) e
 WHERE p.endpoint_id IS NOT NULL
 LIMIT %(limit)s
"""


def _scan_due_endpoints(now: dt.datetime, *, after: Any, limit: int) -> list[_DueEndpoint]:
    params = {"after": after or UUID(int=0), "now": now, "limit": limit}
    [rows] = selectors._run_together_read([(_SCAN_SQL, params)])
    return [_DueEndpoint(*row) for row in rows]


@dataclass
class _Claimed:
    """A delivery this process claimed: its attempt number, and what it knew of the
    endpoint then."""

    delivery: WebhookDelivery
    attempt_number: int
    started_at: dt.datetime
    failing: bool


def _claim(free: int, *, healthy_only: bool = False) -> list[_Claimed]:
    """Claim up to ``free`` due deliveries by the scheduling rule (``fairness``); with
    ``healthy_only``, only deliveries to endpoints that are not failing."""
    state = _process()
    now = timezone.now()
    due = [d for d in _due_endpoints(now, state) if not (healthy_only and d.failing)]
    if not due:
        return []
    organizations = list(dict.fromkeys(d.organization_id for d in due))
    if len(organizations) > free:
        # More organizations than free slots: those served first are the ones with the
        # fewest attempts in flight (each of them gets at least one slot in turn). The
        # counts are read again under the locks below, for the caps.
        cap = settings.WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT
        endpoint_orgs = {d.endpoint_id: d.organization_id for d in due}
        loads: Counter = Counter()
        for endpoint_id, count in _in_flight(now).items():
            if endpoint_id in endpoint_orgs:
                loads[endpoint_orgs[endpoint_id]] += count
        organizations = [org for org in organizations if loads[org] < cap]
        offset = state.turn % max(1, len(organizations))
        organizations = organizations[offset:] + organizations[:offset]
        organizations.sort(key=lambda org: loads[org])
        organizations = organizations[:free]
    if not organizations:
        return []
    chosen = _claim_in(organizations, {d.endpoint_id for d in due}, free, now, state,
                       healthy_only=healthy_only)  # fmt: skip
    state.turn += 1
    return chosen


def _claim_in(
    organizations: list[Any], wanted: set[Any], free: int, now: dt.datetime, state: _Process,
    *, healthy_only: bool,
) -> list[_Claimed]:  # fmt: skip
    cap = settings.WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT
    with transaction.atomic(savepoint=False):
        # The organization's endpoint rows are the lock: claims for one organization take
        # turns, so what they count in flight is what is in flight. NO KEY: creating
        # deliveries (a foreign key to the endpoint) is not blocked by it.
        most = min(free, cap, settings.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT)
        endpoints, in_flight, due_found = _endpoints_locked(organizations, now, most)
        org_in_flight: Counter = Counter()
        for pk, org, *_ in endpoints:
            org_in_flight[org] += in_flight.get(pk, 0)
        candidates, due_ids, failing = [], {}, {}
        for pk, org, enabled, failing_since in endpoints:
            if pk not in wanted or not enabled or (healthy_only and failing_since):
                continue
            if failing_since is not None:
                state.windows.failing(pk)
            room = state.windows.size(pk) - in_flight.get(pk, 0)
            take = min(room, cap - org_in_flight[org], free)
            if take <= 0:
                continue
            due_ids[pk] = (
                due_found[pk][:take]
                if due_found is not None
                else list(
                    WebhookDelivery.objects.filter(_due(now), endpoint_id=pk)
                    .order_by("next_attempt_at")
                    .values_list("pk", flat=True)[:take]
                )
            )
            failing[pk] = failing_since is not None
            candidates.append(Candidate(pk, org, room, len(due_ids[pk])))
        given = share(
            free, candidates,
            organization_room={org: cap - n for org, n in org_in_flight.items()},
            organization_in_flight=org_in_flight, turn=state.turn,
        )  # fmt: skip
        ids = [pk for endpoint_id, n in given.items() for pk in due_ids[endpoint_id][:n]]
        if not ids:
            return []
        claimed = _claim_rows(ids, now)
        return [_Claimed(d, d.attempt_count, now, failing[d.endpoint_id]) for d in claimed]


# The claim's reads under the organizations' endpoint locks, on PostgreSQL: the locks, then
# each endpoint's attempts in flight and oldest due deliveries, prepared and sent in one
# round trip. The second statement takes its snapshot once the first has its locks (READ
# COMMITTED: one per statement), so it counts what the claims that held them committed.
_LOCK_ENDPOINTS_SQL = """
SELECT id FROM invoicing_webhookendpoint
 WHERE organization_id = ANY(%(organizations)s)
 ORDER BY id
   FOR NO KEY UPDATE
"""
# The statuses are literals (selectors._constant), so that a generic plan can
# use the partial index of pending deliveries (migration 0013).
_ENDPOINT_LOAD_SQL = f"""
SELECT e.id, e.organization_id, e.enabled, e.failing_since,
       (SELECT count(*) FROM invoicing_webhookdelivery d
         WHERE d.endpoint_id = e.id AND d.status = {selectors._constant(Status.SENDING.value)}
           AND d.next_attempt_at >= %(now)s),
       ARRAY(SELECT d.id FROM invoicing_webhookdelivery d
              WHERE d.endpoint_id = e.id AND d.status = {selectors._constant(Status.PENDING.value)}
                AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %(now)s)
              ORDER BY d.next_attempt_at LIMIT %(most)s)
  FROM invoicing_webhookendpoint e
 WHERE e.organization_id = ANY(%(organizations)s)
 ORDER BY e.id
"""


def _endpoints_locked(
    organizations: list[Any], now: dt.datetime, most: int
) -> tuple[list[tuple], dict[Any, int], dict[Any, list] | None]:
    """Lock the organizations' endpoint rows (in the caller's transaction) and read them:
    (id, organization, enabled, failing since) of each, the attempts in flight per
    endpoint, and (on PostgreSQL) up to ``most`` due delivery ids per endpoint, oldest
    first; None there when the caller reads them itself."""
    if connection.vendor == "postgresql":
        params = {"organizations": list(organizations), "now": now, "most": most}
        _, rows = selectors._run_together_read(
            [(_LOCK_ENDPOINTS_SQL, params), (_ENDPOINT_LOAD_SQL, params)]
        )
        endpoints = [row[:4] for row in rows]
        return endpoints, {row[0]: row[4] for row in rows}, {row[0]: row[5] for row in rows}
    endpoints = list(
        WebhookEndpoint.objects.select_for_update(no_key=True)
        .filter(organization_id__in=organizations)
        .order_by("pk")
        .values_list("pk", "organization_id", "enabled", "failing_since")
    )
    return endpoints, _in_flight(now, [pk for pk, *_ in endpoints]), None


def _claim_rows(ids: list[Any], now: dt.datetime) -> list[WebhookDelivery]:
    """Move these deliveries, if still due, to ``sending`` (one attempt more, leased), and
    return those it moved with their event, endpoint and organization loaded (the
    endpoint's and the organization's secrets decrypted once per endpoint)."""
    if connection.vendor == "postgresql":
        return _claim_rows_returning(ids, now)
    WebhookDelivery.objects.filter(_due(now), pk__in=ids).update(
        status=Status.SENDING,
        attempt_count=F("attempt_count") + 1,
        last_attempt_at=now,
        next_attempt_at=now + dt.timedelta(seconds=_lease_s()),
        updated_at=now,
    )
    claimed = list(
        WebhookDelivery.objects.select_related("event").filter(
            pk__in=ids, status=Status.SENDING, last_attempt_at=now
        )
    )
    endpoints_by_pk = WebhookEndpoint.objects.select_related("organization").in_bulk(
        {d.endpoint_id for d in claimed}
    )
    for delivery in claimed:
        delivery.endpoint = endpoints_by_pk[delivery.endpoint_id]
    return claimed


# What a claim reads with each delivery it moves.
_CLAIM_PARTS = (
    (WebhookDelivery, "d"),
    (WebhookEvent, "e"),
    (WebhookEndpoint, "p"),
    (Organization, "o"),
)


@functools.lru_cache(maxsize=256)
def _claim_rows_sql(count: int) -> str:
    """One statement: the UPDATE of the due rows among ``count`` ids, joined on what it
    returned. It replaced an UPDATE and two ORM reads, whose compiling was most of a claim's
    cost when month-end claims hold one or two deliveries each (bench/monthend.py)."""
    q = connection.ops.quote_name
    delivery = q(WebhookDelivery._meta.db_table)
    select = ", ".join(selectors._columns(model, alias).sql for model, alias in _CLAIM_PARTS)
    placeholders = ", ".join(["%s"] * count)
    return (
        f"WITH d AS (UPDATE {delivery} SET {q('status')} = %s, "
        f"{q('attempt_count')} = {delivery}.{q('attempt_count')} + 1, "
        f"{q('last_attempt_at')} = %s, {q('next_attempt_at')} = %s, {q('updated_at')} = %s "
        f"WHERE {q('id')} IN ({placeholders}) AND {q('status')} = %s "
        f"AND ({q('next_attempt_at')} IS NULL OR {q('next_attempt_at')} <= %s) RETURNING *) "
        f"SELECT {select} FROM d "
        f"JOIN {selectors._table(WebhookEvent, 'e')} ON e.{q('id')} = d.{q('event_id')} "
        f"JOIN {selectors._table(WebhookEndpoint, 'p')} ON p.{q('id')} = d.{q('endpoint_id')} "
        f"JOIN {selectors._table(Organization, 'o')} ON o.{q('id')} = p.{q('organization_id')}"
    )


def _claim_rows_returning(ids: list[Any], now: dt.datetime) -> list[WebhookDelivery]:
    lease_ends = now + dt.timedelta(seconds=_lease_s())
    params = [Status.SENDING.value, now, lease_ends, now,
              *(selectors._param(WebhookDelivery, "id", pk) for pk in ids),
              Status.PENDING.value, now]  # fmt: skip
    [rows] = selectors._run_together_read([(_claim_rows_sql(len(ids)), params)])
    parts = [selectors._columns(model, alias) for model, alias in _CLAIM_PARTS]
    endpoints: dict = {}
    claimed = []
    for row in rows:
        objects, start = [], 0
        for columns in parts:
            objects.append(columns.instance(row[start : start + len(columns)]))
            start += len(columns)
        delivery, event, endpoint, organization = objects
        # One endpoint object per endpoint, as the ORM path's in_bulk gives.
        endpoint = endpoints.setdefault(endpoint.pk, endpoint)
        selectors._relate(endpoint, "organization", organization)
        selectors._relate(delivery, "event", event)
        selectors._relate(delivery, "endpoint", endpoint)
        claimed.append(delivery)
    return claimed


def _claim_one(delivery: WebhookDelivery, state: _Process) -> _Claimed | str:
    """Claim this one delivery if it is due and its endpoint and organization have room;
    else "deferred" (no room) or "skipped" (not due, or claimed elsewhere)."""
    now = timezone.now()
    endpoint = delivery.endpoint
    with transaction.atomic():
        endpoints = list(
            WebhookEndpoint.objects.select_for_update(no_key=True)
            .filter(organization_id=endpoint.organization_id)
            .order_by("pk")
            .values_list("pk", "failing_since")
        )
        failing_since = dict(endpoints).get(endpoint.pk)
        in_flight = _in_flight(now, [pk for pk, _ in endpoints])
        if failing_since is not None:
            state.windows.failing(endpoint.pk)
        room = state.windows.size(endpoint.pk) - in_flight.get(endpoint.pk, 0)
        org_room = settings.WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT - sum(in_flight.values())
        if min(room, org_room) <= 0:
            return "deferred"
        claimed = WebhookDelivery.objects.filter(_due(now), pk=delivery.pk).update(
            status=Status.SENDING,
            attempt_count=F("attempt_count") + 1,
            last_attempt_at=now,
            next_attempt_at=now + dt.timedelta(seconds=_lease_s()),
            updated_at=now,
        )
        if not claimed:
            return "skipped"
        # Nobody else moves a ``sending`` row before its lease ends, so this is our attempt.
        number = WebhookDelivery.objects.values_list("attempt_count", flat=True).get(pk=delivery.pk)
    return _Claimed(delivery, number, now, failing_since is not None)


def _fail_for_disabled_endpoint(ids: list[Any], now: dt.datetime) -> int:
    return WebhookDelivery.objects.filter(pk__in=ids, status=Status.PENDING).update(
        status=Status.FAILED, next_attempt_at=None, last_error=ENDPOINT_DISABLED_ERROR,
        updated_at=now,
    )  # fmt: skip


# ----------------------------------------------------------------- attempting


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

    @classmethod
    def internal(cls, exc: BaseException) -> Attempt:
        # Not the receiver's doing. A database that did not answer is transient; anything
        # else is a bug the same code would meet again.
        transient = isinstance(exc, (OperationalError, InterfaceError))
        outcome = OUTCOME_INTERNAL_TRANSIENT if transient else OUTCOME_INTERNAL_ERROR
        return cls(outcome, error=f"{type(exc).__name__}: {exc}"[:500])

    @property
    def description(self) -> str:
        if self.error:
            return self.error
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.outcome


def _prepare(
    claimed: _Claimed, state: _Process, allowed_networks: list, bodies: dict | None = None,
    stored_pdfs: dict | None = None,
) -> Any:  # fmt: skip
    """The attempt to run: a callable that sends it, or, when it could not be built, the
    internal failure to record (nothing is sent). ``bodies``: the bodies built for the
    other deliveries of the same claim, by event, which an event's other deliveries share
    (built at the same moment, their ``file_url`` is as fresh); ``stored_pdfs``: the
    claim's stored PDFs read at once (``_stored_pdfs``)."""
    delivery = claimed.delivery
    try:
        if bodies is None:
            body = webhook_body(delivery.event)
        elif (body := bodies.get(delivery.event_id)) is None:
            body = bodies[delivery.event_id] = webhook_body(delivery.event, stored_pdfs)
        headers = webhook_headers(delivery, body, now=claimed.started_at)
    except Exception as exc:
        logger.exception(
            "webhook delivery %s: attempt %s not built", delivery.pk, claimed.attempt_number
        )
        return Attempt.internal(exc)
    endpoint = delivery.endpoint

    def attempt() -> Attempt:
        # ``sender.post`` is looked up now, not bound earlier: tests replace it.
        return Attempt.of(
            sender.post(
                endpoint.webhook_url,
                body=body,
                headers=headers,
                allowed_networks=allowed_networks,
                deadline_s=settings.WEBHOOK_TIMEOUT_SECONDS,
                max_response_bytes=MAX_RESPONSE_BYTES,
                pool=state.pool,
                pool_key=endpoint.pk,
            )
        )

    return attempt


def webhook_delivery_attempt(*, delivery_id: str | UUID) -> AttemptReport:
    """Make one attempt of a due delivery now, in this thread. Safe to call any number of
    times, concurrently: only the caller whose conditional UPDATE claims the row sends
    anything, and only if the endpoint's window and the organization's cap leave room.

    The HTTP request runs outside any transaction (it may take the whole deadline); the
    attempt row and the delivery's transition are then written in one transaction.
    """
    delivery = (
        WebhookDelivery.objects.select_related("event", "endpoint", "endpoint__organization")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return AttemptReport(str(delivery_id), "skipped")
    if not delivery.endpoint.enabled:
        _fail_for_disabled_endpoint([delivery.pk], timezone.now())
        return AttemptReport(str(delivery_id), "skipped")
    state = _process()
    claimed = _claim_one(delivery, state)
    if isinstance(claimed, str):
        return AttemptReport(str(delivery_id), claimed)
    prepared = _prepare(claimed, state, parse_allowed_networks(settings.WEBHOOK_ALLOWED_NETWORKS))
    attempt = prepared if isinstance(prepared, Attempt) else _run(prepared)
    return _record([(claimed, attempt)])[0]


def _run(prepared) -> Attempt:
    try:
        return prepared()
    except Exception as exc:
        logger.exception("webhook attempt failed inside the sender")
        return Attempt.internal(exc)


def webhook_deliveries_pump(*, budget_s: float | None = None) -> PumpReport:
    """Deliver what is due, in this worker process, for about ``budget_s`` (default
    ``WEBHOOK_PUMP_SECONDS``): the Celery task's body. See ``invoicing.webhooks.pump``."""
    state = _process()
    capacity = max(1, settings.WEBHOOK_PROCESS_MAX_IN_FLIGHT)
    allowed = parse_allowed_networks(settings.WEBHOOK_ALLOWED_NETWORKS)

    def step(finished: list[tuple[Job, Any]], free: int, healthy_only: bool) -> list[Job]:
        results = [
            (job.item, result if isinstance(result, Attempt) else Attempt.internal(result))
            for job, result in finished
        ]
        # Recording and claiming share one transaction: one commit per turn of the loop.
        with transaction.atomic():
            recorded = _record_rows(results) if results else None
            claimed = _claim(free, healthy_only=healthy_only) if free else []
        if recorded is not None:
            _after_record(recorded)
        jobs = []
        bodies: dict = {}
        stored_pdfs = _stored_pdfs(claimed) if claimed else {}
        for one in claimed:
            prepared = _prepare(one, state, allowed, bodies, stored_pdfs)
            send_it = (lambda a=prepared: a) if isinstance(prepared, Attempt) else prepared
            jobs.append(Job(one, send_it))
        return jobs

    pump = Pump(
        step=step,
        executor=state.executor(capacity),
        capacity=capacity,
        budget_s=settings.WEBHOOK_PUMP_SECONDS if budget_s is None else budget_s,
        # Attempts claimed before the budget ran out end within their deadline.
        straggle_s=settings.WEBHOOK_TIMEOUT_SECONDS + 1,
        stopping=WORKER_SHUTDOWN.is_set,
        idle_linger_s=IDLE_LINGER_S,
    )
    report = pump.run()
    if report.stopped is not Stop.IDLE and _anything_due():
        # It stopped before running out of work: the next pump, in whichever process is
        # free, goes on. (One that ran out of work sends nothing, so that deliveries waiting
        # for room do not bounce wake-ups between processes.)
        send(DELIVER_WEBHOOK_TASK, [])
    return report


def _anything_due() -> bool:
    return WebhookDelivery.objects.filter(_due(timezone.now()), endpoint__enabled=True).exists()


# ----------------------------------------------------------------- recording


@dataclass
class _Outcome:
    claimed: _Claimed
    attempt: Attempt
    state: str
    next_at: dt.datetime | None
    countdown: float | None


def _decide(claimed: _Claimed, attempt: Attempt, now: dt.datetime) -> _Outcome:
    outcome = attempt.outcome
    countdown = None
    if outcome == Outcome.SUCCESS:
        state, next_at = Status.SUCCEEDED, None
    elif outcome in (Outcome.GONE, Outcome.INVALID_URL, OUTCOME_INTERNAL_ERROR):
        state, next_at = Status.FAILED, None
    else:
        delay = next_delay(
            claimed.attempt_number,
            schedule=settings.WEBHOOK_RETRY_SCHEDULE,
            retry_after_s=attempt.retry_after_s,
        )
        if delay is None:
            state, next_at = Status.FAILED, None
        else:
            state, next_at = Status.PENDING, now + dt.timedelta(seconds=delay)
            if delay <= COUNTDOWN_NUDGE_MAX_S:
                countdown = delay
    return _Outcome(claimed, attempt, state, next_at, countdown)


def _record(finished: list[tuple[_Claimed, Attempt]]) -> list[AttemptReport]:
    """Record finished attempts (see ``_record_rows``), then what follows the commit."""
    with transaction.atomic():
        recorded = _record_rows(finished)
    _after_record(recorded)
    moved_ids = {d.claimed.delivery.pk for d in recorded.moved}
    labels = {Status.SUCCEEDED: "succeeded", Status.FAILED: "failed"}
    return [
        AttemptReport(
            str(d.claimed.delivery.pk),
            labels.get(d.state, "retry") if d.claimed.delivery.pk in moved_ids else "skipped",
            d.attempt.outcome,
            d.attempt.status_code,
        )
        for d in recorded.decided
    ]


@dataclass(frozen=True)
class _Recorded:
    decided: list[_Outcome]
    present: list[_Outcome]  # still in the database: their attempt rows were written
    moved: list[_Outcome]  # still ours: their transition was written


def _record_rows(finished: list[tuple[_Claimed, Attempt]]) -> _Recorded:
    """In the caller's transaction: the attempt rows, the deliveries' transitions (only of
    those still ours), the endpoints' health; and this process's windows adapt."""
    now = timezone.now()
    decided = [_decide(claimed, attempt, now) for claimed, attempt in finished]
    with transaction.atomic(savepoint=False):
        if _write_transitions(decided, now) == len(decided):
            # Every delivery moved: each is ours, and each row is now locked by the
            # transaction, so that none can be deleted before its attempt row is written.
            present = moved = decided
        else:
            present, moved = _find_moved(decided, now)
        # Prepared and bound by the server (Writes), not compiled by the ORM and
        # quoted on the client per value: that was a seventh of a webhook process's CPU.
        writes = Writes()
        writes.insert(
            [
                WebhookDeliveryAttempt(
                    delivery_id=d.claimed.delivery.pk,
                    attempt_number=d.claimed.attempt_number,
                    started_at=d.claimed.started_at,
                    duration_ms=d.attempt.duration_ms,
                    outcome=d.attempt.outcome,
                    status_code=d.attempt.status_code,
                    error=d.attempt.error,
                    response_body=d.attempt.response_body,
                    response_headers=d.attempt.response_headers,
                    remote_ip=d.attempt.remote_ip,
                )
                for d in present
            ]
        )
        writes.run()
        _endpoints_health(present, now)
    # Before the next claim reads them (in the same transaction, in the pump).
    windows = _process().windows
    for d in present:
        if d.attempt.outcome not in _INTERNAL:
            windows.answered(
                d.claimed.delivery.endpoint_id,
                ok=d.attempt.outcome == Outcome.SUCCESS,
                duration_s=d.attempt.duration_ms / 1000,
            )
    return _Recorded(decided, present, moved)


def _after_record(recorded: _Recorded) -> None:
    """Once the attempts are committed: the retries' countdown nudges (a worker must find
    them ``pending``) and the ``webhook_attempted`` signals."""
    _nudge_retries([d for d in recorded.moved if d.countdown is not None])
    for d in recorded.present:
        delivery, attempt = d.claimed.delivery, d.attempt
        endpoint = delivery.endpoint
        event = delivery.event
        webhook_attempted.send(
            sender=WebhookDelivery, delivery_id=str(delivery.pk), event_type=event.event_type,
            endpoint_id=str(endpoint.pk), organization_id=str(endpoint.organization_id),
            invoice_id=str(event.object_id) if event.object_type == "invoice" else None,
            outcome=attempt.outcome, status_code=attempt.status_code,
            duration_ms=attempt.duration_ms,
        )  # fmt: skip


def _write_transitions(decided: list[_Outcome], now: dt.datetime) -> int:
    """Move the deliveries still ours; how many moved. One UPDATE per distinct transition:
    a batch of successes is one statement; retries differ by their jittered time."""
    groups: dict[tuple, list[Any]] = {}
    for d in decided:
        values = (
            d.claimed.attempt_number,
            d.state,
            d.next_at,
            d.attempt.status_code,
            "" if d.state == Status.SUCCEEDED else d.attempt.description,
        )
        groups.setdefault(values, []).append(d.claimed.delivery.pk)
    moved = 0
    for (number, state, next_at, status_code, error), pks in groups.items():
        # Fenced on the attempt number: if the sweep took the row back after our lease ran
        # out, the attempt is history but the delivery belongs to the newer one.
        moved += WebhookDelivery.objects.filter(
            pk__in=pks, status=Status.SENDING, attempt_count=number
        ).update(
            status=state, next_attempt_at=next_at, last_status_code=status_code,
            last_error=error, updated_at=now,
        )  # fmt: skip
    return moved


def _find_moved(decided: list[_Outcome], now: dt.datetime) -> tuple[list[_Outcome], list[_Outcome]]:
    """After a batch where some deliveries did not move: which still exist (their attempt
    is recorded) and which moved (an attempt that lost its lease moves nothing)."""
    ids = [d.claimed.delivery.pk for d in decided]
    # Locked, so that a delivery found here cannot be deleted (its endpoint deleted) before
    # its attempt row is written; NO KEY: the attempt rows' foreign keys pass.
    rows = dict(
        (pk, (status, updated_at))
        for pk, status, updated_at in WebhookDelivery.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .values_list("pk", "status", "updated_at")
    )
    present = [d for d in decided if d.claimed.delivery.pk in rows]
    # Those moved by this transaction carry its time and their new state.
    moved = [d for d in present if rows[d.claimed.delivery.pk] == (d.state, now)]
    return present, moved


def _endpoints_health(present: list[_Outcome], now: dt.datetime) -> None:
    """Each endpoint's health after the attempts of a batch, in the order they finished.
    A run of successes to an endpoint seen healthy at claim time writes nothing."""
    by_endpoint: dict[Any, list[_Outcome]] = {}
    for d in present:
        if d.attempt.outcome not in _INTERNAL:
            by_endpoint.setdefault(d.claimed.delivery.endpoint_id, []).append(d)
    for outcomes in by_endpoint.values():
        endpoint = outcomes[0].claimed.delivery.endpoint
        failing = any(d.claimed.failing for d in outcomes)
        previous = None
        for d in outcomes:
            kind = d.attempt.outcome if d.attempt.outcome == Outcome.GONE else (
                "ok" if d.attempt.outcome == Outcome.SUCCESS else "failed"
            )  # fmt: skip
            if kind == previous and kind != Outcome.GONE:
                continue
            previous = kind
            if kind == "ok" and not failing:
                continue
            _endpoint_health(endpoint, d.attempt.outcome, now)
            failing = kind != "ok"


def _nudge_retries(retries: list[_Outcome]) -> None:
    """One countdown message per second of delay, naming the retries due then."""
    by_second: dict[int, list[str]] = {}
    for d in retries:
        by_second.setdefault(math.ceil(d.countdown), []).append(str(d.claimed.delivery.pk))
    for seconds, ids in sorted(by_second.items()):
        for start in range(0, len(ids), NUDGE_IDS):
            send(DELIVER_WEBHOOK_TASK, ids[start : start + NUDGE_IDS], countdown=seconds)


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
    nudged: int  # due deliveries announced in wake-up messages (recovered ones included)
    recovered: int  # lost attempts handed back to pending
    failed: int  # lost with no attempt left, or to a disabled endpoint


def webhook_deliveries_sweep(*, limit: int = SWEEP_BATCH) -> SweepResult:
    """Run by beat every few seconds: wake a worker for due deliveries no message announced,
    take back lost attempts, fail deliveries to disabled endpoints. Each step handles at most
    ``limit`` rows."""
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
    # after its last message, or that message was lost. A delivery waiting for room under
    # its endpoint's window is announced again at most every WEBHOOK_REQUEUE_AFTER_SECONDS.
    requeue_after = dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    not_nudged = Q(updated_at__lte=now - requeue_after) | Q(
        updated_at__lt=F("next_attempt_at") - dt.timedelta(seconds=COUNTDOWN_NUDGE_MAX_S)
    )
    due = [
        str(pk)
        for pk in WebhookDelivery.objects.filter(_due(now), not_nudged, endpoint__enabled=True)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]
    if due:
        WebhookDelivery.objects.filter(pk__in=due, status=Status.PENDING).update(updated_at=now)
        # Any one message wakes a worker that claims every due delivery it may; they are
        # named for whoever reads the queue.
        for start in range(0, len(due), NUDGE_IDS):
            send(DELIVER_WEBHOOK_TASK, due[start : start + NUDGE_IDS])
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
