"""Notification preferences: defaults per profile (parents: e-mail for private
messages, conversations and announcements; pupils: in the app only), a
person's choices, the school forcing a kind on or off, ``never`` meaning no
notification at all, and values out of range refused with a clear error."""

from __future__ import annotations

import pytest

from preau.server.directory.model import Profile
from preau.server.errors import PreauError
from preau.server.notifications.preferences import (
    CHANNELS,
    KINDS,
    allowed_channels,
    default_channel,
    effective_channel,
)
from tests.server.twonodes import Nodes


def test_defaults_and_rules() -> None:
    for kind in KINDS:
        parent = default_channel(Profile.PARENT, kind)
        assert parent == ("email" if kind in ("message", "conversation", "announcement", "mention")
                          else "in_app")
        for profile in (Profile.PUPIL, Profile.TEACHER, Profile.STAFF):
            assert default_channel(profile, kind) == "in_app"
    assert allowed_channels(Profile.PUPIL) == ("in_app", "never")
    assert allowed_channels(Profile.PARENT) == CHANNELS
    # The school's rule wins; a choice no longer allowed falls back to the default.
    assert effective_channel(Profile.PARENT, "message", "weekly", "off") == "never"
    assert effective_channel(Profile.PARENT, "message", "never", "on") == "in_app"
    assert effective_channel(Profile.PUPIL, "message", "email", None) == "in_app"
    assert effective_channel(Profile.TEACHER, "announcement", None, None) == "in_app"
    assert effective_channel(Profile.TEACHER, "announcement", "daily", None) == "daily"


async def test_choices_apply_and_never_means_no_notification(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    camille = nodes.member(a, "Camille Martin")
    julien = nodes.member(a, "Julien Bernard")
    lea = nodes.member(a, "Léa Martin")
    claire = nodes.member(a, "Claire Lefèvre")
    anne = nodes.member(a, "Anne Roux")

    mine = await b.notifications.preferences(camille)
    assert mine["channels"] == list(CHANNELS)
    by_kind = {k["kind"]: k for k in mine["kinds"]}
    assert set(by_kind) == set(KINDS)
    assert by_kind["message"] == {"kind": "message", "channel": "email", "chosen": None,
                                  "default": "email", "forced": None}
    assert (await a.notifications.preferences(lea))["channels"] == ["in_app", "never"]

    # Camille turns private messages off (on node b); node a applies it.
    changed = await b.notifications.set_preferences(camille, {"message": "never",
                                                              "announcement": "weekly"})
    assert {k["kind"]: k["channel"] for k in changed["kinds"]}["message"] == "never"
    room, _ = await a.chat.open_conversation(claire, [camille.id])
    await a.chat.send(claire, room.id, "t1", "Bonjour")
    kinds = [n.kind for n in await a.store.notifications_of(camille.id, None, 10)]
    assert kinds == ["conversation"]  # told of the conversation, not of its message
    # Back to the default: told again.
    await b.notifications.set_preferences(camille, {"message": None})
    await a.chat.send(claire, room.id, "t2", "Encore")
    kinds = [n.kind for n in await a.store.notifications_of(camille.id, None, 10)]
    assert kinds == ["message", "conversation"]

    # The school forces announcements on: nobody may turn them off, and a
    # "never" chosen before is overridden.
    await b.notifications.set_preferences(julien, {"announcement": "never"})
    rules = await a.notifications.set_school_rules(anne, anne.school_id, {"announcement": "on",
                                                                         "call.started": "off"})
    assert rules["forced"] == {"announcement": "on", "call.started": "off"}
    with pytest.raises(PreauError) as refused:
        await b.notifications.set_preferences(julien, {"announcement": "never"})
    assert refused.value.code == "forbidden"
    assert "requires" in refused.value.message
    class_a = next(c for c in claire.classes
                   if a.directory._schools[claire.school_id].classes[c].name == "6eA")
    parents, _ = await a.chat.parents_room(claire, class_a)
    await a.chat.send(claire, parents.id, "ann", "Exercice d'évacuation jeudi", ack=True)
    assert [n.kind for n in await a.store.notifications_of(julien.id, None, 10)] == [
        "announcement"]
    # Calls forced off: nobody is told.
    await a.calls.create(claire, await nodes.room(a, "6eA"), "Cours", None, None)
    assert [n.kind for n in await a.store.notifications_of(lea.id, None, 10)] == []
    # Audited as a school settings change.
    await a.notifications.set_school_rules(anne, anne.school_id, {"call.started": None})
    assert (await a.notifications.school_rules(anne, anne.school_id))["forced"] == {
        "announcement": "on"}


async def test_out_of_range_and_rights(nodes: Nodes) -> None:
    a = nodes.a
    camille = nodes.member(a, "Camille Martin")
    lea = nodes.member(a, "Léa Martin")
    claire = nodes.member(a, "Claire Lefèvre")
    anne = nodes.member(a, "Anne Roux")
    for who, channels, words in (
        (camille, {"message": "sms"}, "sms is not a channel you may choose"),
        (camille, {"nope": "email"}, "nope: no such notification kind"),
        (lea, {"message": "email"}, "email is not a channel you may choose"),
        (lea, {"announcement": "weekly"}, "weekly is not a channel"),
    ):
        with pytest.raises(PreauError) as refused:
            await a.notifications.set_preferences(who, channels)
        assert refused.value.code == "bad_request"
        assert words in refused.value.message
    # Nothing was written by the refused calls.
    assert all(k["chosen"] is None for k in (await a.notifications.preferences(camille))["kinds"])
    for bad in ({"announcement": "always"}, {"nope": "on"}):
        with pytest.raises(PreauError) as refused:
            await a.notifications.set_school_rules(anne, anne.school_id, bad)
        assert refused.value.code == "bad_request"
    for who in (claire, camille, lea):
        with pytest.raises(PreauError) as refused:
            await a.notifications.set_school_rules(who, anne.school_id, {"message": "off"})
        assert refused.value.code == "forbidden"
        with pytest.raises(PreauError):
            await a.notifications.school_rules(who, anne.school_id)


def test_digest_times_in_the_school_time_zone() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from preau.server.notifications.preferences import next_digest_ms

    paris = ZoneInfo("Europe/Paris")

    def at(*when: int) -> int:
        return int(datetime(*when, tzinfo=paris).timestamp() * 1000)  # type: ignore[misc]

    assert next_digest_ms(at(2027, 1, 13, 10, 0), "Europe/Paris", "daily") == at(2027, 1, 13, 18)
    assert next_digest_ms(at(2027, 1, 13, 18, 0), "Europe/Paris", "daily") == at(2027, 1, 14, 18)
    assert next_digest_ms(at(2027, 1, 13, 10, 0), "Europe/Paris", "weekly") == at(2027, 1, 15, 18)
    assert next_digest_ms(at(2027, 1, 15, 18, 0), "Europe/Paris", "weekly") == at(2027, 1, 22, 18)
    # Across the change to summer time (28 March 2027): still 18:00 on the wall clock.
    assert next_digest_ms(at(2027, 3, 26, 19, 0), "Europe/Paris", "weekly") == at(2027, 4, 2, 18)
    assert next_digest_ms(at(2027, 3, 27, 19, 0), "Europe/Paris", "daily") == at(2027, 3, 28, 18)
    # 10:00 in Paris is 20:00 in Nouméa: its next 18:00 is the next day's.
    assert next_digest_ms(at(2027, 1, 13, 10, 0), "Pacific/Noumea", "daily") == int(
        datetime(2027, 1, 14, 18, tzinfo=ZoneInfo("Pacific/Noumea")).timestamp() * 1000)
