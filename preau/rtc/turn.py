"""ICE server lists with coturn's time-limited credentials (no I/O).

coturn's ``use-auth-secret`` (the "TURN REST API" draft): the username is
``<expiry unix time>:<person id>`` and the password is
``base64(HMAC-SHA1(shared secret, username))``. coturn recomputes the HMAC
with the same secret and refuses a username whose expiry has passed, so the
credentials handed out on join need no storage and cannot be stretched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TurnConfig:
    secret: str  # coturn's static-auth-secret; empty: no TURN credentials
    urls: tuple[str, ...]  # stun:/turn:/turns: URLs
    ttl_s: int = 3600


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def ice_servers(config: TurnConfig, person_id: str, now_s: int) -> list[dict[str, Any]]:
    """RTCIceServer entries for one join: STUN URLs as they are, TURN URLs
    with credentials valid ``ttl_s`` seconds. TURN URLs are left out when no
    secret is configured (they would be useless without credentials)."""
    stun = [u for u in config.urls if u.startswith("stun:") or u.startswith("stuns:")]
    turn = [u for u in config.urls if u.startswith("turn:") or u.startswith("turns:")]
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": stun})
    if turn and config.secret:
        username = f"{now_s + config.ttl_s}:{person_id}"
        servers.append({"urls": turn, "username": username,
                        "credential": turn_password(config.secret, username)})
    return servers


def parse_urls(raw: str) -> tuple[str, ...]:
    """A comma-separated list of ICE URLs; raise ``ValueError`` on another scheme."""
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        if url.split(":", 1)[0] not in ("stun", "stuns", "turn", "turns"):
            raise ValueError(f"not a stun:/turn: URL: {url[:60]!r}")
    return urls


def valid_username(username: str, now_s: int) -> bool:
    """What coturn checks besides the HMAC: the expiry has not passed."""
    expiry, sep, _ = username.partition(":")
    return bool(sep) and expiry.isdigit() and int(expiry) > now_s


__all__: Sequence[str] = ("TurnConfig", "ice_servers", "parse_urls", "turn_password",
                          "valid_username")
