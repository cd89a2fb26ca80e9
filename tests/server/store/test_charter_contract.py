"""The Store's charter of use contract, on SQLite and on PostgreSQL:
versions numbered per school from 1, the default written once, acceptances
idempotent, publications audited."""

from __future__ import annotations

import asyncio

from preau.server.store import AuditAction, AuditQuery, Store
from tests.server.store.contract import NOW, import_and_load, make_batch, pupil, staff


async def test_versions_and_acceptances(store: Store) -> None:
    result, view = await import_and_load(store, make_batch(
        staff("s1", "Anne", "Roux", is_admin=True), pupil("p1", "Léa", "Martin", "6A")))
    school = result.school.id
    anne, lea = (p.person_id for p in result.created)
    assert await store.current_charter(school) is None
    assert await store.accepted_version(lea) == 0

    first = await store.publish_charter(school, "# Charte", "# Charter", None, NOW,
                                        only_if_none=True)
    again = await store.publish_charter(school, "autre", None, None, NOW + 1, only_if_none=True)
    assert (first.version, again.version, again.body) == (1, 1, "# Charte")
    assert await store.accept_charter(school, [lea], 1, NOW + 2) == 1
    assert await store.accept_charter(school, [lea], 1, NOW + 3) == 0  # idempotent
    assert await store.accepted_version(lea) == 1

    # Two admins publishing at once get two versions, each audited.
    second, third = await asyncio.gather(
        store.publish_charter(school, "v2", None, anne, NOW + 4),
        store.publish_charter(school, "v3", "en", anne, NOW + 5),
    )
    assert sorted((second.version, third.version)) == [2, 3]
    current = await store.current_charter(school)
    assert current is not None
    assert current.version == 3
    assert await store.accepted_version(lea) == 1  # a new version asks again

    await store.accept_charter(school, [lea, anne], 3, NOW + 6)
    assert [(a.person_id, a.version) for a in await store.person_acceptances(lea)] == [
        (lea, 1), (lea, 3)]
    assert {a.person_id for a in await store.charter_acceptances(school, 3)} == {lea, anne}
    assert await store.charter_acceptances(school, 2) == []
    entries = await store.audit_entries(school, AuditQuery(action=AuditAction.CHARTER_PUBLISH))
    assert len(entries) == 2
    assert {e.actor_id for e in entries} == {anne}
    assert view.school.id == school
