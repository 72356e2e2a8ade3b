"""The delivery loop on its own (``invoicing.webhooks.pump``), with claims, sends and records
faked: attempts side by side, the budget and the wind-down, shutdown, failures. Everything
waits on events; the pump's clock is the fake one it reads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from invoicing.webhooks.pump import Job, Pump, ShutdownFlag, Stop

WAIT = 10  # a bound on every wait below, so a broken pump fails instead of hanging


class Clock:
    """The pump's clock: moved by the test; counts how often the pump looked at it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0
        self._read = threading.Condition()

    def __call__(self) -> float:
        with self._read:
            self.reads += 1
            self._read.notify_all()
        return self.now

    def wait_reads(self, more: int) -> None:
        with self._read:
            target = self.reads + more
            assert self._read.wait_for(lambda: self.reads >= target, WAIT)


class Fake:
    """Claims from a list of jobs; records what it is given."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = list(jobs)
        self.claims: list[tuple[int, bool]] = []
        self.recorded: list[tuple[str, object]] = []
        self.batches = 0
        self.lock = threading.Lock()

    def step(self, finished, free: int, healthy_only: bool) -> list[Job]:
        if finished:
            self.record(finished)
        return self.claim(free, healthy_only) if free else []

    def claim(self, free: int, healthy_only: bool) -> list[Job]:
        self.claims.append((free, healthy_only))
        taken = [j for j in self.jobs if not healthy_only or j.item.startswith("healthy")][:free]
        for job in taken:
            self.jobs.remove(job)
        return taken

    def record(self, finished) -> None:
        with self.lock:
            self.batches += 1
            self.recorded.extend((job.item, result) for job, result in finished)


def pump(fake: Fake, clock: Clock | None = None, **kwargs) -> Pump:
    kwargs.setdefault("capacity", 4)
    kwargs.setdefault("budget_s", 10)
    kwargs.setdefault("straggle_s", 5)
    return Pump(
        step=fake.step,
        executor=ThreadPoolExecutor(kwargs["capacity"]),
        clock=clock or Clock(),
        tick_s=0.01,
        **kwargs,
    )


def test_attempts_run_side_by_side_up_to_the_capacity() -> None:
    # The first four attempts each wait for the other three: only attempts running at the
    # same time get through the barrier.
    barrier = threading.Barrier(4)

    def together() -> str:
        barrier.wait(WAIT)
        return "ok"

    jobs = [Job(f"d{n}", together if n < 4 else (lambda: "ok")) for n in range(10)]
    fake = Fake(jobs)
    report = pump(fake, capacity=4).run()
    assert report.stopped is Stop.IDLE and report.attempts == 10
    assert sorted(item for item, _ in fake.recorded) == sorted(f"d{n}" for n in range(10))
    assert {result for _, result in fake.recorded} == {"ok"}
    assert fake.claims[0] == (4, False)
    assert all(free <= 4 for free, _ in fake.claims)
    assert fake.batches < 10  # finished attempts are recorded together


def _hanging_until(release: threading.Event):
    """An attempt to a receiver that answers once ``release`` is set."""

    def hang() -> str:
        assert release.wait(WAIT)
        return "late"

    return hang


def test_after_its_budget_it_serves_healthy_endpoints_while_its_hang_is_out() -> None:
    clock = Clock()
    release = threading.Event()
    healthy_recorded = threading.Event()
    hang = _hanging_until(release)

    class Script(Fake):
        def claim(self, free, healthy_only):
            taken = super().claim(free, healthy_only)
            if not healthy_only and taken:
                clock.now = 11  # the budget (10 s) runs out with the hang out
                self.jobs.append(Job("healthy", lambda: "ok"))
                self.jobs.append(Job("failing-next", lambda: "ok"))
            return taken

        def record(self, finished):
            super().record(finished)
            if any(job.item == "healthy" for job, _ in finished):
                # The healthy delivery was recorded while the hang is still out.
                assert [item for item, _ in self.recorded] == ["healthy"]
                healthy_recorded.set()
                release.set()

    fake = Script([Job("failing", hang)])
    report = pump(fake, clock).run()
    assert healthy_recorded.is_set()
    assert [item for item, _ in fake.recorded] == ["healthy", "failing"]
    assert report.stopped is Stop.BUDGET
    assert [job.item for job in fake.jobs] == ["failing-next"]
    assert [healthy for _, healthy in fake.claims[1:]] == [True] * (len(fake.claims) - 1)


def test_a_hang_claimed_after_the_budget_does_not_stop_the_claims() -> None:
    # An endpoint that had not failed when it was claimed after the budget (a new one, or one
    # that starts hanging) may hang too. Waiting for it without claiming, once the attempts
    # of the budget were over, left every other delivery of a one-process worker waiting up
    # to 10 s (bench/webhooks.py --concurrency 1).
    clock = Clock()
    hang_claimed = threading.Event()
    release = threading.Event()
    hang = _hanging_until(release)

    class Script(Fake):
        def claim(self, free, healthy_only):
            taken = super().claim(free, healthy_only)
            if not healthy_only and taken:
                clock.now = 11  # the budget (10 s) runs out with "slow" out
                self.jobs.append(Job("healthy-hangs", hang))
            if any(job.item == "healthy-hangs" for job in taken):
                hang_claimed.set()
            return taken

        def record(self, finished):
            super().record(finished)
            items = [job.item for job, _ in finished]
            if "slow" in items:
                # Due once the budget's attempt is over: only the late hang is out.
                self.jobs.append(Job("healthy-next", lambda: "ok"))
            if "healthy-next" in items:
                release.set()

    fake = Script([Job("slow", lambda: hang_claimed.wait(WAIT) and "ok")])
    report = pump(fake, clock).run()
    assert [item for item, _ in fake.recorded] == ["slow", "healthy-next", "healthy-hangs"]
    assert report.stopped is Stop.BUDGET
    assert [healthy for _, healthy in fake.claims[1:]] == [True] * (len(fake.claims) - 1)


def test_past_the_wind_down_it_claims_nothing_and_waits_for_its_attempts() -> None:
    clock = Clock()
    release = threading.Event()
    fake = Fake([Job("failing", lambda: release.wait(WAIT) and "late")])
    done = []
    runner = threading.Thread(target=lambda: done.append(pump(fake, clock).run()))
    runner.start()
    try:
        clock.wait_reads(1)
        while not fake.claims:
            clock.wait_reads(1)
        clock.now = 10 + 5 + 1  # budget and wind-down over
        clock.wait_reads(2)  # a whole turn of the loop has seen the new time
        fake.jobs.append(Job("healthy", lambda: "ok"))
        claims = len(fake.claims)
        clock.wait_reads(5)  # the pump went round its loop: it looked, it did not claim
        assert len(fake.claims) == claims
        assert fake.recorded == []
    finally:
        release.set()
        runner.join(WAIT)
    assert done[0].stopped is Stop.BUDGET
    assert [item for item, _ in fake.recorded] == ["failing"]


def test_a_shutdown_stops_the_claims_and_the_attempts_out_are_recorded() -> None:
    flag = ShutdownFlag()

    class Script(Fake):
        def claim(self, free, healthy_only):
            flag.set()
            return super().claim(1, healthy_only)

    fake = Script([Job(f"d{n}", lambda: "ok") for n in range(3)])
    report = pump(fake, stopping=flag.is_set).run()
    assert report.stopped is Stop.SHUTDOWN
    assert len(fake.claims) == 1 and [item for item, _ in fake.recorded] == ["d0"]


def test_a_send_that_raises_is_recorded_as_its_exception() -> None:
    def broken() -> str:
        raise RuntimeError("bug")

    fake = Fake([Job("d", broken)])
    pump(fake).run()
    [(item, result)] = fake.recorded
    assert item == "d" and isinstance(result, RuntimeError)


def test_when_recording_fails_the_attempts_out_finish_before_the_error_surfaces() -> None:
    gate = threading.Event()
    finished = []

    def first() -> str:
        return "first"

    def second() -> str:
        assert gate.wait(WAIT)
        finished.append("second")
        return "second"

    class Script(Fake):
        def record(self, batch):
            gate.set()
            if not self.batches:
                self.batches += 1
                raise ConnectionError("database gone")
            super().record(batch)

    fake = Script([Job("a", first), Job("b", second)])
    with pytest.raises(ConnectionError):
        pump(fake).run()
    assert finished == ["second"]
    # The batch that failed is recorded again with the attempts that were still out.
    assert sorted(item for item, _ in fake.recorded) == ["a", "b"]


def test_the_shutdown_flag_is_seen_by_a_forked_process() -> None:
    import os

    flag = ShutdownFlag()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a pool process, waiting for its parent's word
        os.close(ready_r)
        os.write(ready_w, b"x")
        seen = threading.Event()
        for _ in range(WAIT * 100):
            if flag.is_set():
                seen.set()
                break
            seen.wait(0.01)
        os._exit(0 if seen.is_set() else 1)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"x"
    os.close(ready_r)
    flag.set()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_worker_shutdown_signal_sets_the_flag() -> None:
    from billing_project.celery import _stop_webhook_pumps
    from invoicing.webhooks.pump import WORKER_SHUTDOWN

    assert not WORKER_SHUTDOWN.is_set()
    try:
        _stop_webhook_pumps(sig="SIGTERM", how="Warm")
        assert WORKER_SHUTDOWN.is_set()
    finally:
        WORKER_SHUTDOWN.clear()


class Scripted(Fake):
    """Claims what the script gives, claim after claim (nothing once it runs out)."""

    def __init__(self, script: list[list[str]]) -> None:
        super().__init__([])
        self.script = [list(items) for items in script]

    def claim(self, free: int, healthy_only: bool) -> list[Job]:
        self.claims.append((free, healthy_only))
        items = self.script.pop(0) if self.script else []
        return [Job(item, lambda: "ok") for item in items]


def test_a_pump_out_of_work_looks_once_more_before_ending() -> None:
    # A trickle: "b" comes in after the claim that found nothing. The pump that has
    # claimed something looks once more (after idle_linger_s) and takes it; it ends
    # after a look that finds nothing again.
    fake = Scripted([["a"], [], ["b"], [], []])
    report = pump(fake, idle_linger_s=0.001).run()
    assert report.stopped is Stop.IDLE and report.attempts == 2
    assert [item for item, _ in fake.recorded] == ["a", "b"]
    assert len(fake.claims) == 5
    # Without the linger it ends at the first claim that finds nothing; "b" waits for the
    # next wake-up. A pump that never claimed anything ends at once either way.
    fake = Scripted([["a"], [], ["b"]])
    assert pump(fake).run().attempts == 1 and len(fake.claims) == 2
    fake = Scripted([[], ["b"]])
    assert pump(fake, idle_linger_s=0.001).run().attempts == 0 and len(fake.claims) == 1
