"""Web Push from a real server process (the lifespan's sending loop) to a
push service on loopback: a device subscribed over REST gets a private
message's push, decrypted with its key, its VAPID token signed with the
key ``GET /api/push/key`` publishes; a bogus subscription is refused with a
clear error, in French first; removing the device stops its pushes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.server.live import LiveServer
from tests.server.notifications.pushservice import PushService, push_service, verify_vapid

pytestmark = pytest.mark.slow


@pytest.fixture
async def service_and_server(tmp_path: Path) -> AsyncIterator[tuple[PushService, LiveServer]]:
    async with push_service() as service:
        server = LiveServer(tmp_path, env={
            "PREAU_PUSH_ALLOW_LOOPBACK": "1", "PREAU_PUSH_EVERY_S": "0.2",
            "PREAU_VAPID_SUBJECT": "mailto:ent@college.example"})
        try:
            server.start()
            yield service, server
        finally:
            server.stop()


async def test_a_push_from_the_server(service_and_server: tuple[PushService, LiveServer]) -> None:
    service, server = service_and_server
    async with server.clients("Claire Lefèvre", "Camille Martin") as people:
        claire, camille = people["Claire Lefèvre"], people["Camille Martin"]
        phone = service.device("camille")
        added = await camille.post("/api/push/devices", {**phone.subscription,
                                                         "label": "Téléphone"})
        assert added["endpoint"] == phone.endpoint
        key = (await camille.get("/api/push/key"))["public_key"]
        room = (await claire.post("/api/conversations",
                                  {"people": [camille.person["id"]]}))["room"]
        async with await claire.connect() as conn:
            await conn.send_message(room["id"], "Léa a oublié son cahier")
        await service.wait_for(2, timeout=20)
        bodies = sorted(phone.decrypt(p)["body"] for p in service.to("camille"))
        assert bodies == ["Claire Lefèvre a ouvert une conversation avec vous",
                          "Nouveau message privé de Claire Lefèvre"]
        for push in service.to("camille"):
            verify_vapid(push, key, service.origin, "mailto:ent@college.example")
            assert int(push.headers["ttl"]) == 86400
        # Bad input: a clear error (French first), nothing stored.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10,
                                     cookies=camille.http.cookies,
                                     headers={**camille.http.headers,
                                              "Accept-Language": "fr"}) as raw:
            bad = await raw.post("/api/push/devices", json={
                "endpoint": "https://10.1.2.3/push", "keys": phone.subscription["keys"]})
            assert bad.status_code == 400
            assert bad.json()["error"] == {
                "code": "bad_request",
                "message": "le nom d'un service de notifications push, pas une adresse IP"}
            bad = await raw.post("/api/push/devices", json={
                "endpoint": phone.endpoint, "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
                headers={"Accept-Language": "en"})
            assert bad.json()["error"]["message"] == (
                "keys.p256dh: a P-256 public key (65 bytes, base64url)")
            missing = await raw.post("/api/push/devices", json={"endpoint": phone.endpoint})
            assert missing.status_code == 400
            gone = await raw.delete(f"/api/push/devices/{added['id']}")
            assert gone.status_code == 200
            again = await raw.delete(f"/api/push/devices/{added['id']}")
            assert again.status_code == 404
        assert (await camille.get("/api/push/devices"))["devices"] == []
