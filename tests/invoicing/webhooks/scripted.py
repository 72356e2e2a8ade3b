"""Helpers shared by the delivery tests here and the end-to-end ones in tests/workers."""

from __future__ import annotations

import socket
import threading

from django.utils import timezone

from invoicing.models import Organization, WebhookDelivery, WebhookEndpoint

from .conftest import Receiver, Reply, read_request


class ScriptedReceiver(Receiver):
    """A receiver answering the n-th request with ``replies[n]`` (the last one repeats)."""

    def __init__(self, replies: list[Reply]) -> None:
        self._replies = list(replies)
        super().__init__(self._replies[0])

    @property
    def reply(self) -> Reply:
        # The handler records the request before it reads the reply.
        return self._replies[min(len(self.requests), len(self._replies)) - 1]

    @reply.setter
    def reply(self, value: Reply) -> None:
        pass  # the script decides


def hang(conn: socket.socket, stop: threading.Event) -> None:
    """RawServer behaviour: read the request, then never answer until the test ends."""
    read_request(conn)
    stop.wait(60)


def endpoint(organization: Organization, url: str, **fields) -> WebhookEndpoint:
    """An endpoint written directly, so tests may point one anywhere (even where the
    service would refuse to save it)."""
    return WebhookEndpoint.objects.create(organization=organization, webhook_url=url, **fields)


def make_due(delivery: WebhookDelivery) -> None:
    """Drive time forward: the delivery's next attempt is due now."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
