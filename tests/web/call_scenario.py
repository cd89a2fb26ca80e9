"""Two browsers in a study call, run INSIDE a network namespace that has only
loopback (see /work/shared/reference/video.md, "Testing WebRTC"): WebRTC
gathers candidates on every interface, and test traffic must never leave
loopback. test_call.py creates the namespace and runs this module in it with
``ip netns exec``; the server, the browser and the media all live there.

Prints one JSON line: frames each browser decoded from the other.
Usage: python -m tests.web.call_scenario DATA_DIR SCREENSHOTS_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.server.live import LiveServer
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, People, build_client
from tests.web.test_chat import open_room

FRAMES_WANTED = 15


def remote_frames(page: Page) -> int:
    """Frames decoded so far by the first remote tile's <video>."""
    count: int = page.evaluate("""() => {
        const video = document.querySelector('video[data-peer]:not([data-peer="me"])');
        if (!video || !video.srcObject) return 0;
        return video.getVideoPlaybackQuality().totalVideoFrames;
    }""")
    return count


def main(data_dir: Path, shots: Path) -> dict[str, object]:
    dist = build_client()
    server = LiveServer(data_dir, env={
        "PREAU_WEB_DIR": str(dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
    }).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection"],
            )
            crowd = People(browser, server)
            try:
                lea = crowd.login("Léa Martin")
                hugo = crowd.login("Hugo Bernard", phone=True)
                logs: list[str] = []
                for who, page in (("lea", lea), ("hugo", hugo)):
                    page.on("console", lambda msg, who=who: logs.append(f"{who}: {msg.text}"))
                open_room(lea, "6eA")
                lea.get_by_role("button", name="Créer un groupe d'étude").click()
                lea.get_by_label("Nom du groupe").fill("Révisions")
                lea.get_by_label("Hugo Bernard").check()
                lea.get_by_role("button", name="Créer", exact=True).click()
                expect(lea.get_by_role("heading", name="Visio : Révisions")).to_be_visible()
                # The fake camera is listed and previewed before joining.
                expect(lea.get_by_label("Caméra").locator("option")).not_to_have_count(0)
                lea.get_by_role("button", name="Entrer dans la visio").click()
                expect(lea.locator('video[data-peer="me"]')).to_be_visible()

                open_room(hugo, "6eA")
                hugo.get_by_role("link", name="Rejoindre Révisions").click()
                hugo.get_by_role("button", name="Entrer dans la visio").click()

                for page in (lea, hugo):
                    try:
                        page.wait_for_function("""(wanted) => {
                            const v = document.querySelector(
                                'video[data-peer]:not([data-peer="me"])');
                            return v && v.srcObject &&
                                v.getVideoPlaybackQuality().totalVideoFrames >= wanted;
                        }""", arg=FRAMES_WANTED, timeout=30_000)
                    except Exception:
                        # What the browsers said, for whoever reads the failure.
                        print("\n".join(logs), file=sys.stderr)
                        print(lea.locator("main").inner_html()[:3000], file=sys.stderr)
                        raise
                names = {
                    "lea_sees": lea.locator("figure.tile figcaption").all_inner_texts(),
                    "hugo_sees": hugo.locator("figure.tile figcaption").all_inner_texts(),
                }
                lea.screenshot(path=shots / "call-pupil.png")
                hugo.screenshot(path=shots / "call-pupil-phone.png")
                result = {"lea": remote_frames(lea), "hugo": remote_frames(hugo), **names,
                          "errors": crowd.errors}
                hugo.get_by_role("button", name="Quitter").click()
                expect(lea.locator('video[data-peer]:not([data-peer="me"])')).to_have_count(0)
                return result
            finally:
                crowd.close()
                browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    outcome = main(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(outcome, ensure_ascii=False))
