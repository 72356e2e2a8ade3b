import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from kombu.transport import TRANSPORT_ALIASES

from invoicing.webhooks.pump import WORKER_SHUTDOWN

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")

# Kombu's Redis transport without its per-message client object (billing_project/broker.py).
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "billing_project.broker:RedisTransport"

app = Celery("billing_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"], related_name="tasks")


@app.on_after_configure.connect
def _make_filesystem_broker_folders(sender, **_):
    # The embedded filesystem transport needs its folders to exist before the
    # first message is written or read.
    if str(sender.conf.broker_url).startswith("filesystem://"):
        options = sender.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_shutting_down.connect
def _stop_webhook_pumps(**_):
    # Sent in the worker's main process as its shutdown begins. Pool processes read the
    # flag (memory they share with it, invoicing/webhooks/pump.py): a webhook delivery task
    # stops claiming and finishes the attempts it has out, so the warm shutdown waits for at
    # most one attempt deadline, not for the rest of the task's claiming budget.
    WORKER_SHUTDOWN.set()
    # Said with a plain write: this runs inside a signal handler, where taking the logging
    # module's locks could deadlock the process.
    os.write(2, b"webhook deliveries: no more claims (warm shutdown)\n")


@worker_ready.connect
def _announce(**_):
    # The worker sends the webhooks: it says, as the web process does, when DEBUG lets
    # them reach loopback.
    from billing_project.startup import announce_loopback_webhooks

    announce_loopback_webhooks()
