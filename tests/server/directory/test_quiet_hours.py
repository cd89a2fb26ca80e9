"""Quiet hours as pure functions: windows, openings, time zones, daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from preau.server.directory.quiet_hours import (
    DeliveryWindow,
    check_room_setting,
    check_school_setting,
    effective_window,
    parse_window,
    release_time,
)

DAY = parse_window("07:00-20:00")


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("now", "release"),
    [
        (ms(2027, 1, 12, 5, 59), ms(2027, 1, 12, 6, 0)),  # 06:59 Paris (UTC+1): at 07:00
        (ms(2027, 1, 12, 6, 0), None),  # 07:00: open
        (ms(2027, 1, 12, 18, 59), None),  # 19:59
        (ms(2027, 1, 12, 19, 0), ms(2027, 1, 13, 6, 0)),  # 20:00: tomorrow 07:00
        (ms(2027, 1, 12, 23, 30), ms(2027, 1, 13, 6, 0)),  # 00:30 local, next day already
        (ms(2027, 7, 12, 19, 0), ms(2027, 7, 13, 5, 0)),  # summer (UTC+2): 21:00 → 07:00
    ],
)
def test_release_in_paris(now: int, release: int | None) -> None:
    assert release_time(now, "Europe/Paris", DAY) == release


def test_daylight_saving_changes_keep_the_local_opening() -> None:
    # The night of 27 to 28 March 2027 loses an hour in Paris: 07:00 is 05:00 UTC.
    assert release_time(ms(2027, 3, 27, 21, 0), "Europe/Paris", DAY) == ms(2027, 3, 28, 5, 0)
    # The night of 30 to 31 October 2027 gains one: 07:00 is 06:00 UTC.
    assert release_time(ms(2027, 10, 30, 20, 0), "Europe/Paris", DAY) == ms(2027, 10, 31, 6, 0)


def test_other_time_zones() -> None:
    # La Réunion (UTC+4), a school of the académie there.
    assert release_time(ms(2027, 1, 12, 17, 0), "Indian/Reunion", DAY) == ms(2027, 1, 13, 3, 0)
    assert release_time(ms(2027, 1, 12, 5, 0), "Indian/Reunion", DAY) is None


def test_a_window_across_midnight() -> None:
    boarding = parse_window("18:00-08:00")  # quiet during the day
    assert boarding.contains(23 * 60)
    assert boarding.contains(7 * 60 + 59)
    assert not boarding.contains(12 * 60)
    assert release_time(ms(2027, 1, 12, 11, 0), "Europe/Paris", boarding) == ms(2027, 1, 12, 17, 0)
    assert str(boarding) == "18:00-08:00"


def test_no_window_means_now() -> None:
    assert release_time(ms(2027, 1, 12, 23, 0), "Europe/Paris", None) is None


def test_effective_window_follows_the_room_setting() -> None:
    assert effective_window("07:00-20:00", "school") == DAY
    assert effective_window("07:00-20:00", "off") is None
    assert effective_window("off", "school") is None
    assert effective_window("off", "08:00-18:00") == DeliveryWindow(480, 1080)


@pytest.mark.parametrize("bad", ["", "7:00-20:00", "07:00-24:00", "07:60-20:00", "07:00-07:00",
                                 "07:00 - 20:00", "school", "OFF", "07:00-20:00x"])
def test_bad_school_settings(bad: str) -> None:
    with pytest.raises(ValueError, match=r"quiet hours|window"):
        check_school_setting(bad)


def test_room_settings() -> None:
    assert check_room_setting("school") == "school"
    assert check_room_setting("off") == "off"
    assert check_room_setting("08:30-17:45") == "08:30-17:45"
    with pytest.raises(ValueError, match="quiet hours"):
        check_room_setting("never")


@given(
    now=st.integers(min_value=ms(2026, 1, 1), max_value=ms(2030, 1, 1)),
    open_min=st.integers(0, 1439), close_min=st.integers(0, 1439),
    zone=st.sampled_from(["Europe/Paris", "America/Cayenne", "Pacific/Noumea", "UTC"]),
)
def test_a_release_is_always_an_opening_within_a_day(
    now: int, open_min: int, close_min: int, zone: str
) -> None:
    if open_min == close_min:
        return
    window = DeliveryWindow(open_min, close_min)
    release = release_time(now, zone, window)
    if release is None:
        return
    assert now < release <= now + 25 * 3_600_000
    # At the release the window is open (unless a DST gap swallowed the opening).
    assert release_time(release, zone, window) is None or zone == "Europe/Paris"
