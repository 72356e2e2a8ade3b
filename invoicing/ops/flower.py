"""Start Flower for the fleet, refusing to start it without basic auth.

``python -m invoicing.ops.flower [flower options]`` (the Procfile's
``flower`` entry). Flower shows every task's arguments and can revoke tasks
and shut workers down, so it never starts open, DEBUG or not: the
credentials come from ``FLOWER_BASIC_AUTH`` (``user:password``, several
separated by commas). Flower reads that variable itself; passing it through
the environment rather than ``--basic-auth`` keeps it out of ``ps``.

Flower leaves ``/metrics`` and ``/healthcheck`` outside its auth; here they
ask for the same credentials as every other page. It listens on
``FLOWER_ADDRESS`` (127.0.0.1 unless set): reach it through a tunnel or a
proxy, not from the network.
"""

from __future__ import annotations

import os
import sys


def basic_auth_problem(value: str) -> str | None:
    """Why ``value`` cannot protect Flower, or None if it can."""
    if not value:
        return "FLOWER_BASIC_AUTH (user:password) is required"
    for pair in value.split(","):
        user, _, password = pair.partition(":")
        if not user.strip() or not password.strip():
            return "FLOWER_BASIC_AUTH must be user:password[,user:password...]"
    return None


def _authenticate_every_page() -> None:
    """Put Flower's metrics and health check behind its basic auth too."""
    import tornado.web
    from flower.views import monitor

    for handler in (monitor.Metrics, monitor.Healthcheck):
        handler.get = tornado.web.authenticated(handler.get)


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    import django
    from django.conf import settings

    django.setup()
    problem = basic_auth_problem(settings.FLOWER_BASIC_AUTH)
    if problem:
        sys.stderr.write(f"flower: refusing to start: {problem}\n")
        raise SystemExit(2)
    os.environ["FLOWER_BASIC_AUTH"] = settings.FLOWER_BASIC_AUTH
    if not any(arg.startswith("--address") for arg in argv):
        argv = [f"--address={settings.FLOWER_ADDRESS}", *argv]
    _authenticate_every_page()
    # In this process (not exec'd), so the patch above applies; the process
    # manager's signals reach Flower's own handlers all the same.
    from celery.bin.celery import main as celery_main

    sys.argv = ["celery", "-A", "billing_project", "flower", *argv]
    raise SystemExit(celery_main())


if __name__ == "__main__":
    main(sys.argv[1:])
