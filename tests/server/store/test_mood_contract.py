"""Store contract for the mood of the day (SQLite and PostgreSQL): classes'
levels, audited; a day's picks, changeable or only completed; the yearly
purge, the export and the erasure (preau/server/store/privacy.py)."""

from __future__ import annotations

from preau.server.store import AuditQuery, Store
from preau.server.store.privacy import PrivacyStore
from tests.server.store.contract import (
    NOW,
    by_external_id,
    class_id,
    import_and_load,
    make_batch,
    other_node,
    pupil,
    staff,
)

__all__ = ["other_node"]  # fixtures


async def test_levels_are_set_per_class_and_audited(store: Store) -> None:
    result, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "PS"), pupil("p2", "Hugo", "Bernard", "CP"),
        staff("s1", "Anne", "Roux", is_admin=True)))
    school, anne = result.school.id, by_external_id(view)["s1"]
    ps, cp = class_id(view, "PS"), class_id(view, "CP")
    assert await store.class_levels(school) == {}
    assert await store.set_class_level(school, ps, "maternelle", anne, NOW)
    assert await store.set_class_level(school, cp, "elementaire", anne, NOW)
    assert await store.set_class_level(school, cp, "elementaire", anne, NOW)  # no change
    assert await store.class_levels(school) == {ps: "maternelle", cp: "elementaire"}
    assert await store.set_class_level(school, cp, None, anne, NOW)
    assert await store.class_levels(school) == {ps: "maternelle"}
    assert not await store.set_class_level(school, "no-such-class", "maternelle", anne, NOW)
    entries = await store.audit_entries(school, AuditQuery())
    assert [(e.action.value, e.details["level"]) for e in entries] == [
        ("class.level", None), ("class.level", "elementaire"), ("class.level", "maternelle")]


async def test_a_days_picks(store: Store, other_node: Store) -> None:
    result, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "PS"), pupil("p2", "Hugo", "Bernard", "PS")))
    school, ids, ps = result.school.id, by_external_id(view), class_id(view, "PS")
    lea, hugo = ids["p1"], ids["p2"]
    day = "2027-01-12"
    done = await store.set_mood(lea, school, ps, day, {"mood": "happy"}, True, NOW)
    assert done is not None
    entry, changed = done
    assert changed
    assert entry.picks() == {"mood": "happy", "night": None, "breakfast": None}
    # Another node changes it before noon; after noon a change is refused
    # whole, while an unanswered question may still be answered.
    done = await other_node.set_mood(lea, school, ps, day, {"mood": "sad"}, True, NOW + 1)
    assert done is not None
    assert done[0].mood == "sad"
    assert await store.set_mood(lea, school, ps, day, {"mood": "happy", "night": "good"},
                                False, NOW + 2) is None
    done = await store.set_mood(lea, school, ps, day, {"mood": "sad", "night": "good"},
                                False, NOW + 3)
    assert done is not None
    assert done[1]
    assert done[0].picks() == {
        "mood": "sad", "night": "good", "breakfast": None}
    done = await store.set_mood(lea, school, ps, day, {"night": "good"}, False, NOW + 4)
    assert done is not None
    assert not done[1]
    assert done[0].updated_ms == NOW + 3
    await store.set_mood(lea, school, ps, "2027-01-13", {"breakfast": "big"}, True, NOW + 5)
    await store.set_mood(hugo, school, ps, day, {"breakfast": "none"}, True, NOW + 6)
    assert sorted(e.person_id for e in await store.moods_of_day([lea, hugo], day)) == \
        sorted([lea, hugo])
    assert await store.moods_of_day([], day) == []
    assert [e.day for e in await store.moods_of(lea, "2027-01-01")] == ["2027-01-13", day]
    assert [e.day for e in await store.moods_of(lea, "2027-01-13")] == ["2027-01-13"]

    privacy = PrivacyStore(store.engine)
    exported = await privacy.export_relations(lea)
    assert [(m["day"], m["mood"]) for m in exported["moods"]] == [
        (day, "sad"), ("2027-01-13", None)]
    assert await privacy.purge_moods("2027-01-13") == 2  # Léa's and Hugo's of the 12th
    assert [e.day for e in await store.moods_of(lea, "2000-01-01")] == ["2027-01-13"]
    assert await store.moods_of(hugo, "2000-01-01") == []
