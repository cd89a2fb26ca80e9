"""The relay gate: nested holds, deferred flushes run in order at the last release."""

from __future__ import annotations

from preau.collab.gate import RelayGate


def test_flushes_wait_for_the_last_release_and_run_in_order() -> None:
    gate, ran = RelayGate(), []
    assert not gate.held
    gate.hold()
    gate.hold()  # two reloads overlap
    gate.defer(lambda: ran.append("documents"))
    gate.defer(lambda: ran.append("calls"))
    gate.release()
    assert gate.held
    assert ran == []
    gate.release()
    assert not gate.held
    assert ran == ["documents", "calls"]
    gate.release()  # an extra release neither goes negative nor runs them again
    gate.hold()
    assert gate.held
    assert ran == ["documents", "calls"]


def test_a_flush_deferred_by_a_flush_runs_at_the_next_release() -> None:
    gate, ran = RelayGate(), []
    gate.hold()

    def first() -> None:
        ran.append(1)
        gate.hold()
        gate.defer(lambda: ran.append(2))

    gate.defer(first)
    gate.release()
    assert ran == [1]
    gate.release()
    assert ran == [1, 2]
