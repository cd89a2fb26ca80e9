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
REMOTE = 'video[data-peer]:not([data-peer="me"])'  # other people's tiles


def remote_frames(page: Page) -> int:
    """Frames decoded so far by the first remote tile's <video>."""
    count: int = page.evaluate("""() => {
        const video = document.querySelector('video[data-peer]:not([data-peer="me"])');
        if (!video || !video.srcObject) return 0;
        return video.getVideoPlaybackQuality().totalVideoFrames;
    }""")
    return count


def wait_remote_videos(page: Page, count: int, frames: int = 5) -> None:
    """Until exactly ``count`` remote tiles each decoded ``frames`` frames."""
    page.wait_for_function("""([count, frames]) => {
        const videos = [...document.querySelectorAll('video[data-peer]:not([data-peer="me"])')];
        return videos.length === count && videos.every(v => v.srcObject &&
            v.getVideoPlaybackQuality().totalVideoFrames >= frames);
    }""", arg=[count, frames], timeout=30_000)


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
                hugo.goto("/")  # his home is open before the call exists
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

                # Hugo's open home page shows the call at once (call.started; its
                # safety poll is a minute, longer than this wait).
                expect(hugo.get_by_role("link", name="Rejoindre la visio Révisions")).to_be_visible(
                    timeout=10_000)
                hugo.get_by_role("link", name="Rejoindre la visio Révisions").click()
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
                expect(lea.locator(REMOTE)).to_have_count(0)
                lea.get_by_role("button", name="Quitter").click()

                # The teacher's class call: waiting room, admit, mute all, end.
                teacher = crowd.login("Julien Garnier")
                open_room(teacher, "6eA")
                teacher.get_by_role("button", name="Lancer la visio de la classe").click()
                teacher.get_by_role("button", name="Entrer dans la visio").click()
                teacher.get_by_label("Salle d'attente pour entrer").check()
                expect(teacher.get_by_label("Salle d'attente pour entrer")).to_be_checked()
                lea.goto("/")
                open_room(lea, "6eA")
                lea.get_by_role("link", name="Rejoindre la visio 6eA").click()
                lea.get_by_role("button", name="Entrer dans la visio").click()
                expect(lea.get_by_text("Vous êtes en salle d'attente")).to_be_visible()
                waiting = teacher.locator(".call-controls .member", has_text="Léa Martin")
                waiting.get_by_role("button", name="Faire entrer").click()
                lea.wait_for_function("""() => {
                    const v = document.querySelector('video[data-peer]:not([data-peer="me"])');
                    return v && v.srcObject && v.getVideoPlaybackQuality().totalVideoFrames >= 5;
                }""", timeout=30_000)
                teacher.get_by_role("button", name="Couper tous les micros").click()
                expect(lea.get_by_role("button", name="Activer mon micro")).to_be_visible()
                teacher.get_by_label("Micros verrouillés (les élèves ne peuvent pas se réactiver)"
                                     ).check()
                expect(teacher.get_by_label("Micros verrouillés (les élèves ne peuvent pas se "
                                            "réactiver)")).to_be_checked()
                lea.get_by_role("button", name="Activer mon micro").click()
                expect(lea.get_by_role("status").filter(
                    has_text="L'enseignant a verrouillé les micros")).to_be_visible()
                teacher.screenshot(path=shots / "call-teacher.png")
                result["admitted_sees_teacher"] = remote_frames(lea)

                # Breakout rooms: Hugo comes in too; the pupils go to "Groupe 1"
                # together (the teacher stays in the main room), then come back.
                hugo.goto("/")
                hugo.get_by_role("link", name="Rejoindre la visio 6eA").click()
                hugo.get_by_role("button", name="Entrer dans la visio").click()
                teacher.locator(".call-controls .member", has_text="Hugo Bernard").get_by_role(
                    "button", name="Faire entrer").click()
                wait_remote_videos(teacher, 2)
                teacher.get_by_label("Nombre de salles").fill("1")
                teacher.get_by_role("button", name="Répartir les élèves").click()
                expect(lea.get_by_text("Vous êtes dans la salle « Groupe 1 »")).to_be_visible()
                wait_remote_videos(lea, 1)
                wait_remote_videos(hugo, 1)
                expect(lea.locator("figcaption", has_text="Hugo Bernard")).to_be_visible()
                expect(teacher.locator(REMOTE)).to_have_count(0)
                teacher.screenshot(path=shots / "call-breakouts-teacher.png")
                teacher.get_by_role(
                    "button", name="Fermer les salles (tout le monde revient)").click()
                wait_remote_videos(lea, 2)
                wait_remote_videos(teacher, 2)
                result["back_from_breakouts"] = True

                teacher.get_by_role("button", name="Terminer la visio pour tous").click()
                expect(lea.get_by_text("La visio est terminée.")).to_be_visible()
                result["errors"] = crowd.errors
                return result
            finally:
                crowd.close()
                browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    outcome = main(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(outcome, ensure_ascii=False))
