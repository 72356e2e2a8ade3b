"""The delivery loop of one worker process: claim due deliveries in batches, run their HTTP
attempts side by side on a thread pool, record what they gave in batches.

Django-free: the caller passes in one ``step`` that records finished attempts and claims new
ones, chosen by the scheduling rule of ``fairness``. Only the thread that runs the pump calls
it, so the database is used from one thread; the pool's threads only send.

A pump is one Celery task. It claims for ``budget_s``, then ends, so that the worker process
gets back to its queue (the sweep, warm shutdowns, process recycling) and a new pump picks up
where it stopped. Ending is done so that no due delivery waits on it:

- during the budget it claims whatever the rule allows;
- after the budget, while any of its attempts is still out (a receiver that hangs can hold
  one for the whole attempt deadline), it keeps claiming for endpoints that are not failing,
  for up to ``straggle_s`` (an attempt deadline: what it claimed during the budget is over by
  then): it waits anyway, and a process whose every pump is winding down must not leave
  other tenants' deliveries waiting for those hangs. Whether the attempts out were claimed
  before or after the budget does not matter: an endpoint that had not failed yet when it
  was claimed may hang as well (one that starts hanging, or a new one), and waiting for it
  without claiming left every other delivery of a one-process worker waiting up to 10 s
  (bench/webhooks.py --concurrency 1);
- then it claims nothing more and returns once its last attempts are recorded: those are
  attempts claimed within the wind-down, over within one more deadline.

``stopping()`` (the worker's warm shutdown) stops claiming at once; attempts in flight finish
and are recorded, as a running task would.
"""

from __future__ import annotations

import contextlib
import enum
import mmap
import queue
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from invoicing.webhooks.fairness import TICK_S

# Once an attempt has finished, wait up to this much longer for the others out before
# recording, so that one transaction records several: a receiver answering in a millisecond
# would otherwise cost a transaction per attempt.
LINGER_S = 0.01
# Under a trickle of deliveries (a month-end: each invoice's two events come one by one
# from the web tier and the PDF workers), a pump that ran out of work ended and was started
# again by the next wake-up, each start a task run and a claim for one delivery. A pump that
# claimed on its last step waits IDLE_LINGER_S and looks once more before it ends, and finds
# what came in meanwhile. (Pacing every step instead cut the bookkeeping a little more at
# month-end but held one fast receiver's backlog to a window per pace: 236 deliveries/s
# instead of 830, bench/webhooks.py.)
IDLE_LINGER_S = 0.05


@dataclass
class Job:
    """One claimed attempt. ``send()`` runs in a pool thread and returns what the recorder
    is given; should it raise, the recorder is given the exception instead."""

    item: Any  # the caller's: what was claimed
    send: Callable[[], Any]


class ShutdownFlag:
    """Set by a Celery worker's main process when its warm shutdown begins, read by its pool
    processes: one shared byte of an anonymous mapping, made at import, before the pool
    processes are forked (billiard forks them from the main process, and again when it
    replaces one), so that every one of them sees the same byte."""

    def __init__(self) -> None:
        self._byte = mmap.mmap(-1, 1)

    def set(self) -> None:
        self._byte[0] = 1

    def clear(self) -> None:
        self._byte[0] = 0

    def is_set(self) -> bool:
        return self._byte[0] == 1


WORKER_SHUTDOWN = ShutdownFlag()


class Stop(enum.StrEnum):
    IDLE = "idle"  # nothing left that it may claim
    BUDGET = "budget"  # claimed for its whole budget
    SHUTDOWN = "shutdown"  # the worker is shutting down


@dataclass(frozen=True)
class PumpReport:
    attempts: int
    batches: int
    stopped: Stop


# step(finished, free, healthy_only) -> jobs: record the ``finished`` attempts (job, result)
# and claim at most ``free`` new ones (none when ``free`` is 0); with ``healthy_only``, only
# deliveries to endpoints that are not failing. One call, so that the caller can do both in
# one transaction.
Step = Callable[[list[tuple[Job, Any]], int, bool], list[Job]]


class Pump:
    def __init__(
        self,
        *,
        step: Step,
        executor: Executor,
        capacity: int,
        budget_s: float,
        straggle_s: float,
        stopping: Callable[[], bool] = lambda: False,
        tick_s: float = TICK_S,
        linger_s: float = LINGER_S,
        idle_linger_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.step = step
        self.executor = executor
        self.capacity = capacity
        self.budget_s = budget_s
        self.straggle_s = straggle_s
        self.stopping = stopping
        self.tick_s = tick_s
        self.linger_s = linger_s
        self.idle_linger_s = idle_linger_s
        self.clock = clock
        self._done: queue.SimpleQueue[tuple[Job, Any]] = queue.SimpleQueue()
        self._in_flight = 0

    def run(self) -> PumpReport:
        started = self.clock()
        attempts = batches = 0
        stopped = Stop.IDLE
        finished: list[tuple[Job, Any]] = []
        lingered = False
        try:
            while True:
                elapsed = self.clock() - started
                if self.stopping():
                    stopped, healthy_only = Stop.SHUTDOWN, None
                elif elapsed < self.budget_s:
                    healthy_only = False
                elif self._in_flight and elapsed < self.budget_s + self.straggle_s:
                    stopped, healthy_only = Stop.BUDGET, True
                else:
                    stopped, healthy_only = Stop.BUDGET, None
                free = self.capacity - self._in_flight if healthy_only is not None else 0
                jobs = self.step(finished, free, bool(healthy_only)) if finished or free else []
                batches += bool(finished)
                finished = []
                for job in jobs:
                    self._submit(job)
                attempts += len(jobs)
                if jobs:
                    lingered = False
                if not self._in_flight and not jobs:
                    if lingered or not attempts or not self.idle_linger_s or not free:
                        return PumpReport(attempts, batches, stopped)
                    # Out of work after claiming some: one more look before ending.
                    lingered = True
                    time.sleep(self.idle_linger_s)
                    continue
                finished = self._collect()
        except BaseException:
            # Claiming or recording failed (the database went away, say): attempts already
            # out still finish; record them if the database lets us, else their leases
            # run out and the sweep hands them back.
            self._drain(finished)
            raise

    def _submit(self, job: Job) -> None:
        self._in_flight += 1

        def run() -> None:
            try:
                result = job.send()
            except BaseException as exc:
                # A bug in send(): the pump must still learn that the attempt is over, or it
                # would wait for it for ever; the recorder sees the exception as the result.
                result = exc
            self._done.put((job, result))

        try:
            self.executor.submit(run)
        except BaseException:
            self._in_flight -= 1
            raise

    def _collect(self) -> list[tuple[Job, Any]]:
        """Wait up to a tick for the first finished attempt, then linger for more."""
        finished = []
        try:
            finished.append(self._done.get(timeout=self.tick_s))
        except queue.Empty:
            return []
        # All of them, if they come within the linger: a receiver answering in milliseconds
        # then costs one transaction per window of attempts.
        until = time.monotonic() + self.linger_s
        while len(finished) < self._in_flight:
            left = until - time.monotonic()
            try:
                finished.append(self._done.get(timeout=max(0.0, left)))
            except queue.Empty:
                break
        self._in_flight -= len(finished)
        return finished

    def _drain(self, finished: list[tuple[Job, Any]]) -> None:
        finished = list(finished)
        while self._in_flight:
            finished.append(self._done.get())
            self._in_flight -= 1
        if finished:
            # The error being raised is the one to report, not a second one from here.
            with contextlib.suppress(Exception):
                self.step(finished, 0, False)
