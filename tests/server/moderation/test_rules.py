"""Room roles and moderation decisions, cell by cell.

The expected answers are written out as tables by hand, from the issue's
definitions (docs/moderation.md), never computed from the code under test.
"""

from __future__ import annotations

import itertools

import pytest

from preau.server.directory.model import Member, Profile, Room, RoomKind
from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation.rules import (
    MAX_MUTE_S,
    MemberState,
    PolicyChange,
    PostAction,
    Premoderation,
    RoomMode,
    RoomPolicy,
    RoomRole,
    RoomState,
    base_role,
    check_member_target,
    check_moderator,
    counts_for_slow_mode,
    decide_post,
    decide_redaction,
    decide_typing,
    effective_role,
    mute_end,
    room_role,
)

S1, S2 = "school-1", "school-2"
ROOM_A = Room("room-A", S1, RoomKind.CLASS, "6eA", "class-A")
NOW = 1_700_000_000_000


def member(profile: Profile, classes: tuple[str, ...] = (), school: str = S1,
           is_admin: bool = False) -> Member:
    return Member(id=f"{profile}-{'-'.join(classes)}-{school}", school_id=school, profile=profile,
                  display_name="x", classes=frozenset(classes), is_admin=is_admin)


PEOPLE = {
    "pupil of A": member(Profile.PUPIL, ("class-A",)),
    "pupil of B": member(Profile.PUPIL, ("class-B",)),
    "teacher of A": member(Profile.TEACHER, ("class-A",)),
    "teacher of A and B": member(Profile.TEACHER, ("class-A", "class-B")),
    "teacher of B": member(Profile.TEACHER, ("class-B",)),
    "parent of a pupil of A": member(Profile.PARENT, ("class-A",)),
    "staff": member(Profile.STAFF),
    "admin staff": member(Profile.STAFF, is_admin=True),
    "pupil of another school": member(Profile.PUPIL, ("class-A",), school=S2),
    "staff of another school": member(Profile.STAFF, school=S2),
}

# Who is what in class room A, from the directory alone.
BASE_ROLES = {
    "pupil of A": RoomRole.MEMBER,
    "pupil of B": RoomRole.NONE,
    "teacher of A": RoomRole.MODERATOR,
    "teacher of A and B": RoomRole.MODERATOR,
    "teacher of B": RoomRole.NONE,
    "parent of a pupil of A": RoomRole.NONE,
    "staff": RoomRole.MODERATOR,
    "admin staff": RoomRole.MODERATOR,
    "pupil of another school": RoomRole.NONE,
    "staff of another school": RoomRole.NONE,
}


@pytest.mark.parametrize("who", PEOPLE)
def test_base_roles(who: str) -> None:
    assert base_role(PEOPLE[who], ROOM_A) is BASE_ROLES[who]


# Effective role: (base role, mode, removed) → role.
M, E, R, N = RoomRole.MODERATOR, RoomRole.MEMBER, RoomRole.READER, RoomRole.NONE
EFFECTIVE = {
    #            open  announcement read_only   (not removed)
    M: {False: (M, M, M), True: (M, M, M)},  # a moderator cannot be removed
    E: {False: (E, R, R), True: (N, N, N)},
    N: {False: (N, N, N), True: (N, N, N)},
}
MODES = (RoomMode.OPEN, RoomMode.ANNOUNCEMENT, RoomMode.READ_ONLY)


@pytest.mark.parametrize(("base", "removed", "mode"),
                         list(itertools.product((M, E, N), (False, True), MODES)))
def test_effective_roles(base: RoomRole, removed: bool, mode: RoomMode) -> None:
    state = RoomState(RoomPolicy(mode=mode), MemberState(removed=removed))
    assert effective_role(base, state) is EFFECTIVE[base][removed][MODES.index(mode)]


def test_room_role_combines_both() -> None:
    removed = RoomState(member=MemberState(removed=True))
    assert room_role(PEOPLE["pupil of A"], ROOM_A, RoomState()) is RoomRole.MEMBER
    assert room_role(PEOPLE["pupil of A"], ROOM_A, removed) is RoomRole.NONE
    assert room_role(PEOPLE["teacher of A"], ROOM_A, removed) is RoomRole.MODERATOR
    assert room_role(PEOPLE["pupil of B"], ROOM_A, RoomState()) is RoomRole.NONE
    announcement = RoomState(RoomPolicy(mode=RoomMode.ANNOUNCEMENT))
    assert room_role(PEOPLE["pupil of A"], ROOM_A, announcement) is RoomRole.READER


# -- posting -------------------------------------------------------------------

P, H, F = PostAction.POST, PostAction.HOLD, PostAction.REFUSE
PREMOD = (Premoderation.OFF, Premoderation.PUPILS, Premoderation.EVERYONE)
# (role, profile) → action per premoderation (off, pupils, everyone), in an open room.
POSTING = {
    (M, Profile.TEACHER): (P, P, P),  # moderators are never held
    (M, Profile.STAFF): (P, P, P),
    (E, Profile.PUPIL): (P, H, H),
    (E, Profile.PARENT): (P, P, H),  # a non-pupil member (parent rooms, later)
    (R, Profile.PUPIL): (F, F, F),
    (N, Profile.PUPIL): (F, F, F),
}


@pytest.mark.parametrize(("who", "premod"), list(itertools.product(POSTING, PREMOD)))
def test_posting_in_an_open_room(who: tuple[RoomRole, Profile], premod: Premoderation) -> None:
    role, profile = who
    decision = decide_post(role, profile, RoomState(RoomPolicy(premoderation=premod)), NOW)
    assert decision.action is POSTING[who][PREMOD.index(premod)]
    assert (decision.refusal is None) == (decision.action is not F)


def test_nobody_posts_in_a_read_only_room() -> None:
    state = RoomState(RoomPolicy(mode=RoomMode.READ_ONLY))
    for role in (M, E, R):
        decision = decide_post(role, Profile.TEACHER, state, NOW)
        assert decision.refusal is not None
        assert (decision.refusal.code, decision.refusal.message) == (
            ErrorCode.FORBIDDEN, "this room is read-only")


def test_announcement_rooms_let_only_moderators_post() -> None:
    state = RoomState(RoomPolicy(mode=RoomMode.ANNOUNCEMENT))
    assert decide_post(M, Profile.TEACHER, state, NOW).action is P
    refused = decide_post(R, Profile.PUPIL, state, NOW).refusal
    assert refused is not None
    assert refused.code is ErrorCode.FORBIDDEN


def test_a_muted_member_is_refused_with_the_end_time_until_it_passes() -> None:
    state = RoomState(member=MemberState(muted_until_ms=NOW + 1000))
    refusal = decide_post(E, Profile.PUPIL, state, NOW).refusal
    assert refusal is not None
    assert (refusal.code, refusal.until_ms) == (ErrorCode.MUTED, NOW + 1000)
    error = refusal.error()
    assert error.to_wire() == {"code": "muted", "message": "you are muted in this room",
                               "until": NOW + 1000}
    assert decide_post(E, Profile.PUPIL, state, NOW + 999).action is F
    assert decide_post(E, Profile.PUPIL, state, NOW + 1000).action is P
    # A mute never applies to a moderator (none can be set: see check_member_target).
    assert decide_post(M, Profile.TEACHER, state, NOW).action is P


def test_slow_mode() -> None:
    policy = RoomPolicy(slow_mode_s=30)
    never_posted = RoomState(policy)
    assert decide_post(E, Profile.PUPIL, never_posted, NOW).action is P
    just_posted = RoomState(policy, MemberState(last_post_ms=NOW - 10_000))
    refusal = decide_post(E, Profile.PUPIL, just_posted, NOW).refusal
    assert refusal is not None
    assert (refusal.code, refusal.retry_after_s) == (ErrorCode.RATE_LIMITED, 20.0)
    assert refusal.error().to_wire()["retry_after"] == 20.0
    assert decide_post(E, Profile.PUPIL, just_posted, NOW + 20_000).action is P
    assert decide_post(M, Profile.TEACHER, just_posted, NOW).action is P
    # Off, the last post does not matter.
    assert decide_post(E, Profile.PUPIL, RoomState(member=just_posted.member), NOW).action is P
    assert counts_for_slow_mode(E, policy)
    assert not counts_for_slow_mode(M, policy)
    assert not counts_for_slow_mode(E, RoomPolicy())


def test_a_muted_member_in_slow_mode_is_told_about_the_mute() -> None:
    state = RoomState(RoomPolicy(slow_mode_s=30, premoderation=Premoderation.PUPILS),
                      MemberState(muted_until_ms=NOW + 5, last_post_ms=NOW))
    refusal = decide_post(E, Profile.PUPIL, state, NOW).refusal
    assert refusal is not None
    assert refusal.code is ErrorCode.MUTED


# -- redaction -------------------------------------------------------------------

WINDOW = RoomPolicy(recall_window_s=3600)


def test_moderators_redact_anything_any_time() -> None:
    assert decide_redaction("t", M, "p", NOW - 10**9, WINDOW, NOW) is None


@pytest.mark.parametrize(
    ("role", "sender", "age_ms", "allowed"),
    [
        (E, "me", 0, True),
        (E, "me", 3600_000, True),  # the window is inclusive
        (E, "me", 3600_001, False),
        (E, "other", 0, False),
        (R, "me", 10, True),  # a reader (announcement mode) may still recall
        (R, "other", 10, False),
        (N, "me", 10, False),  # removed
    ],
)
def test_authors_recall_within_the_window(
    role: RoomRole, sender: str, age_ms: int, allowed: bool
) -> None:
    refusal = decide_redaction("me", role, sender, NOW - age_ms, WINDOW, NOW)
    assert (refusal is None) == allowed
    if refusal is not None:
        assert refusal.code is ErrorCode.FORBIDDEN


def test_a_zero_window_forbids_recall() -> None:
    assert decide_redaction("me", E, "me", NOW, RoomPolicy(recall_window_s=0), NOW) is None
    assert decide_redaction("me", E, "me", NOW - 1, RoomPolicy(recall_window_s=0), NOW)


# -- moderators' actions ------------------------------------------------------------


def test_only_moderators_moderate() -> None:
    check_moderator(M)
    for role in (E, R, N):
        with pytest.raises(PreauError) as refused:
            check_moderator(role)
        assert refused.value.code is ErrorCode.FORBIDDEN


def test_targets_of_mutes_and_removals() -> None:
    check_member_target(E)
    with pytest.raises(PreauError) as refused:
        check_member_target(M)
    assert refused.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(PreauError) as refused:
        check_member_target(N)
    assert refused.value.code is ErrorCode.NOT_FOUND


def test_mute_end() -> None:
    assert mute_end(NOW, NOW + 5, None) == NOW + 5
    assert mute_end(NOW, None, 60) == NOW + 60_000
    assert mute_end(NOW, None, MAX_MUTE_S) == NOW + MAX_MUTE_S * 1000
    for until, duration in [(None, None), (NOW + 5, 60), (NOW, None), (NOW - 1, None),
                            (NOW + MAX_MUTE_S * 1000 + 1, None), (None, 0)]:
        with pytest.raises(PreauError) as refused:
            mute_end(NOW, until, duration)
        assert refused.value.code is ErrorCode.BAD_REQUEST


def test_policy_changes_apply_field_by_field() -> None:
    policy = RoomPolicy()
    assert PolicyChange().apply(policy) == policy
    changed = PolicyChange(mode=RoomMode.ANNOUNCEMENT, slow_mode_s=0).apply(
        RoomPolicy(slow_mode_s=20, recall_window_s=5))
    assert changed == RoomPolicy(RoomMode.ANNOUNCEMENT, Premoderation.OFF, 0, 5)
    assert changed.to_wire() == {"mode": "announcement", "premoderation": "off",
                                 "slow_mode_s": 0, "recall_window_s": 5,
                                 "quiet_hours": "school"}


def test_only_who_may_write_now_may_say_they_are_typing() -> None:
    muted = MemberState(muted_until_ms=NOW + 60_000)
    refusal = decide_typing(RoomRole.MEMBER, RoomState(member=muted), NOW)
    assert refusal is not None
    assert (refusal.code, refusal.until_ms) == (ErrorCode.MUTED, NOW + 60_000)
    assert decide_typing(RoomRole.MEMBER, RoomState(member=muted), NOW + 60_000) is None
    read_only = RoomState(RoomPolicy(mode=RoomMode.READ_ONLY))
    for role in (RoomRole.MEMBER, RoomRole.READER, RoomRole.MODERATOR):
        refused = decide_typing(role, read_only, NOW)
        assert refused is not None
        assert refused.code is ErrorCode.FORBIDDEN
    refused = decide_typing(RoomRole.READER, RoomState(), NOW)
    assert refused is not None
    assert refused.code is ErrorCode.FORBIDDEN
    # Slow mode and pre-moderation slow or hold a post, never the typing.
    slowed = RoomState(RoomPolicy(slow_mode_s=60, premoderation=Premoderation.EVERYONE),
                       MemberState(last_post_ms=NOW - 1000))
    assert decide_typing(RoomRole.MEMBER, slowed, NOW) is None
    assert decide_typing(RoomRole.MODERATOR, RoomState(member=muted), NOW) is None
