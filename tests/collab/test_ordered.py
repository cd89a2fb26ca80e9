"""preau/collab/ordered.py step by step: no I/O, no timing (the feed shared by chat
rooms and documents)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from preau.collab.ordered import OrderedFeed, Released


def seqs(released: list[Released[str]]) -> list[tuple[int, str | None, bool]]:
    return [(r.seq, r.item, r.done) for r in released]


def test_in_order_items_go_straight_through() -> None:
    feed: OrderedFeed[str] = OrderedFeed(head=3)
    assert seqs(feed.offer(4, "d")) == [(4, "d", False)]
    assert seqs(feed.offer(5, "e")) == [(5, "e", False)]
    assert feed.head == 5
    assert not feed.waiting
    assert feed.hole() is None


def test_an_item_above_a_hole_waits_and_names_the_hole() -> None:
    feed: OrderedFeed[str] = OrderedFeed()
    assert feed.offer(3, "c") == []
    assert feed.offer(5, "e") == []
    assert feed.waiting
    assert feed.hole() == (1, 2)  # what to read from the store
    assert seqs(feed.offer(1, "a")) == [(1, "a", False)]
    assert feed.hole() == (2, 2)
    assert seqs(feed.offer(2, "b")) == [(2, "b", False), (3, "c", False)]
    assert feed.hole() == (4, 4)
    assert seqs(feed.offer(4, "d")) == [(4, "d", False), (5, "e", False)]
    assert not feed.waiting


def test_duplicates_and_old_items_release_nothing() -> None:
    feed: OrderedFeed[str] = OrderedFeed(head=2)
    assert feed.offer(2, "b") == []
    assert feed.offer(1, "a") == []
    assert feed.offer(4, "d") == []
    assert feed.offer(4, "d again") == []
    assert seqs(feed.offer(3, "c")) == [(3, "c", False), (4, "d", False)]


def test_items_handled_ahead_only_move_the_head() -> None:
    """A document applies its own node's updates at once: they are "done"."""
    feed: OrderedFeed[str] = OrderedFeed()
    assert feed.done(2) == []
    assert feed.known(2)
    assert feed.offer(2, "again") == []
    assert feed.hole() == (1, 1)
    assert seqs(feed.offer(1, "a")) == [(1, "a", False), (2, None, True)]
    assert seqs(feed.done(3)) == [(3, None, True)]


def test_reset_drops_what_it_covers_and_releases_what_it_unblocks() -> None:
    feed: OrderedFeed[str] = OrderedFeed()
    feed.offer(2, "b")
    feed.offer(6, "f")
    feed.done(7)
    assert seqs(feed.reset(4)) == []  # 2 dropped, a hole at 5
    assert feed.held_items() == [(6, "f")]
    assert feed.hole() == (5, 5)
    assert seqs(feed.reset(5)) == [(6, "f", False), (7, None, True)]
    assert seqs(feed.offer(6, "dup")) == []
    feed2: OrderedFeed[str] = OrderedFeed()
    feed2.offer(4, "d")
    assert seqs(feed2.reset(3)) == [(4, "d", False)]


@given(st.permutations(list(range(1, 30))), st.sets(st.integers(1, 29)))
def test_any_arrival_order_releases_each_seq_once_in_order(
    order: list[int], done: set[int],
) -> None:
    feed: OrderedFeed[int] = OrderedFeed()
    out: list[int] = []
    for seq in order + order:  # every item twice: broker and store
        step = feed.done(seq) if seq in done else feed.offer(seq, seq)
        out.extend(r.seq for r in step)
        for r in step:
            assert r.done == (r.seq in done)
    assert out == list(range(1, 30))
    assert not feed.waiting
