""":class:`~preau.rtc.sfu.SfuBackend` on the Janus VideoRoom plugin.

Mapping: a call is a VideoRoom whose id is the call id, a participant's
publication is the VideoRoom feed whose id is the participant id (Janus runs
with ``string_ids = true``, deploy/janus), so every node names them alike.
Rooms are created with a secret (``PREAU_JANUS_ADMIN_SECRET``, also the
plugin's ``admin_key`` and the core ``api_secret``): only Préau may create,
destroy, moderate or kick.

This node holds one Janus session per instance, and one handle per local
publication or subscription, plus one admin handle per instance. Where the
publisher's streams (mid → kind) are needed and the publisher is on another
node, a short-lived handle joins the room as a (never publishing) publisher
and reads the ``publishers`` list Janus returns: Janus is the one source of
truth all nodes share.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from preau.rtc.janus.assign import assign
from preau.rtc.janus.protocol import (
    HANDLE_NOT_FOUND,
    ID_EXISTS,
    MISSING,
    NO_SUCH_ROOM,
    ROOM_EXISTS,
    JanusError,
    stream_kinds,
)
from preau.rtc.janus.session import JanusSession
from preau.rtc.sfu import (
    EndedCallback,
    MediaKind,
    Published,
    SfuError,
    Subscribed,
)
from preau.rtc.signal import Candidate

log = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
PUBLISH = "publish"


@dataclass
class _Local:
    """A participant's handles on this node."""

    url: str = ""  # the Janus instance holding these handles
    publisher: int | None = None
    streams: dict[str, str] = field(default_factory=dict)  # mid → kind, once published
    subscriptions: dict[str, int] = field(default_factory=dict)  # subscription → handle


def _sfu_error(e: JanusError) -> SfuError:
    return SfuError(e.reason, missing=e.code in MISSING or e.code == HANDLE_NOT_FOUND)


class JanusSfu:
    def __init__(
        self,
        urls: Sequence[str],
        secret: str,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not urls:
            raise ValueError("JanusSfu needs at least one Janus URL")
        self._urls = list(urls)
        self._secret = secret
        self._http = http or httpx.AsyncClient()
        self._own_http = http is None
        self._sessions: dict[str, JanusSession] = {}
        self._admin: dict[str, int] = {}
        self._opening = asyncio.Lock()
        self._local: dict[tuple[str, str], _Local] = {}
        self._where: dict[str, str] = {}  # call → URL of its Janus, once known
        self._ended: list[EndedCallback] = []

    def on_ended(self, callback: EndedCallback) -> None:
        self._ended.append(callback)

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        self._local.clear()
        if self._own_http:
            await self._http.aclose()

    # -- rooms ---------------------------------------------------------------------

    async def open_room(self, call_id: str, *, max_publishers: int) -> None:
        body = {
            "request": "create", "room": call_id, "admin_key": self._secret,
            "secret": self._secret, "publishers": max_publishers, "is_private": True,
            "description": f"preau {call_id}"[:64],
        }
        await self._admin_request(call_id, body, ignore={ROOM_EXISTS})

    async def close_room(self, call_id: str) -> None:
        await self._admin_request(
            call_id, {"request": "destroy", "room": call_id, "secret": self._secret},
            ignore={NO_SUCH_ROOM},
        )
        for key in [k for k in self._local if k[0] == call_id]:
            self._local.pop(key, None)
        self._where.pop(call_id, None)

    # -- publishing ------------------------------------------------------------------

    async def publish(
        self, call_id: str, participant: str, offer_sdp: str,
        *, audio_muted: bool, video_muted: bool,
    ) -> Published:
        url = await self._instance(call_id)
        session = await self._session_at(url)
        local = self._local.setdefault((call_id, participant), _Local(url))
        if local.publisher is not None:
            # A new offer replaces the publication (renegotiation is a new feed).
            await self.unpublish(call_id, participant)
        handle = await session.attach(PLUGIN, self._listener(call_id, participant, PUBLISH))
        local.publisher = handle
        try:
            join = {"request": "join", "ptype": "publisher", "room": call_id, "id": participant}
            try:
                await session.message(handle, join)
            except JanusError as e:
                if e.code != ID_EXISTS:
                    raise
                # A stale feed of this participant (its old node died before
                # Janus timed the session out): the seat is the truth, kick it.
                await self._admin_request(call_id, {
                    "request": "kick", "room": call_id, "secret": self._secret,
                    "id": participant,
                }, ignore=MISSING)
                await session.message(handle, join)
            reply = await session.message(
                handle, {"request": "configure", "audio": True, "video": True},
                {"type": "offer", "sdp": offer_sdp},
            )
            if reply.jsep is None or reply.jsep.get("type") != "answer":
                raise JanusError(0, "Janus gave no answer to the offer")
            local.streams = stream_kinds(reply.data.get("streams"))
            # Before the client has its answer, so no muted media ever flows.
            await self._moderate_streams(
                call_id, participant, local.streams, audio_muted, video_muted
            )
        except JanusError as e:
            await self._drop_publisher(session, local)
            raise _sfu_error(e) from e
        except BaseException:
            await self._drop_publisher(session, local)
            raise
        return Published(
            str(reply.jsep["sdp"]),
            frozenset(MediaKind(k) for k in local.streams.values()),
        )

    async def unpublish(self, call_id: str, participant: str) -> None:
        local = self._local.get((call_id, participant))
        if local is None or local.publisher is None:
            return
        session = await self._session(call_id)
        await self._drop_publisher(session, local)

    async def _drop_publisher(self, session: JanusSession, local: _Local) -> None:
        handle, local.publisher, local.streams = local.publisher, None, {}
        if handle is not None:
            try:
                await session.detach(handle)
            except JanusError as e:
                log.warning("detaching publisher handle failed: %s", e)

    # -- subscribing -----------------------------------------------------------------

    async def subscribe(
        self, call_id: str, participant: str, publisher: str, kinds: frozenset[MediaKind]
    ) -> Subscribed:
        if not kinds:
            raise SfuError("nothing to subscribe to")
        url = await self._instance(call_id)
        session = await self._session_at(url)
        streams = await self._publisher_streams(call_id, publisher)
        wanted = [mid for mid, kind in streams.items() if MediaKind(kind) in kinds]
        if not wanted:
            raise SfuError(f"feed {publisher} has none of the media asked for", missing=True)
        sub_id = secrets.token_hex(6)
        handle = await session.attach(PLUGIN, self._listener(call_id, participant, sub_id))
        try:
            reply = await session.message(handle, {
                "request": "join", "ptype": "subscriber", "room": call_id,
                "streams": [{"feed": publisher, "mid": mid} for mid in wanted],
            })
            if reply.jsep is None or reply.jsep.get("type") != "offer":
                raise JanusError(0, "Janus gave no offer for the subscription")
        except JanusError as e:
            await self._detach_quietly(session, handle)
            raise _sfu_error(e) from e
        except BaseException:
            await self._detach_quietly(session, handle)
            raise
        local = self._local.setdefault((call_id, participant), _Local(url))
        local.subscriptions[sub_id] = handle
        got = frozenset(MediaKind(streams[m]) for m in wanted)
        return Subscribed(sub_id, str(reply.jsep["sdp"]), got)

    async def answer(
        self, call_id: str, participant: str, subscription: str, answer_sdp: str
    ) -> None:
        session, handle = await self._handle(call_id, participant, subscription)
        try:
            await session.message(
                handle, {"request": "start"}, {"type": "answer", "sdp": answer_sdp}
            )
        except JanusError as e:
            raise _sfu_error(e) from e

    async def unsubscribe(self, call_id: str, participant: str, subscription: str) -> None:
        local = self._local.get((call_id, participant))
        handle = local.subscriptions.pop(subscription, None) if local else None
        if handle is None:
            return
        await self._detach_quietly(await self._session(call_id), handle)

    async def trickle(
        self, call_id: str, participant: str, target: str, candidate: Candidate | None
    ) -> None:
        session, handle = await self._handle(call_id, participant, target)
        body: dict[str, Any]
        if candidate is None or not candidate.candidate:
            body = {"completed": True}
        else:
            body = {"candidate": candidate.candidate}
            if candidate.sdp_mid is not None:
                body["sdpMid"] = candidate.sdp_mid
            if candidate.sdp_mline_index is not None:
                body["sdpMLineIndex"] = candidate.sdp_mline_index
        try:
            await session.trickle(handle, body)
        except JanusError as e:
            raise _sfu_error(e) from e

    # -- controls ----------------------------------------------------------------------

    async def moderate(
        self, call_id: str, participant: str, *, audio_muted: bool, video_muted: bool
    ) -> None:
        local = self._local.get((call_id, participant))
        streams = local.streams if local and local.publisher is not None else None
        if streams is None:
            try:
                streams = await self._publisher_streams(call_id, participant)
            except SfuError as e:
                if e.missing:
                    return  # not publishing: publish() applies the state when it does
                raise
        await self._moderate_streams(call_id, participant, streams, audio_muted, video_muted)

    async def _moderate_streams(
        self, call_id: str, participant: str, streams: dict[str, str],
        audio_muted: bool, video_muted: bool,
    ) -> None:
        for mid, kind in streams.items():
            mute = audio_muted if kind == MediaKind.AUDIO else video_muted
            # Gone meanwhile (left, kicked): nothing left to mute.
            await self._admin_request(call_id, {
                "request": "moderate", "room": call_id, "secret": self._secret,
                "id": participant, "mid": mid, "mute": mute,
            }, ignore=MISSING)

    async def kick(self, call_id: str, participant: str) -> None:
        await self._admin_request(call_id, {
            "request": "kick", "room": call_id, "secret": self._secret, "id": participant,
        }, ignore=MISSING)
        # Its subscriptions are not Janus participants: end them here. The
        # ended callback tells the node's owner (also for kicks from elsewhere,
        # through the publisher handle's "kicked" event).
        local = self._local.get((call_id, participant))
        if local is not None:
            for sub in list(local.subscriptions):
                await self.unsubscribe(call_id, participant, sub)
                await self._fire_ended(call_id, participant, sub, "kicked")

    async def leave(self, call_id: str, participant: str) -> None:
        local = self._local.pop((call_id, participant), None)
        if local is None:
            return
        try:
            session = await self._session(call_id)
        except SfuError:
            return  # Janus gone: its handles with it
        handles = list(local.subscriptions.values())
        if local.publisher is not None:
            handles.append(local.publisher)
        for handle in handles:
            await self._detach_quietly(session, handle)

    # -- plumbing ----------------------------------------------------------------------

    async def _instance(self, call_id: str) -> str:
        """The Janus holding the call's room: the one where it already exists
        (so a running call stays put if the list changed), else the hashed one.
        The room itself is the stored assignment every node can read."""
        url = self._where.get(call_id)
        if url is not None:
            return url
        preferred = assign(call_id, self._urls)
        others = sorted(set(self._urls) - {preferred})
        for candidate in [preferred, *others] if others else []:
            try:
                session = await self._session_at(candidate)
                reply = await session.message(
                    self._admin[candidate], {"request": "exists", "room": call_id})
            except (SfuError, JanusError) as e:
                log.warning("Janus %s not asked about room %s: %s", candidate, call_id, e)
                continue
            if reply.data.get("exists") is True:
                preferred = candidate
                break
        self._where[call_id] = preferred
        return preferred

    async def _session(self, call_id: str) -> JanusSession:
        return await self._session_at(await self._instance(call_id))

    async def _session_at(self, url: str) -> JanusSession:
        session = self._sessions.get(url)
        if session is not None and not session.lost:
            return session
        async with self._opening:
            session = self._sessions.get(url)
            if session is not None and not session.lost:
                return session
            session = JanusSession(self._http, url, self._secret)
            try:
                await session.start()
                self._admin[url] = await session.attach(PLUGIN)
            except JanusError as e:
                raise SfuError(f"Janus unavailable: {e.reason}") from e
            session.on_lost(lambda: self._lost(url))
            self._sessions[url] = session
            return session

    async def _lost(self, url: str) -> None:
        """Every handle on that instance is gone: tell the owners, forget them."""
        for call_id in [c for c, u in self._where.items() if u == url]:
            del self._where[call_id]  # asked again: the room may be elsewhere now
        for (call_id, participant), local in list(self._local.items()):
            if local.url != url:
                continue
            self._local.pop((call_id, participant), None)
            targets = list(local.subscriptions)
            if local.publisher is not None:
                targets.append(PUBLISH)
            for target in targets:
                await self._fire_ended(call_id, participant, target, "lost")

    async def _admin_request(
        self, call_id: str, body: dict[str, Any], *, ignore: Collection[int] = ()
    ) -> None:
        """A request on the admin handle; Janus error codes in ``ignore`` are
        the idempotent outcomes (room already there, feed already gone)."""
        url = await self._instance(call_id)
        session = await self._session_at(url)
        try:
            await session.message(self._admin[url], body)
        except JanusError as e:
            if e.code not in ignore:
                raise _sfu_error(e) from e

    async def _publisher_streams(self, call_id: str, publisher: str) -> dict[str, str]:
        """The active publisher's streams (mid → kind), asked of Janus."""
        local = self._local.get((call_id, publisher))
        if local is not None and local.publisher is not None and local.streams:
            return local.streams
        session = await self._session(call_id)
        handle = await session.attach(PLUGIN)
        try:
            reply = await session.message(handle, {
                "request": "join", "ptype": "publisher", "room": call_id,
                "id": f"preau-probe-{secrets.token_hex(6)}",
            })
        except JanusError as e:
            raise _sfu_error(e) from e
        finally:
            await self._detach_quietly(session, handle)
        for p in reply.data.get("publishers") or []:
            if isinstance(p, dict) and p.get("id") == publisher:
                return stream_kinds(p.get("streams"))
        raise SfuError(f"feed {publisher} is not published", missing=True)

    async def _handle(
        self, call_id: str, participant: str, target: str
    ) -> tuple[JanusSession, int]:
        local = self._local.get((call_id, participant))
        handle = None
        if local is not None:
            handle = local.publisher if target == PUBLISH else local.subscriptions.get(target)
        if handle is None:
            raise SfuError(f"no {target} of {participant} here", missing=True)
        return await self._session(call_id), handle

    async def _detach_quietly(self, session: JanusSession, handle: int) -> None:
        try:
            await session.detach(handle)
        except JanusError as e:
            log.warning("detaching handle %s failed: %s", handle, e)

    def _listener(
        self, call_id: str, participant: str, target: str
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def on_event(event: dict[str, Any]) -> None:
            kind = event.get("janus")
            data = ((event.get("plugindata") or {}).get("data") or {})
            if kind == "hangup":
                reason = "hangup"
            elif data.get("leaving") == "ok" and data.get("reason") == "kicked":
                reason = "kicked"
            else:
                return
            if self._forget(call_id, participant, target):
                await self._fire_ended(call_id, participant, target, reason)

        return on_event

    def _forget(self, call_id: str, participant: str, target: str) -> bool:
        local = self._local.get((call_id, participant))
        if local is None:
            return False
        if target == PUBLISH:
            if local.publisher is None:
                return False
            local.publisher, local.streams = None, {}
            return True
        return local.subscriptions.pop(target, None) is not None

    async def _fire_ended(
        self, call_id: str, participant: str, target: str, reason: str
    ) -> None:
        for cb in self._ended:
            try:
                await cb(call_id, participant, target, reason)
            except Exception:
                log.exception("SFU ended callback failed")

