"""PDF jobs: request (idempotent), run (claim, render, store, finish), sweep,
and the invoice snapshot the renderer draws from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, Window, prefetch_related_objects
from django.db.models.functions import RowNumber
from django.utils import timezone

from invoicing import selectors
from invoicing.dispatch import RENDER_BATCH_SIZE, RENDER_PDF_TASK, render_on_commit, send
from invoicing.errors import NotAllowed, ValidationFailed
from invoicing.models import Credit, Invoice, PdfJob, WebhookEvent
from invoicing.pdf import snapshot as snap
from invoicing.pdf.errors import SnapshotInconsistent
from invoicing.pdf.paper import paper_for
from invoicing.services.events import credit_note_events_record, events_record
from invoicing.signals import pdf_job_finished, publishing_together

if TYPE_CHECKING:
    from invoicing.services.invoices import Writes

logger = logging.getLogger("invoicing.pdf")

# Backoff between failed attempts of one job, in seconds (then the last value).
RETRY_BACKOFF_S = (5, 30, 120, 600)

# Invoices that have a PDF: finalized ones, and voided ones (with a VOID mark).
RENDERABLE = (Invoice.Status.FINALIZED, Invoice.Status.VOIDED)


def _check_renderable(invoice: Invoice) -> None:
    """Only finalized and voided invoices have PDFs (a draft's would carry a
    number it does not have yet); every caller gets the rule from here."""
    if invoice.status not in RENDERABLE:
        raise NotAllowed(f"a {invoice.status} invoice has no PDF", code="invoice_not_renderable")


def _current_job(invoice_id) -> PdfJob | None:
    return PdfJob.objects.filter(invoice_id=invoice_id, is_current=True).first()


def invoice_pdf_request(*, invoice: Invoice, writes: Writes | None = None) -> PdfJob:
    """The invoice's current PDF job, created if there is none, and re-armed
    for a fresh series of attempts if it failed and no request re-armed it
    before (both faces' downloads: a failure that went away, a deploy that
    fixed a bug, gets its PDF; one that stays does not loop).

    However many requests arrive at once, one job exists: the insert skips on
    the partial unique constraint ``pdf_job_one_current`` and everybody reads
    the row that won. Only the request that created the job enqueues it; a
    lost message is re-sent by the sweep.

    With ``writes`` (``invoices.Writes``: an invoice finalized in the caller's
    transaction, which has no job yet), the new job's insert goes with the
    caller's other writes, in their round trip, and is enqueued if it
    inserted; should a job exist after all, the insert skips on the same
    constraint and the request then goes the ordinary way, when the writes
    run. The job returned is then the one to be inserted."""
    _check_renderable(invoice)
    if writes is not None:
        return _request_with(invoice, writes)
    job = _current_job(invoice.id)
    if job is not None:
        if job.state == PdfJob.State.FAILED and job.rearmed_at is None:
            return _rearm_once(job)
        return job
    with transaction.atomic():
        created = PdfJob.objects.bulk_create(
            [PdfJob(invoice_id=invoice.id, organization_id=invoice.organization_id)],
            ignore_conflicts=True,
        )
        job = _current_job(invoice.id)
        # bulk_create with ignore_conflicts does not say whether it inserted;
        # the row we read is ours if its id is the one we generated.
        if created and job.id == created[0].id:
            PdfJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
            render_on_commit(str(job.id))
    return job


def _request_with(invoice: Invoice, writes: Writes) -> PdfJob:
    # Enqueued as it is inserted: the message leaves once the transaction
    # commits, and only if this row was inserted.
    job = PdfJob(
        invoice_id=invoice.id, organization_id=invoice.organization_id, enqueued_at=timezone.now()
    )

    def inserted(rows: list[tuple]) -> None:
        if rows:
            render_on_commit(str(job.id))
        else:
            invoice_pdf_request(invoice=invoice)

    writes.insert([job], ignore_conflicts=True, then=inserted)
    return job


@transaction.atomic
def invoice_pdf_regenerate(*, invoice: Invoice) -> PdfJob:
    """Retire the current version (its URLs stop working) and start a new one."""
    locked = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice.pk)
    _check_renderable(locked)
    return pdf_version_start(
        old=_current_job(invoice.id), organization_id=invoice.organization_id, invoice_id=invoice.id
    )


def pdf_version_start(*, old: PdfJob | None, organization_id, **document) -> PdfJob:
    """Retire ``old``, the document's current job (its URLs stop working), and start the
    document's next version (``invoice_id=`` or ``credit_note_id=``), rendered once the
    transaction commits. The caller holds the document's lock."""
    version = (old.version + 1) if old else 1
    if old:
        PdfJob.objects.filter(pk=old.pk).update(is_current=False)
        # A version not rendered yet never will be: it says so rather than
        # waiting as pending for ever (a worker rendering it now finds it
        # no longer current and leaves it).
        PdfJob.objects.filter(pk=old.pk).exclude(state=PdfJob.State.READY).update(
            state=PdfJob.State.SUPERSEDED,
            last_error=f"superseded by version {version} before it was rendered",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
    job = PdfJob.objects.create(
        organization_id=organization_id,
        version=version,
        enqueued_at=timezone.now(),
        **document,
    )
    render_on_commit(str(job.id))
    return job


def _rearm_once(job: PdfJob) -> PdfJob:
    updated = PdfJob.objects.filter(
        pk=job.pk, state=PdfJob.State.FAILED, is_current=True, rearmed_at__isnull=True
    ).update(
        state=PdfJob.State.PENDING,
        attempts=0,
        available_at=None,
        enqueued_at=timezone.now(),
        rearmed_at=timezone.now(),
    )
    if updated:
        logger.info("PDF job %s re-armed by a download after failing", job.pk)
        render_on_commit(str(job.pk))
    job.refresh_from_db()
    return job


def pdf_job_retry(*, job: PdfJob) -> PdfJob:
    """Re-arm a failed job for a fresh series of attempts (operators)."""
    updated = PdfJob.objects.filter(pk=job.pk, state=PdfJob.State.FAILED, is_current=True).update(
        state=PdfJob.State.PENDING, attempts=0, available_at=None, enqueued_at=timezone.now()
    )
    if updated:
        render_on_commit(str(job.pk))
    job.refresh_from_db()
    return job


def _claimable(now: dt.datetime) -> Q:
    pending = Q(state=PdfJob.State.PENDING) & (
        Q(available_at__isnull=True) | Q(available_at__lte=now)
    )
    abandoned = Q(state=PdfJob.State.RENDERING, lease_expires_at__lt=now)
    return pending | abandoned


_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def page_count(pdf: bytes) -> int:
    """Pages of a PDF written by ReportLab (page objects are never compressed)."""
    return len(_PAGE_OBJECT.findall(pdf))


def storage_key(job: PdfJob, checksum: str) -> str:
    # Deterministic (a re-run overwrites the same object) and unguessable
    # (the invoice id is a random UUID); the checksum names the version.
    if job.credit_note_id:
        return f"credit_notes/{job.organization_id}/{job.credit_note_id}/{checksum}.pdf"
    return f"invoices/{job.organization_id}/{job.invoice_id}/{checksum}.pdf"


@dataclass(frozen=True)
class RunResult:
    job_id: str
    outcome: str  # "ready" | "retry" | "failed" | "skipped"
    detail: str = ""


def pdf_job_run(*, job_id: str) -> RunResult:
    """Run this one job (see ``pdf_jobs_run``)."""
    return pdf_jobs_run(job_ids=[job_id])[0]


def _claim(job_ids: list[str], now: dt.datetime, *, take_waiting: bool) -> list[PdfJob]:
    """Take jobs to render, moved to ``rendering`` (one attempt more, leased),
    skipping rows another worker is locking at this instant.

    Without ``take_waiting``: the claimable jobs among ``job_ids``. With it
    (the render task), a batch dealt by the scheduling rule, whatever jobs the
    message names. The rule: up to RENDER_BATCH_SIZE pending jobs, dealt round
    the organizations with jobs waiting (each one's oldest, then each one's
    second oldest, and so on), from at most RENDER_BATCH_SIZE organizations
    (taken from a random point of their order, round to its start, when more
    wait); plus any job the message names whose worker died (the sweep names
    those). A message is only a wake-up (``dispatch.wake``): another
    organization's waiting job goes into the next batch claimed, not after
    every job of a month-end queued before its own."""
    lease_ends = now + dt.timedelta(seconds=settings.PDF_RENDER_LEASE_SECONDS)
    if take_waiting and connection.vendor == "postgresql":
        return _claim_fair_returning(job_ids, now, lease_ends)
    claimable = Q(_claimable(now), is_current=True, attempts__lt=settings.PDF_MAX_ATTEMPTS)
    with transaction.atomic():
        locked = PdfJob.objects.select_for_update(skip_locked=True).filter(claimable)
        if take_waiting:
            # The embedded database (SQLite, one writer at a time): the same
            # rule, each organization's waiting jobs ranked in one query.
            abandoned = locked.filter(pk__in=job_ids, state=PdfJob.State.RENDERING)
            ranked = (
                locked.filter(state=PdfJob.State.PENDING)
                .annotate(
                    rank=Window(
                        RowNumber(),
                        partition_by=F("organization_id"),
                        order_by=F("created_at").asc(),
                    )
                )  # fmt: skip
                .filter(rank__lte=RENDER_BATCH_SIZE)
                .order_by("rank", "created_at")
            )
            ids = [*abandoned.values_list("id", flat=True),
                   *ranked.values_list("id", flat=True)[:RENDER_BATCH_SIZE]]  # fmt: skip
        else:
            ids = list(locked.filter(pk__in=job_ids).values_list("id", flat=True))
        if not ids:
            return []
        PdfJob.objects.filter(claimable, pk__in=ids).update(
            state=PdfJob.State.RENDERING,
            attempts=F("attempts") + 1,
            started_at=now,
            lease_expires_at=lease_ends,
        )
        return list(PdfJob.objects.filter(pk__in=ids, started_at=now).order_by("created_at"))


@functools.cache
def _claim_fair_sql() -> str:
    """The render task's claim on PostgreSQL, one statement (see ``_claim``).

    The organizations with waiting jobs are found by skipping through the
    partial index ``pdf_job_pending_org`` (one probe per organization, so a
    claim costs the same with 5 or 50,000 jobs waiting); each one's oldest
    waiting jobs, up to a whole batch (so that a batch is full whenever that
    many jobs wait, and two workers claiming at once take different rows), are
    locked in a LATERAL subquery, dealt round the organizations (each one's
    first, then each one's second...), cut to the batch, and updated; RETURNING
    gives the rows the batch renders. The rows locked but not taken (at most a
    batch per organization of the batch) are free again when it commits."""
    q = connection.ops.quote_name
    table = q(PdfJob._meta.db_table)
    pending = selectors._constant(PdfJob.State.PENDING.value)
    rendering = selectors._constant(PdfJob.State.RENDERING.value)
    waiting = f"{q('state')} = {pending} AND {q('is_current')}"
    org = q("organization_id")
    skip = (
        "{name}(org, n) AS ("
        f"SELECT (SELECT {org} FROM {table} WHERE {waiting} AND {org} {{first}} %(start)s "
        f"ORDER BY {org} LIMIT 1), 1 "
        "UNION ALL "
        f"SELECT (SELECT j.{org} FROM {table} j WHERE j.{q('state')} = {pending} "
        f"AND j.{q('is_current')} AND j.{org} > s.org {{bound}} ORDER BY j.{org} LIMIT 1), "
        "s.n + 1 "
        "FROM {name} s WHERE s.org IS NOT NULL AND s.n < %(size)s)"
    )
    after = skip.format(name="after_start", first=">=", bound="")
    before = skip.format(name="before_start", first="<", bound=f"AND j.{org} < %(start)s")
    return (
        f"WITH RECURSIVE {after}, {before}, "
        "orgs AS (SELECT org FROM (SELECT org, n FROM after_start UNION ALL "
        "SELECT org, n + %(size)s FROM before_start) o WHERE org IS NOT NULL "
        "ORDER BY n LIMIT %(size)s), "
        "candidates AS (SELECT c.* FROM orgs CROSS JOIN LATERAL ("
        f"SELECT j.{q('id')}, j.{q('created_at')}, j.{org} FROM {table} j "
        f"WHERE j.{org} = orgs.org AND j.{q('state')} = {pending} AND j.{q('is_current')} "
        f"AND j.{q('attempts')} < %(max_attempts)s "
        f"AND (j.{q('available_at')} IS NULL OR j.{q('available_at')} <= %(now)s) "
        f"ORDER BY j.{q('created_at')} "
        "LIMIT %(size)s FOR UPDATE SKIP LOCKED) c), "
        f"picked AS (SELECT {q('id')} FROM (SELECT {q('id')}, {q('created_at')}, "
        f"row_number() OVER (PARTITION BY {org} ORDER BY {q('created_at')}) AS rank "
        f"FROM candidates) r ORDER BY rank, {q('created_at')} LIMIT %(size)s), "
        f"abandoned AS (SELECT {q('id')} FROM {table} WHERE {q('id')} = ANY(%(named)s) "
        f"AND {q('state')} = {rendering} AND {q('is_current')} "
        f"AND {q('lease_expires_at')} < %(now)s AND {q('attempts')} < %(max_attempts)s "
        "FOR UPDATE SKIP LOCKED) "
        f"UPDATE {table} SET {q('state')} = {rendering}, "
        f"{q('attempts')} = {q('attempts')} + 1, {q('started_at')} = %(now)s, "
        f"{q('lease_expires_at')} = %(lease_ends)s, {q('updated_at')} = %(now)s "
        f"WHERE {q('id')} IN (SELECT {q('id')} FROM picked UNION SELECT {q('id')} FROM abandoned) "
        f"RETURNING {_returned().sql}"
    )


@functools.cache
def _returned():
    return selectors._columns(PdfJob, connection.ops.quote_name(PdfJob._meta.db_table))


# Where a claim starts in the organizations' order when more organizations than
# a batch have jobs waiting: anywhere, so that each is as likely to be served.
_start_point = uuid.uuid4


def _claim_fair_returning(job_ids: list[str], now, lease_ends) -> list[PdfJob]:
    named = []
    for job_id in job_ids:
        try:
            named.append(uuid.UUID(str(job_id)))
        except ValueError:  # a message naming no job: only a wake-up
            continue
    params = {
        "start": _start_point(),
        "size": RENDER_BATCH_SIZE,
        "max_attempts": settings.PDF_MAX_ATTEMPTS,
        "now": now,
        "lease_ends": lease_ends,
        "named": named,
    }
    # Prepared where the connection prepares statements: most of a small
    # claim's cost to PostgreSQL would be planning this statement again.
    [rows] = selectors._select((_claim_fair_sql(), params))
    jobs = [_returned().instance(row) for row in rows]
    return sorted(jobs, key=lambda job: job.created_at)


@dataclass
class _Rendered:
    job: PdfJob
    invoice: Invoice
    key: str
    checksum: str
    size: int
    pages: int
    render_ms: int
    xml_key: str = ""
    xml_checksum: str = ""
    xml_size: int | None = None


def pdf_jobs_run(*, job_ids: list[str], take_waiting: bool = False) -> list[RunResult]:
    """Claim, render, store and finish a batch of jobs (with ``take_waiting``,
    workers also take other waiting jobs along). Safe to call any number of
    times, concurrently: only the worker that claims a job renders it, and
    only the holder of the current attempt may finish it.

    A batch shares its database work (one claim, one load of every invoice
    with its fees, one finishing transaction), which is most of a one-page
    invoice's cost; each job still succeeds or fails on its own.
    """
    job_ids = [str(j) for j in job_ids]
    jobs = _claim(job_ids, timezone.now(), take_waiting=take_waiting)
    results = {j: RunResult(j, "skipped") for j in job_ids}
    results.update(_run_claimed(jobs))
    return list(results.values())


# How long one render task goes on claiming batches while each claim is full
# (``pdf_jobs_drain``) before it hands the rest to a new message.
DRAIN_BUDGET_S = 30.0


def pdf_jobs_drain(*, job_ids: list[str], budget_s: float = DRAIN_BUDGET_S) -> list[RunResult]:
    """The render task: batches by the scheduling rule (``_claim``) until a claim
    is not full, when every job waiting at its start was taken (or is being
    claimed by another worker), or until ``budget_s`` is spent, when a new
    message carries on. A wake-up is sent only while none is pending
    (``dispatch.wake``): the task that takes one must leave nothing waiting that
    was committed before it started."""
    job_ids = [str(j) for j in job_ids]
    results = {j: RunResult(j, "skipped") for j in job_ids}
    started = time.monotonic()
    while True:
        jobs = _claim(job_ids, timezone.now(), take_waiting=True)
        results.update(_run_claimed(jobs))
        if len(jobs) < RENDER_BATCH_SIZE:
            return list(results.values())
        if time.monotonic() - started > budget_s:
            send(RENDER_PDF_TASK, [])
            return list(results.values())
        job_ids = []


def _run_claimed(jobs: list[PdfJob]) -> dict[str, RunResult]:
    """Render, store and finish these claimed jobs (see ``pdf_jobs_run``)."""
    from invoicing.pdf import RENDERER_VERSION, render_invoice_pdf
    from invoicing.pdf.credit_note import render_credit_note_pdf
    from invoicing.services import credit_notes

    results: dict[str, RunResult] = {str(job.pk): RunResult(str(job.pk), "skipped") for job in jobs}
    if not jobs:
        return results
    invoices = _load_for_snapshot([job.invoice_id for job in jobs if job.invoice_id])
    # Credit notes' jobs ride the same batches (services/credit_notes.py).
    notes = credit_notes.credit_notes_for_snapshot(
        j.credit_note_id for j in jobs if j.credit_note_id
    )

    rendered: list[_Rendered] = []
    # The claim leased every job of the batch for one lease; a long batch
    # renews it for the jobs still to render, so no sweep hands them to
    # another worker while this one is busy with the batch's head.
    lease_s = settings.PDF_RENDER_LEASE_SECONDS
    renewed = time.monotonic()
    for index, job in enumerate(jobs):
        if time.monotonic() - renewed > lease_s / 3:
            _renew_leases(jobs[index:], lease_s)
            renewed = time.monotonic()
        try:
            started = time.perf_counter()
            if job.credit_note_id:
                invoice = notes[job.credit_note_id]
                pdf = render_credit_note_pdf(credit_notes.credit_note_snapshot(invoice))
                # As an invoice's: Factur-X (type 381) and its UBL CreditNote
                # stored beside it, in this attempt.
                pdf, xml = _credit_note_einvoice(job, invoice, pdf)
            else:
                invoice = invoices[job.invoice_id]
                job.invoice = invoice
                snapshot = invoice_snapshot(invoice)
                pdf = render_invoice_pdf(snapshot)
                # E-invoicing: the PDF becomes Factur-X and the UBL XML is stored
                # beside it, in this attempt, before the job is finished.
                pdf, xml = _einvoice(job, snapshot, pdf)
            render_ms = int((time.perf_counter() - started) * 1000)
            checksum = hashlib.sha256(pdf).hexdigest()
            key = storage_key(job, checksum)
            _store(key, pdf)
            xml_key = key[: -len(".pdf")] + ".xml" if xml is not None else ""
            if xml is not None:
                _store(xml_key, xml)
        except SnapshotInconsistent as exc:
            # The same snapshot fails the same way every time: no retries. The
            # job says why; an operator re-arms it once the data is mended.
            logger.error("PDF job %s refused: %s", job.pk, exc)
            results[str(job.pk)] = _fail_attempt(
                job, job.attempts, f"{type(exc).__name__}: {exc}", final=True
            )
            continue
        except Exception as exc:
            logger.exception("PDF job %s attempt %s failed", job.pk, job.attempts)
            results[str(job.pk)] = _fail_attempt(
                job, job.attempts, f"{type(exc).__name__}: {exc}", final=not _transient(exc)
            )
            continue
        rendered.append(
            _Rendered(
                job,
                invoice,
                key,
                checksum,
                len(pdf),
                page_count(pdf),
                render_ms,
                xml_key,
                hashlib.sha256(xml).hexdigest() if xml else "",
                len(xml) if xml is not None else None,
            )  # fmt: skip
        )

    from invoicing.services.invoices import Writes

    with transaction.atomic():
        now = timezone.now()
        ours = _finish_ready(rendered, now, RENDERER_VERSION)
        finished = [r for r in rendered if r.job.pk in ours]
        for r in rendered:
            if r.job.pk not in ours:
                # Another worker took the job over after our lease ran out, or
                # an operator regenerated it: that run owns the outcome.
                results[str(r.job.pk)] = RunResult(
                    str(r.job.pk), "skipped", "lost the job before finishing"
                )
        # The events and their deliveries go in one round trip of prepared
        # statements (Writes), not one ORM insert each.
        writes = Writes()
        events_record(
            invoices=[r.invoice for r in finished if not r.job.credit_note_id],
            event_type=WebhookEvent.EventType.INVOICE_GENERATED,
            writes=writes,
        )
        writes.run()
        credit_note_events_record(
            credit_notes=[r.invoice for r in finished if r.job.credit_note_id],
            event_type=WebhookEvent.EventType.CREDIT_NOTE_GENERATED,
        )
    # The signal also wakes requests waiting for these PDFs (Lotus's pdf_url):
    # its own receiver publishes each end, the batch's in one round trip here
    # (invoicing/signals.py).
    with publishing_together():
        for r in finished:
            job_id = str(r.job.pk)
            logger.info("PDF job %s ready: %s bytes in %s ms", job_id, r.size, r.render_ms)
            pdf_job_finished.send(
                sender=PdfJob, job_id=job_id, invoice_id=r.job.invoice_id,
                organization_id=r.job.organization_id, outcome="ready",
                render_ms=r.render_ms, size_bytes=r.size,
            )  # fmt: skip
            results[job_id] = RunResult(job_id, "ready")
    return results


def _finish_ready(rendered: list[_Rendered], now: dt.datetime, renderer: str) -> set:
    """Move the rendered jobs still ours (rendering, the same attempt, current)
    to ``ready`` with what was stored; the ids of those moved. One statement on
    PostgreSQL (an UPDATE over a VALUES list), else one per job."""
    if not rendered:
        return set()
    common = dict(state=PdfJob.State.READY, renderer_version=renderer, finished_at=now,
                  last_error="", lease_expires_at=None)  # fmt: skip
    if connection.vendor != "postgresql":
        ours = set()
        for r in rendered:
            if PdfJob.objects.filter(
                pk=r.job.pk, state=PdfJob.State.RENDERING, attempts=r.job.attempts, is_current=True
            ).update(
                storage_key=r.key, checksum=r.checksum, size_bytes=r.size, page_count=r.pages,
                render_ms=r.render_ms, xml_storage_key=r.xml_key, xml_checksum=r.xml_checksum,
                xml_size_bytes=r.xml_size, **common,
            ):  # fmt: skip
                ours.add(r.job.pk)
        return ours
    params = [common["state"].value, renderer, now, now]
    for r in rendered:
        params += [r.job.pk, r.job.attempts, r.key, r.checksum, r.size, r.pages, r.render_ms,
                   r.xml_key, r.xml_checksum, r.xml_size]  # fmt: skip
    params.append(PdfJob.State.RENDERING.value)
    [rows] = selectors._run_together_read([(_finish_sql(len(rendered)), params)])
    return {row[0] for row in rows}


@functools.lru_cache(maxsize=64)
def _finish_sql(count: int) -> str:
    q = connection.ops.quote_name
    table = q(PdfJob._meta.db_table)
    row = "(%s::uuid, %s::int, %s, %s, %s::bigint, %s::int, %s::int, %s, %s, %s::bigint)"
    columns = (
        "id, attempts, storage_key, checksum, size_bytes, page_count, render_ms, "
        "xml_storage_key, xml_checksum, xml_size_bytes"
    )
    assigned = ["storage_key", "checksum", "size_bytes", "page_count", "render_ms",
                "xml_storage_key", "xml_checksum", "xml_size_bytes"]  # fmt: skip
    sets = ", ".join(f"{q(name)} = v.{name}" for name in assigned)
    return (
        f"UPDATE {table} j SET {q('state')} = %s, {q('renderer_version')} = %s, "
        f"{q('finished_at')} = %s, {q('updated_at')} = %s, {q('last_error')} = '', "
        f"{q('lease_expires_at')} = NULL, {sets} "
        f"FROM (VALUES {', '.join([row] * count)}) AS v({columns}) "
        f"WHERE j.{q('id')} = v.id AND j.{q('state')} = %s AND j.{q('attempts')} = v.attempts "
        f"AND j.{q('is_current')} RETURNING j.{q('id')}"
    )


def _store(key: str, data: bytes) -> None:
    stored_as = default_storage.save(key, ContentFile(data))
    if stored_as != key:
        raise RuntimeError(f"storage renamed {key} to {stored_as}")


def _einvoice(
    job: PdfJob, snapshot: snap.InvoiceSnapshot, pdf: bytes
) -> tuple[bytes, bytes | None]:
    """The Factur-X PDF and the UBL XML of an e-invoicing organization's
    invoice; the plain PDF and no XML for the others. An invoice finalized
    before e-invoicing was turned on, or whose seller data went missing
    since, gets its plain PDF: never an invalid e-invoice."""
    if snapshot.einvoice is None:
        return pdf, None
    from invoicing.einvoice import einvoice_from_pdf
    from invoicing.einvoice.readiness import einvoice_missing

    missing = einvoice_missing(snapshot)
    if missing:
        logger.warning("PDF job %s: no e-invoice, it lacks %s", job.pk, sorted(missing))
        return pdf, None
    einvoice = einvoice_from_pdf(snapshot, pdf)
    return einvoice.pdf, einvoice.ubl


def _credit_note_einvoice(job: PdfJob, note, pdf: bytes) -> tuple[bytes, bytes | None]:
    """A credit note's Factur-X PDF and UBL CreditNote, as ``_einvoice``
    makes an invoice's: only when it is an e-invoice (``credit_note_is_einvoice``)
    and has every datum, the plain PDF otherwise."""
    if not credit_note_is_einvoice(note):
        return pdf, None
    from invoicing.einvoice import einvoice_from_pdf
    from invoicing.einvoice.document import CREDIT_NOTE_TYPE_CODE
    from invoicing.einvoice.readiness import einvoice_missing

    snapshot = credit_note_einvoice_snapshot(note)
    missing = einvoice_missing(snapshot)
    if missing:
        logger.warning("PDF job %s: no e-invoice, it lacks %s", job.pk, sorted(missing))
        return pdf, None
    einvoice = einvoice_from_pdf(
        snapshot,
        pdf,
        type_code=CREDIT_NOTE_TYPE_CODE,
        preceding_invoice=(note.invoice.number or "", note.invoice.issuing_date),
        payment_terms=_credit_note_terms(note, snapshot.locale),
    )
    return einvoice.pdf, einvoice.ubl


# Libraries whose errors are the network's or the object store's, not ours.
_TRANSIENT_MODULES = ("botocore", "boto3", "urllib3", "requests", "redis", "kombu")


def _transient(exc: Exception) -> bool:
    """A failure the next attempt may not meet (storage, network, database),
    as opposed to a bug in building or rendering the snapshot, which the same
    code meets again: retrying that five times only delays the failure the
    ops page shows (a download re-arms it once; operators retry it after a
    fix)."""
    if isinstance(exc, (OSError, DatabaseError, TimeoutError)):
        return True
    return type(exc).__module__.split(".")[0] in _TRANSIENT_MODULES


def _renew_leases(jobs: list[PdfJob], lease_s: float) -> None:
    """Extend the lease of ``jobs`` this worker still holds (same attempt)."""
    held = Q()
    for job in jobs:
        held |= Q(pk=job.pk, attempts=job.attempts)
    PdfJob.objects.filter(held, state=PdfJob.State.RENDERING).update(
        lease_expires_at=timezone.now() + dt.timedelta(seconds=lease_s)
    )


def _fail_attempt(job: PdfJob, attempt: int, error: str, final: bool = False) -> RunResult:
    error = error[:4000]
    mine = PdfJob.objects.filter(pk=job.pk, state=PdfJob.State.RENDERING, attempts=attempt)
    if final or attempt >= settings.PDF_MAX_ATTEMPTS:
        mine.update(
            state=PdfJob.State.FAILED,
            last_error=error,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        _finished(job, "failed")
        return RunResult(str(job.pk), "failed", error)
    delay = RETRY_BACKOFF_S[min(attempt - 1, len(RETRY_BACKOFF_S) - 1)]
    now = timezone.now()
    if mine.update(
        state=PdfJob.State.PENDING,
        last_error=error,
        available_at=now + dt.timedelta(seconds=delay),
        enqueued_at=now,
        lease_expires_at=None,
    ):
        send(RENDER_PDF_TASK, [str(job.pk)], countdown=delay)
    _finished(job, "retry")
    return RunResult(str(job.pk), "retry", error)


def _finished(job: PdfJob, outcome: str) -> None:
    pdf_job_finished.send(
        sender=PdfJob, job_id=str(job.pk), invoice_id=job.invoice_id,
        organization_id=job.organization_id, outcome=outcome, render_ms=None, size_bytes=None,
    )  # fmt: skip


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    failed: int


def pdf_jobs_sweep(*, limit: int = 500) -> SweepResult:
    """Re-send jobs whose message may be lost (pending for too long) or whose
    worker died (rendering past its lease); fail those out of attempts."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.PDF_REQUEUE_AFTER_SECONDS)
    exhausted = PdfJob.objects.filter(
        _claimable(now), is_current=True, attempts__gte=settings.PDF_MAX_ATTEMPTS
    )
    # A job whose last attempts died with their worker has no error text.
    exhausted.filter(last_error="").update(
        last_error="attempts exhausted: the worker was lost while rendering"
    )
    out_of_attempts = exhausted.update(
        state=PdfJob.State.FAILED, finished_at=now, lease_expires_at=None
    )
    waiting = (
        Q(state=PdfJob.State.PENDING)
        & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        & (Q(available_at__isnull=True) | Q(available_at__lte=now))
    ) | Q(state=PdfJob.State.RENDERING, lease_expires_at__lt=now)
    ids = list(
        PdfJob.objects.filter(waiting, is_current=True)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    if ids:
        PdfJob.objects.filter(pk__in=ids).update(enqueued_at=now)
        for start in range(0, len(ids), RENDER_BATCH_SIZE):
            send(RENDER_PDF_TASK, [str(j) for j in ids[start : start + RENDER_BATCH_SIZE]])
    return SweepResult(requeued=len(ids), failed=out_of_attempts)


# ----------------------------------------------------------------- snapshot


def einvoice_check(*, invoice: Invoice) -> None:
    """Refuse to finalize an invoice of an organization with e-invoicing on
    that could not be a valid EN 16931 e-invoice (``ValidationFailed``
    naming each missing datum); nothing for the others. Reads the
    invoice's lines as the caller loaded them."""
    if not invoice.organization.einvoicing_enabled:
        return
    from invoicing.einvoice.readiness import einvoice_missing

    snapshot = invoice_snapshot(invoice, with_logo=False)
    # Checked before numbering, while the invoice is still a draft.
    terms = _einvoice_terms(invoice.organization, invoice.customer)
    missing = einvoice_missing(dataclasses.replace(snapshot, einvoice=terms))
    if missing:
        raise ValidationFailed(missing)


def _einvoice_terms(organization, customer) -> snap.EInvoiceTerms:
    return snap.EInvoiceTerms(
        buyer_reference=customer.buyer_reference, iban=organization.iban, bic=organization.bic
    )


def _party_from(obj, *, name: str) -> snap.Party:
    return snap.Party(
        name=name,
        legal_name=obj.legal_name,
        legal_number=obj.legal_number,
        tax_identification_number=obj.tax_identification_number,
        email=obj.email,
        phone=obj.phone,
        address=snap.Address(
            line1=obj.address_line1,
            line2=obj.address_line2,
            city=obj.city,
            state=obj.state,
            zipcode=obj.zipcode,
            country=obj.country,
        ),
        electronic_address=obj.electronic_address,
        electronic_address_scheme=obj.electronic_address_scheme,
    )


def _fee_vat_category(fee) -> str:
    # EN 16931 gives a line one VAT category: a fee with one tax has it.
    taxes = fee.applied_taxes.all()
    return taxes[0].vat_category_code if len(taxes) == 1 else ""


def _logo_bytes(organization) -> bytes | None:
    if not organization.logo:
        return None
    try:
        with organization.logo.open("rb") as handle:
            return handle.read()
    except OSError:
        # A missing logo file must not block the invoice itself.
        logger.warning("logo of organization %s is unreadable", organization.pk)
        return None


def _load_for_snapshot(invoice_ids: list) -> dict:
    """Invoices by id with everything a snapshot reads: in one round trip on
    PostgreSQL (hand-written, prepared statements: the ORM's compiling of its
    four queries was a quarter of a month-end's one-invoice batches), else in
    four queries, whatever their number."""
    if not invoice_ids:
        return {}
    if connection.vendor == "postgresql":
        loaded = selectors.invoices_for_snapshot(invoice_ids)
    else:
        invoices = (
            Invoice.objects.select_related("customer", "organization")
            .prefetch_related("fees", "applied_taxes", "credits")
            .filter(pk__in=invoice_ids)
        )
        loaded = {invoice.pk: invoice for invoice in invoices}
    for invoice in loaded.values():
        # The customer's organization is the invoice's: spare the query its
        # time zone (and the webhook payload) would otherwise make.
        invoice.customer.organization = invoice.organization
    # An e-invoice gives each line its tax's VAT category: one more query for
    # the fees' taxes, only for organizations that issue e-invoices.
    einvoiced = [i for i in loaded.values() if i.organization.einvoicing_enabled]
    if einvoiced:
        prefetch_related_objects(
            [fee for invoice in einvoiced for fee in invoice.fees.all()], "applied_taxes"
        )
    return loaded


def invoice_snapshot(invoice: Invoice, *, with_logo: bool = True) -> snap.InvoiceSnapshot:
    """Freeze ``invoice`` into the renderer's plain-data input (loading its
    fees, taxes and credits unless the caller already did); ``with_logo``
    False spares reading the logo file (a check that prints nothing)."""
    if "fees" not in getattr(invoice, "_prefetched_objects_cache", {}):
        invoice = _load_for_snapshot([invoice.pk])[invoice.pk]
    organization, customer = invoice.organization, invoice.customer
    # Every date the PDF prints is a day in the customer's time zone (the
    # issuing and due dates already are).
    tz = customer.zone
    einvoicing = organization.einvoicing_enabled
    credit_labels = {
        Credit.Kind.COUPON: "coupon",
        Credit.Kind.CREDIT_NOTE: "credit_note",
        Credit.Kind.PREPAID: "prepaid",
    }
    return snap.InvoiceSnapshot(
        id=str(invoice.id),
        number=invoice.number or "",
        status=invoice.status,
        invoice_type=invoice.invoice_type,
        currency=invoice.currency,
        issuing_date=invoice.issuing_date,
        payment_due_date=invoice.payment_due_date,
        net_payment_term=invoice.net_payment_term,
        created_at=invoice.finalized_at or invoice.created_at,
        locale=customer.document_locale or organization.document_locale or "en",
        timezone=customer.applicable_timezone,
        organization=_party_from(organization, name=organization.name),
        customer=_party_from(customer, name=customer.display_name),
        purchase_order_number=invoice.purchase_order_number,
        logo_png=_logo_bytes(organization) if with_logo else None,
        invoice_footer=organization.invoice_footer,
        metadata=tuple(
            snap.MetadataItem(key=m["key"], value=m["value"])
            for m in invoice.metadata
            if m.get("display_in_invoice", True)
        ),
        fees=tuple(
            snap.FeeLine(
                display_name=fee.display_name,
                description=fee.description,
                from_date=fee.from_datetime.astimezone(tz).date() if fee.from_datetime else None,
                to_date=fee.to_datetime.astimezone(tz).date() if fee.to_datetime else None,
                units=fee.units,
                unit_amount_cents=fee.unit_amount_cents,
                amount_cents=fee.amount_cents,
                taxes_rate=fee.taxes_rate,
                taxes_amount_cents=fee.taxes_amount_cents,
                plan_name=fee.plan_name,
                subscription_id=fee.external_subscription_id,
                unit_code=fee.unit_code,
                vat_category_code=_fee_vat_category(fee) if einvoicing else "",
                coupons_amount_cents=fee.precise_coupons_amount_cents,
            )
            for fee in invoice.fees.all()
        ),
        applied_taxes=tuple(
            snap.AppliedTax(
                name=t.tax_name,
                code=t.tax_code,
                rate=t.tax_rate,
                amount_cents=t.amount_cents,
                fees_amount_cents=t.fees_amount_cents,
                vat_category_code=t.vat_category_code,
                vat_exemption_reason=t.vat_exemption_reason,
                vat_exemption_reason_code=t.vat_exemption_reason_code,
            )
            for t in invoice.applied_taxes.all()
        ),
        credits=tuple(
            snap.Credit(
                kind=credit_labels[c.kind], label=c.name or c.code, amount_cents=c.amount_cents
            )
            for c in invoice.credits.all()
        ),
        fees_amount_cents=invoice.fees_amount_cents,
        coupons_amount_cents=invoice.coupons_amount_cents,
        sub_total_excluding_taxes_amount_cents=invoice.sub_total_excluding_taxes_amount_cents,
        taxes_amount_cents=invoice.taxes_amount_cents,
        sub_total_including_taxes_amount_cents=invoice.sub_total_including_taxes_amount_cents,
        credit_notes_amount_cents=invoice.credit_notes_amount_cents,
        prepaid_credit_amount_cents=invoice.prepaid_credit_amount_cents,
        total_amount_cents=invoice.total_amount_cents,
        total_paid_amount_cents=invoice.total_paid_amount_cents,
        total_due_amount_cents=invoice.total_due_amount_cents,
        paper_size=paper_for(customer.country, organization.pdf_paper_size),
        # A voided invoice's PDF says VOID: it is no e-invoice.
        einvoice=(
            _einvoice_terms(organization, customer)
            if einvoicing and invoice.status == Invoice.Status.FINALIZED
            else None
        ),
    )


# ------------------------------------------------------ credit note e-invoice


def credit_note_einvoice_check(*, invoice: Invoice, items) -> None:
    """Refuse a credit note of an e-invoicing organization that could not be
    a valid EN 16931 credit note (``ValidationFailed`` naming each missing
    datum, as ``einvoice_check`` for an invoice); nothing for the others,
    nor for a credit note that will be a plain PDF. ``items`` are the
    checked (fee, amount_cents, precise_amount_cents) of the credit note."""
    from invoicing.einvoice.readiness import einvoice_missing
    from invoicing.models import CreditNote

    note = CreditNote(
        invoice=invoice,
        organization=invoice.organization,
        customer=invoice.customer,
        currency=invoice.currency,
        issuing_date=invoice.customer.today(),
    )
    if not credit_note_is_einvoice(note):
        return
    missing = einvoice_missing(credit_note_einvoice_snapshot(note, items=items))
    if missing:
        raise ValidationFailed(missing)


def credit_note_is_einvoice(note) -> bool:
    """A credit note is an e-invoice when its organization issues them and
    the invoice it corrects was not issued as a plain PDF (its first stored
    version has no XML: finalized before e-invoicing was on). An invoice not
    rendered yet will be an e-invoice, so its credit note is one too."""
    if not note.organization.einvoicing_enabled:
        return False
    first = (
        PdfJob.objects.filter(invoice_id=note.invoice_id, state=PdfJob.State.READY)
        .order_by("version")
        .values_list("xml_storage_key", flat=True)
        .first()
    )
    return first is None or bool(first)


def _credit_note_terms(note, locale: str) -> str:
    """BT-20: what becomes of the credit note's money, in the PDF's words."""
    from invoicing.money import currency_exponent
    from invoicing.pdf.credit_note import CREDIT_NOTE_LABELS

    labels = CREDIT_NOTE_LABELS.get(locale) or CREDIT_NOTE_LABELS.get(
        locale.split("-")[0], CREDIT_NOTE_LABELS["en"]
    )
    exponent = currency_exponent(note.currency)
    parts = [
        f"{labels[key]}: {Decimal(cents).scaleb(-exponent):f} {note.currency}"
        for key, cents in (
            ("credit_amount", note.credit_amount_cents),
            ("refund_amount", note.refund_amount_cents),
        )
        if cents
    ]
    return "; ".join(parts) or labels["total_credit_note"]


def credit_note_einvoice_snapshot(note, *, items=None) -> snap.InvoiceSnapshot:
    """A credit note as the EN 16931 builders read an invoice: its items are
    the lines (a whole fee credited keeps the fee's quantity, price and unit;
    a part of one is one unit, C62, of the amount), their share of the fee's
    coupons the allowances, its applied taxes the VAT breakdown with the
    invoice's VAT categories, its total the amount due (nothing is paid on
    a credit note). ``items`` as (fee, amount_cents, precise_amount_cents)
    checks one not saved yet (``credit_note_einvoice_check``)."""
    invoice, organization, customer = note.invoice, note.organization, note.customer
    tz = customer.zone
    unsaved = items is not None
    if items is None:
        items = [(i.fee, i.amount_cents, i.precise_amount_cents) for i in note.items.all()]
    fees = []
    for fee, amount, precise in items:
        whole = amount == fee.amount_cents
        share = precise / fee.amount_cents if fee.amount_cents else Decimal(0)
        fees.append(
            snap.FeeLine(
                display_name=fee.display_name,
                description=fee.description,
                from_date=fee.from_datetime.astimezone(tz).date() if fee.from_datetime else None,
                to_date=fee.to_datetime.astimezone(tz).date() if fee.to_datetime else None,
                units=fee.units if whole else Decimal(1),
                unit_amount_cents=fee.unit_amount_cents if whole else Decimal(amount),
                amount_cents=amount,
                taxes_rate=fee.taxes_rate,
                unit_code=fee.unit_code if whole else "C62",
                vat_category_code=_fee_vat_category(fee),
                coupons_amount_cents=fee.precise_coupons_amount_cents * share,
            )
        )
    categories = {t.tax_code: t for t in invoice.applied_taxes.all()}
    taxes = []
    for t in note.applied_taxes.all() if not unsaved else ():
        source = categories.get(t.tax_code)
        taxes.append(
            snap.AppliedTax(
                name=t.tax_name,
                code=t.tax_code,
                rate=t.tax_rate,
                amount_cents=t.amount_cents,
                fees_amount_cents=t.base_amount_cents,
                vat_category_code=source.vat_category_code if source else "S",
                vat_exemption_reason=source.vat_exemption_reason if source else "",
                vat_exemption_reason_code=source.vat_exemption_reason_code if source else "",
            )
        )
    lines_total = sum(f.amount_cents for f in fees)
    subtotal = note.sub_total_excluding_taxes_amount_cents
    return snap.InvoiceSnapshot(
        id=str(note.pk),
        number=note.number or "",
        status=Invoice.Status.FINALIZED,
        invoice_type=invoice.invoice_type,
        currency=note.currency,
        issuing_date=note.issuing_date,
        payment_due_date=note.issuing_date,
        net_payment_term=0,
        created_at=note.created_at or timezone.now(),
        locale=customer.document_locale or organization.document_locale or "en",
        timezone=customer.applicable_timezone,
        organization=_party_from(organization, name=organization.name),
        customer=_party_from(customer, name=customer.display_name),
        purchase_order_number=invoice.purchase_order_number,
        invoice_footer=organization.invoice_footer,
        fees=tuple(fees),
        applied_taxes=tuple(taxes),
        fees_amount_cents=lines_total,
        # The items less the sub total: their coupons (and the rounding of
        # the precise amounts, which Lago keeps in the coupons adjustment).
        coupons_amount_cents=lines_total - subtotal,
        sub_total_excluding_taxes_amount_cents=subtotal,
        taxes_amount_cents=note.taxes_amount_cents,
        sub_total_including_taxes_amount_cents=subtotal + note.taxes_amount_cents,
        total_amount_cents=note.total_amount_cents,
        total_due_amount_cents=note.total_amount_cents,
        paper_size=paper_for(customer.country, organization.pdf_paper_size),
        einvoice=_einvoice_terms(organization, customer),
    )
