"""The invoice page and the operations page in a real browser (Debian's
Chromium, headless, through Selenium), on the demo data. Saves screenshots
for a person to look at: under the test run's VAR_DIR, or where
SCREENSHOTS_DIR says (``SCREENSHOTS_DIR=docs/ops`` refreshes the README's)."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from invoicing.models import Invoice, Organization, PdfJob, WebhookDelivery, WebhookEndpoint
from invoicing.services.pdf import pdf_job_run

from .helpers import failed_delivery

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Not docs/ops by default: a test run must not rewrite files of the checkout.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(settings.VAR_DIR) / "screenshots")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Debian's chromium and chromium-driver "
        "(scripts/install-system-packages.sh installs them)",
    ),
]


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_window_size(1280, 1000)
    yield driver
    driver.quit()


def _demo_data() -> Invoice:
    """seed_demo's organization, some PDFs rendered, one failed, and a
    delivery that failed: what an operator looks at on a bad day."""
    call_command("seed_demo", "--invoices", "11", stdout=io.StringIO())
    organization = Organization.objects.get(name="Demo Billing Co")
    WebhookEndpoint.objects.create(
        organization=organization, webhook_url="https://erp.example.com/hooks/lago"
    )
    invoices = list(
        Invoice.objects.filter(organization=organization, status="finalized").order_by(
            "sequential_id"
        )
    )
    jobs = PdfJob.objects.filter(invoice__in=invoices[:6], is_current=True)
    for job in jobs:
        pdf_job_run(job_id=str(job.pk))
    PdfJob.objects.filter(invoice=invoices[6], is_current=True).update(
        state=PdfJob.State.FAILED, attempts=5,
        last_error="RenderError: the logo image is not a PNG or JPEG",
    )  # fmt: skip
    shown = invoices[1]
    delivery = failed_delivery(shown, url="https://erp.example.com/hooks/lago")
    generated = WebhookDelivery.objects.filter(
        event__object_id=shown.pk, event__event_type="invoice.generated"
    ).first()
    if generated:
        WebhookDelivery.objects.filter(pk=generated.pk).update(status="succeeded", attempt_count=1)
        generated.attempts.create(
            attempt_number=1, started_at=timezone.now(), duration_ms=87, outcome="success",
            status_code=200, response_body=b'{"ok":true}', remote_ip="203.0.113.7",
        )  # fmt: skip
    assert delivery.status == "failed"
    return shown


def _login(driver, live_server) -> None:
    user = get_user_model().objects.create_user("operator", None, None, is_staff=True,
                                                is_superuser=True)  # fmt: skip
    client = Client()
    client.force_login(user)
    driver.get(f"{live_server.url}/healthz")
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session, "path": "/"})


def _text(driver) -> str:
    # As rendered: the admin's CSS upper-cases headings and buttons, and
    # narrow table cells wrap their text.
    return " ".join(driver.find_element("tag name", "body").text.lower().split())


def _shot(driver, name: str, width: int, height: int) -> Path:
    """A screenshot reduced to a 256-colour palette: admin pages are flat
    colours, so it stays sharp at a third of the size."""
    from PIL import Image

    driver.set_window_size(width, height)
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def test_invoice_and_operations_pages_in_a_browser(browser, live_server):
    invoice = _demo_data()
    _login(browser, live_server)

    browser.get(f"{live_server.url}/admin/invoicing/invoice/{invoice.pk}/change/")
    # The page, not the admin's model list, is what the screenshots show; the
    # admin remembers the folded sidebar for the next pages.
    browser.find_element("id", "toggle-nav-sidebar").click()
    assert invoice.number in browser.title
    body = _text(browser)
    for text in (invoice.lotus_id, "ready", "server_error", "service unavailable",
                 "http 503 from receiver", "regenerate pdf",
                 "retry failed deliveries"):  # fmt: skip
        assert text.lower() in body, text
    loaded = browser.execute_script(
        "const img = document.querySelector('img.invoice-preview');"
        "return img && img.complete && img.naturalWidth;"
    )
    assert loaded and loaded >= 600, "the first-page preview did not load"
    _shot(browser, "admin-invoice.png", 1280, 1700)

    browser.get(f"{live_server.url}/admin/invoicing/invoice/?q={invoice.customer.external_id}")
    assert invoice.number in browser.find_element("tag name", "body").text
    browser.get(f"{live_server.url}/admin/invoicing/invoice/")
    _shot(browser, "admin-invoices.png", 1440, 900)

    browser.get(f"{live_server.url}/admin/ops/")
    body = _text(browser)
    for text in ("PDF jobs by state", "Webhook deliveries by status", "Queues (redis broker)",
                 "the logo image is not", "server_error", "Workers that answered"):  # fmt: skip
        assert text.lower() in body, text
    _shot(browser, "admin-ops.png", 1280, 1000)
