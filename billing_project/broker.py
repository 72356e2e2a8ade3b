"""Kombu's Redis transport, with one publishing client per channel.

Kombu 5.5's Redis channel builds a new ``redis.Redis`` object for every message it
publishes (``Channel.conn_or_acquire`` without a client), and redis-py 6 fills a
table of about 250 response callbacks each time it builds one. The connections
themselves come from the channel's pool either way, so the object is pure
overhead: at month-end rates it was about a third of a Celery worker's main
process (each task's events) and 6 % of a web request that creates an invoice
(bench/monthend.py, sampled with py-spy). Here a channel builds that object once
and reuses it; a ``redis.Redis`` takes a connection from the pool for each
command, so sharing it is safe. Everything else is Kombu's.

Registered for ``redis://`` and ``rediss://`` in ``billing_project/celery.py``.
"""

from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
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


class Transport(kombu_redis.Transport):
    Channel = Channel
