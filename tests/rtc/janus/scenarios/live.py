"""Run inside the test's network namespace: a real ``preau serve`` with Janus,
a teacher and pupils over ``/ws``, media through Janus with aiortc peers.

Prints one JSON report of measurements and error codes; the test asserts.
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

from tests.server.calls.helpers import Person, class_room, people
from tests.server.live import LiveServer

TEACHER = "Claire Lefèvre"
PUPILS = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas", "Manon Robert"]


async def code_of(coro: Any) -> str:
    try:
        await coro
    except PreauError as e:
        return str(e.code)
    return "ok"


async def subscribe_when_up(person: Person, call: str, peer: str, feed: str
                            ) -> tuple[SfuPeer, dict[str, Any]]:
    for _ in range(60):  # the SFU lists a feed once its connection is up
        try:
            return await subscribe(person.live.request, call, peer, feed)
        except PreauError as e:
            if e.code != "not_found":
                raise
            await asyncio.sleep(0.1)
    raise RuntimeError(f"feed {feed} never came up")


async def scenario(server: LiveServer, args: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    media: list[SfuPeer] = []
    async with people(server, TEACHER, *PUPILS) as everyone:
        teacher, pupils = everyone[0], everyone[1:]
        room = await class_room(teacher.client)
        created = await teacher.live.request(
            "call.create", room=room, name="Classe entière", controls={"force_sfu": True})
        call = created["call"]
        peer: dict[str, str] = {}
        for person in everyone:
            joined = await person.live.request("call.join", call=call)
            peer[person.name] = joined["peer"]
        report["mode"] = created.get("mode")
        t = teacher.live.request
        try:
            cam, pub = await publish(t, call, peer[TEACHER])
            media.append(cam)
            report["teacher_kinds"] = pub["kinds"]
            views: dict[str, SfuPeer] = {}
            for p in pupils:
                views[p.name], reply = await subscribe_when_up(p, call, peer[p.name],
                                                               peer[TEACHER])
                media.append(views[p.name])
            lea, hugo, chloe, nathan = pupils[0], pupils[1], pupils[2], pupils[3]
            lea_cam, _ = await publish(lea.live.request, call, peer[lea.name])
            media.append(lea_cam)
            teacher_view, _ = await subscribe_when_up(teacher, call, peer[TEACHER],
                                                      peer[lea.name])
            media.append(teacher_view)
            for view in [*views.values(), teacher_view]:
                await view.wait_frames(10)
            await asyncio.sleep(2.0)
            report["teacher_frames"] = {n: v.received.count("video") for n, v in views.items()}

            # Lock microphones: Léa's audio is muted at the SFU; her unmute is refused.
            t0 = time.monotonic()
            await t("call.controls", call=call, peer=peer[TEACHER], mic_locked=True)
            t_locked = time.monotonic()
            await asyncio.sleep(2.0)
            got = teacher_view.received
            report["lea_audio_before_lock"] = got.count("audio", t0 - 2.0, t0)
            report["lea_audio_after_lock"] = got.count("audio", t_locked + 0.5, time.monotonic())
            report["lea_video_after_lock"] = got.count("video", t_locked + 0.5, time.monotonic())
            report["lea_unmute"] = await code_of(lea.live.request(
                "call.media", call=call, peer=peer[lea.name], audio_muted=False))

            # Teacher-only cameras: Manon, who already watched Léa, loses that
            # subscription; Hugo, subscribing afterwards, gets Léa's audio only.
            manon = pupils[4]
            manon_view, before = await subscribe_when_up(manon, call, peer[manon.name],
                                                         peer[lea.name])
            media.append(manon_view)
            report["pupil_to_pupil_kinds_before"] = before["kinds"]
            await t("call.controls", call=call, peer=peer[TEACHER], teacher_only_cameras=True)
            ev = await manon.live.next_event("sfu.ended", timeout=5)
            report["manon_ended"] = [ev["target"] == before["subscription"], ev["reason"]]
            hugo_view, reply = await subscribe_when_up(hugo, call, peer[hugo.name],
                                                       peer[lea.name])
            media.append(hugo_view)
            report["pupil_to_pupil_kinds"] = reply["kinds"]
            report["pupil_to_pupil_offer_has_video"] = "m=video" in reply["sdp"]
            await hugo_view.wait_frames(10, "audio")  # connected: audio flows
            report["pupil_to_pupil_video_frames"] = hugo_view.received.count("video")
            sub = reply["subscription"]
            report["unsubscribe"] = await code_of(hugo.live.request(
                "sfu.unsubscribe", call=call, peer=peer[hugo.name], subscription=sub))
            report["trickle_after_unsubscribe"] = await code_of(hugo.live.request(
                "sfu.trickle", call=call, peer=peer[hugo.name], target=sub, candidate=None))
            report["unpublish_without_feed"] = await code_of(hugo.live.request(
                "sfu.unpublish", call=call, peer=peer[hugo.name]))

            # Bad input.
            report["oversize_sdp"] = await code_of(nathan.live.request(
                "sfu.publish", call=call, peer=peer[nathan.name],
                sdp="v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n" + "a=x\r\n" * 12000))
            report["not_in_call_feed"] = await code_of(nathan.live.request(
                "sfu.subscribe", call=call, peer=peer[nathan.name], feed="pNoSuchPeer0"))
            report["forged_peer"] = await code_of(nathan.live.request(
                "sfu.subscribe", call=call, peer=peer[lea.name], feed=peer[TEACHER]))
            report["bad_candidate"] = await code_of(nathan.live.request(
                "sfu.trickle", call=call, peer=peer[nathan.name], target="publish",
                candidate={"candidate": "candidate:1 1 udp 1 <script> 9 typ host",
                           "sdpMid": "0"}))
            report["unknown_op_field"] = await code_of(nathan.live.request(
                "sfu.subscribe", call=call, peer=peer[nathan.name], feed=peer[TEACHER],
                extra=1))
            codes: list[str] = []
            line = f"candidate:1 1 udp 2130706431 {args['address']} 9 typ host"
            target = (await nathan.live.request(
                "sfu.subscribe", call=call, peer=peer[nathan.name], feed=peer[TEACHER]
            ))["subscription"]
            # Paced under the gateway's own op rate, over the candidate budget.
            for _ in range(55):
                try:
                    await nathan.live.request(
                        "sfu.trickle", call=call, peer=peer[nathan.name], target=target,
                        candidate={"candidate": line, "sdpMid": "0"})
                    codes.append("ok")
                except PreauError as e:
                    codes.append(f"{e.code}: {e.message}")
                await asyncio.sleep(0.02)
            report["flood_codes"] = sorted(set(codes))

            # Remove Chloé: her connections end, her frames stop, her ops are refused.
            await t("call.remove", call=call, peer=peer[TEACHER], who=peer[chloe.name])
            t_removed = time.monotonic()
            ended = []
            with contextlib.suppress(TimeoutError):
                while True:
                    ev = await chloe.live.next_event("sfu.ended", timeout=3)
                    ended.append(ev["reason"])
            report["removed_events"] = ended
            report["removed_frames_after"] = views[chloe.name].received.count(
                "video", t_removed + 1.0, time.monotonic())
            report["others_frames_after"] = views[nathan.name].received.count(
                "video", t_removed + 1.0, time.monotonic())
            report["removed_subscribe"] = await code_of(chloe.live.request(
                "sfu.subscribe", call=call, peer=peer[chloe.name], feed=peer[TEACHER]))

            # Remove Manon from the class room (not from the call): her feed
            # is kicked at Janus as for a call removal, her ops are refused.
            await t("member.remove", room=room, person=manon.id)
            ev = await manon.live.next_event("sfu.ended", timeout=10)
            report["room_removed_event"] = ev["reason"]
            report["room_removed_subscribe"] = await code_of(manon.live.request(
                "sfu.subscribe", call=call, peer=peer[manon.name], feed=peer[TEACHER]))
            await t("call.end", call=call, peer=peer[TEACHER])
        finally:
            for m in media:
                await m.close()
    return report


async def main(args: dict[str, Any]) -> dict[str, Any]:
    confine_ice([args["address"]])
    with tempfile.TemporaryDirectory(prefix="preau-sfu-") as tmp:
        server = LiveServer(Path(tmp), env={
            "PREAU_JANUS_URLS": args["janus"], "PREAU_JANUS_ADMIN_SECRET": args["secret"],
        })
        server.start()
        try:
            return await scenario(server, args)
        finally:
            server.stop()
            log = (Path(tmp) / "server.log").read_text(errors="replace")
            if "Traceback" in log:
                print(log[-4000:], file=sys.stderr)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
