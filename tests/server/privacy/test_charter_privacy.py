"""The charter of use and data protection, on both stores: a person's export
carries the versions they accepted; erasure deletes their acceptances and
turns a publisher into the pseudonym (docs/data-protection.md)."""

from __future__ import annotations

from pathlib import Path

from tests.server.privacy.school import export_json, small_school


async def test_acceptances_are_exported_and_erased(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        charter = school.services.charter
        lea, anne = await school.member("Léa"), await school.member("Anne")
        first = await charter.read(lea)  # the default text, version 1
        assert first["version"] == 1
        assert first["accepted"] is False
        assert "Charte d'utilisation" in first["body"]
        assert first["body_en"]
        await charter.accept(lea, 1)
        second = await charter.publish(anne, school.school_id, "Nouvelle charte", None)
        assert await charter.required(lea)
        await charter.accept(lea, second["version"])
        assert not await charter.required(lea)

        data, _ = await export_json(school, "Léa", "me")
        accepted = data["memberships"]["charter_accepted"]
        assert [a["version"] for a in accepted] == [1, 2]

        await school.services.privacy.request_erasure(lea, "me", False)
        rows = await school.rows("SELECT * FROM charter_acceptances WHERE person_id = $1",
                                 lea.id)
        assert rows == []
        assert lea.id not in await school.dump()

        await school.services.privacy.request_erasure(anne, "me", False)
        publishers = await school.rows(
            "SELECT published_by FROM charters WHERE version = 2 AND school_id = $1",
            school.school_id)
        assert publishers
        assert publishers[0]["published_by"] != anne.id
        assert anne.id not in await school.dump()
