"""Run inside the test's network namespace: JanusSfu driven directly, with aiortc peers.

A teacher publishes audio+video; each pupil subscribes to the teacher; one
pupil publishes too and another receives it with audio only (teacher-only
cameras); then the SFU-side controls: mute that pupil's audio (moderate) and
kick another pupil. Prints one JSON report (measurements, no verdicts: the
test asserts).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from preau_client.sfu import SfuPeer, confine_ice

from preau.rtc.janus.backend import JanusSfu
from preau.rtc.sfu import ALL_KINDS, MediaKind, SfuError

AUDIO = frozenset({MediaKind.AUDIO})


async def publish(sfu: JanusSfu, call: str, who: str, *, video: bool = True) -> SfuPeer:
    peer = SfuPeer()
    offer = await peer.offer(audio=True, video=video)
    published = await sfu.publish(call, who, offer, audio_muted=False, video_muted=False)
    await sfu.trickle(call, who, "publish", None)
    await peer.accept_answer(published.answer_sdp)
    await peer.wait_connected()
    return peer


async def subscribe(
    sfu: JanusSfu, call: str, who: str, feed: str, kinds: frozenset[MediaKind]
) -> tuple[SfuPeer, str, str]:
    for _ in range(50):  # Janus lists a feed once its PeerConnection is up
        try:
            sub = await sfu.subscribe(call, who, feed, kinds)
            break
        except SfuError as e:
            if not e.missing:
                raise
            await asyncio.sleep(0.1)
    else:
        raise RuntimeError(f"feed {feed} never appeared")
    peer = SfuPeer()
    answer = await peer.answer(sub.offer_sdp)
    await sfu.answer(call, who, sub.subscription, answer)
    await sfu.trickle(call, who, sub.subscription, None)
    return peer, sub.subscription, sub.offer_sdp


async def main(args: dict[str, Any]) -> dict[str, Any]:
    confine_ice([args["address"]])
    sfu = JanusSfu([args["janus"]], args["secret"])
    ended: list[list[str]] = []

    async def on_ended(call: str, who: str, target: str, reason: str) -> None:
        ended.append([who, target, reason])

    sfu.on_ended(on_ended)
    call = "call-backend"
    report: dict[str, Any] = {}
    peers: list[SfuPeer] = []
    try:
        await sfu.open_room(call, max_publishers=10)
        await sfu.open_room(call, max_publishers=10)  # idempotent
        teacher = await publish(sfu, call, "teacher")
        peers.append(teacher)
        pupils = [f"pupil{i}" for i in range(args["pupils"])]
        views: dict[str, SfuPeer] = {}
        for p in pupils:
            views[p], _, _ = await subscribe(sfu, call, p, "teacher", ALL_KINDS)
            peers.append(views[p])
        # pupil0 publishes a camera; pupil1 may get only its audio.
        cam = await publish(sfu, call, "pupil0")
        peers.append(cam)
        audio_only, _, audio_only_offer = await subscribe(sfu, call, "pupil1", "pupil0", AUDIO)
        teacher_view, _, _ = await subscribe(sfu, call, "teacher", "pupil0", ALL_KINDS)
        peers += [audio_only, teacher_view]
        # Media flows (under load set-up can take seconds), then measure.
        for view in [*views.values(), teacher_view]:
            await view.wait_frames(10)
        await audio_only.wait_frames(10, "audio")
        await asyncio.sleep(2.0)
        t0 = time.monotonic()
        report["teacher_frames"] = {p: views[p].received.count("video") for p in pupils}
        report["audio_only_m_video"] = "m=video" in audio_only_offer
        report["audio_only_video_frames"] = audio_only.received.count("video")
        report["audio_only_audio_frames"] = audio_only.received.count("audio")
        # Mute pupil0's audio at the SFU: the teacher stops receiving it.
        await sfu.moderate(call, "pupil0", audio_muted=True, video_muted=False)
        t_muted = time.monotonic()
        await asyncio.sleep(2.0)
        t1 = time.monotonic()
        got = teacher_view.received
        report["pupil0_audio_before_mute"] = got.count("audio", t0 - 2.0, t0)
        report["pupil0_audio_after_mute"] = got.count("audio", t_muted + 0.5, t1)
        report["pupil0_video_after_mute"] = got.count("video", t_muted + 0.5, t1)
        await sfu.moderate(call, "pupil0", audio_muted=False, video_muted=False)
        await asyncio.sleep(1.5)
        report["pupil0_audio_after_unmute"] = got.count("audio", t1 + 0.5, time.monotonic())
        # Kick pupil0 (a publisher) and pupil2 (a subscriber only).
        kicked_view = views[pupils[2]]
        await sfu.kick(call, "pupil0")
        await sfu.kick(call, pupils[2])
        await sfu.kick(call, pupils[2])  # idempotent
        t_kick = time.monotonic()
        await asyncio.sleep(2.0)
        report["kicked_view_frames_after"] = kicked_view.received.count(
            "video", t_kick + 0.5, time.monotonic())
        report["other_view_frames_after"] = views[pupils[3]].received.count(
            "video", t_kick + 0.5, time.monotonic())
        # A stale feed (its node died): publishing again from another node wins.
        stale, fresh = SfuPeer(), SfuPeer()
        peers += [stale, fresh]
        await sfu.publish(call, "pupil4", await stale.offer(), audio_muted=False,
                          video_muted=False)
        other_node = JanusSfu([args["janus"]], args["secret"])
        try:
            again = await other_node.publish(call, "pupil4", await fresh.offer(),
                                             audio_muted=False, video_muted=False)
            report["republish_elsewhere"] = "m=audio" in again.answer_sdp
        finally:
            await other_node.close()
        await asyncio.sleep(0.5)
        report["ended"] = ended
        try:
            await sfu.subscribe(call, "pupil1", "nobody", ALL_KINDS)
            report["subscribe_unknown"] = "accepted"
        except SfuError as e:
            report["subscribe_unknown"] = "missing" if e.missing else "error"
        await sfu.close_room(call)
        await sfu.close_room(call)  # idempotent
        try:
            await sfu.subscribe(call, "pupil1", "teacher", ALL_KINDS)
            report["after_close"] = "accepted"
        except SfuError as e:
            report["after_close"] = "missing" if e.missing else "error"
    finally:
        for peer in peers:
            await peer.close()
        await sfu.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
