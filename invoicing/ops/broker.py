"""What the broker holds and which workers answer, read with short timeouts:
an operator's page and a metrics scrape must answer while the broker is down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

# Kombu's Redis transport keeps a queue's messages of priority p > 0 under
# "<queue>\x06\x16<p>" (kombu.transport.redis.Channel.sep/priority_steps), and
# delivered-but-unacknowledged messages in one hash named "unacked".
_REDIS_PRIORITY_SEP = "\x06\x16"
_REDIS_PRIORITY_STEPS = (0, 3, 6, 9)
_REDIS_UNACKED = "unacked"


def queue_names() -> list[str]:
    """The queues the fleet consumes: the default one and every routed one."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in settings.CELERY_TASK_ROUTES.values():
        if route.get("queue") and route["queue"] not in names:
            names.append(route["queue"])
    return names


@dataclass
class QueueDepths:
    transport: str
    reachable: bool
    depths: dict[str, int] = field(default_factory=dict)
    # Messages handed to a worker and not yet acknowledged (running, or held
    # for a countdown/ETA: with acks_late both stay here until done).
    unacked: int | None = None
    error: str = ""
    latency_ms: float = 0.0


def _transport(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0] if "://" in url else url


def redis_client(url: str, timeout: float):
    import redis

    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False
    )


def queue_depths(timeout: float | None = None) -> QueueDepths:
    url = settings.CELERY_BROKER_URL
    transport = _transport(url)
    timeout = settings.OPS_BROKER_TIMEOUT_SECONDS if timeout is None else timeout
    started = time.perf_counter()
    result = QueueDepths(transport=transport, reachable=False)
    try:
        if transport in ("redis", "rediss"):
            client = redis_client(url, timeout)
            try:
                with client.pipeline(transaction=False) as pipe:
                    for name in queue_names():
                        for step in _REDIS_PRIORITY_STEPS:
                            pipe.llen(f"{name}{_REDIS_PRIORITY_SEP}{step}" if step else name)
                    pipe.hlen(_REDIS_UNACKED)
                    replies = pipe.execute()
            finally:
                client.close()
            steps = len(_REDIS_PRIORITY_STEPS)
            for index, name in enumerate(queue_names()):
                result.depths[name] = sum(replies[index * steps : (index + 1) * steps])
            result.unacked = replies[-1]
        elif transport == "filesystem":
            # Kombu's filesystem transport: one file per message, named
            # "<ms>_<uuid>.<queue>.msg", in the data folder.
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            names = [p.name for p in folder.iterdir()]
            for name in queue_names():
                result.depths[name] = sum(1 for n in names if n.endswith(f".{name}.msg"))
        else:
            result.error = f"queue depth is not read for the {transport} transport"
            return result
        result.reachable = True
    except Exception as exc:  # any connection, timeout or filesystem error
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


@dataclass
class WorkerInfo:
    name: str
    queues: list[str]


def workers_answering(timeout: float | None = None) -> list[WorkerInfo]:
    """Workers that answered within ``timeout`` with the queues they consume.

    One broadcast (``active_queues``) serves as the ping: its reply proves the
    worker is alive and says what it consumes, so the page waits one timeout,
    not two."""
    from billing_project.celery import app

    timeout = settings.OPS_PING_TIMEOUT_SECONDS if timeout is None else timeout
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(
        (
            WorkerInfo(name=name, queues=sorted(q["name"] for q in queues or []))
            for name, queues in replies.items()
        ),
        key=lambda w: w.name,
    )
