"""The Store's single sign-on contract, on SQLite and on PostgreSQL: a login
under way is taken once, a returned identity finds its people, single logout
revokes the sessions an identity provider session opened, and a logout token
is used once."""

from __future__ import annotations

import asyncio

from preau.server.store import SessionRecord, SsoPending, Store
from preau.server.store.console import ConsoleStore
from preau.server.store.privacy import PrivacyStore
from tests.server.store.contract import NOW, import_and_load, make_batch, pupil, teacher


async def test_a_login_under_way_is_taken_once(store: Store) -> None:
    pending = SsoPending("academie", "nonce", "verifier", remember=True)
    await store.sso_begin("h1", pending, NOW + 600_000, NOW)
    await store.sso_begin("h2", pending, NOW + 10, NOW)
    # Two callbacks racing with one state: exactly one gets it.
    first, second = await asyncio.gather(store.sso_take("h1", NOW), store.sso_take("h1", NOW))
    assert [first, second].count(None) == 1
    assert (first or second) == pending
    assert await store.sso_take("h2", NOW + 10) is None  # expired
    assert await store.sso_take("unknown", NOW) is None


async def test_identities_sessions_and_single_logout(store: Store) -> None:
    result, _ = await import_and_load(store, make_batch(
        pupil("E001", "Léa", "Martin", "6A"), teacher("T001", "Anne", "Roux", "6A")))
    lea, anne = (p.person_id for p in result.created)
    found = await store.sso_candidates("external_id", "E001")
    assert [(c.person_id, c.profile, c.active) for c in found] == [(lea, "pupil", True)]
    assert found[0].school_uai == result.school.uai
    assert await store.sso_candidates("external_id", "nobody") == []
    login = result.created[1].login
    assert [c.person_id for c in await store.sso_candidates("login", login.upper())] == [anne]

    for token, person, sid in (("t1", lea, "sid-1"), ("t2", lea, "sid-2"), ("t3", anne, "sid-1")):
        await store.create_session(SessionRecord(token, person, "cookie", NOW, NOW, NOW + 10**6))
        await store.sso_link(token, "academie" if token != "t3" else "ent", person, sid,
                             NOW + 10**6)
    assert await store.sso_provider_of("t1") == "academie"
    assert await store.sso_provider_of("nope") is None
    assert await store.sso_session_of("t3") == ("ent", anne, "sid-1")
    assert await store.sso_session_of("nope") is None
    assert await store.sso_revoke("academie", sid="sid-1") == ["t1"]
    assert await store.sso_revoke("academie", sid="sid-1") == []  # already revoked
    assert await store.sso_revoke("academie", subject=lea) == ["t2"]
    assert await store.sso_revoke("academie", sid="") == []
    session = await store.get_session("t3")
    assert session is not None
    assert not session.revoked  # another provider's session is untouched


async def test_a_logout_token_is_used_once(store: Store) -> None:
    assert await store.sso_first_use("jti", NOW + 1000, NOW)
    assert not await store.sso_first_use("jti", NOW + 1000, NOW)


async def test_a_sign_in_through_a_provider_counts_as_activated(store: Store) -> None:
    """The console stops listing the person as not activated (printing the
    class's letters gives them no code, which would end their sessions), and
    the code on their letter opens nothing any more."""
    result, _ = await import_and_load(store, make_batch(
        pupil("E001", "Léa", "Martin", "6A"), pupil("E002", "Hugo", "Bernard", "6A")))
    lea, hugo = (p.person_id for p in result.created)
    console = ConsoleStore(store.engine)
    assert set(await console.pending_people(result.school.id)) == {lea, hugo}
    await store.sso_signed_in(lea, NOW)
    await store.sso_signed_in(lea, NOW + 1)  # again: nothing changes
    assert set(await console.pending_people(result.school.id)) == {hugo}
    creds = await store.credentials_by_login(result.created[0].login)
    assert creds is not None
    assert creds.activation_hash is None  # (the live test sees "activation_used")
    # An admin's new code puts the account back among the pending ones.
    await store.reset_activation(lea, "new-code-hash", NOW + 10**6, NOW + 2)
    assert set(await console.pending_people(result.school.id)) == {lea, hugo}


async def test_the_links_go_with_their_sessions(store: Store) -> None:
    """The retention pass deletes the single sign-on link of a session ended
    (revoked or expired) or gone; a live session keeps its own."""
    result, _ = await import_and_load(store, make_batch(pupil("E001", "Léa", "Martin", "6A")))
    lea = result.created[0].person_id
    for token in ("live", "ended"):
        await store.create_session(SessionRecord(token, lea, "cookie", NOW, NOW, NOW + 10**6))
        await store.sso_link(token, "academie", "E001", "sid-" + token, NOW + 10**6)
    await store.revoke_session("ended")
    await PrivacyStore(store.engine).purge_logs(NOW - 1, NOW)
    assert await store.sso_provider_of("live") == "academie"
    assert await store.sso_provider_of("ended") is None
