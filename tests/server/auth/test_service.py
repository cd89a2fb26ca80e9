"""AuthService with a real SQLite store and a clock the tests move."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from preau.server.auth import tokens
from preau.server.auth.service import TOUCH_EVERY_MS, AuthService, IssuedSession
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError
from preau.server.settings import Settings
from preau.server.store import SessionRecord, Store

T0 = 1_700_000_000_000
ACTIVATION_TTL_S = 7 * 86400
IDLE_S = 30 * 60
SESSION_MAX_S = 8 * 3600
FREE = 4  # failures before any delay
FIRST_S = 2.0  # the first delay, doubled per failure
MAX_S = 60.0
ADDRESS_BUDGET = 12  # failures per address per hour (small, to reach it)
IP = "192.0.2.10"
GOOD = "Tableau-Noir-42"
OTHER_GOOD = "Craie-Blanche-17"

CSV = """id;profile;last_name;first_name;classes;parent_of
E1;pupil;Martin;Léa;5eA;
P1;parent;Martin;Paul;;E1
T1;teacher;Durand;Claire;5eA;
"""


class FakeClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class World:
    auth: AuthService
    store: Store
    clock: FakeClock
    logins: dict[str, str]  # external id → login
    codes: dict[str, str]  # external id → activation code
    revoked: list[list[str]] = field(default_factory=list)

    async def activate(self, who: str, password: str = GOOD) -> IssuedSession:
        return await self.auth.activate(self.logins[who], self.codes[who], password, IP, "bearer")

    async def login(self, who: str, password: str = GOOD, ip: str = IP) -> IssuedSession:
        return await self.auth.login(self.logins[who], password, ip, "bearer")


@pytest.fixture
async def world(sqlite_store: Store, tmp_path: Path) -> World:
    clock = FakeClock(T0)
    settings = Settings(
        data_dir=tmp_path,
        session_idle_s=IDLE_S,
        session_max_s=SESSION_MAX_S,
        activation_ttl_s=ACTIVATION_TTL_S,
        login_free_failures=FREE,
        login_delay_s=FIRST_S,
        login_delay_max_s=MAX_S,
        login_address_failures_per_hour=ADDRESS_BUDGET,
        seed_demo=False,
    )
    report = await import_directory(
        sqlite_store,
        parse_csv(CSV),
        uai="0751234A",
        school_name="Collège",
        timezone="Europe/Paris",
        activation_ttl_s=ACTIVATION_TTL_S,
        now_ms=T0,
    )
    assert report.errors == []
    auth = AuthService(sqlite_store, Directory(sqlite_store), settings, clock)
    w = World(
        auth=auth,
        store=sqlite_store,
        clock=clock,
        logins={a.account.external_id: a.account.login for a in report.created},
        codes={a.account.external_id: a.activation_code for a in report.created},
    )

    async def listener(hashes: list[str]) -> None:
        w.revoked.append(sorted(hashes))

    auth.on_revoke(listener)
    return w


async def expect_error(code: ErrorCode, awaitable: Awaitable[object]) -> PreauError:
    with pytest.raises(PreauError) as caught:
        await awaitable
    assert caught.value.code is code, caught.value.message
    return caught.value


# -- activation ----------------------------------------------------------------


async def test_activation_succeeds_once(world: World) -> None:
    issued = await world.activate("E1")
    session = await world.auth.resolve(issued.token)
    assert session is not None
    assert session.person_id == issued.session.person_id
    assert session.kind == "bearer"
    assert issued.session.token_hash == tokens.digest(issued.token)
    assert issued.session.expires_ms == T0 + SESSION_MAX_S * 1000
    # The chosen password now opens the account.
    assert (await world.login("E1")).session.person_id == issued.session.person_id

    await expect_error(ErrorCode.ACTIVATION_USED, world.activate("E1", OTHER_GOOD))
    # The second attempt changed nothing: the first password still works.
    await world.login("E1")
    await expect_error(ErrorCode.INVALID_CREDENTIALS, world.login("E1", OTHER_GOOD))


async def test_activation_accepts_the_code_as_families_type_it(world: World) -> None:
    typed = world.codes["P1"].lower().replace("-", " ")
    issued = await world.auth.activate(world.logins["P1"].upper(), typed, GOOD, IP, "cookie")
    assert issued.session.kind == "cookie"


async def test_activation_code_expires(world: World) -> None:
    world.clock.advance(ACTIVATION_TTL_S * 1000 - 1)
    await world.activate("E1")  # one millisecond before expiry: fine
    world.clock.advance(1)
    await expect_error(ErrorCode.ACTIVATION_EXPIRED, world.activate("P1"))
    await expect_error(ErrorCode.ACTIVATION_REQUIRED, world.login("P1"))


async def test_wrong_code_or_unknown_login(world: World) -> None:
    wrong = "ABCD-EFGH-JKMN" if world.codes["E1"] != "ABCD-EFGH-JKMN" else "ABCD-EFGH-JKMP"
    await expect_error(
        ErrorCode.INVALID_CREDENTIALS,
        world.auth.activate(world.logins["E1"], wrong, GOOD, IP, "bearer"),
    )
    # Another person's code does not open this account.
    await expect_error(
        ErrorCode.INVALID_CREDENTIALS,
        world.auth.activate(world.logins["E1"], world.codes["P1"], GOOD, IP, "bearer"),
    )
    await expect_error(
        ErrorCode.INVALID_CREDENTIALS,
        world.auth.activate("nobody.here", world.codes["E1"], GOOD, IP, "bearer"),
    )
    await world.activate("E1")  # the right code still works


async def test_weak_password_does_not_consume_the_code(world: World) -> None:
    error = await expect_error(ErrorCode.WEAK_PASSWORD, world.activate("E1", "azerty123!"))
    assert "too common" in error.message
    await expect_error(ErrorCode.WEAK_PASSWORD, world.activate("E1", "short1A"))
    await expect_error(ErrorCode.ACTIVATION_REQUIRED, world.login("E1", "short1A"))
    issued = await world.activate("E1")
    assert await world.auth.resolve(issued.token) is not None


# -- login ---------------------------------------------------------------------


async def test_login_before_activation(world: World) -> None:
    await expect_error(ErrorCode.ACTIVATION_REQUIRED, world.login("T1"))
    await expect_error(ErrorCode.ACTIVATION_REQUIRED, world.login("T1", "whatever"))


async def test_login_failures_look_the_same_for_unknown_wrong_and_closed(world: World) -> None:
    await world.activate("T1")
    closed = await world.activate("E1")
    async with world.store.engine.transaction() as tx:
        await tx.execute("UPDATE people SET active = 0 WHERE id = $1", closed.session.person_id)
    wrong = await expect_error(ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD))
    unknown = await expect_error(
        ErrorCode.INVALID_CREDENTIALS, world.auth.login("nobody.here", GOOD, "198.51.100.1", "x")
    )
    # The closed account's right password gets the same answer as a wrong one.
    inactive = await expect_error(ErrorCode.INVALID_CREDENTIALS, world.login("E1", GOOD))
    assert wrong.to_wire() == unknown.to_wire() == inactive.to_wire()


async def test_unknown_logins_are_delayed_like_real_ones(world: World) -> None:
    # Otherwise the first 429 would tell which logins exist.
    await world.activate("T1")
    answers = {}
    for login in (world.logins["T1"], "nobody.here", world.logins["E1"]):
        for _ in range(FREE):
            await expect_error(ErrorCode.INVALID_CREDENTIALS if login != world.logins["E1"]
                               else ErrorCode.ACTIVATION_REQUIRED,
                               world.auth.login(login, "Wrong-Guess-1", IP, "x"))
        answers[login] = (await expect_error(
            ErrorCode.RATE_LIMITED, world.auth.login(login, "Wrong-Guess-1", IP, "x"))).to_wire()
        # A fresh address each time: the address budget is not what answers.
        world.clock.advance(1)
    assert len({str(a) for a in answers.values()}) == 1
    assert next(iter(answers.values()))["retry_after"] == FIRST_S


async def test_login_is_case_insensitive_on_the_login(world: World) -> None:
    first = await world.activate("T1")
    again = await world.auth.login(world.logins["T1"].upper(), GOOD, IP, "bearer")
    assert again.session.person_id == first.session.person_id
    assert again.token != first.token


async def test_failures_past_the_free_ones_delay_the_account(world: World) -> None:
    await world.activate("T1")
    for i in range(FREE):
        # Each failure from another address: the account's count is what delays.
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD, f"198.51.100.{i}")
        )
    # Now the next attempt waits, the right password included: a delay, not a lock.
    error = await expect_error(ErrorCode.RATE_LIMITED, world.login("T1", GOOD, "203.0.113.9"))
    assert error.retry_after == FIRST_S
    assert error.to_wire()["retry_after"] == FIRST_S
    world.clock.advance(int(FIRST_S * 1000) - 1)
    await expect_error(ErrorCode.RATE_LIMITED, world.login("T1", GOOD, "203.0.113.9"))
    world.clock.advance(1)
    await world.login("T1", GOOD, "203.0.113.9")
    # Other accounts from other addresses were never affected.
    await world.activate("E1")
    await world.login("E1", GOOD, "203.0.113.9")


async def test_delays_double_up_to_the_cap(world: World) -> None:
    await world.activate("T1")
    waits: list[float] = []
    failures = 0
    while failures < FREE + 8:
        with pytest.raises(PreauError) as caught:
            await world.login("T1", OTHER_GOOD, f"198.51.100.{failures}")
        error = caught.value
        if error.code is ErrorCode.INVALID_CREDENTIALS:
            assert error.retry_after is None  # a failure says nothing of the wait to come
            failures += 1
            continue
        assert error.code is ErrorCode.RATE_LIMITED
        assert error.retry_after is not None
        waits.append(error.retry_after)
        world.clock.advance(int(error.retry_after * 1000))
    # No wait for the free failures, then 2, 4, 8… seconds, capped.
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, MAX_S, MAX_S, MAX_S]


async def test_a_targeted_account_stays_usable_with_its_password(world: World) -> None:
    await world.activate("T1")
    # Someone hammers the account: a hundred wrong guesses as fast as possible,
    # from many addresses. Past the free failures they are refused unchecked.
    codes = []
    for i in range(100):
        try:
            await world.login("T1", OTHER_GOOD, f"198.51.100.{i}")
        except PreauError as e:
            codes.append(e.code)
    assert codes.count(ErrorCode.INVALID_CREDENTIALS) == FREE
    assert codes.count(ErrorCode.RATE_LIMITED) == 100 - FREE
    # The owner is told to wait a few seconds, not an hour; then gets in.
    error = await expect_error(ErrorCode.RATE_LIMITED, world.login("T1", GOOD, "203.0.113.1"))
    assert error.retry_after is not None
    assert error.retry_after <= MAX_S
    world.clock.advance(int(error.retry_after * 1000))
    await world.login("T1", GOOD, "203.0.113.1")
    # The owner's success gives the guesser no new free attempts this hour.
    await expect_error(ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD, IP))
    await expect_error(ErrorCode.RATE_LIMITED, world.login("T1", OTHER_GOOD, IP))


async def test_success_restarts_the_streak(world: World) -> None:
    await world.activate("T1")
    for i in range(FREE - 2):
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD, f"198.51.100.{i}")
        )
    await world.login("T1", GOOD, "203.0.113.1")
    # The hour's failures stay counted, the streak does not: still one free.
    await expect_error(ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD))
    await world.login("T1", GOOD, "203.0.113.2")


async def test_failures_are_forgotten_an_hour_after_the_last_attempt(world: World) -> None:
    await world.activate("T1")
    for i in range(FREE):
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD, f"198.51.100.{i}")
        )
    world.clock.advance(3600 * 1000)
    for i in range(FREE):
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.login("T1", OTHER_GOOD, f"198.51.100.{i + 9}")
        )


async def test_an_address_has_a_budget_of_failures(world: World) -> None:
    await world.activate("T1")
    await world.activate("E1")
    # Successes cost nothing: a school's morning is mostly successes.
    for _ in range(3 * ADDRESS_BUDGET):
        await world.login("E1", GOOD, IP)
    # Each account that logged in from the address earns it one failure, once.
    for i in range(ADDRESS_BUDGET + 2):
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.auth.login(f"nobody.{i}", "x", IP, "bearer")
        )
    error = await expect_error(ErrorCode.RATE_LIMITED, world.login("T1", GOOD, IP))
    assert "network" in error.message
    assert error.retry_after == 3600 / ADDRESS_BUDGET  # one failure's worth refills
    await world.login("T1", GOOD, "203.0.113.9")  # another address is not affected
    world.clock.advance(int(3600 / ADDRESS_BUDGET * 1000))
    await world.login("T1", GOOD, IP)


async def test_a_spent_address_budget_does_not_lock_out_the_browsers_that_logged_in(
    world: World,
) -> None:
    """A pupil's script of made-up logins spends the school's address budget;
    the browsers that logged in to an account before (their device proofs)
    still get in to that account, and only to it (OWASP device cookies)."""
    teacher_browser = (await world.activate("T1")).device_proofs
    pupil_browser = (await world.activate("E1")).device_proofs
    assert teacher_browser
    assert pupil_browser
    for i in range(ADDRESS_BUDGET + 2):  # (the two accounts' logins earned two)
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.auth.login(f"nobody.{i}", "x", IP, "bearer"))

    async def login(who: str, proofs: str | None, password: str = GOOD) -> IssuedSession:
        return await world.auth.login(world.logins[who], password, IP, "bearer",
                                      device_proofs=proofs)

    again = await login("T1", teacher_browser)
    assert again.device_proofs  # renewed, still one proof for the account
    assert again.device_proofs.count(".") == 0
    # Its failures are the account's, under the account's delays, not refused
    # for the address; and they spend nothing of the address's budget.
    for _ in range(FREE):
        await expect_error(ErrorCode.INVALID_CREDENTIALS, login("T1", teacher_browser, "x"))
    await expect_error(ErrorCode.RATE_LIMITED, login("T1", teacher_browser))  # account delay
    world.clock.advance(int(FIRST_S * 1000))
    await login("T1", teacher_browser)
    # Without a proof, or with another account's, or a forged one: the address's answer.
    for proofs in (None, "", pupil_browser, pupil_browser[:-2] + "AA",
                   teacher_browser.replace("-", "0-", 1), "x" * 5000, "-.-.-"):
        error = await expect_error(ErrorCode.RATE_LIMITED, login("T1", proofs))
        assert "network" in error.message, proofs
    # A browser shared by both keeps a proof for each.
    shared = (await login("E1", pupil_browser)).device_proofs
    shared = (await world.auth.login(world.logins["T1"], GOOD, IP, "bearer",
                                     device_proofs=shared + "." + teacher_browser)).device_proofs
    assert shared is not None
    assert shared.count(".") == 1
    await login("E1", shared)
    await login("T1", shared)


async def test_device_proofs_expire(world: World) -> None:
    from preau.server.auth.devices import PROOF_TTL_MS

    proofs = (await world.activate("T1")).device_proofs
    for i in range(ADDRESS_BUDGET + 1):  # (the activation earned one)
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.auth.login(f"nobody.{i}", "x", IP, "bearer"))
    world.clock.advance(PROOF_TTL_MS - 1)
    for i in range(ADDRESS_BUDGET):  # the budget refilled meanwhile: spend it again
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS, world.auth.login(f"nobody.{i}", "x", IP, "bearer"))
    renewed = (await world.auth.login(world.logins["T1"], GOOD, IP, "bearer",
                                      device_proofs=proofs)).device_proofs
    await expect_error(  # what that login earned the address, spent too
        ErrorCode.INVALID_CREDENTIALS, world.auth.login("nobody.again", "x", IP, "bearer"))
    world.clock.advance(2)
    await expect_error(ErrorCode.RATE_LIMITED, world.auth.login(
        world.logins["T1"], GOOD, IP, "bearer", device_proofs=proofs))  # too old
    await world.auth.login(world.logins["T1"], GOOD, IP, "bearer", device_proofs=renewed)


async def test_activation_attempts_are_throttled_too(world: World) -> None:
    for _ in range(FREE):
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS,
            world.auth.activate(world.logins["E1"], "ZZZZ-ZZZZ-ZZZZ", GOOD, IP, "bearer"),
        )
    error = await expect_error(ErrorCode.RATE_LIMITED, world.activate("E1"))
    assert error.retry_after == FIRST_S
    # Login and activation share the account's count.
    await expect_error(ErrorCode.RATE_LIMITED, world.login("E1", GOOD))
    world.clock.advance(int(FIRST_S * 1000))
    await world.activate("E1")  # the right code after the wait


async def test_a_weak_new_password_costs_no_attempt(world: World) -> None:
    for _ in range(FREE + 3):
        await expect_error(ErrorCode.WEAK_PASSWORD, world.activate("E1", "short1A"))
    await world.activate("E1")


async def test_changing_password_is_throttled_like_a_login(world: World) -> None:
    current = await world.activate("E1")
    for _ in range(FREE):
        await expect_error(
            ErrorCode.INVALID_CREDENTIALS,
            world.auth.change_password(current.session, "Wrong-Password-1", OTHER_GOOD, IP),
        )
    await expect_error(
        ErrorCode.RATE_LIMITED,
        world.auth.change_password(current.session, GOOD, OTHER_GOOD, IP),
    )
    await expect_error(ErrorCode.RATE_LIMITED, world.login("E1", GOOD, "203.0.113.4"))
    world.clock.advance(int(FIRST_S * 1000))
    await world.auth.change_password(current.session, GOOD, OTHER_GOOD, IP)


async def test_old_hash_is_upgraded_at_login(world: World) -> None:
    issued = await world.activate("T1")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(GOOD)
    await world.store.set_password(issued.session.person_id, weak, T0)
    await world.login("T1")
    creds = await world.store.credentials_by_login(world.logins["T1"])
    assert creds is not None
    assert creds.password_hash is not None
    assert "$m=19456,t=2,p=1$" in creds.password_hash
    await world.login("T1")


# -- sessions --------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "x" * 129, "not-a-token"])
async def test_resolve_unknown_tokens(world: World, token: str) -> None:
    assert await world.auth.resolve(token) is None


async def test_session_expires_after_idle_time(world: World) -> None:
    issued = await world.activate("E1")
    world.clock.advance(IDLE_S * 1000 - 1)
    assert await world.auth.resolve(issued.token) is not None  # and marks it used
    world.clock.advance(IDLE_S * 1000 - 1)
    assert await world.auth.resolve(issued.token) is not None
    world.clock.advance(IDLE_S * 1000)  # a full idle period without use
    assert await world.auth.resolve(issued.token) is None
    # Idle is final: using it again later does not revive it.
    assert await world.auth.resolve(issued.token) is None


async def test_unused_session_ends_exactly_at_idle_timeout(world: World) -> None:
    issued = await world.activate("E1")
    world.clock.advance(IDLE_S * 1000)
    assert await world.auth.resolve(issued.token) is None


async def test_resolve_within_a_minute_does_not_reset_idle(world: World) -> None:
    # Uses less than TOUCH_EVERY_MS apart are not written: the idle clock runs
    # from the last write, which is at most a minute behind.
    issued = await world.activate("E1")
    world.clock.advance(TOUCH_EVERY_MS - 1)
    assert await world.auth.resolve(issued.token) is not None
    world.clock.advance(IDLE_S * 1000 - TOUCH_EVERY_MS + 1)
    assert await world.auth.resolve(issued.token) is None


async def test_keep_alive_keeps_a_socket_session_from_idling(world: World) -> None:
    issued = await world.activate("E1")
    for _ in range(5):
        world.clock.advance(IDLE_S * 1000 // 2)
        await world.auth.keep_alive([issued.session.token_hash])
    assert world.clock.now - T0 > IDLE_S * 1000
    assert await world.auth.resolve(issued.token) is not None


async def test_session_ends_at_absolute_expiry_even_when_active(world: World) -> None:
    issued = await world.activate("E1")
    step = IDLE_S * 1000 // 2
    while world.clock.now + step < T0 + SESSION_MAX_S * 1000:
        world.clock.advance(step)
        assert await world.auth.resolve(issued.token) is not None
    world.clock.now = T0 + SESSION_MAX_S * 1000 - 1
    assert await world.auth.resolve(issued.token) is not None
    world.clock.advance(1)
    assert await world.auth.resolve(issued.token) is None


async def test_logout_revokes_and_announces(world: World) -> None:
    one = await world.activate("E1")
    two = await world.login("E1")
    await world.auth.logout(one.session)
    assert world.revoked == [[one.session.token_hash]]
    assert await world.auth.resolve(one.token) is None
    assert await world.auth.resolve(two.token) is not None


async def test_resolved_sessions_are_cached_until_a_revocation_is_heard(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session read once is not read again (a reconnection storm reads no
    session rows); a revocation made elsewhere — another node, whose hub
    relays it as ``forget_sessions`` — ends it at once; a lost relay (None:
    the broker's resync) forgets them all."""
    issued = await world.activate("E1")
    assert await world.auth.resolve(issued.token) is not None
    reads: list[str] = []
    real = world.store.get_session

    async def counted(token_hash: str) -> SessionRecord | None:
        reads.append(token_hash)
        return await real(token_hash)

    monkeypatch.setattr(world.store, "get_session", counted)
    for _ in range(3):
        assert await world.auth.resolve(issued.token) is not None
    assert reads == []
    await world.store.revoke_session(issued.session.token_hash)  # as another node does
    world.auth.forget_sessions([issued.session.token_hash])  # its hub's message
    assert await world.auth.resolve(issued.token) is None
    assert reads == [issued.session.token_hash]
    other = await world.login("E1")
    assert await world.auth.resolve(other.token) is not None
    await world.store.revoke_session(other.session.token_hash)
    world.auth.forget_sessions(None)
    assert await world.auth.resolve(other.token) is None


async def test_change_password_ends_the_other_sessions_only(world: World) -> None:
    current = await world.activate("E1")
    other1 = await world.login("E1")
    other2 = await world.login("E1")
    someone_else = await world.activate("P1")

    await world.auth.change_password(current.session, GOOD, OTHER_GOOD, IP)

    assert world.revoked == [sorted([other1.session.token_hash, other2.session.token_hash])]
    assert await world.auth.resolve(current.token) is not None
    assert await world.auth.resolve(other1.token) is None
    assert await world.auth.resolve(other2.token) is None
    assert await world.auth.resolve(someone_else.token) is not None
    await expect_error(ErrorCode.INVALID_CREDENTIALS, world.login("E1", GOOD))
    await world.login("E1", OTHER_GOOD)


async def test_change_password_refusals_change_nothing(world: World) -> None:
    current = await world.activate("E1")
    other = await world.login("E1")
    await expect_error(
        ErrorCode.INVALID_CREDENTIALS,
        world.auth.change_password(current.session, "Wrong-Password-1", OTHER_GOOD, IP),
    )
    await expect_error(
        ErrorCode.WEAK_PASSWORD, world.auth.change_password(current.session, GOOD, "Password1!", IP)
    )
    assert world.revoked == []
    assert await world.auth.resolve(other.token) is not None
    await world.login("E1", GOOD)


async def test_new_activation_code_ends_sessions_and_password(world: World) -> None:
    first = await world.activate("E1")
    second = await world.login("E1")
    code = await world.auth.issue_activation_code(first.session.person_id)
    assert world.revoked == [sorted([first.session.token_hash, second.session.token_hash])]
    assert await world.auth.resolve(first.token) is None
    await expect_error(ErrorCode.ACTIVATION_REQUIRED, world.login("E1"))
    # The old code stays used; the new one works.
    await expect_error(ErrorCode.ACTIVATION_USED, world.activate("E1", OTHER_GOOD))
    issued = await world.auth.activate(world.logins["E1"], code, OTHER_GOOD, IP, "bearer")
    assert issued.session.person_id == first.session.person_id


# -- remembered devices (issue 19) ---------------------------------------------


async def test_a_remembered_parent_session_outlives_the_idle_timeout(world: World) -> None:
    await world.activate("P1")
    remembered = await world.auth.login(world.logins["P1"], GOOD, IP, "cookie", remember=True,
                                        device="Firefox · Windows")
    ordinary = await world.login("P1")
    assert remembered.session.remember
    assert remembered.session.expires_ms == T0 + 90 * 86400 * 1000
    world.clock.advance(IDLE_S * 1000 + 1)
    assert await world.auth.resolve(ordinary.token) is None
    assert await world.auth.resolve(remembered.token) is not None
    world.clock.advance(31 * 86400 * 1000)  # a month without coming back
    assert await world.auth.resolve(remembered.token) is None


async def test_a_pupil_is_never_remembered(world: World) -> None:
    await world.activate("E1")
    issued = await world.auth.login(world.logins["E1"], GOOD, IP, "cookie", remember=True)
    assert not issued.session.remember
    assert issued.session.expires_ms == T0 + SESSION_MAX_S * 1000


async def test_a_person_sees_and_ends_their_own_sessions_only(world: World) -> None:
    first = await world.activate("P1")
    phone = await world.auth.login(world.logins["P1"], GOOD, IP, "cookie", remember=True,
                                   device="Safari · iOS")
    other = await world.activate("T1")
    world.clock.advance(1000)
    listed = sorted(await world.auth.devices(first.session), key=lambda d: d.device)
    assert [(d.device, d.remembered, d.current) for d in listed] == [
        ("", False, True), ("Safari · iOS", True, False)]
    phone_id = listed[1].id
    # Someone else's session: answered as if it did not exist.
    teachers = await world.auth.devices(other.session)
    await expect_error(ErrorCode.NOT_FOUND, world.auth.end_device(first.session, teachers[0].id))
    await expect_error(ErrorCode.NOT_FOUND, world.auth.end_device(first.session, "0" * 16))
    await world.auth.end_device(first.session, phone_id)
    assert world.revoked == [[phone.session.token_hash]]  # its sockets close
    assert await world.auth.resolve(phone.token) is None
    assert await world.auth.resolve(other.token) is not None
    assert [d.current for d in await world.auth.devices(first.session)] == [True]
