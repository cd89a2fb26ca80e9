"""The quiet-hours, reading and report ops of /ws without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preau.server.errors import ErrorCode
from preau.server.gateway.protocol import (
    OPS,
    ChatSend,
    FrameError,
    MessageRef,
    ReportMine,
    ReportResolve,
    RoomPolicySet,
    RoomReceipts,
    ScheduledList,
    ScheduledOne,
    parse_request,
)

# Core ops (protocol.OPS) added with quiet hours and reports.
READING_CORE_OPS = {"scheduled.list", "scheduled.cancel", "scheduled.send_now",
                    "report.resolve", "report.mine"}
# The reading op module's (preau/server/gateway/reading_ops.py).
READING_MODULE_OPS = {
    "chat.read": MessageRef, "chat.receipts": RoomReceipts,
    "chat.ack": MessageRef, "chat.acks": MessageRef, "chat.my_acks": RoomReceipts,
}
ALL_OPS = {**OPS, **READING_MODULE_OPS}


def parse(obj: Any) -> Any:
    return parse_request(json.dumps(obj, ensure_ascii=False), 64 * 1024, ALL_OPS).params


@pytest.mark.parametrize(
    ("request_", "params"),
    [
        ({"op": "chat.send", "room": "r", "txn": "t", "body": "Sortie annulée", "ack": True},
         ChatSend(room="r", txn="t", body="Sortie annulée", ack=True)),
        ({"op": "chat.send", "room": "r", "txn": "t", "body": "Alerte", "urgent": True},
         ChatSend(room="r", txn="t", body="Alerte", urgent=True)),
        ({"op": "scheduled.list", "room": "r"}, ScheduledList(room="r")),
        ({"op": "scheduled.cancel", "room": "r", "scheduled": "s_1"},
         ScheduledOne(room="r", scheduled="s_1")),
        ({"op": "scheduled.send_now", "room": "r", "scheduled": "s_1"},
         ScheduledOne(room="r", scheduled="s_1")),
        ({"op": "report.resolve", "report": "rp_1", "outcome": "delete", "reason": "insulte"},
         ReportResolve(report="rp_1", outcome="delete", reason="insulte")),
        ({"op": "report.resolve", "report": "rp_1", "outcome": "keep"},
         ReportResolve(report="rp_1", outcome="keep")),
        ({"op": "report.mine"}, ReportMine()),
        ({"op": "chat.read", "room": "r", "seq": 3}, MessageRef(room="r", seq=3)),
        ({"op": "chat.receipts", "room": "r"}, RoomReceipts(room="r")),
        ({"op": "chat.ack", "room": "r", "seq": 3}, MessageRef(room="r", seq=3)),
        ({"op": "chat.acks", "room": "r", "seq": 3}, MessageRef(room="r", seq=3)),
        ({"op": "chat.my_acks", "room": "r"}, RoomReceipts(room="r")),
        ({"op": "room.policy", "room": "r", "quiet_hours": "08:00-18:30"},
         RoomPolicySet(room="r", quiet_hours="08:00-18:30")),
        ({"op": "room.policy", "room": "r", "quiet_hours": "off"},
         RoomPolicySet(room="r", quiet_hours="off")),
        ({"op": "room.policy", "room": "r", "quiet_hours": "school"},
         RoomPolicySet(room="r", quiet_hours="school")),
    ],
    ids=lambda v: v["op"] if isinstance(v, dict) else "",
)  # fmt: skip
def test_valid(request_: dict[str, Any], params: object) -> None:
    assert parse(request_) == params


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "chat.send", "room": "r", "txn": "t", "body": "x", "urgent": "yes"},
        {"op": "chat.send", "room": "r", "txn": "t", "body": "x", "ack": 1},
        {"op": "report.resolve", "report": "rp", "outcome": "ban"},
        {"op": "report.resolve", "outcome": "keep"},
        {"op": "report.mine", "who": "p2"},
        {"op": "chat.read", "room": "r", "seq": 0},
        {"op": "chat.ack", "room": "r"},
        {"op": "chat.acks", "room": "r", "seq": "3"},
        {"op": "chat.my_acks", "room": "r", "seq": 3},
        {"op": "room.policy", "room": "r", "quiet_hours": "25:00-07:00"},
        {"op": "room.policy", "room": "r", "quiet_hours": "07:00-07:00"},
        {"op": "room.policy", "room": "r", "quiet_hours": "7h-20h"},
        {"op": "room.policy", "room": "r", "quiet_hours": 700},
    ],
    ids=lambda v: json.dumps(v)[:60],
)
def test_refused(request_: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as caught:
        parse(request_)
    assert caught.value.code is ErrorCode.BAD_REQUEST


def test_module_ops_are_not_core_ops() -> None:
    # The reading ops come with their module: a gateway without it refuses them.
    assert not set(READING_MODULE_OPS) & set(OPS)
    with pytest.raises(FrameError) as caught:
        parse_request('{"op": "chat.read", "room": "r", "seq": 1}', 1024)
    assert caught.value.code is ErrorCode.UNKNOWN_OP
