"""What a process says once when it starts serving (the web process through
``wsgi.py``, a Celery worker when it is ready)."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings

logger = logging.getLogger("billing_project.startup")

_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def announce_loopback_webhooks() -> None:
    """One line when webhooks may reach this machine's loopback because DEBUG is on
    (make run's receiver): a deployment started with DEBUG by mistake shows it."""
    if not settings.DEBUG:
        return
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.WEBHOOK_ALLOWED_NETWORKS]
    if any(address in network for address in _LOOPBACK for network in networks
           if address.version == network.version):  # fmt: skip
        logger.warning(
            "DEBUG is on: webhooks may be delivered to loopback addresses "
            "(WEBHOOK_ALLOWED_NETWORKS=%s); with DEBUG off they are refused unless listed",
            ",".join(settings.WEBHOOK_ALLOWED_NETWORKS),
        )
