"""The moderation ops of /ws without sockets: valid examples and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preau.server.errors import ErrorCode
from preau.server.gateway.protocol import (
    ChatRedact,
    ChatReport,
    FrameError,
    HeldApprove,
    HeldList,
    HeldReject,
    MemberAction,
    MemberList,
    MemberMute,
    Request,
    RoomPolicySet,
    parse_request,
)
from preau.server.moderation.rules import Premoderation, RoomMode

MODERATION_OPS = {
    "chat.redact", "room.policy", "held.list", "held.approve", "held.reject", "member.mute",
    "member.unmute", "member.remove", "member.readmit", "member.list", "chat.report",
}


def parse(obj: Any) -> Request:
    return parse_request(json.dumps(obj, ensure_ascii=False), 64 * 1024)


@pytest.mark.parametrize(
    ("request_", "params"),
    [
        ({"id": 1, "op": "chat.redact", "room": "r", "seq": 4}, ChatRedact(room="r", seq=4)),
        ({"op": "chat.report", "room": "r", "seq": 4}, ChatReport(room="r", seq=4)),
        ({"op": "chat.report", "room": "r", "seq": 4, "reason": "méchant"},
         ChatReport(room="r", seq=4, reason="méchant")),
        ({"op": "chat.redact", "room": "r", "seq": 4, "reason": "hors sujet\nmerci"},
         ChatRedact(room="r", seq=4, reason="hors sujet\nmerci")),
        ({"op": "room.policy", "room": "r", "mode": "announcement"},
         RoomPolicySet(room="r", mode=RoomMode.ANNOUNCEMENT)),
        ({"op": "room.policy", "room": "r", "premoderation": "pupils", "slow_mode_s": 0,
          "recall_window_s": 0, "reason": "contrôle"},
         RoomPolicySet(room="r", premoderation=Premoderation.PUPILS, slow_mode_s=0,
                       recall_window_s=0, reason="contrôle")),
        ({"op": "room.policy", "room": "r", "slow_mode_s": 3600},
         RoomPolicySet(room="r", slow_mode_s=3600)),
        ({"op": "held.list", "room": "r"}, HeldList(room="r")),
        ({"id": 9, "op": "held.approve", "room": "r", "held": "h_1"},
         HeldApprove(room="r", held="h_1")),
        ({"op": "held.reject", "room": "r", "held": "h_1", "reason": "pas ici"},
         HeldReject(room="r", held="h_1", reason="pas ici")),
        ({"op": "member.mute", "room": "r", "person": "p", "duration_s": 600},
         MemberMute(room="r", person="p", duration_s=600)),
        ({"op": "member.mute", "room": "r", "person": "p", "until": 1795703388548},
         MemberMute(room="r", person="p", until=1795703388548)),
        ({"op": "member.unmute", "room": "r", "person": "p"}, MemberAction(room="r", person="p")),
        ({"op": "member.remove", "room": "r", "person": "p", "reason": "x"},
         MemberAction(room="r", person="p", reason="x")),
        ({"op": "member.readmit", "room": "r", "person": "p"},
         MemberAction(room="r", person="p")),
        ({"op": "member.list", "room": "r"}, MemberList(room="r")),
    ],
    ids=lambda v: v["op"] if isinstance(v, dict) else "",
)  # fmt: skip
def test_valid(request_: dict[str, Any], params: object) -> None:
    parsed = parse(request_)
    assert parsed.params == params
    assert parsed.op in MODERATION_OPS


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "chat.redact", "room": "r"},
        {"op": "chat.redact", "room": "r", "seq": 0},
        {"op": "chat.report", "room": "r", "seq": 0},
        {"op": "chat.report", "room": "r"},
        {"op": "chat.redact", "room": "r", "seq": "4"},
        {"op": "chat.redact", "room": "r", "seq": 4, "reason": ""},
        {"op": "chat.redact", "room": "r", "seq": 4, "reason": "x" * 501},
        {"op": "chat.redact", "room": "r", "seq": 4, "reason": "bell\u0007"},
        {"op": "room.policy", "room": "r"},  # nothing to change
        {"op": "room.policy", "room": "r", "reason": "only a reason"},
        {"op": "room.policy", "room": "r", "mode": "closed"},
        {"op": "room.policy", "room": "r", "mode": None},
        {"op": "room.policy", "room": "r", "premoderation": True},
        {"op": "room.policy", "room": "r", "slow_mode_s": -1},
        {"op": "room.policy", "room": "r", "slow_mode_s": 3601},
        {"op": "room.policy", "room": "r", "slow_mode_s": 1.5},
        {"op": "room.policy", "room": "r", "recall_window_s": 7 * 86400 + 1},
        {"op": "held.approve", "room": "r"},
        {"op": "held.approve", "room": "r", "held": ""},
        {"op": "held.approve", "room": "r", "held": "h", "reason": "no reason on approve"},
        {"op": "member.mute", "room": "r", "person": "p", "until": "tomorrow"},
        {"op": "member.mute", "room": "r", "person": "p", "until": "2026-05-14T10:00:00Z"},
        {"op": "member.mute", "room": "r", "person": "p", "until": -1},
        {"op": "member.mute", "room": "r", "person": "p", "duration_s": 0},
        {"op": "member.mute", "room": "r", "person": "p", "duration_s": 30 * 86400 + 1},
        {"op": "member.mute", "room": "r", "person": "p", "duration_s": 60.0},
        {"op": "member.mute", "room": "r", "duration_s": 60},
        {"op": "member.remove", "room": "r", "person": "p", "until": 5},
        {"op": "member.list", "room": "r", "person": "p"},
    ],
)
def test_refused(request_: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as caught:
        parse(request_)
    assert caught.value.code is ErrorCode.BAD_REQUEST
