import os

from django.apps import AppConfig
from django.conf import settings


class OpsConfig(AppConfig):
    """A separate app so that its signal receivers are connected in every
    process that sets Django up (web and Celery workers alike) without the
    domain app knowing about metrics or logs."""

    name = "invoicing.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        if settings.PROMETHEUS_MULTIPROC_DIR:
            # prometheus-client opens its sample files there as soon as a
            # metric is defined: the folder must exist before the import.
            os.makedirs(settings.PROMETHEUS_MULTIPROC_DIR, exist_ok=True)
        from invoicing.ops import receivers  # noqa: F401
