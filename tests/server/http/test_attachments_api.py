"""Attachments over the real transports of a real server (the embedded
default, a real clamd): upload, send with chat.send, the message frame, the
download's headers (never a page of Préau's origin), ranges, thumbnails,
out of reach exactly as unknown, the upload's own errors (411, 413), delete.

Demo school: Léa Martin and Hugo Bernard are 6eA pupils, Claire Lefèvre
teaches 6eA, Inès Petit is a 6eB pupil.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.server.attachments import samples
from tests.server.live import LiveServer, refused

pytestmark = pytest.mark.slow


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (640, 480), (200, 120, 40))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_upload_send_download(tmp_path: Path, clamd_address: str) -> None:
    server = LiveServer(tmp_path, {"PREAU_ATTACHMENT_CLAMD": clamd_address,
                                   "PREAU_ATTACHMENT_MAX_BYTES": str(2 * 1024 * 1024)}).start()
    try:
        async with server.clients("Léa Martin", "Hugo Bernard", "Claire Lefèvre",
                                  "Inès Petit") as people:
            claire, hugo, ines = (people["Claire Lefèvre"], people["Hugo Bernard"],
                                  people["Inès Petit"])
            room = {r["name"]: r["id"] for r in (await claire.me())["rooms"]}["6eA"]
            pdf = samples.pdf()
            sheet = (await claire.upload("Fiche n°3 — fractions.pdf", pdf,
                                         "application/pdf"))["attachment"]
            assert (sheet["kind"], sheet["mime"], sheet["state"], sheet["size"]) == (
                "document", "application/pdf", "ready", len(pdf))
            photo = (await claire.upload("sortie.jpg", photo_with_gps(),
                                         "image/jpeg"))["attachment"]
            assert (photo["kind"], photo["thumbnail"]) == ("image", True)
            assert (photo["width"], photo["height"]) == (640, 480)
            # Before it is sent, a classmate cannot reach it: as an unknown id.
            path = f"/api/attachments/{sheet['id']}"
            unsent = await hugo.http.get(path)
            unknown = await hugo.http.get("/api/attachments/a_unknownunknown")
            assert (unsent.status_code, unsent.content) == (unknown.status_code,
                                                            unknown.content)
            assert unsent.status_code == 404
            async with await hugo.connect() as hugo_ws, await claire.connect() as claire_ws:
                await hugo_ws.subscribe(room)
                sent = await claire_ws.send_message(room, "Pour demain",
                                                    attachments=[sheet["id"], photo["id"]])
                event = await hugo_ws.next_event("chat.message")
                assert event["seq"] == sent["seq"]
                assert [a["id"] for a in event["attachments"]] == [sheet["id"], photo["id"]]
                assert event["attachments"][0]["name"] == "Fiche n°3 — fractions.pdf"
            # The classmate downloads it: the bytes, and headers that keep it a file.
            got = await hugo.http.get(path)
            assert got.status_code == 200
            assert got.content == pdf
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["content-disposition"] == (
                "attachment; filename*=UTF-8''Fiche%20n%C2%B03%20%E2%80%94%20fractions.pdf")
            assert got.headers["x-content-type-options"] == "nosniff"
            assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"
            assert got.headers["cache-control"] == "private, no-store"
            # Ranges (audio and video seek with them).
            part = await hugo.http.get(path, headers={"range": "bytes=5-14"})
            assert part.status_code == 206
            assert part.content == pdf[5:15]
            assert part.headers["content-range"] == f"bytes 5-14/{len(pdf)}"
            tail = await hugo.http.get(path, headers={"range": "bytes=-7"})
            assert tail.content == pdf[-7:]
            beyond = await hugo.http.get(path, headers={"range": f"bytes={len(pdf)}-"})
            assert beyond.status_code == 416
            # The photo: re-encoded without its GPS position, shown inline, thumbnailed.
            image_path = f"/api/attachments/{photo['id']}"
            shown = await hugo.http.get(image_path)
            assert shown.headers["content-disposition"].startswith("inline;")
            assert Image.open(io.BytesIO(shown.content)).getexif().get(0x8825) is None
            thumb = await hugo.http.get(image_path + "/thumbnail")
            assert thumb.status_code == 200
            assert thumb.headers["content-type"] in ("image/webp", "image/jpeg")
            assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320
            # Another class's pupil: exactly as an unknown id, on every route.
            for suffix in ("", "/thumbnail"):
                theirs = await ines.http.get(image_path + suffix)
                nothing = await ines.http.get("/api/attachments/a_unknownunknown" + suffix)
                assert (theirs.status_code, theirs.content) == (nothing.status_code,
                                                                nothing.content)
            # Sent: no longer deleted alone (it goes with its message).
            await refused(_delete(claire, path), "not_found")
            # An upload not sent: its author deletes it.
            draft = (await hugo.upload("brouillon.pdf", pdf, "application/pdf"))["attachment"]
            assert (await hugo.http.delete(f"/api/attachments/{draft['id']}")).status_code == 204
            assert (await hugo.http.get(f"/api/attachments/{draft['id']}")).status_code == 404

            # The upload's own errors, before any byte is stored.
            async def chunked() -> AsyncIterator[bytes]:
                yield pdf

            no_length = await hugo.http.post("/api/attachments", params={"name": "a.pdf"},
                                             content=chunked())
            assert no_length.status_code == 411
            assert no_length.json()["error"]["code"] == "attachment.length_required"
            too_big = await hugo.http.post("/api/attachments", params={"name": "a.pdf"},
                                           content=b"%PDF" + b"0" * (2 * 1024 * 1024))
            assert too_big.status_code == 413
            assert too_big.json()["error"]["code"] == "attachment.too_large"
            await refused(hugo.upload("page.html", samples.HTML, "text/html"),
                          "attachment.type_refused")
            await refused(hugo.upload("a/b.pdf", pdf, "application/pdf"),
                          "attachment.name_invalid")
            # French first: the message of a refusal, for a person.
            french = await hugo.http.post(
                "/api/attachments", params={"name": "virus.txt"},
                content=b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
                headers={"content-type": "text/plain", "accept-language": "fr"})
            assert french.status_code == 422
            assert french.json()["error"] == {
                "code": "attachment.infected",
                "message": "fichier refusé : l'antivirus y a trouvé un virus"}
            # A cross-site upload riding on a cookie is refused like any write.
            foreign = await hugo.http.post("/api/attachments", params={"name": "a.pdf"},
                                           content=pdf, headers={"origin": "https://evil.example"})
            assert foreign.status_code == 403
            # Operators see the antivirus answering and nothing waiting for it.
            assert server.health()["attachments"] == {"scanner": "up", "pending": 0}
            # Bytes lost from the blob store (an operator's disk): a clear
            # ``unavailable``, never a response cut after its headers.
            digest = hashlib.sha256(pdf).hexdigest()
            (tmp_path / "blobs" / digest[:2] / digest[2:4] / digest).unlink()
            lost = await hugo.http.get(path)
            assert (lost.status_code, lost.json()["error"]["code"]) == (503, "unavailable")
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text()


async def _delete(client: object, path: str) -> dict[str, object]:
    from preau_client import PreauError

    response: httpx.Response = await client.http.delete(path)  # type: ignore[attr-defined]
    if response.status_code >= 400:
        error = response.json()["error"]
        raise PreauError(error["code"], error["message"], response.status_code, error)
    return {}
