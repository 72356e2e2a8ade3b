"""The operations page: numbers from the database, the broker and the
workers, and still an answer when the broker is down."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from invoicing.models import PdfJob
from invoicing.ops import stats
from tests.factories import make_invoice, make_organization
from tests.invoicing.admin.helpers import failed_delivery, invoice_with_failed_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db):
    from django.contrib.auth.models import Permission

    # Staff who may view invoices and deliveries (admin/ops.py OPS_PERMISSIONS).
    user = get_user_model().objects.create_user("ops", None, None, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_invoice", "view_webhookdelivery"])
    )
    client = Client()
    client.force_login(user)
    return client


def _rows(rows) -> dict:
    return {row.state: (row.last_hour, row.last_day, row.now) for row in rows}


def test_counts_windows_oldest_job_and_reasons(staff_client):
    organization, _ = make_organization()
    waiting = [make_invoice(organization) for _ in range(3)]
    invoice_with_failed_pdf(organization)
    invoice_with_failed_pdf(organization)
    old = PdfJob.objects.get(invoice=waiting[0])
    # Requested two hours ago: outside the last hour, inside the day.
    PdfJob.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=2),
        updated_at=timezone.now() - dt.timedelta(hours=2),
    )
    failed_delivery(waiting[1])

    snapshot = stats.ops_snapshot(with_workers=False)

    pdf = _rows(snapshot.pdf_states)
    assert pdf["pending"] == (2, 3, 3)
    assert pdf["failed"] == (2, 2, 2)
    assert pdf["ready"] == (0, 0, None)
    assert snapshot.oldest_pending_job.pk == old.pk
    assert [(r.reason, r.count) for r in snapshot.pdf_failures] == [("RenderError: boom", 2)]
    assert _rows(snapshot.delivery_states)["failed"][2] == 1
    assert [(r.label, r.count) for r in snapshot.attempt_failures] == [("server_error", 1)]
    assert snapshot.broker.reachable and set(snapshot.broker.depths) == {"pdf", "webhooks"}

    page = staff_client.get("/admin/ops/").content.decode()
    for text in ("PDF jobs by state", "RenderError: boom", "server_error", "Workers that answered",
                 waiting[0].number):  # fmt: skip
        assert text in page, text
    # Each queue as a row with its depth (the words alone are on every admin page).
    for queue, depth in snapshot.broker.depths.items():
        row = f'<tr><td>{queue}</td><td class="num">{depth}</td></tr>'
        assert row in re.sub(r">\s+<", "><", page), row


def test_the_page_answers_with_the_broker_down(staff_client):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = staff_client.get("/admin/ops/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "unreachable" in page and "broker unreachable" in page


def test_the_page_uses_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries):
    organization, _ = make_organization()
    for _ in range(5):
        invoice_with_failed_pdf(organization)
    # 13: the credit notes' jobs by state are one query of their own.
    with django_assert_max_num_queries(13):
        staff_client.get("/admin/ops/")
