"""A persistent connection that died while idle (PostgreSQL restarted, or an
administrator ended it) is replaced at the next request's first statement,
not answered with a 503. Django's cursors check a reused connection before
their first statement of a request (``CONN_HEALTH_CHECKS``); the hot paths'
prepared statements bypass those cursors (``selectors._preparing``) and must
give the same guarantee. A system test restarting PostgreSQL under gunicorn
saw one 503 after the restart when a worker's first request was a prepared
read on its dead connection."""

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection, transaction

from invoicing import selectors
from invoicing.models.organizations import API_KEY_PREFIX_LENGTH
from invoicing.services import invoices
from tests.factories import make_customer, make_invoice
from tests.invoicing.api.lotus.conftest import render_now

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
    ),
]


def _end_the_backend() -> None:
    """End this connection's server process from another connection, and
    wait until PostgreSQL no longer lists it: the next statement on it then
    finds the connection closed, as after a restart."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            other.execute("SELECT pg_sleep(0.01)")


def _new_request() -> None:
    # What Django does when a request (or, under Celery's Django fix-up, a
    # task) begins; the test client leaves it out.
    close_old_connections()


def test_the_prepared_statements_are_in_use():
    # Otherwise the tests below would pass on Django's own cursors.
    assert selectors._preparing() is not None


def test_a_lago_request_after_the_backend_died_is_answered(api, org_and_key):
    organization, _ = org_and_key
    make_invoice(organization, make_customer(organization))
    assert api.get("/api/v1/invoices").status_code == 200
    _end_the_backend()
    _new_request()
    answer = api.get("/api/v1/invoices")
    assert answer.status_code == 200, answer.content
    assert len(answer.json()["invoices"]) == 1
    assert not connection.connection.closed


def test_a_lotus_download_after_the_backend_died_is_answered(org_and_key, client):
    organization, raw = org_and_key
    invoice = make_invoice(organization, make_customer(organization))
    render_now(invoice)
    _end_the_backend()
    _new_request()
    answer = client.get(f"/api/invoices/{invoice.lotus_id}/pdf_url/", HTTP_X_API_KEY=raw)
    assert answer.status_code == 200, answer.content
    assert answer.json()["url"]


def test_reads_on_a_dead_connection_run_again_on_a_new_one(org_and_key):
    _, raw = org_and_key
    _end_the_backend()
    _new_request()
    before = connection.connection
    key = selectors.api_key_get_by_prefix(prefix=raw[:API_KEY_PREFIX_LENGTH])
    assert key is not None
    assert connection.connection is not before
    assert connection.health_check_done


def test_writes_get_the_connection_checked_before_they_are_sent(org_and_key):
    _end_the_backend()
    _new_request()
    before = connection.connection
    rows = invoices._run_together([("SELECT 41 + 1", [], True)], writes=True)
    assert rows == [[(42,)]]
    assert connection.connection is not before


def test_nothing_runs_again_inside_a_transaction(org_and_key):
    # A transaction's earlier statements died with the connection: running
    # the rest on a new one would commit half of it.
    _, raw = org_and_key
    connection.ensure_connection()
    _new_request()
    with pytest.raises(OperationalError), transaction.atomic():
        _end_the_backend()
        selectors.api_key_get_by_prefix(prefix=raw[:API_KEY_PREFIX_LENGTH])
    close_old_connections()
    assert selectors.api_key_get_by_prefix(prefix=raw[:API_KEY_PREFIX_LENGTH]) is not None


def test_an_error_on_a_live_connection_is_not_run_again(org_and_key):
    _new_request()
    with pytest.raises(Exception) as raised:
        selectors._select(("SELECT 1 / 0", []))
    assert "division by zero" in str(raised.value)
    assert not connection.connection.closed
