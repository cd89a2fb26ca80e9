"""preau/collab/awareness.py without a room: ownership, relays, forgeries, staleness."""

from __future__ import annotations

from preau.collab.awareness import AwarenessTable, Claim, same_state, with_real_name
from preau.collab.codec import AwarenessEntry


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def table() -> tuple[AwarenessTable, Clock]:
    clock = Clock()
    return AwarenessTable("node-a", timeout_s=30.0, monotonic=clock), clock


def test_an_id_belongs_to_its_first_connection_and_echoes_are_relays() -> None:
    awareness, _ = table()
    mine = AwarenessEntry(7, 1, '{"cursor":1}')
    assert awareness.claim(mine, "node-a/c1", "lea") is Claim.CLAIM
    assert awareness.apply(mine, "node-a/c1", "lea")
    assert awareness.claim(AwarenessEntry(7, 2, '{"cursor":2}'), "node-a/c1", "lea") is Claim.OWN
    # Another connection sends back what it received (re-serialised): a relay.
    assert awareness.claim(AwarenessEntry(7, 1, '{ "cursor": 1 }'), "node-a/c2",
                           "hugo") is Claim.RELAY
    assert awareness.claim(AwarenessEntry(7, 1, "null"), "node-a/c2", "hugo") is Claim.RELAY
    # Moving someone else's cursor: forged.
    assert awareness.claim(AwarenessEntry(7, 2, '{"cursor":9}'), "node-a/c2",
                           "hugo") is Claim.FORGED
    assert awareness.claim(AwarenessEntry(7, 1, '{"cursor":9}'), "node-a/c2",
                           "hugo") is Claim.FORGED


def test_a_closed_connection_s_ids_are_removed_and_can_be_taken_back() -> None:
    awareness, clock = table()
    awareness.apply(AwarenessEntry(7, 3, "{}"), "node-a/c1", "lea")
    assert awareness.remove_owned("node-a/c1", {7, 8}) == [AwarenessEntry(7, 4, "null")]
    assert awareness.live() == ()
    # The same person back with y-websocket's kept id: a claim.
    assert awareness.claim(AwarenessEntry(7, 1, "{}"), "node-a/c9", "lea") is Claim.CLAIM
    # Someone else with an old clock: an echo of the departed state.
    assert awareness.claim(AwarenessEntry(7, 2, "{}"), "node-a/c5", "hugo") is Claim.RELAY
    clock.now = 31.0
    awareness.forget_removed()
    assert 7 not in awareness.slots


def test_other_nodes_entries_go_stale_but_this_node_s_do_not() -> None:
    awareness, clock = table()
    awareness.apply(AwarenessEntry(1, 1, "{}"), "node-a/c1", "lea")
    assert awareness.remote("node-b/c2", "hugo", (AwarenessEntry(2, 1, "{}"),
                                                  AwarenessEntry(1, 5, "{}"))) == [
        AwarenessEntry(2, 1, "{}")]  # id 1 is held here
    clock.now = 31.0
    assert awareness.live() == (AwarenessEntry(1, 1, "{}"),)


def test_names_shown_are_the_real_ones() -> None:
    entry = AwarenessEntry(1, 1, '{"user":{"name":"Mme Lefèvre","color":"#123"}}')
    assert with_real_name(entry, "Léa Martin").state == (
        '{"user":{"name":"Léa Martin","color":"#123"}}')
    assert with_real_name(AwarenessEntry(1, 1, '{"cursor":3}'), "Léa").state == '{"cursor":3}'
    assert same_state('{"a":1}', '{ "a" : 1 }')
    assert not same_state("{", "{}")
