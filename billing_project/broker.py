"""Kombu's transports as this service runs them: two fixes, one per broker.

**Redis** (production): Kombu 5.5's Redis channel builds a new ``redis.Redis`` object
for every message it publishes (``Channel.conn_or_acquire`` without a client), and
redis-py 6 fills a table of about 250 response callbacks each time it builds one. The
connections themselves come from the channel's pool either way, so the object is pure
overhead: at month-end rates it was about a third of a Celery worker's main process
(each task's events) and 6 % of a web request that creates an invoice
(bench/monthend.py, sampled with py-spy). Here a channel builds that object once and
reuses it; a ``redis.Redis`` takes a connection from the pool for each command, so
sharing it is safe. Registered for ``redis://`` and ``rediss://`` in
``billing_project/celery.py``.

**Filesystem** (the embedded default): Kombu's own ``_put`` creates the message file
under its final name and then writes it, while a consumer takes any file with that name
at once (it moves the file away without waiting for the writer's lock). A worker polling
at that instant reads an empty or partial message: the message is lost and the job waits
for the sweep (``PDF_REQUEUE_AFTER_SECONDS``). Here the message is written under a name
no consumer takes, then renamed into place: a rename is atomic within the folder, so a
consumer sees the whole message or nothing. Chosen by ``CELERY_BROKER_TRANSPORT`` in the
settings.

Everything else is Kombu's.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from time import monotonic

from kombu.transport import filesystem
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps


class RedisChannel(kombu_redis.Channel):
    _publishing_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        if self._publishing_client is None:
            self._publishing_client = self._create_client()
        yield self._publishing_client

    def close(self):
        self._publishing_client = None
        super().close()


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


class FilesystemChannel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name Kombu gives it ("<ms>_<uuid>.<queue>.msg"): consumers take the
        # oldest first, and the operations page counts queue depths by it.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{uuid.uuid4()}.partial")
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel
