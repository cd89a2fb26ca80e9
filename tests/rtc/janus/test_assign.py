"""Which Janus serves a call (preau/rtc/janus/assign.py): the same everywhere, stable."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from preau.rtc.janus.assign import assign

URLS = [f"http://janus-{i}:8088/janus" for i in range(4)]
CALLS = [f"c{i:04x}" for i in range(2000)]


@given(st.text(min_size=1, max_size=40), st.permutations(URLS))
def test_every_node_computes_the_same_instance_whatever_the_list_order(
    call: str, urls: list[str]
) -> None:
    assert assign(call, urls) == assign(call, URLS)
    assert assign(call, urls + urls[:1]) == assign(call, URLS)  # duplicates do not matter


def test_calls_spread_over_the_instances() -> None:
    counts = Counter(assign(call, URLS) for call in CALLS)
    assert set(counts) == set(URLS)
    assert min(counts.values()) > len(CALLS) / len(URLS) * 0.8


def test_removing_an_instance_moves_only_its_calls() -> None:
    before = {call: assign(call, URLS) for call in CALLS}
    after = {call: assign(call, URLS[:-1]) for call in CALLS}
    moved = [c for c in CALLS if before[c] != after[c]]
    assert moved
    assert all(before[c] == URLS[-1] for c in moved)


def test_adding_an_instance_moves_about_its_share() -> None:
    more = [*URLS, "http://janus-4:8088/janus"]
    moved = sum(assign(c, URLS) != assign(c, more) for c in CALLS)
    assert len(CALLS) / 5 * 0.7 < moved < len(CALLS) / 5 * 1.3
    assert all(assign(c, more) == more[-1] for c in CALLS if assign(c, URLS) != assign(c, more))


def test_no_instance_is_an_error() -> None:
    with pytest.raises(ValueError, match="no Janus"):
        assign("c1", [])
