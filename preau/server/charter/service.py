"""The charter of use (docs/moderation.md, "Charter of use").

Each school has a versioned charter (Markdown, French first; version 1 is
Préau's default text, written the first time the school's charter is read).
Until a person has accepted the current version, the transports refuse every
op but reading and accepting it with ``charter_required``: the REST
``authenticated`` helper (preau/server/http/common.py) and the ``/ws`` dispatch
(preau/server/gateway/endpoint.py) ask :meth:`CharterService.check`, once per
request, and nothing else does.

The check is two dictionary look-ups on the hot path: the school's current
version (cached, refreshed every :data:`CURRENT_TTL_S` and at once on every
node when a version is published, over the broker's ``control.charter``) and
the latest version the person accepted (cached; read again from the store
before refusing, so an acceptance made on another node counts at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from typing import Any

import orjson

from preau.server.broker import Broker, Subscription
from preau.server.charter.default import DEFAULT_EN, DEFAULT_FR
from preau.server.clock import Clock
from preau.server.directory.model import Member
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, forbidden
from preau.server.live.events import event
from preau.server.live.hub import Hub
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.charter import Charter

log = logging.getLogger(__name__)

CHANNEL = "control.charter"
CURRENT_TTL_S = 30.0  # a lost broker notice is made up for within this
MAX_BODY_CHARS = 50_000

# What a person who has not accepted may still do, by transport.
OPEN_OPS = frozenset({"charter.get", "charter.accept"})


class CharterService:
    def __init__(self, store: Store, directory: Directory, broker: Broker, hub: Hub,
                 settings: Settings, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._broker = broker
        self._hub = hub
        self._clock = clock
        self.enforced = settings.charter_required
        self._current: dict[str, tuple[Charter, float]] = {}  # school → (charter, fetched)
        self._accepted: dict[str, int] = {}  # person → latest version accepted
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._sub = await self._broker.subscribe(CHANNEL)
        self._task = asyncio.get_running_loop().create_task(self._listen(self._sub))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._sub is not None:
            await self._sub.close()

    async def _listen(self, sub: Subscription) -> None:
        async for payload in sub:
            try:
                data = orjson.loads(payload)
                await self._published_elsewhere(str(data["school"]), int(data["version"]))
            except Exception:
                log.exception("charter notice failed")

    async def _published_elsewhere(self, school_id: str, version: int) -> None:
        cached = self._current.get(school_id)
        if cached is None or cached[0].version < version:
            self._current.pop(school_id, None)
            await self.current(school_id)
        self._ask_again(school_id, version)

    def _ask_again(self, school_id: str, version: int) -> None:
        """Tell this node's sockets of the school: their next op is refused
        until they accept ``version``."""
        frame = event("charter.required", version=version)
        for conn in [c for c in self._hub.connections if c.member.school_id == school_id]:
            if self._accepted.get(conn.member.id, 0) < version:
                conn.push(frame)

    # -- the gate ----------------------------------------------------------------
    async def current(self, school_id: str) -> Charter:
        """The school's current version (the default text the first time)."""
        cached = self._current.get(school_id)
        if cached is not None and time.monotonic() - cached[1] < CURRENT_TTL_S:
            return cached[0]
        found = await self._store.current_charter(school_id)
        if found is None:
            found = await self._store.publish_charter(
                school_id, DEFAULT_FR, DEFAULT_EN, None, self._clock.now_ms(), only_if_none=True)
        self._current[school_id] = (found, time.monotonic())
        return found

    async def required(self, member: Member) -> bool:
        """Whether ``member`` must accept the current version before anything else."""
        if not self.enforced:
            return False
        version = (await self.current(member.school_id)).version
        if self._accepted.get(member.id, 0) >= version:
            return False
        accepted = await self._store.accepted_version(member.id)  # maybe on another node
        self._accepted[member.id] = accepted
        return accepted < version

    async def check(self, member: Member) -> None:
        """``charter_required`` unless ``member`` accepted the current version."""
        if await self.required(member):
            raise PreauError(ErrorCode.CHARTER_REQUIRED,
                             "accept the school's charter of use first")

    async def status(self, member: Member) -> dict[str, Any]:
        """What ``/api/me`` and ``hello`` say: ``charter_required`` and the version."""
        version = (await self.current(member.school_id)).version
        return {"charter_required": await self.required(member), "charter_version": version}

    # -- reading and accepting ------------------------------------------------------
    async def read(self, member: Member) -> dict[str, Any]:
        charter = await self.current(member.school_id)
        accepted = await self._store.accepted_version(member.id)
        self._accepted[member.id] = accepted
        return {**charter_wire(charter), "accepted": accepted >= charter.version}

    async def accept(self, member: Member, version: int) -> dict[str, Any]:
        """Record that ``member`` accepted ``version``, which must be the current one
        (``conflict`` otherwise: read it again). Idempotent."""
        charter = await self.current(member.school_id)
        if version != charter.version:
            fresh = await self._store.current_charter(member.school_id)
            if fresh is None or fresh.version != version:
                raise PreauError(ErrorCode.CONFLICT,
                                 "this is not the current version of the charter: read it again")
            self._current[member.school_id] = (fresh, time.monotonic())
        created = await self._store.accept_charter(
            member.school_id, [member.id], version, self._clock.now_ms())
        self._accepted[member.id] = max(self._accepted.get(member.id, 0), version)
        return {"version": version, "duplicate": created == 0}

    async def accept_for(self, school_id: str, person_ids: list[str]) -> int:
        """Record acceptance of the current version for these people (the demo seed)."""
        charter = await self.current(school_id)
        return await self._store.accept_charter(
            school_id, person_ids, charter.version, self._clock.now_ms())

    # -- the school's admins -----------------------------------------------------
    async def publish(self, member: Member, school_id: str, body: str,
                      body_en: str | None) -> dict[str, Any]:
        """A new version (audited): everyone, on every node, must accept it again
        — but its publisher, whose acceptance is recorded with it."""
        _admin(member, school_id)
        body = _check_text(body, "body")
        body_en = None if body_en is None else _check_text(body_en, "body_en")
        now = self._clock.now_ms()
        charter = await self._store.publish_charter(school_id, body, body_en, member.id, now)
        await self._store.accept_charter(school_id, [member.id], charter.version, now)
        self._accepted[member.id] = charter.version
        self._current[school_id] = (charter, time.monotonic())
        self._ask_again(school_id, charter.version)
        await self._broker.publish(CHANNEL, orjson.dumps(
            {"school": school_id, "version": charter.version}))
        return charter_wire(charter)

    async def acceptances(self, member: Member, school_id: str) -> dict[str, Any]:
        """Who accepted the current version (and when), and who has not yet."""
        _admin(member, school_id)
        charter = await self.current(school_id)
        view = await self._directory.school(school_id)
        people = {} if view is None else view.members
        done = await self._store.charter_acceptances(school_id, charter.version)
        accepted_ids = {a.person_id for a in done}
        return {
            "version": charter.version,
            "accepted": [{"person": _person(people[a.person_id]), "at": a.accepted_ms}
                         for a in done if a.person_id in people],
            "pending": sorted((_person(m) for m in people.values() if m.id not in accepted_ids),
                              key=lambda p: (p["name"], p["id"])),
        }


def charter_wire(charter: Charter) -> dict[str, Any]:
    return {"version": charter.version, "body": charter.body, "body_en": charter.body_en,
            "published": charter.published_ms}


def _person(member: Member) -> dict[str, str]:
    return {"id": member.id, "name": member.display_name, "profile": member.profile.value}


def _admin(member: Member, school_id: str) -> None:
    if not member.is_admin or member.school_id != school_id:
        raise forbidden("the charter is published by the school's administrators")


def _check_text(text: str, name: str) -> str:
    text = text.strip()
    if not text:
        raise bad_request(f"{name} is empty")
    if len(text) > MAX_BODY_CHARS:
        raise PreauError(ErrorCode.TOO_LARGE, f"{name} has more than {MAX_BODY_CHARS} characters")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text.replace("\r\n", "\n")):
        raise bad_request(f"{name} contains control characters")
    return text.replace("\r\n", "\n")
