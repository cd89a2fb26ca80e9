"""The login throttle's policy (preau/server/auth/throttle.py): delays, the ASVS bound,
which budget an address gets. Pure: no store, no clock."""

from __future__ import annotations

import pytest

from preau.server.auth.throttle import (
    MAX_FAILURES_PER_HOUR,
    AddressLimits,
    DelayPolicy,
    account_key,
)
from preau.server.settings import Settings, SettingsError


def test_no_delay_for_the_free_failures_then_doubling_up_to_the_cap() -> None:
    policy = DelayPolicy(free=5, first_s=1.0, max_s=60.0)
    assert [policy.delay_after(n) for n in range(1, 13)] == [
        0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60,
    ]
    assert policy.delay_after(10_000) == 60.0  # no overflow however long the attack


def test_the_policy_matches_what_the_stores_apply() -> None:
    policy = DelayPolicy(free=3, first_s=1.5, max_s=40.0)
    wire = policy.wire()
    for n in range(1, 30):
        assert wire.delay_ms(n) == policy.delay_after(n) * 1000


def test_defaults_stay_within_asvs() -> None:
    worst = DelayPolicy.of(Settings()).worst_case_per_hour()
    # 5 free, then 1+2+4+8+16+32 s, then one a minute.
    assert worst == 69
    assert worst <= MAX_FAILURES_PER_HOUR


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({"PREAU_LOGIN_DELAY_MAX_S": "30"}, False),  # 120 an hour
        ({"PREAU_LOGIN_DELAY_MAX_S": "40"}, True),
        ({"PREAU_LOGIN_FREE_FAILURES": "60"}, False),
        ({"PREAU_LOGIN_FREE_FAILURES": "20", "PREAU_LOGIN_DELAY_MAX_S": "300"}, True),
    ],
)
def test_settings_that_would_allow_more_than_100_an_hour_are_refused(
    env: dict[str, str], allowed: bool
) -> None:
    if allowed:
        settings = Settings.from_env(env)
        assert DelayPolicy.of(settings).worst_case_per_hour() <= MAX_FAILURES_PER_HOUR
    else:
        with pytest.raises(SettingsError, match="failed logins per hour"):
            Settings.from_env(env)


def test_the_old_setting_is_refused_with_its_replacements() -> None:
    with pytest.raises(SettingsError, match="PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR"):
        Settings.from_env({"PREAU_LOGIN_FAILURES_PER_HOUR": "20"})


def test_trusted_networks_are_read_and_checked() -> None:
    settings = Settings.from_env({
        "PREAU_LOGIN_TRUSTED_NETWORKS": "192.0.2.0/24, 2001:db8:5::/48",
        "PREAU_LOGIN_TRUSTED_FAILURES_PER_HOUR": "5000",
        "PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR": "200",
    })
    assert settings.login_trusted_networks == ("192.0.2.0/24", "2001:db8:5::/48")
    limits = AddressLimits.of(settings)
    assert limits.limit_for("192.0.2.77") == ("192.0.2.77", 5000)
    assert limits.limit_for("::ffff:192.0.2.77") == ("192.0.2.77", 5000)
    assert limits.limit_for("2001:db8:5:1::9") == ("2001:db8:5:1::9", 5000)
    assert limits.limit_for("198.51.100.1") == ("198.51.100.1", 200)
    with pytest.raises(SettingsError, match="PREAU_LOGIN_TRUSTED_NETWORKS"):
        Settings.from_env({"PREAU_LOGIN_TRUSTED_NETWORKS": "192.0.2.0/33"})


def test_an_ipv6_subscriber_is_one_address() -> None:
    limits = AddressLimits(per_hour=100)
    one = limits.limit_for("2001:db8:1:2:aaaa::1")
    other = limits.limit_for("2001:db8:1:2:bbbb::2")
    assert one == other == ("2001:db8:1:2::/64", 100)
    assert limits.limit_for("2001:db8:1:3::1")[0] != one[0]
    assert limits.limit_for("testclient") == ("other:testclient", 100)


def test_account_keys_fold_case_and_never_hold_the_login() -> None:
    assert account_key(" Lea.Martin ") == account_key("lea.martin")
    assert account_key("lea.martin") != account_key("lea.martin2")
    assert "lea" not in account_key("lea.martin")


async def test_a_school_of_1500_behind_one_address_is_not_locked_out_at_8_am() -> None:
    """The default budget (300 failures an hour) against a morning: 1,500
    pupils arrive over half an hour from the school's one NAT address, on
    computers that never saw their accounts, and a third of them mistype
    their password once. Each pupil who gets in earns the address one
    failure; before, the 301st mistype locked the whole school out for the
    hour. A script of made-up logins from another address still stops at 300."""
    import random

    from preau.server.auth.throttle import LoginThrottle
    from preau.server.errors import PreauError
    from preau.server.ratelimit.attempts import MemoryLoginAttempts

    class Clock:
        now = 1_700_000_000_000

        def now_ms(self) -> int:
            return self.now

    clock = Clock()
    settings = Settings()
    policy = DelayPolicy.of(settings)
    throttle = LoginThrottle(None, clock, policy, AddressLimits.of(settings),  # type: ignore[arg-type]
                             MemoryLoginAttempts(policy.wire()))
    chance = random.Random(8)
    refused = 0
    for pupil in range(1_500):
        clock.now += 1_200  # 1,500 in 30 minutes
        login = f"eleve.{pupil}"
        try:
            if chance.random() < 1 / 3:
                await throttle.begin(login, "203.0.113.7")  # a mistype: counted, failed
            key = await throttle.begin(login, "203.0.113.7")
            await throttle.succeeded(key, "203.0.113.7")
        except PreauError:
            refused += 1
    assert refused == 0
    made_up = 0
    for n in range(400):
        try:
            await throttle.begin(f"nobody.{n}", "198.51.100.9")
        except PreauError:
            made_up += 1
    assert made_up == 100
