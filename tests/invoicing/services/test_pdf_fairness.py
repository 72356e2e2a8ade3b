"""The render claim's scheduling rule between organizations (services/pdf.py,
``_claim``): one organization's month-end cannot hold another's PDFs behind it.

The expected batches are dealt by hand from the rule: each organization's
oldest waiting job, then each one's second oldest, and so on, up to 20 jobs
from at most 20 organizations.
"""

from __future__ import annotations

import datetime as dt
import uuid
from unittest import mock

import pytest
from django.utils import timezone

from invoicing.models import PdfJob
from invoicing.services import pdf
from tests.factories import make_add_on, make_customer, make_invoice, make_organization

pytestmark = pytest.mark.django_db


def _jobs(organization, count: int) -> list[str]:
    """``count`` finalized invoices' waiting jobs, oldest first."""
    customer, add_on = make_customer(organization), make_add_on(organization)
    from invoicing.services.invoices import FeeInput

    ids = []
    for _ in range(count):
        invoice = make_invoice(organization, customer, [FeeInput(add_on_code=add_on.code)])
        ids.append(str(PdfJob.objects.get(invoice=invoice).pk))
    return ids


def _claimed(named: list[str]) -> list[str]:
    """Run one render task's claim (rendering what it took) and return the ids
    it rendered."""
    results = pdf.pdf_jobs_run(job_ids=named, take_waiting=True)
    return [r.job_id for r in results if r.outcome == "ready"]


def test_another_organizations_jobs_go_into_the_next_batch():
    big, _ = make_organization()
    small, _ = make_organization()
    tiny, _ = make_organization()
    month_end = _jobs(big, 30)
    later = _jobs(small, 2)
    latest = _jobs(tiny, 1)
    # The message names the big organization's jobs (its month-end sent them
    # first); the batch is dealt round all three: big, small, tiny, then big,
    # small, then big alone: 3 + 17 of big's oldest.
    taken = _claimed(month_end[:20])
    assert set(taken) == {*later, *latest, *month_end[:17]}
    # Without the rule the message's own 20 jobs were the batch, and the small
    # organizations' waited for every message queued before theirs.


def test_more_organizations_than_a_batch_get_one_job_each():
    organizations = sorted((make_organization()[0] for _ in range(22)), key=lambda o: o.pk)
    jobs = {o.pk: _jobs(o, 2) for o in organizations}
    # Start the round at the 5th organization in id order: the batch is the
    # oldest job of organizations 5..22 and then, round to the start, of 1 and 2.
    with mock.patch.object(pdf, "_start_point", return_value=organizations[4].pk):
        taken = _claimed([])
    served = organizations[4:] + organizations[:2]
    assert set(taken) == {jobs[o.pk][0] for o in served}
    # The next claim from the same point takes the second jobs of the same 20
    # organizations; organizations 3 and 4 then have the third claim to
    # themselves. Claims start at random points, so no organization waits
    # behind the same 20 every time.
    with mock.patch.object(pdf, "_start_point", return_value=organizations[4].pk):
        assert set(_claimed([])) == {jobs[o.pk][1] for o in served}
        assert set(_claimed([])) == {*jobs[organizations[2].pk], *jobs[organizations[3].pk]}


def test_the_start_point_comes_round_past_the_last_organization():
    organizations = sorted((make_organization()[0] for _ in range(3)), key=lambda o: o.pk)
    jobs = {o.pk: _jobs(o, 1)[0] for o in organizations}
    # A start past every organization's id still finds all three.
    with mock.patch.object(pdf, "_start_point", return_value=uuid.UUID(int=2**128 - 1)):
        assert set(_claimed([])) == set(jobs.values())


def test_jobs_backing_off_out_of_attempts_or_replaced_are_not_taken(organization):
    backing_off, exhausted, replaced, plain = _jobs(organization, 4)
    PdfJob.objects.filter(pk=backing_off).update(
        available_at=timezone.now() + dt.timedelta(minutes=5)
    )
    PdfJob.objects.filter(pk=exhausted).update(attempts=99)
    PdfJob.objects.filter(pk=replaced).update(is_current=False)
    assert _claimed([backing_off, exhausted, replaced]) == [plain]


def test_a_named_job_whose_worker_died_is_taken_with_the_batch(organization):
    died, other_died, waiting = _jobs(organization, 3)
    gone = timezone.now() - dt.timedelta(seconds=1)
    PdfJob.objects.filter(pk__in=[died, other_died]).update(
        state="rendering", attempts=1, lease_expires_at=gone
    )
    # The sweep names the jobs whose lease ran out; one it did not name waits
    # for its own message (rendering jobs are not in the waiting order).
    assert set(_claimed([died])) == {died, waiting}
    assert PdfJob.objects.get(pk=died).attempts == 2
    assert PdfJob.objects.get(pk=other_died).state == "rendering"
