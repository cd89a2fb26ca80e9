"""The Store's accounts and sessions contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from preau.server.store import SessionRecord, Store
from tests.server.store.contract import NOW, import_and_load, make_batch, staff

# -- accounts ----------------------------------------------------------------


async def test_credentials_lookup_is_case_insensitive(store: Store) -> None:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin", activation_hash="h", activation_expires_ms=5)),
        NOW,
    )
    for login in ("lea.martin", "LEA.Martin", "Lea.MARTIN"):
        creds = await store.credentials_by_login(login)
        assert creds is not None, login
        assert creds.person_id == result.created[0].person_id
        assert creds.login == "lea.martin"
        assert creds.active
        assert creds.activation_expires_ms == 5
    assert await store.credentials_by_login("lea.martin2") is None
    assert await store.credentials_by_login("") is None


async def test_activate_once(store: Store) -> None:
    result, _ = await import_and_load(
        store,
        make_batch(staff("s1", "Léa", "Martin", activation_hash="code", activation_expires_ms=9)),
    )
    person_id, school_id = result.created[0].person_id, result.school.id
    assert await store.activate(person_id, "pw1", NOW) is True
    assert await store.activate(person_id, "pw2", NOW + 1) is False
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.password_hash == "pw1"  # the losing attempt changed nothing
    assert creds.activation_hash is None
    assert creds.activation_expires_ms is None
    assert creds.activation_used_hash == "code"
    view = await store.load_school(school_id)
    assert view is not None
    assert view.people[person_id].activated


async def test_racing_activations_have_one_winner(store: Store) -> None:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin", activation_hash="code")), NOW
    )
    person_id = result.created[0].person_id
    outcomes = await asyncio.gather(*(store.activate(person_id, f"pw{i}", NOW) for i in range(8)))
    assert sorted(outcomes) == [False] * 7 + [True]


async def test_reset_activation_and_set_password(store: Store) -> None:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin", activation_hash="code1")), NOW
    )
    person_id, school_id = result.created[0].person_id, result.school.id
    assert await store.activate(person_id, "pw1", NOW)
    await store.set_password(person_id, "pw2", NOW + 1)
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.password_hash == "pw2"

    await store.reset_activation(person_id, "code2", NOW + 100, NOW + 2)
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.password_hash is None
    assert (creds.activation_hash, creds.activation_expires_ms) == ("code2", NOW + 100)
    view = await store.load_school(school_id)
    assert view is not None
    assert not view.people[person_id].activated

    assert await store.activate(person_id, "pw3", NOW + 3)
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert (creds.password_hash, creds.activation_used_hash) == ("pw3", "code2")


async def test_account_changes_of_an_unknown_person_raise(store: Store) -> None:
    with pytest.raises(LookupError):
        await store.set_password("nobody", "pw", NOW)
    with pytest.raises(LookupError):
        await store.reset_activation("nobody", "code", NOW, NOW)
    assert await store.activate("nobody", "pw", NOW) is False


# -- sessions ----------------------------------------------------------------


def session(token: str, person_id: str, *, expires_ms: int = NOW + 1000) -> SessionRecord:
    return SessionRecord(token, person_id, "cookie", NOW, NOW, expires_ms)


async def two_people(store: Store) -> tuple[str, str]:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin"), staff("s2", "Hugo", "Roy")), NOW
    )
    return result.created[0].person_id, result.created[1].person_id


async def test_session_lifecycle(store: Store) -> None:
    lea, _ = await two_people(store)
    record = SessionRecord("tok", lea, "bearer", NOW, NOW + 5, NOW + 1000)
    await store.create_session(record)
    assert await store.get_session("tok") == record
    assert await store.get_session("other") is None

    await store.touch_sessions(["tok", "unknown"], NOW + 50)
    touched = await store.get_session("tok")
    assert touched is not None
    assert touched.last_seen_ms == NOW + 50
    await store.touch_sessions(["tok"], NOW + 10)  # late, out-of-order touch
    touched = await store.get_session("tok")
    assert touched is not None
    assert touched.last_seen_ms == NOW + 50
    await store.touch_sessions([], NOW + 60)

    await store.revoke_session("tok")
    revoked = await store.get_session("tok")
    assert revoked is not None
    assert revoked.revoked
    assert revoked == SessionRecord("tok", lea, "bearer", NOW, NOW + 50, NOW + 1000, True)


async def test_many_sessions_are_read_at_once(store: Store) -> None:
    lea, hugo = await two_people(store)
    tokens = [f"t{n:04d}" for n in range(1_203)]  # beyond one statement's share
    for n, token in enumerate(tokens):
        await store.create_session(session(token, lea if n % 2 else hugo))
    await store.revoke_session("t0007")
    found = {r.token_hash: r for r in await store.get_sessions([*tokens, "unknown"])}
    assert sorted(found) == tokens
    assert found["t0007"].revoked
    assert found["t0008"] == await store.get_session("t0008")
    assert await store.get_sessions([]) == []


async def test_revoke_person_sessions(store: Store) -> None:
    lea, hugo = await two_people(store)
    for token, person in [("a", lea), ("b", lea), ("c", lea), ("d", lea), ("h", hugo)]:
        await store.create_session(session(token, person))
    await store.revoke_session("d")  # already revoked: not reported again

    assert sorted(await store.revoke_person_sessions(lea, keep="b")) == ["a", "c"]
    states = {t: s.revoked for t in "abcdh" if (s := await store.get_session(t)) is not None}
    assert states == {"a": True, "b": False, "c": True, "d": True, "h": False}

    assert await store.revoke_person_sessions(lea) == ["b"]
    assert await store.revoke_person_sessions(lea) == []
    h = await store.get_session("h")
    assert h is not None
    assert not h.revoked


async def test_delete_expired_sessions(store: Store) -> None:
    lea, hugo = await two_people(store)
    await store.create_session(session("old", lea, expires_ms=NOW + 10))
    await store.create_session(session("edge", hugo, expires_ms=NOW + 20))
    await store.create_session(session("live", lea, expires_ms=NOW + 30))
    assert await store.delete_expired_sessions(NOW + 20) == 2
    assert await store.get_session("old") is None
    assert await store.get_session("edge") is None
    assert await store.get_session("live") is not None
    assert await store.delete_expired_sessions(NOW + 20) == 0


async def test_a_person_s_open_sessions_with_their_device(store: Store) -> None:
    lea, hugo = await two_people(store)
    await store.create_session(SessionRecord("phone", lea, "cookie", NOW, NOW + 30, NOW + 900,
                                             remember=True, device="Safari · iOS"))
    await store.create_session(SessionRecord("desk", lea, "cookie", NOW, NOW + 20, NOW + 900))
    await store.create_session(SessionRecord("gone", lea, "cookie", NOW, NOW + 40, NOW + 900))
    await store.create_session(SessionRecord("old", lea, "cookie", NOW, NOW + 50, NOW + 10))
    await store.create_session(SessionRecord("his", hugo, "cookie", NOW, NOW + 60, NOW + 900))
    await store.revoke_session("gone")
    found = await store.person_sessions(lea, NOW + 100)
    assert [s.token_hash for s in found] == ["phone", "desk"]  # latest used first
    assert (found[0].remember, found[0].device) == (True, "Safari · iOS")
    assert (found[1].remember, found[1].device) == (False, "")
