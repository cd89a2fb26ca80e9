"""Room roles and moderation decisions: pure functions over immutable values.

Who may do what in a room follows from three things: the circle of trust
(``may_join``: is this person in the room at all), the room's policy (its
mode, pre-moderation, slow mode, recall window) and the person's moderation
state in the room (muted until, removed). These functions decide; the store
applies a decision inside the transaction that commits it (so a mute set on
one node holds on every node's next send, with no cache), and the services
turn refusals into errors. Tested cell by cell in tests/server/moderation.

Roles (Matrix power levels, reduced to what a class needs):

- ``moderator``: the class's teachers and the school's staff. They post in
  every mode but ``read_only``, are never held, muted, slowed or removed, and
  moderate: change the policy, approve or reject held messages, delete any
  message, mute, remove and re-admit members;
- ``member``: a pupil of the class, in an open room;
- ``reader``: a member while the room is in ``announcement`` or ``read_only``
  mode: reads, does not post;
- ``none``: outside the circle of trust, or removed from the room.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from preau.server.directory import quiet_hours
from preau.server.directory.model import Member, Profile, Room, RoomKind
from preau.server.directory.rules import may_join
from preau.server.errors import ErrorCode, PreauError, bad_request

DEFAULT_RECALL_WINDOW_S = 3600  # the ENT practice: a message may be recalled for an hour
MAX_SLOW_MODE_S = 3600
MAX_RECALL_WINDOW_S = 7 * 86400
MAX_MUTE_S = 30 * 86400
MAX_REASON_CHARS = 500


class RoomMode(StrEnum):
    OPEN = "open"  # every member posts
    ANNOUNCEMENT = "announcement"  # only moderators post
    READ_ONLY = "read_only"  # nobody posts (a frozen room); moderators still moderate


class Premoderation(StrEnum):
    OFF = "off"
    PUPILS = "pupils"  # pupils' messages wait for a moderator's approval
    EVERYONE = "everyone"  # every non-moderator's messages do


class RoomRole(StrEnum):
    MODERATOR = "moderator"
    MEMBER = "member"
    READER = "reader"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RoomPolicy:
    mode: RoomMode = RoomMode.OPEN
    premoderation: Premoderation = Premoderation.OFF
    slow_mode_s: int = 0
    recall_window_s: int = DEFAULT_RECALL_WINDOW_S
    # "school" (the school's delivery window), "off", or "HH:MM-HH:MM" (quiet_hours.py)
    quiet_hours: str = quiet_hours.SCHOOL

    def to_wire(self) -> dict[str, object]:
        return {
            "mode": self.mode.value,
            "premoderation": self.premoderation.value,
            "slow_mode_s": self.slow_mode_s,
            "recall_window_s": self.recall_window_s,
            "quiet_hours": self.quiet_hours,
        }


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """The fields a moderator changes; ``None`` leaves a field as it is."""

    mode: RoomMode | None = None
    premoderation: Premoderation | None = None
    slow_mode_s: int | None = None
    recall_window_s: int | None = None
    quiet_hours: str | None = None

    def apply(self, policy: RoomPolicy) -> RoomPolicy:
        return RoomPolicy(
            mode=policy.mode if self.mode is None else self.mode,
            premoderation=(
                policy.premoderation if self.premoderation is None else self.premoderation
            ),
            slow_mode_s=policy.slow_mode_s if self.slow_mode_s is None else self.slow_mode_s,
            recall_window_s=(
                policy.recall_window_s if self.recall_window_s is None else self.recall_window_s
            ),
            quiet_hours=policy.quiet_hours if self.quiet_hours is None else self.quiet_hours,
        )


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's moderation state in one room (all unset: nothing special)."""

    muted_until_ms: int | None = None
    removed: bool = False
    last_post_ms: int | None = None  # for slow mode

    def muted_at(self, now_ms: int) -> bool:
        return self.muted_until_ms is not None and now_ms < self.muted_until_ms


@dataclass(frozen=True, slots=True)
class RoomState:
    """What the rules need to know about a room beyond the directory."""

    policy: RoomPolicy = RoomPolicy()
    member: MemberState = MemberState()


# -- roles --------------------------------------------------------------------


# Rooms whose teachers and staff moderate; a private conversation has no moderator.
_MODERATED_KINDS = frozenset({RoomKind.CLASS, RoomKind.PARENTS})


def base_role(member: Member, room: Room) -> RoomRole:
    """The role the directory gives: ``moderator``, ``member`` or ``none``.

    A class room's moderators are its teachers and the school's staff (who are
    in every class room of their school, see ``may_join``); its members are
    the class's pupils.
    """
    if not may_join(member, room):
        return RoomRole.NONE
    if room.kind in _MODERATED_KINDS and member.profile in (Profile.STAFF, Profile.TEACHER):
        return RoomRole.MODERATOR
    return RoomRole.MEMBER


def effective_role(base: RoomRole, state: RoomState) -> RoomRole:
    """``base`` (from :func:`base_role`) once the room's state is applied."""
    if base is RoomRole.MODERATOR:
        return base  # moderators cannot be removed, muted or silenced by a mode
    if base is RoomRole.NONE or state.member.removed:
        return RoomRole.NONE
    if state.policy.mode is not RoomMode.OPEN:
        return RoomRole.READER
    return base


def room_role(member: Member, room: Room, state: RoomState) -> RoomRole:
    """The role of ``member`` in ``room`` given the room's ``state``."""
    return effective_role(base_role(member, room), state)


# -- decisions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action is refused, as the client will be told."""

    code: ErrorCode
    message: str
    until_ms: int | None = None  # muted: when the mute ends
    retry_after_s: float | None = None  # slow mode: when the next post is allowed

    def error(self) -> PreauError:
        return PreauError(
            self.code, self.message, retry_after=self.retry_after_s, until=self.until_ms
        )


class PostAction(StrEnum):
    POST = "post"
    HOLD = "hold"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class PostDecision:
    action: PostAction
    refusal: Refusal | None = None


_POST = PostDecision(PostAction.POST)
_HOLD = PostDecision(PostAction.HOLD)


def _refuse(
    code: ErrorCode, message: str, until_ms: int | None = None, retry_after_s: float | None = None
) -> PostDecision:
    return PostDecision(PostAction.REFUSE, Refusal(code, message, until_ms, retry_after_s))


def decide_post(role: RoomRole, profile: Profile, state: RoomState, now_ms: int) -> PostDecision:
    """May a person with ``role`` and ``profile`` post now, and is the message held?

    In order: not in the room; a frozen room (nobody posts); a reader; a
    muted member (``muted`` with the end time); slow mode (``rate_limited``
    with the seconds left); pre-moderation (held).
    """
    policy, member = state.policy, state.member
    if role is RoomRole.NONE:  # removed: answered as for a room that does not exist
        return _refuse(ErrorCode.NOT_FOUND, "no such room")
    if policy.mode is RoomMode.READ_ONLY:
        return _refuse(ErrorCode.FORBIDDEN, "this room is read-only")
    if role is RoomRole.READER:
        return _refuse(ErrorCode.FORBIDDEN, "only moderators post in this room")
    if role is RoomRole.MODERATOR:
        return _POST
    if member.muted_at(now_ms):
        return _refuse(ErrorCode.MUTED, "you are muted in this room",
                       until_ms=member.muted_until_ms)
    if policy.slow_mode_s > 0 and member.last_post_ms is not None:
        next_ms = member.last_post_ms + policy.slow_mode_s * 1000
        if now_ms < next_ms:
            return _refuse(ErrorCode.RATE_LIMITED,
                           f"slow mode: one message every {policy.slow_mode_s} s",
                           retry_after_s=(next_ms - now_ms) / 1000)
    if policy.premoderation is Premoderation.EVERYONE or (
        policy.premoderation is Premoderation.PUPILS and profile is Profile.PUPIL
    ):
        return _HOLD
    return _POST


def decide_typing(role: RoomRole, state: RoomState, now_ms: int) -> Refusal | None:
    """May a person say they are typing? Only who may write here now: not a
    reader, not in a read-only room, not a muted member (``muted`` with the
    end time). Slow mode and pre-moderation do not stop typing."""
    decision = decide_post(role, Profile.TEACHER, state, now_ms)
    refusal = decision.refusal if decision.action is PostAction.REFUSE else None
    if refusal is not None and refusal.code is not ErrorCode.RATE_LIMITED:
        return refusal
    return None


def decide_reaction(
    role: RoomRole, state: RoomState, now_ms: int, readers_react: bool
) -> Refusal | None:
    """May a person with ``role`` react to a message of the room now?

    Nobody reacts in a read-only room (a frozen room); in an announcement room
    its readers (pupils, parents) react if their school allows it
    (``readers_react``: ``School.reactions_in_announcements``); a muted member
    does not react, as they do not post. Slow mode and pre-moderation concern
    messages, not reactions (which are rate-limited per account instead)."""
    policy, member = state.policy, state.member
    if role is RoomRole.NONE:
        return Refusal(ErrorCode.NOT_FOUND, "no such room")
    if policy.mode is RoomMode.READ_ONLY:
        return Refusal(ErrorCode.FORBIDDEN, "this room is read-only")
    if role is RoomRole.MODERATOR:
        return None
    if role is RoomRole.READER and not readers_react:
        return Refusal(ErrorCode.FORBIDDEN, "only moderators react in this room")
    if member.muted_at(now_ms):
        return Refusal(ErrorCode.MUTED, "you are muted in this room",
                       until_ms=member.muted_until_ms)
    return None


def counts_for_slow_mode(role: RoomRole, policy: RoomPolicy) -> bool:
    """Whether a post by ``role`` must record its time for slow mode."""
    return policy.slow_mode_s > 0 and role is not RoomRole.MODERATOR


def decide_redaction(
    actor_id: str,
    role: RoomRole,
    target_sender_id: str,
    target_created_ms: int,
    policy: RoomPolicy,
    now_ms: int,
) -> Refusal | None:
    """May ``actor_id`` redact a message? Moderators: any, any time. Authors
    (members or readers, not removed): their own, within the recall window."""
    if role is RoomRole.MODERATOR:
        return None
    if role is RoomRole.NONE:
        return Refusal(ErrorCode.FORBIDDEN, "you are not a member of this room")
    if target_sender_id != actor_id:
        return Refusal(ErrorCode.FORBIDDEN, "only moderators delete other people's messages")
    if now_ms > target_created_ms + policy.recall_window_s * 1000:
        return Refusal(ErrorCode.FORBIDDEN, "too late to recall this message")
    return None


def decide_edit(
    actor_id: str,
    role: RoomRole,
    profile: Profile,
    state: RoomState,
    target_sender_id: str,
    target_created_ms: int,
    now_ms: int,
) -> Refusal | None:
    """May ``actor_id`` replace the text of a message? Its author only (a
    moderator deletes, never rewrites, other people's words), within the
    room's recall window, and only while they could post it now: muted, a
    reader or in a read-only room, the edit is refused as the post would be.
    Where their posts are reviewed first (pre-moderation) an edit would show
    text nobody reviewed: refused, recall and send again. Slow mode does not
    apply (an edit adds no message)."""
    if role is RoomRole.NONE:
        return Refusal(ErrorCode.NOT_FOUND, "no such message")
    if target_sender_id != actor_id:
        return Refusal(ErrorCode.FORBIDDEN, "only its author may edit a message")
    if now_ms > target_created_ms + state.policy.recall_window_s * 1000:
        return Refusal(ErrorCode.FORBIDDEN, "too late to edit this message")
    unslowed = RoomState(state.policy, replace(state.member, last_post_ms=None))
    decision = decide_post(role, profile, unslowed, now_ms)
    if decision.action is PostAction.REFUSE:
        return decision.refusal
    if decision.action is PostAction.HOLD:
        return Refusal(ErrorCode.FORBIDDEN,
                       "messages are reviewed before they appear here: recall it and send it again")
    return None


def check_moderator(role: RoomRole) -> None:
    if role is not RoomRole.MODERATOR:
        raise PreauError(ErrorCode.FORBIDDEN, "only the room's moderators may do this")


def check_member_target(target_base: RoomRole) -> None:
    """A mute or a removal targets a member of the room who is not a moderator."""
    if target_base is RoomRole.NONE:
        raise PreauError(ErrorCode.NOT_FOUND, "no such member in this room")
    if target_base is RoomRole.MODERATOR:
        raise PreauError(ErrorCode.FORBIDDEN, "moderators cannot be muted or removed")


def mute_end(now_ms: int, until_ms: int | None, duration_s: int | None) -> int:
    """When a mute ends, from exactly one of an end time or a duration."""
    if (until_ms is None) == (duration_s is None):
        raise bad_request("give until (ms since the epoch) or duration_s, not both")
    end = until_ms if until_ms is not None else now_ms + (duration_s or 0) * 1000
    if end <= now_ms:
        raise bad_request("a mute ends in the future")
    if end > now_ms + MAX_MUTE_S * 1000:
        raise bad_request(f"a mute lasts at most {MAX_MUTE_S // 86400} days")
    return end
