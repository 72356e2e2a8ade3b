"""The operations side against real processes: a Celery worker writing
metrics and JSON log lines, and Flower started from the Procfile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.test import Client, override_settings

from invoicing.models import PdfJob
from tests.factories import make_invoice, make_organization
from tests.pdftext import wait_for
from tests.processes import ROOT, Worker, flush_broker

from .test_health import free_port
from .test_metrics import TOKEN, sample

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, metrics_dir):
    with django_db_blocker.unblock():
        flush_broker()
        w = Worker("fleet", concurrency=1, PROMETHEUS_MULTIPROC_DIR=metrics_dir).start()
    yield w
    w.stop()


def _procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} entry in the Procfile")


def _start_flower(port: int, **env) -> subprocess.Popen:
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "billing_project.test_settings",
        "DEBUG": "0",
        "FLOWER_PORT": str(port),
        **env,
    }
    return subprocess.Popen(
        ["bash", "-c", f"exec {_procfile_command('flower')}"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def test_a_worker_job_shows_in_metrics_and_logs_one_json_line(worker, metrics_dir):
    organization, _ = make_organization()
    invoice = make_invoice(organization)
    job = wait_for(
        lambda: PdfJob.objects.filter(invoice=invoice, state="ready").first(), timeout=30
    )

    with override_settings(METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)):
        response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    text = response.content.decode()
    # Rendered in the worker process, summed from its sample files here.
    assert sample(text, "invoice_pdf_render_duration_seconds_count") == 1
    assert sample(text, "invoice_pdf_size_bytes_sum") == job.size_bytes
    assert sample(text, "invoice_pdf_jobs_finished_total", outcome="ready") == 1

    lines = [json.loads(raw) for raw in worker.log_path.read_text().splitlines()
             if raw.startswith("{")]  # fmt: skip
    finished = [line for line in lines if line.get("logger") == "invoicing.jobs"]
    assert len(finished) == 1
    assert finished[0]["invoice_id"] == str(invoice.pk)
    assert finished[0]["organization_id"] == str(organization.pk)
    assert finished[0]["job_id"] == str(job.pk)
    assert finished[0]["outcome"] == "ready" and finished[0]["render_ms"] == job.render_ms


def test_flower_from_the_procfile_lists_the_worker_behind_basic_auth(worker):
    port = free_port()
    flower = _start_flower(port, FLOWER_BASIC_AUTH="u:p")
    base = f"http://127.0.0.1:{port}"
    try:

        def workers():
            if flower.poll() is not None:
                raise AssertionError(flower.stdout.read().decode()[-2000:])
            try:
                answer = httpx.get(f"{base}/api/workers?refresh=1", auth=("u", "p"), timeout=5)
            except httpx.TransportError:
                return None
            return answer.json() if answer.status_code == 200 else None

        listed = wait_for(lambda: (w := workers()) and any(n.startswith("fleet@") for n in w),
                          timeout=40, interval=0.5)  # fmt: skip
        assert listed
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
        assert httpx.get(f"{base}/api/workers", auth=("u", "wrong"), timeout=5).status_code == 401
        assert httpx.get(f"{base}/", timeout=5).status_code == 401
        # It listens on the loopback only (FLOWER_ADDRESS), not on every interface.
        import psutil

        listening = {
            c.laddr.ip
            for p in [psutil.Process(flower.pid), *psutil.Process(flower.pid).children(True)]
            for c in p.net_connections("inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}
        # Flower leaves these two open by itself; here they need the credentials.
        for page in ("/metrics", "/healthcheck"):
            assert httpx.get(f"{base}{page}", timeout=5).status_code == 401
            assert httpx.get(f"{base}{page}", auth=("u", "p"), timeout=5).status_code == 200
    finally:
        os.killpg(flower.pid, signal.SIGTERM)
        try:
            flower.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(flower.pid, signal.SIGKILL)
            flower.wait(timeout=10)


@pytest.mark.parametrize(
    ("value", "debug"), [("", "0"), ("", "1"), ("only-a-user", "0"), ("user:", "0")]
)
def test_flower_refuses_to_start_without_usable_basic_auth(value, debug):
    flower = _start_flower(free_port(), FLOWER_BASIC_AUTH=value, DEBUG=debug)
    try:
        output, _ = flower.communicate(timeout=30)
    finally:
        if flower.poll() is None:
            os.killpg(flower.pid, signal.SIGKILL)
    assert flower.returncode == 2
    assert b"refusing to start" in output and b"FLOWER_BASIC_AUTH" in output


def test_the_ops_page_lists_the_worker_that_answered_with_its_queues(worker):
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(
        get_user_model().objects.create_user("ops", None, None, is_staff=True, is_superuser=True)
    )
    page = client.get("/admin/ops/").content.decode()
    assert "fleet@" in page and "pdf, webhooks" in page
