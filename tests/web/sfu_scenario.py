"""A class call in SFU mode through a real Janus, three browsers, run INSIDE
the test's network namespace (test_call_sfu.py; Janus only gathers on the
namespace's veth address, see tests/rtc/janus/harness.py).

Prints one JSON line: frames each browser decoded from each other one.
Usage: python -m tests.web.sfu_scenario JSON_ARGS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.server.live import LiveServer
from tests.web.call_scenario import REMOTE, wait_remote_videos
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, People, build_client
from tests.web.test_chat import open_room


def frames_by_name(page: Page) -> dict[str, int]:
    result: dict[str, int] = page.evaluate("""(sel) => Object.fromEntries(
        [...document.querySelectorAll(sel)].map(v => [
            v.closest('figure').dataset.name,
            v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames : 0]))""", REMOTE)
    return result


def main(args: dict[str, str]) -> dict[str, object]:
    dist = build_client()
    server = LiveServer(Path(args["data"]), env={
        "PREAU_WEB_DIR": str(dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
        "PREAU_JANUS_URLS": args["janus"], "PREAU_JANUS_ADMIN_SECRET": args["secret"],
    }).start()
    shots = Path(args["shots"])
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection"],
            )
            crowd = People(browser, server)
            logs: list[str] = []
            try:
                teacher = crowd.login("Claire Lefèvre")
                lea = crowd.login("Léa Martin")
                hugo = crowd.login("Hugo Bernard", phone=True)
                for who, page in (("teacher", teacher), ("lea", lea), ("hugo", hugo)):
                    page.on("console", lambda msg, who=who: logs.append(f"{who}: {msg.text}"))
                open_room(teacher, "6eA")
                teacher.get_by_role("button", name="Lancer la visio de la classe").click()
                teacher.get_by_role("button", name="Entrer dans la visio").click()
                teacher.get_by_label("Mode grande classe", exact=False).check()
                expect(teacher.get_by_text("Mode grande classe : les vidéos passent")
                       ).to_be_visible()
                for pupil in (lea, hugo):
                    pupil.goto("/")
                    pupil.get_by_role("link", name="Rejoindre la visio 6eA").click()
                    pupil.get_by_role("button", name="Entrer dans la visio").click()
                    expect(pupil.get_by_text("Mode grande classe : les vidéos passent")
                           ).to_be_visible()
                try:
                    for page in (teacher, lea, hugo):
                        wait_remote_videos(page, 2, frames=10)
                except Exception:
                    print("\n".join(logs[-80:]), file=sys.stderr)
                    for page in (teacher, lea, hugo):
                        print(page.locator(".tiles").inner_html()[:800], file=sys.stderr)
                    raise
                report: dict[str, object] = {
                    "teacher": frames_by_name(teacher), "lea": frames_by_name(lea),
                    "hugo": frames_by_name(hugo),
                }
                teacher.screenshot(path=shots / "call-sfu-teacher.png")
                teacher.get_by_role("button", name="Terminer la visio pour tous").click()
                expect(lea.get_by_text("La visio est terminée.")).to_be_visible()
                report["errors"] = crowd.errors
                return report
            finally:
                crowd.close()
                browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1])), ensure_ascii=False))
