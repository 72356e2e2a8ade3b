"""The scheduling rule on its own (``invoicing.webhooks.fairness``): windows, and how free
slots are dealt out between organizations and endpoints."""

from __future__ import annotations

from invoicing.webhooks.fairness import Candidate, Windows, share


def test_a_window_starts_at_one_and_widens_with_each_fast_answer() -> None:
    windows = Windows(maximum=4, fast_s=1.0)
    assert windows.size("e") == 1
    assert [windows.answered("e", ok=True, duration_s=0.01) for _ in range(5)] == [2, 3, 4, 4, 4]


def test_a_slow_answer_halves_it_and_a_failure_brings_it_back_to_one() -> None:
    windows = Windows(maximum=16, fast_s=1.0)
    for _ in range(9):
        windows.answered("e", ok=True, duration_s=0.01)
    assert windows.size("e") == 10
    assert windows.answered("e", ok=True, duration_s=2.5) == 5
    assert windows.answered("e", ok=False, duration_s=0.01) == 1
    windows.answered("e", ok=True, duration_s=0.01)
    windows.failing("e")
    assert windows.size("e") == 1


def test_a_lower_maximum_applies_at_once_and_old_endpoints_are_forgotten() -> None:
    windows = Windows(maximum=8, remembered=2)
    for _ in range(7):
        windows.answered("a", ok=True, duration_s=0)
    windows.maximum = 3
    assert windows.size("a") == 3
    windows.answered("b", ok=True, duration_s=0)
    windows.answered("c", ok=True, duration_s=0)
    assert windows.size("a") == 1  # forgotten: starts again from one


def _share(free, candidates, caps=None, loads=None, turn=0):
    organizations = {c.organization for c in candidates}
    return share(
        free,
        candidates,
        organization_room=caps or dict.fromkeys(organizations, 100),
        organization_in_flight=loads or {},
        turn=turn,
    )


def test_slots_go_round_the_organizations_one_at_a_time() -> None:
    big = [Candidate(f"a{n}", "A", room=16, due=100) for n in range(10)]
    small = [Candidate("b", "B", room=1, due=1)]
    assert _share(3, big + small) == {"a0": 1, "b": 1, "a1": 1}
    # However many endpoints and deliveries A has, B's one delivery gets a slot.
    assert _share(2, big + small)["b"] == 1


def test_the_organization_with_fewest_in_flight_goes_first() -> None:
    candidates = [Candidate("a", "A", 5, 5), Candidate("b", "B", 5, 5)]
    assert _share(1, candidates, loads={"A": 3, "B": 0}) == {"b": 1}
    assert _share(1, candidates, loads={"A": 0, "B": 3}) == {"a": 1}


def test_windows_caps_and_due_deliveries_bound_what_is_given() -> None:
    candidates = [
        Candidate("a1", "A", room=2, due=10),
        Candidate("a2", "A", room=5, due=1),
        Candidate("b", "B", room=0, due=10),  # at its window
        Candidate("c", "C", room=5, due=5),
    ]
    given = _share(50, candidates, caps={"A": 2, "B": 10, "C": 3})
    assert given == {"a1": 1, "a2": 1, "c": 3}


def test_ties_are_broken_in_turn() -> None:
    candidates = [Candidate("a", "A", 1, 1), Candidate("b", "B", 1, 1)]
    firsts = {next(iter(_share(1, candidates, turn=turn))) for turn in range(2)}
    assert firsts == {"a", "b"}


def test_nothing_to_give() -> None:
    assert _share(0, [Candidate("a", "A", 1, 1)]) == {}
    assert _share(5, []) == {}
    assert _share(5, [Candidate("a", "A", 1, 0)]) == {}
