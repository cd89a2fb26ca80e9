"""Run inside the namespace: two Préau nodes (shared PostgreSQL and Redis, both
private and started here) in front of one Janus, people on different nodes.

The teacher is on node 0, Léa on node 1. The teacher receives Léa's feed
(published through node 1; node 0 learns its streams from Janus). The
teacher's controls, applied on node 0, reach node 1 through the broker, and
node 1 enforces them at Janus: the mic lock mutes Léa's audio, and removal
kicks her.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from preau_client import PreauError
from preau_client.sfu import SfuPeer, confine_ice, publish, subscribe

from tests.multinode.cluster import class_room, running_cluster
from tests.services import fresh_database, postgres_url, private_redis

TEACHER, LEA = "Claire Lefèvre", "Léa Martin"


async def subscribe_when_up(request: Any, call: str, peer: str, feed: str
                            ) -> tuple[SfuPeer, dict[str, Any]]:
    for _ in range(60):
        try:
            return await subscribe(request, call, peer, feed)
        except PreauError as e:
            if e.code != "not_found":
                raise
            await asyncio.sleep(0.1)
    raise RuntimeError(f"feed {feed} never came up")


async def scenario(base: Path, store_url: str, broker_url: str,
                   args: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    env = {"PREAU_JANUS_URLS": args["janus"], "PREAU_JANUS_ADMIN_SECRET": args["secret"]}
    with running_cluster(base, store_url, broker_url, 2, env) as cluster:
        teacher = await cluster.client(TEACHER, node=0)
        lea = await cluster.client(LEA, node=1)
        media: list[SfuPeer] = []
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(teacher.close)
            stack.push_async_callback(lea.close)
            t_live = await teacher.connect()
            stack.push_async_callback(t_live.close)
            l_live = await lea.connect()
            stack.push_async_callback(l_live.close)
            room = await class_room(teacher)
            call = (await t_live.request("call.create", room=room,
                                         controls={"force_sfu": True}))["call"]
            t_peer = (await t_live.request("call.join", call=call))["peer"]
            l_peer = (await l_live.request("call.join", call=call))["peer"]
            try:
                cam, _ = await publish(l_live.request, call, l_peer)
                media.append(cam)
                view, _ = await subscribe_when_up(t_live.request, call, t_peer, l_peer)
                media.append(view)
                teacher_cam, _ = await publish(t_live.request, call, t_peer)
                media.append(teacher_cam)
                lea_view, _ = await subscribe_when_up(l_live.request, call, l_peer, t_peer)
                media.append(lea_view)
                await view.wait_frames(15)
                await lea_view.wait_frames(15)
                await asyncio.sleep(1.0)
                report["teacher_gets_lea_video"] = view.received.count("video")
                report["lea_gets_teacher_video"] = lea_view.received.count("video")
                t0 = time.monotonic()
                await t_live.request("call.controls", call=call, peer=t_peer, mic_locked=True)
                t_locked = time.monotonic()
                await asyncio.sleep(2.0)
                report["lea_audio_before_lock"] = view.received.count("audio", t0 - 2.0, t0)
                report["lea_audio_after_lock"] = view.received.count(
                    "audio", t_locked + 0.7, time.monotonic())
                await t_live.request("call.remove", call=call, peer=t_peer, who=l_peer)
                t_removed = time.monotonic()
                reasons = []
                with contextlib.suppress(TimeoutError):
                    while True:
                        reasons.append((await l_live.next_event("sfu.ended", timeout=3))["reason"])
                report["lea_ended"] = reasons
                report["lea_video_after_removal"] = view.received.count(
                    "video", t_removed + 1.0, time.monotonic())
            finally:
                for m in media:
                    await m.close()
    return report


async def main(args: dict[str, Any]) -> dict[str, Any]:
    confine_ice([args["address"]])
    with tempfile.TemporaryDirectory(prefix="preau-sfu-cluster-") as tmp, \
            postgres_url() as server_url, private_redis() as redis:
        async with fresh_database(server_url) as store_url:
            return await scenario(Path(tmp), store_url, redis.url, args)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
