"""The mood of the day on two nodes with a clock the test moves: the day in
the school's time zone (Europe/Paris), the noon cut-off, live board updates
across nodes, and the retention purge at the end of the school year."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from preau.server.errors import PreauError
from tests.server.twonodes import Nodes, Recorder, two_nodes

PARIS = ZoneInfo("Europe/Paris")


def paris_ms(*when: int) -> int:
    return int(datetime(*when, tzinfo=PARIS).timestamp() * 1000)  # type: ignore[misc]


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


async def mood_events(recorder: Recorder, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [f for f in recorder.frames if f.get("ev") == "mood.changed"]

    async with asyncio.timeout(timeout):
        while len(found()) < count:
            recorder.arrived.clear()
            await recorder.arrived.wait()
    return found()


@pytest.fixture
def clock() -> Clock:
    return Clock(paris_ms(2027, 1, 12, 8, 0))  # a Tuesday morning in January


@pytest.fixture
async def pair(tmp_path: Path, clock: Clock) -> Any:
    async with two_nodes(tmp_path, clock) as nodes:
        anne = nodes.member(nodes.a, "Anne Roux")
        view = next(iter(nodes.a.directory._schools.values()))
        class_a = next(c.id for c in view.classes.values() if c.name == "6eA")
        await nodes.a.mood.set_level(anne, anne.school_id, class_a, "maternelle")
        yield nodes, class_a


async def test_once_a_day_changeable_until_noon(pair: tuple[Nodes, str], clock: Clock) -> None:
    nodes, _class_a = pair
    lea = nodes.member(nodes.a, "Léa Martin")
    mood = nodes.a.mood

    first = await mood.pick(lea, {"mood": "happy"})
    assert first["entry"]["day"] == "2027-01-12"
    assert first["may_change"] is True
    clock.now = paris_ms(2027, 1, 12, 11, 59)
    assert (await mood.pick(lea, {"mood": "sad"}))["entry"]["mood"] == "sad"

    clock.now = paris_ms(2027, 1, 12, 12, 0)  # noon, school time: what is picked stays
    with pytest.raises(PreauError) as refused:
        await mood.pick(lea, {"mood": "happy"})
    assert refused.value.code == "conflict"
    with pytest.raises(PreauError):  # one refused pick refuses the call whole
        await mood.pick(lea, {"mood": "happy", "night": "good"})
    # A question not answered yet may still be answered, once; the same
    # answer again is no change.
    after = await mood.pick(lea, {"night": "good", "mood": "sad"})
    assert after["entry"] | {"at": 0} == {"day": "2027-01-12", "mood": "sad", "night": "good",
                                          "breakfast": None, "at": 0}
    assert after["may_change"] is False

    clock.now = paris_ms(2027, 1, 12, 23, 59)  # still the 12th in Paris (22:59 UTC)
    with pytest.raises(PreauError):
        await mood.pick(lea, {"night": "bad"})
    assert (await mood.summary(lea))["self"]["entry"]["night"] == "good"

    clock.now = paris_ms(2027, 1, 13, 0, 1)  # past midnight in Paris, 23:01 UTC the 12th
    summary = await mood.summary(lea)
    assert summary["day"] == "2027-01-13"
    assert summary["self"]["entry"] is None
    assert summary["may_change"] is True
    new_day = await mood.pick(lea, {"mood": "tired"})
    assert new_day["entry"]["day"] == "2027-01-13"
    assert (await mood.pick(lea, {"mood": "calm"}))["entry"]["mood"] == "calm"
    history = await mood.of_person(lea, lea.id)
    assert [(e["day"], e["mood"]) for e in history["entries"]] == [
        ("2027-01-13", "calm"), ("2027-01-12", "sad")]


async def test_the_board_is_live_on_the_other_node(pair: tuple[Nodes, str]) -> None:
    nodes, class_a = pair
    b = nodes.b
    watchers = {name: nodes.connect(b, nodes.member(b, name))[1] for name in (
        "Julien Garnier", "Claire Lefèvre", "Anne Roux", "Camille Martin",  # allowed
        "Sophie Faure", "Julien Bernard", "Hugo Bernard", "Inès Petit")}  # not
    lea = nodes.member(nodes.a, "Léa Martin")
    await nodes.a.mood.pick(lea, {"mood": "happy", "breakfast": "big"})
    for name in ("Julien Garnier", "Claire Lefèvre", "Anne Roux", "Camille Martin"):
        [got] = await mood_events(watchers[name], 1)
        assert got["class"] == class_a
        assert got["person"] == {"id": lea.id, "name": "Léa Martin"}
        assert (got["mood"], got["night"], got["breakfast"]) == ("happy", None, "big")
    # A fence for the others: Hugo's pick reaches Hugo's father (and Hugo)
    # after Léa's would have, on the same channel.
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    await nodes.a.mood.pick(hugo, {"mood": "calm"})
    for name in ("Julien Bernard", "Hugo Bernard"):
        [got] = await mood_events(watchers[name], 1)
        assert got["person"]["id"] == hugo.id
    [got] = (await mood_events(watchers["Julien Garnier"], 2))[1:]
    assert got["person"]["id"] == hugo.id
    for name in ("Sophie Faure", "Inès Petit"):
        assert [f for f in watchers[name].frames if f.get("ev") == "mood.changed"] == []
    # The board read on node b counts both.
    julien = nodes.member(b, "Julien Garnier")
    board = await b.mood.board(julien, class_a)
    assert board["counts"]["mood"] == {"calm": 1, "happy": 1}


async def test_kept_for_the_school_year_at_most(pair: tuple[Nodes, str], clock: Clock) -> None:
    nodes, _ = pair
    lea = nodes.member(nodes.a, "Léa Martin")
    await nodes.a.mood.pick(lea, {"mood": "happy"})
    clock.now = paris_ms(2027, 7, 3, 9, 0)  # the last week of the school year
    await nodes.a.mood.pick(lea, {"mood": "calm"})
    result = await nodes.a.privacy.retention.run_once()
    assert result is not None
    assert result["moods"] == 0
    assert len((await nodes.a.mood.of_person(lea, lea.id))["entries"]) == 2

    clock.now = paris_ms(2027, 8, 2, 9, 0)  # summer: a new school year has begun
    result = await nodes.b.privacy.retention.run_once()
    assert result is not None
    assert result["moods"] == 2
    assert (await nodes.a.store.moods_of(lea.id, "2000-01-01")) == []
