"""Start Flower for the fleet, refusing to start it without basic auth.

``python -m invoicing.ops.flower [flower options]`` (the Procfile's
``flower`` entry). Flower shows every task's arguments and can revoke tasks
and shut workers down, so outside DEBUG it does not start open: the
credentials come from ``FLOWER_BASIC_AUTH`` (``user:password``, several
separated by commas). Flower reads that variable itself; passing it through
the environment rather than ``--basic-auth`` keeps it out of ``ps``.
"""

from __future__ import annotations

import os
import sys


def basic_auth_problem(value: str, debug: bool) -> str | None:
    """Why ``value`` cannot protect Flower, or None if it can."""
    if not value:
        return None if debug else "FLOWER_BASIC_AUTH (user:password) is required when DEBUG is off"
    for pair in value.split(","):
        user, _, password = pair.partition(":")
        if not user.strip() or not password.strip():
            return "FLOWER_BASIC_AUTH must be user:password[,user:password...]"
    return None


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    import django
    from django.conf import settings

    django.setup()
    problem = basic_auth_problem(settings.FLOWER_BASIC_AUTH, settings.DEBUG)
    if problem:
        sys.stderr.write(f"flower: refusing to start: {problem}\n")
        raise SystemExit(2)
    env = dict(os.environ)
    if settings.FLOWER_BASIC_AUTH:
        env["FLOWER_BASIC_AUTH"] = settings.FLOWER_BASIC_AUTH
    # exec: Flower takes this process's place, so the process manager's
    # signals reach it directly.
    command = [sys.executable, "-m", "celery", "-A", "billing_project", "flower", *argv]
    os.execve(sys.executable, command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
