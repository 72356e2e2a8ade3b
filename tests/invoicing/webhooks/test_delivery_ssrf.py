"""The SSRF guard at delivery level: with WEBHOOK_ALLOWED_NETWORKS empty, an endpoint at a
forbidden address gets no connection at all, however the address is spelled.

The sender is given a connect function that refuses anything but loopback without touching
the network, so a broken guard can only fail these tests, never send traffic elsewhere; a
listener on 127.0.0.1 counts what would have reached a local service.
"""

from __future__ import annotations

import functools
import socket

import pytest

from invoicing.errors import ValidationFailed
from invoicing.models import WebhookDelivery
from invoicing.services import webhooks
from invoicing.services.webhook_endpoints import webhook_endpoint_create
from invoicing.webhooks import sender
from tests.factories import make_invoice

from .scripted import endpoint

pytestmark = pytest.mark.django_db

FORBIDDEN_HOSTS = [
    "127.0.0.1",
    "localhost",
    "2130706433",  # decimal
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hexadecimal
    "127.1",  # short form
    "0.0.0.0",  # reaches local services on Linux
    "[::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "[fe80::1]",
    "[fc00::1]",
    "224.0.0.1",
]


@pytest.fixture
def guarded(settings, monkeypatch, recording_connect):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    # Patched where the service uses it: every attempt dials through the recorder.
    monkeypatch.setattr(
        webhooks.sender, "post", functools.partial(sender.post, connect=recording_connect)
    )
    return recording_connect


def _attempt_to(organization, url: str) -> WebhookDelivery:
    ep = endpoint(organization, url)
    invoice = make_invoice(organization)
    delivery = WebhookDelivery.objects.get(endpoint=ep, event__object_id=invoice.id)
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
def test_forbidden_addresses_get_no_connection(organization, guarded, listener, host):
    delivery = _attempt_to(organization, f"http://{host}:{listener.port}/hook")
    recorded = delivery.attempts.get()
    assert recorded.outcome == "forbidden_address", recorded.error
    assert recorded.remote_ip is None and recorded.status_code is None
    assert guarded.calls == []
    assert listener.count() == 0
    # Retried on the schedule (DNS answers change), and the endpoint's failing streak starts.
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    delivery.endpoint.refresh_from_db()
    assert delivery.endpoint.failing_since is not None


def test_metadata_stays_forbidden_inside_an_allowed_network(
    organization, guarded, listener, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    delivery = _attempt_to(organization, f"http://169.254.169.254:{listener.port}/latest")
    assert delivery.attempts.get().outcome == "forbidden_address"
    assert guarded.calls == [] and listener.count() == 0


def test_the_listener_does_count_an_allowed_connection(organization, guarded, listener, settings):
    # The control: the same set-up reaches the listener once loopback is allowed.
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    delivery = _attempt_to(organization, f"http://127.0.0.1:{listener.port}/hook")
    assert delivery.attempts.get().outcome == "timeout"  # the listener never answers
    assert guarded.calls == [("127.0.0.1", listener.port)]
    assert listener.count() == 1


def test_an_invalid_url_fails_at_once(organization, guarded):
    delivery = _attempt_to(organization, "ftp://127.0.0.1/hook")
    assert delivery.status == "failed"
    assert delivery.attempts.get().outcome == "invalid_url"
    assert guarded.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "ftp://hooks.example.com/",
        "https://user:pass@hooks.example.com/",
        "http://hooks example.com/",
    ],
)
def test_saving_refuses_what_could_never_be_delivered(organization, settings, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationFailed) as caught:
        webhook_endpoint_create(organization=organization, data={"webhook_url": url})
    assert caught.value.details == {"webhook_url": ["url_is_invalid"]}


def test_saving_a_name_needs_no_dns_and_an_allowed_network_unlocks_a_literal(
    organization, settings, monkeypatch
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    real_getaddrinfo = socket.getaddrinfo

    def no_dns(host, port, family=0, type=0, proto=0, flags=0):
        # Parsing a literal is fine; a query to a name server is not.
        if not flags & socket.AI_NUMERICHOST:
            raise AssertionError("no DNS query at save time")
        return real_getaddrinfo(host, port, family, type, proto, flags)

    monkeypatch.setattr("socket.getaddrinfo", no_dns)
    saved = webhook_endpoint_create(
        organization=organization, data={"webhook_url": "https://hooks.example.com/lago"}
    )
    assert saved.webhook_url == "https://hooks.example.com/lago"
    monkeypatch.undo()
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    webhook_endpoint_create(organization=organization, data={"webhook_url": "http://127.0.0.1/"})
