"""Run inside the namespace: a Janus of its own is stopped under a running
call, then started again. Every participant hears "lost" for each of its
connections, and the call works again on the new Janus."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from preau_client.sfu import SfuPeer, confine_ice

from preau.rtc.janus.backend import JanusSfu
from preau.rtc.sfu import ALL_KINDS, SfuError
from tests.rtc.janus.harness import Namespace, janus_in

PORT, RTP = 8090, "22000-22999"


async def publish(sfu: JanusSfu, call: str, who: str) -> SfuPeer:
    peer = SfuPeer()
    offer = await peer.offer()
    published = await sfu.publish(call, who, offer, audio_muted=False, video_muted=False)
    await sfu.trickle(call, who, "publish", None)
    await peer.accept_answer(published.answer_sdp)
    await peer.wait_connected()
    return peer


async def watch(sfu: JanusSfu, call: str, who: str, feed: str) -> SfuPeer:
    for _ in range(50):
        try:
            sub = await sfu.subscribe(call, who, feed, ALL_KINDS)
            break
        except SfuError as e:
            if not e.missing:
                raise
            await asyncio.sleep(0.1)
    else:
        raise RuntimeError("feed never came up")
    peer = SfuPeer()
    await sfu.answer(call, who, sub.subscription, await peer.answer(sub.offer_sdp))
    await sfu.trickle(call, who, sub.subscription, None)
    return peer


async def main(args: dict[str, Any]) -> dict[str, Any]:
    confine_ice([args["address"]])
    ns = Namespace(args["namespace"], args["device"], args["address"])
    report: dict[str, Any] = {}
    ended: list[list[str]] = []
    both_ended = asyncio.Event()

    async def on_ended(call: str, who: str, target: str, reason: str) -> None:
        ended.append([who, "publish" if target == "publish" else "subscription", reason])
        if len(ended) >= 2:
            both_ended.set()

    peers: list[SfuPeer] = []
    with tempfile.TemporaryDirectory(prefix="preau-janus-restart-") as tmp:
        secret = "restart-secret-0123456789"
        url = f"http://127.0.0.1:{PORT}/janus"
        sfu = JanusSfu([url], secret)
        sfu.on_ended(on_ended)
        try:
            with janus_in(ns, Path(tmp), port=PORT, rtp_ports=RTP, secret=secret):
                await sfu.open_room("call-r", max_publishers=4)
                peers.append(await publish(sfu, "call-r", "teacher"))
                peers.append(await watch(sfu, "call-r", "pupil", "teacher"))
                report["frames_before"] = await peers[-1].wait_frames(10)
            # Janus is gone: the session's poll notices.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both_ended.wait(), 20)
            report["ended"] = sorted(ended)
            try:
                await sfu.open_room("call-r", max_publishers=4)
                report["while_down"] = "accepted"
            except SfuError as e:
                report["while_down"] = "missing" if e.missing else "unavailable"
            with janus_in(ns, Path(tmp), port=PORT, rtp_ports=RTP, secret=secret):
                await sfu.open_room("call-r", max_publishers=4)
                peers.append(await publish(sfu, "call-r", "teacher"))
                viewer = await watch(sfu, "call-r", "pupil", "teacher")
                peers.append(viewer)
                report["frames_after_restart"] = await viewer.wait_frames(10)
                await sfu.close_room("call-r")
        finally:
            for peer in peers:
                await peer.close()
            await sfu.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
