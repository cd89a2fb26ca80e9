"""Device proofs (preau/server/auth/devices.py): bound to one account and one
deployment key, dated, at most MAX_PROOFS per browser, garbage ignored."""

from __future__ import annotations

from preau.server.auth.devices import MAX_PROOFS, PROOF_TTL_MS, DeviceProofs
from preau.server.auth.throttle import account_key

NOW = 1_800_000_000_000


def proofs_with(key: str) -> DeviceProofs:
    async def source() -> str:
        return key

    return DeviceProofs(source)


async def test_a_proof_is_for_one_account_and_one_deployment() -> None:
    here, elsewhere = proofs_with("clé-a"), proofs_with("clé-b")
    lea, hugo = account_key("lea.martin"), account_key("hugo.bernard")
    cookie = await here.add(None, lea, NOW)
    assert await here.holds(cookie, lea, NOW + 1000)
    assert await here.holds(cookie, account_key("LEA.MARTIN"), NOW)  # the login as typed
    assert not await here.holds(cookie, hugo, NOW)
    assert not await elsewhere.holds(cookie, lea, NOW)
    assert "lea" not in cookie.lower()  # names no one


async def test_a_browser_keeps_the_latest_accounts_only() -> None:
    proofs = proofs_with("k")
    cookie = None
    accounts = [account_key(f"eleve.{i}") for i in range(MAX_PROOFS + 5)]
    for i, key in enumerate(accounts):
        cookie = await proofs.add(cookie, key, NOW + i)
    assert cookie is not None
    assert cookie.count(".") == MAX_PROOFS - 1
    assert len(cookie) < 4096 - 200  # fits a cookie, with its attributes
    kept = [await proofs.holds(cookie, key, NOW + 100) for key in accounts]
    assert kept == [False] * 5 + [True] * MAX_PROOFS
    # Logging in again replaces that account's proof instead of adding one.
    again = await proofs.add(cookie, accounts[-1], NOW + 200)
    assert again.count(".") == MAX_PROOFS - 1


async def test_expired_future_and_malformed_proofs_hold_nothing() -> None:
    proofs = proofs_with("k")
    key = account_key("lea.martin")
    cookie = await proofs.add(None, key, NOW)
    assert not await proofs.holds(cookie, key, NOW + PROOF_TTL_MS)
    assert not await proofs.holds(cookie, key, NOW - 120_000)  # dated in the future
    clock, mac = cookie.split("-", 1)
    for bad in ("", "-", "..", f"{clock}-", f"-{mac}", f"zz-{mac}", f"{clock}-{mac}x",
                f"{clock}-{mac[:-1]}A" if mac[-1] != "A" else f"{clock}-{mac[:-1]}B",
                "a" * 10_000, f"{clock}-{mac}" + ".x" * 3000):
        assert not await proofs.holds(bad, key, NOW), bad
    # Characters a proof never holds (a MAC compare_digest would choke on,
    # digits of other scripts, upper-case or prefixed hex) hold nothing either.
    for bad in (f"{clock}-{'é' * len(mac)}", f"{clock}-{mac[:-1]}\u00e9",
                f"{'١' * len(clock)}-{mac}", f"{clock.upper()}-{mac}", f"0x{clock}-{mac}",
                f" {clock}-{mac}", f"{clock}_-{mac}"):
        assert not await proofs.holds(bad, key, NOW), bad
        assert (await proofs.add(bad, key, NOW)).count(".") == 0, bad
    # Garbage beside a good proof neither breaks it nor survives a renewal.
    mixed = f"n'importe quoi.{cookie}.{'é' * 3}"
    assert await proofs.holds(mixed, key, NOW)
    assert (await proofs.add(mixed, account_key("hugo"), NOW)).count(".") == 1
