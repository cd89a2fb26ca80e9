"""A push service on loopback, for Web Push tests: it plays what Mozilla's
autopush or Google's FCM does for a browser (RFC 8030), and checks what
Préau sends it the way a real one would.

Each ``Device`` is a browser's subscription: its own P-256 key pair and auth
secret (RFC 8291), so the test decrypts every push with the device's private
key (``http_ece``), exactly as the browser would. ``verify_vapid`` checks the
RFC 8292 token: its ES256 signature with the public key given beside it (and
the one Préau publishes), ``aud`` (this service's origin), ``exp`` (in the
next 24 hours), ``sub``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.server.live import free_port


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Push:
    """One request the push service received."""

    device: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Device:
    """A browser's subscription: where the push service takes its pushes,
    and the keys only the browser holds."""

    name: str
    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64(self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    @property
    def subscription(self) -> dict[str, Any]:
        """As the browser's ``PushSubscription.toJSON()``."""
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)}}

    def decrypt(self, push: Push) -> dict[str, Any]:
        """The payload, decrypted with the device's private key (aes128gcm)."""
        assert push.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(push.body, private_key=self.key, auth_secret=self.auth,
                                 version="aes128gcm")
        found: dict[str, Any] = json.loads(plain)
        return found


@dataclass
class PushService:
    port: int
    pushes: list[Push] = field(default_factory=list)
    # device name → statuses to answer next (then 201), with headers
    answers: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    # device name → the status it always answers (404, 410: forgotten)
    forgotten: dict[str, int] = field(default_factory=dict)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def device(self, name: str) -> Device:
        return Device(name, f"{self.origin}/push/{name}")

    def to(self, name: str) -> list[Push]:
        return [p for p in self.pushes if p.device == name]

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.pushes) >= count)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["device"]
        body = await request.read()
        if name in self.forgotten:
            return web.Response(status=self.forgotten[name], text="unknown subscription")
        waiting = self.answers.get(name)
        if waiting:
            status, headers = waiting.pop(0)
            return web.Response(status=status, headers=headers, text="no")
        async with self.arrived:
            self.pushes.append(Push(name, {k.lower(): v for k, v in request.headers.items()},
                                    body))
            self.arrived.notify_all()
        return web.Response(status=201, headers={"Location": f"{self.origin}/m/{len(self.pushes)}"})


@asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    service = PushService(free_port())
    app = web.Application()
    app.router.add_post("/push/{device}", service.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", service.port)
    await site.start()
    try:
        yield service
    finally:
        await runner.cleanup()


def verify_vapid(push: Push, public_key: str, origin: str, subject: str) -> dict[str, Any]:
    """Check the RFC 8292 ``Authorization: vapid t=…, k=…`` header as a push
    service does; the token's claims."""
    scheme, _, params = push.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key  # the key Préau publishes (GET /api/push/key)
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    assert json.loads(unb64(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = unb64(signature_b64)
    assert len(signature) == 64  # JWS: r || s
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(parts["k"]))
    key.verify(  # raises InvalidSignature
        encode_dss_signature(int.from_bytes(signature[:32], "big"),
                             int.from_bytes(signature[32:], "big")),
        f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(unb64(claims_b64))
    assert claims["aud"] == origin
    assert claims["sub"] == subject
    now = time.time()
    assert now < claims["exp"] <= now + 24 * 3600
    return claims
