"""Two pages in Debian's Chromium (headless, through Selenium), as an operator
sees them:

- the API docs page with every address but this machine's unreachable (names
  resolve to nothing and every other connection goes to a proxy that is not
  there): Redoc and everything it needs come from the service itself, so the
  operations are listed;
- the admin's invoice list, whose amounts are in major units with the
  currency's decimals."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from invoicing.services.invoices import FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_organization, make_tax

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Debian's chromium and chromium-driver "
        "(scripts/install-system-packages.sh installs them)",
    ),
]


def _closed_port() -> int:
    """A port nothing listens on: the proxy every non-local request is sent to."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def offline_browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Every name but this machine's resolves to nothing...
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
                 # ...and any connection that still leaves goes to a dead proxy.
                 f"--proxy-server=http://127.0.0.1:{_closed_port()}",
                 "--proxy-bypass-list=localhost;127.0.0.1",
                 f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_window_size(1280, 1000)
    yield driver
    driver.quit()


def _wait_for_text(driver, texts: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        body = driver.find_element("tag name", "body").text
        if all(text in body for text in texts):
            return body
        time.sleep(0.25)
    raise AssertionError(f"{texts} not all on the page within {timeout} s:\n{body[:3000]}")


def test_the_api_docs_list_the_operations_with_no_network(offline_browser, live_server):
    from selenium.common.exceptions import WebDriverException

    driver = offline_browser
    # The network is really blocked: a page elsewhere does not load.
    with pytest.raises(WebDriverException, match="ERR_"):
        driver.get("https://cdn.jsdelivr.net/npm/redoc@latest/bundles/redoc.standalone.js")

    driver.get(f"{live_server.url}/api/docs/")
    # Operation summaries from the served schema, rendered by Redoc in the menu.
    body = _wait_for_text(driver, ["Download an invoice's PDF", "Invoice documents API"])
    assert "pdf_url" in body.lower() or "Lotus" in body
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert any(url.startswith(f"{live_server.url}/static/") for url in loaded), loaded
    # Redoc's menu asks for Redocly's logo from their CDN: the page's policy
    # refuses it before it leaves the browser (the logo hides itself).
    console = driver.get_log("browser")
    refused = [e["message"] for e in console
               if e["source"] == "security" and "has been blocked" in e["message"]]  # fmt: skip
    elsewhere = [url for url in loaded if not url.startswith(live_server.url)]
    for url in elsewhere:
        assert any(url in message for message in refused), (url, refused)


def test_the_admin_invoice_list_shows_major_units(offline_browser, live_server):
    organization, _ = make_organization()
    vat = make_tax(organization, rate="20")
    # 2.5 x 100.00 EUR = 250.00, + 20 % VAT = 300.00 EUR.
    euro = make_add_on(organization, amount_cents=10_000, currency="EUR", taxes=[vat])
    euro_invoice = make_invoice(
        organization, customer=make_customer(organization, currency="EUR"),
        fees=[FeeInput(add_on_code=euro.code, units=Decimal("2.5"))],
    )  # fmt: skip
    # 1 x 238.000 BHD, + 20 % = 285.600 BHD: three decimals.
    dinar = make_add_on(organization, amount_cents=238_000, currency="BHD", taxes=[vat])
    dinar_invoice = make_invoice(
        organization, customer=make_customer(organization, currency="BHD"), currency="BHD",
        fees=[FeeInput(add_on_code=dinar.code, units=Decimal("1"))],
    )  # fmt: skip
    assert (euro_invoice.total_amount_cents, dinar_invoice.total_amount_cents) == (30000, 285600)

    user = get_user_model().objects.create_user("operator", None, None, is_staff=True,
                                                is_superuser=True)  # fmt: skip
    client = Client()
    client.force_login(user)
    driver = offline_browser
    driver.get(f"{live_server.url}/healthz")
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session, "path": "/"})
    driver.get(f"{live_server.url}/admin/invoicing/invoice/")
    body = _wait_for_text(driver, [euro_invoice.number, dinar_invoice.number])
    rows = {line for line in body.splitlines()}
    euro_row = next(line for line in rows if euro_invoice.number in line)
    dinar_row = next(line for line in rows if dinar_invoice.number in line)
    assert "300.00" in euro_row and "30000" not in euro_row, euro_row
    assert "285.600" in dinar_row and "285600" not in dinar_row, dinar_row
