"""Who gets the free attempt slots: the scheduling rule of webhook deliveries.

The rule (README "Webhooks"):

1. An endpoint has at most its *window* of attempts in flight, counted over the whole fleet.
   The window starts at 1, grows by one with each answer (2xx) within ``FAST_S`` up to
   ``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT``, is halved by a slower 2xx, and is back to 1 after any
   failure (error status, timeout, refused connection). While the endpoint is failing (no
   success since its last failure) its window is 1 wherever it is read: one attempt at a time
   probes a receiver that is down or hangs.
2. An organization has at most ``WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT`` attempts in flight,
   over the whole fleet and all its endpoints.
3. A worker process runs at most ``WEBHOOK_PROCESS_MAX_IN_FLIGHT`` attempts at once. When it
   has free slots it deals them out one delivery at a time, in turns: the organizations with
   due deliveries and room under rules 1 and 2, the one with the fewest attempts in flight
   first; within an organization its endpoints in turn; within an endpoint the oldest due
   delivery first. Order between deliveries is not promised beyond that.

So an organization's slow or failing endpoints hold at most their windows (one slot each
once they fail or hang) and never more than the organization's cap, a process always keeps
slots for everybody else, and another organization's due delivery takes a free slot at the
next claim, which a process makes at least every ``TICK_S`` while it has attempts in flight.

A window is what *this process* learnt from the answers it got: each process adapts on its
own, the failing state (rule 1's last sentence) is shared through the database, and the
bound on what is in flight is enforced by the database for the whole fleet.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

# An answer within this is "fast": the receiver keeps up, one more attempt may be in flight.
# Slower ones mean it queues or works inline, and more parallel requests would only add to
# its queue.
FAST_S = 1.0
# How often a process with attempts in flight looks for due deliveries even when none of its
# attempts has finished: the bound on how long a due delivery waits for a free slot.
TICK_S = 0.1


class Windows:
    """Each endpoint's window, as this process has seen it answer. Thread-safe."""

    def __init__(self, maximum: int = 16, *, fast_s: float = FAST_S, remembered: int = 4096):
        self.maximum = max(1, maximum)
        self.fast_s = fast_s
        self._remembered = remembered
        self._lock = threading.Lock()
        self._sizes: OrderedDict[Hashable, int] = OrderedDict()

    def size(self, endpoint: Hashable) -> int:
        with self._lock:
            return min(self._sizes.get(endpoint, 1), self.maximum)

    def answered(self, endpoint: Hashable, *, ok: bool, duration_s: float) -> int:
        """Adapt to one finished attempt; returns the new window."""
        with self._lock:
            current = self._sizes.get(endpoint, 1)
            if not ok:
                size = 1
            elif duration_s <= self.fast_s:
                size = min(current + 1, self.maximum)
            else:
                size = max(1, current // 2)
            self._set(endpoint, size)
            return size

    def failing(self, endpoint: Hashable) -> None:
        """The endpoint is failing (seen through the database): start again from one."""
        with self._lock:
            self._set(endpoint, 1)

    def _set(self, endpoint: Hashable, size: int) -> None:
        # Bounded: endpoints not heard of for a long time are forgotten (back to 1).
        self._sizes[endpoint] = size
        self._sizes.move_to_end(endpoint)
        while len(self._sizes) > self._remembered:
            self._sizes.popitem(last=False)


@dataclass(frozen=True)
class Candidate:
    """An endpoint with due deliveries, as the claim sees it."""

    endpoint: Hashable
    organization: Hashable
    # How many more attempts it may have in flight (its window minus those in flight), and
    # how many due deliveries were found for it (at most that many are looked up).
    room: int
    due: int


def share(
    free: int,
    candidates: Iterable[Candidate],
    *,
    organization_room: Mapping[Hashable, int],
    organization_in_flight: Mapping[Hashable, int],
    turn: int = 0,
) -> dict[Hashable, int]:
    """Deal ``free`` slots out by rule 3: how many deliveries to claim per endpoint.

    ``organization_room`` is each organization's room under its cap, ``organization_in_flight``
    what it has in flight; ``turn`` rotates who goes first among equals, so that ties do not
    always favour the same organization or endpoint.
    """
    by_organization: dict[Hashable, list[Candidate]] = {}
    for candidate in candidates:
        if min(candidate.room, candidate.due) > 0:
            by_organization.setdefault(candidate.organization, []).append(candidate)
    organizations = [org for org in by_organization if organization_room.get(org, 0) > 0]
    organizations = _rotated(organizations, turn)
    organizations.sort(key=lambda org: organization_in_flight.get(org, 0))
    left = {c.endpoint: min(c.room, c.due) for cs in by_organization.values() for c in cs}
    org_left = {org: organization_room[org] for org in organizations}
    queues = {org: _rotated(by_organization[org], turn) for org in organizations}
    given: dict[Hashable, int] = {}
    while free > 0 and organizations:
        still = []
        for org in organizations:
            if free == 0:
                still.append(org)
                continue
            endpoints = queues[org]
            candidate = endpoints.pop(0)
            given[candidate.endpoint] = given.get(candidate.endpoint, 0) + 1
            left[candidate.endpoint] -= 1
            org_left[org] -= 1
            free -= 1
            if left[candidate.endpoint] > 0:
                endpoints.append(candidate)
            if endpoints and org_left[org] > 0:
                still.append(org)
        organizations = still
    return given


def _rotated(items: list, turn: int) -> list:
    if not items:
        return items
    offset = turn % len(items)
    return items[offset:] + items[:offset]
