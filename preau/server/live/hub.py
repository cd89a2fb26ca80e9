"""Local fan-out: rooms' live streams to this node's sockets, bridged to the broker.

For each room with at least one local subscriber the hub keeps a
:class:`RoomFeed`. A feed delivers a room's messages to its local sockets in
sequence order, exactly once each:

- messages committed on this node are handed to the feed directly, and
  published on the broker for the other nodes (which never echo them back);
- messages from other nodes arrive through the feed's broker subscription;
- out-of-order arrivals wait, and a gap (a message lost by the at-most-once
  broker, or still in flight) is filled from the store, which has every
  sequence number below any committed one (see preau/server/store/__init__.py).

A socket that subscribes with ``since`` first replays what it missed from the
store while live frames wait in its backlog, then switches to live: no gap, no
duplicate (:class:`~preau.server.live.connection.RoomState`). The replay ends with
the reactions that changed meanwhile (``chat.reactions``, one per message) and
the texts edited meanwhile (``chat.edited``).

Room events for part of a room (pre-moderation's queue, a mute notice) go
to an :class:`Audience` — some people, and/or the room's moderators — that
each node evaluates against its own subscribers.

Control channels carry what must be global: revoked sessions (logout on one
node closes sockets on all), directory changes (rights re-checked on every
node) and removals from a room (the person's subscriptions cut on every node).

Slightly over ~600 lines on purpose: :class:`RoomFeed` (one room's stream:
the Sans-I/O ordering of ``preau/collab/ordered.py`` with its store reads and gap
fill) and :class:`Hub` (the node's registry of feeds, sockets and control
channels) share their locking and resync rules; the framing, channels,
events and outbox already live apart (``preau/server/live/``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol

import orjson

from preau.collab.gate import HeldRelays, RelayGate
from preau.collab.ordered import OrderedFeed
from preau.server import metrics
from preau.server.broker import Broker, Subscription
from preau.server.directory.model import Member, Profile, Room
from preau.server.directory.rules import hidden_from_parents, may_join, presence_shown
from preau.server.errors import bad_request, forbidden
from preau.server.live.channels import (
    DIRECTORY_CHANNEL,
    PEOPLE_CHANNEL,
    ROOMS_CHANNEL,
    SESSIONS_CHANNEL,
    Audience,
    pack,
    room_channel,
    unpack_timed,
)
from preau.server.live.connection import CloseCode, Connection, RoomState
from preau.server.live.events import event
from preau.server.live.frames import text_frame
from preau.server.live.presence_batch import PresenceBatcher
from preau.server.log_records import RetryLog
from preau.server.moderation.rules import RoomRole, base_role
from preau.server.presence import Presence
from preau.server.store import Message, Resume, SchoolView, Store

log = logging.getLogger(__name__)

# Profiles kept from an event (Audience.everyone_but): parents.
PARENTS = frozenset({Profile.PARENT.value})


class DirectoryView(Protocol):
    """What the hub needs of the directory (``preau.server.directory.service.Directory``
    has it): the live fan-out sits below the services and imports none."""

    async def member(self, person_id: str) -> Member | None: ...

    async def room(self, room_id: str) -> Room | None: ...

    async def school(self, school_id: str) -> SchoolView | None: ...

    async def reload(self, school_id: str) -> None: ...

    async def refresh_changed(self) -> object: ...


Renderer = Callable[[Message], Awaitable[bytes]]
# (room, person, removed): a removal or re-admission, on every node (calls cut seats).
RemovalListener = Callable[[str, str, bool], Awaitable[None]]

# A removal seen by this node keeps refusing subscriptions this long: a
# subscribe that read the store just before the removal committed, and
# registers just after the notice went by, is caught here.
REVOKED_MEMORY_S = 30.0
REPLAY_PAGE = 200
# Wait this long for a missing sequence number to arrive by itself (two local
# commits finishing out of order, a broker message in flight) before reading
# the store.
GAP_GRACE_S = 0.05


class RoomFeed:
    def __init__(self, hub: Hub, room_id: str) -> None:
        self.hub = hub
        self.room_id = room_id
        self.subscribers: dict[Connection, RoomState] = {}
        # The room's messages in seq order (preau/collab/ordered.py, shared with documents).
        self.feed: OrderedFeed[bytes] = OrderedFeed()
        self.ready = False
        # Deliveries held while the node's rights may be stale (Hub.gate).
        self._held = HeldRelays(hub.gate)
        self._filler: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self.starting: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        # Subscribe before reading the head: whatever is committed after the
        # head is read then reaches us through the broker (or a gap fill).
        self._sub = await self.hub.broker.subscribe(room_channel(self.room_id))
        self.feed = OrderedFeed(await self.hub.store.room_head(self.room_id))
        self._reader = asyncio.get_running_loop().create_task(self._read(self._sub))
        self.ready = True

    async def _read(self, sub: Subscription) -> None:
        async for payload in sub:
            try:
                kind, seq, exclude, frame, audience, sent_at = unpack_timed(payload)
                if kind == "m":
                    self.on_message(seq, frame)
                    if sent_at is not None:
                        lag = max(0.0, time.time() - sent_at)
                        metrics.BROKER_LAG.observe(lag)
                        metrics.FANOUT_REMOTE.observe(lag)
                elif audience is not None:
                    await self.on_audience(frame, audience)
                else:
                    self.on_ephemeral(frame, exclude)
            except Exception:
                log.exception("room %s: bad broker payload dropped", self.room_id)

    async def stop(self) -> None:
        for task in (self._reader, self._filler, self.starting):
            if task is not None:
                task.cancel()
        if self._sub is not None:
            await self._sub.close()

    # -- ordered delivery --------------------------------------------------
    @property
    def delivered(self) -> int:
        """Every message up to this seq went out to the subscribers."""
        return self.feed.head

    def on_message(self, seq: int, frame: bytes) -> None:
        for message in self.feed.offer(seq, frame):
            assert message.item is not None
            self._broadcast(message.seq, message.item)
        if self.feed.waiting and self._filler is None:
            self._filler = asyncio.get_running_loop().create_task(self._fill())

    def _broadcast(self, seq: int, frame: bytes) -> None:
        if self._held.held_back(lambda: self._broadcast(seq, frame)):
            return
        wire = text_frame(frame)  # framed once for every local recipient
        delivered = 0
        for conn, state in self.subscribers.items():
            if state.live:
                if seq > state.last:
                    state.last = seq
                    conn.push(frame, wire)
                    delivered += 1
            else:
                state.backlog.append((seq, frame, wire))
                if len(state.backlog) > conn.queue_limit:  # catching up slower than the room
                    metrics.SLOW_CONSUMER_WS.inc()
                    conn.close(CloseCode.SLOW_CONSUMER, "too slow: reconnect and resume")
        if delivered:
            metrics.DELIVERIES.inc(delivered)

    async def _fill(self) -> None:
        try:
            await asyncio.sleep(GAP_GRACE_S)
            while (hole := self.feed.hole()) is not None:
                first, last = hole
                missing = await self.hub.store.messages_after(
                    self.room_id, first - 1, min(last - first + 1, REPLAY_PAGE))
                if not missing:
                    log.error("room %s: seq %d..%d missing from the store", self.room_id,
                              first, last)
                    return
                for message in missing:
                    frame = await self.hub.render(message)
                    for released in self.feed.offer(message.seq, frame):
                        assert released.item is not None
                        self._broadcast(released.seq, released.item)
                if self.feed.hole() == hole:  # the store skips them: go on without
                    log.error("room %s: seq %d..%d missing from the store", self.room_id,
                              first, last)
                    for released in self.feed.reset(last):
                        assert released.item is not None
                        self._broadcast(released.seq, released.item)
        finally:
            self._filler = None

    async def catch_up(self) -> None:
        """Deliver what the store holds beyond ``delivered`` (after a broker loss)."""
        while True:
            missing = await self.hub.store.messages_after(
                self.room_id, self.delivered, REPLAY_PAGE
            )
            for message in missing:
                self.on_message(message.seq, await self.hub.render(message))
            if len(missing) < REPLAY_PAGE:
                return

    def on_ephemeral(self, frame: bytes, exclude: str | None = None) -> None:
        if self._held.held_back(lambda: self.on_ephemeral(frame, exclude)):
            return
        wire = text_frame(frame)
        for conn in self.subscribers:
            if conn.member.id != exclude:
                conn.push(frame, wire)

    async def on_audience(self, frame: bytes, audience: Audience) -> None:
        if self._held.held_back(lambda: self.hub.spawn(self.on_audience(frame, audience))):
            return
        wire = text_frame(frame)
        if audience.everyone_but:
            for conn in list(self.subscribers):
                if conn.member.profile.value not in audience.everyone_but:
                    conn.push(frame, wire)
            return
        room = await self.hub.directory.room(self.room_id) if audience.moderators else None
        for conn in list(self.subscribers):
            if conn.member.id in audience.people or (
                room is not None and base_role(conn.member, room) is RoomRole.MODERATOR
            ):
                conn.push(frame, wire)


class Hub:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        presence: Presence,
        directory: DirectoryView,
        render: Renderer,
        *,
        resume_limit: int,
        keep_alive: Callable[[list[str]], Awaitable[None]],
        presence_ttl_s: float = 30.0,
        sessions_ended: Callable[[list[str]], Awaitable[set[str]]] | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.presence = presence
        self.directory = directory
        self.render = render
        self.resume_limit = resume_limit
        self.presence_ttl_s = presence_ttl_s
        self._sessions_ended = sessions_ended or _none_ended
        self._keep_alive = keep_alive
        self.feeds: dict[str, RoomFeed] = {}
        self.connections: set[Connection] = set()
        self._by_session: defaultdict[str, set[Connection]] = defaultdict(set)
        self._per_person: defaultdict[str, int] = defaultdict(int)
        self._by_person: defaultdict[str, set[Connection]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        # Held while rights may be stale: a directory change being re-read
        # here, a broker resync (Directory.while_reloading, the composition root).
        self.gate = RelayGate()
        self._control: list[Subscription] = []
        self._revoked: dict[tuple[str, str], float] = {}  # (room, person) → monotonic time
        self._removal_listeners: list[RemovalListener] = []
        self._presence_batch = PresenceBatcher(self._publish_presence_frame)
        # Sessions ended (revoked) lately, and who to tell (the session cache).
        self._ended: dict[str, float] = {}  # token hash → monotonic time
        self._session_listeners: list[Callable[[list[str] | None], None]] = []

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self.broker.on_resync(self.resync)
        loop = asyncio.get_running_loop()
        for channel, handler in (
            (SESSIONS_CHANNEL, self._on_sessions),
            (DIRECTORY_CHANNEL, self._on_directory),
            (ROOMS_CHANNEL, self._on_rooms),
            (PEOPLE_CHANNEL, self._on_people),
        ):
            sub = await self.broker.subscribe(channel)
            self._control.append(sub)
            self._tasks.append(loop.create_task(self._control_loop(sub, handler)))
        self._tasks.append(loop.create_task(self._heartbeat()))

    async def stop(self) -> None:
        for conn in list(self.connections):
            conn.close(CloseCode.GOING_AWAY, "server shutting down")
        for task in self._tasks:
            task.cancel()
        await self._presence_batch.stop()
        for sub in self._control:
            await sub.close()
        for feed in list(self.feeds.values()):
            await feed.stop()
        self.feeds.clear()

    async def _control_loop(
        self, sub: Subscription, handler: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        async for payload in sub:
            try:
                await handler(orjson.loads(payload))
            except Exception:
                log.exception("control message on %s failed", sub.channel)

    async def _heartbeat(self) -> None:
        """Refresh presence entries, and the sessions of open sockets."""
        beats = 0
        retries = RetryLog(log, "presence heartbeat")
        while True:
            await asyncio.sleep(self.presence_ttl_s / 3)
            beats += 1
            await self._sessions_while_cut_off()
            try:
                entries = [
                    (room, conn.member.id, conn.id)
                    for conn in self.connections
                    for room in conn.rooms
                ]
                back = await self.presence.refresh(entries, self.presence_ttl_s)
                await self._announce_presence("presence.join", back)
                # Entries of connections that stopped beating (a node that died):
                # each expiry is reported to exactly one node, which announces it.
                await self._announce_presence("presence.leave", await self.presence.expire())
                if beats % max(1, round(60 / (self.presence_ttl_s / 3))) == 0:  # ~ each minute
                    await self._keep_alive(list(self._by_session))
            except Exception as exc:
                retries.failed(exc, self.presence_ttl_s / 3)
            else:
                retries.succeeded()

    async def _sessions_while_cut_off(self) -> None:
        """While the broker is down, logouts on other nodes cannot reach this
        one: ask the store at each beat, as the resync will (an outside
        probe: a socket logged out during an outage stayed seated in its call
        until Redis came back). Never raises."""
        try:
            if not await self.broker.healthy():
                await self._close_ended_sessions()
        except Exception:
            log.warning("checking sessions during a broker outage failed", exc_info=True)

    async def _close_ended_sessions(self) -> None:
        """Close the sockets of sessions the store says ended (a logout on
        another node whose notice the broker could not carry)."""
        ended = await self._sessions_ended(sorted(self._by_session))
        if ended:
            self._close_sessions(sorted(ended))

    async def _announce_presence(self, name: str, pairs: list[tuple[str, str]]) -> None:
        for room_id, member_id in pairs:
            member = await self.directory.member(member_id)
            if member is None:
                await self._presence_batch.announce(
                    name, room_id, {"id": member_id, "name": ""}, False)
            else:
                await self._publish_presence(name, room_id, member)

    async def _publish_presence(self, name: str, room_id: str, member: Member) -> None:
        """``presence.join`` / ``presence.leave`` of ``member`` to the room's
        subscribers who may see it (``presence_shown``: parents see teachers
        and staff only where the school allows it)."""
        view = await self.directory.school(member.school_id)
        hidden = view is not None and hidden_from_parents(member, view.school)
        # Coalesced per room (presence_batch.py): a class coming back at once
        # is a few frames per room, not one per arrival per subscriber.
        await self._presence_batch.announce(name, room_id, _person(member), hidden)

    async def _publish_presence_frame(self, room_id: str, frame: bytes, hidden: bool) -> None:
        if hidden:
            await self.publish_to(room_id, frame, Audience(everyone_but=PARENTS))
        else:
            await self.publish_ephemeral(room_id, frame)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of the hub's (errors logged)."""
        async def logged() -> None:
            try:
                await work
            except Exception:
                log.exception("hub task failed")

        task = asyncio.get_running_loop().create_task(logged())
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def resync(self) -> None:
        """The broker lost messages (its connection dropped): catch every room up
        from the store, and reload the directories, whose changes may be lost too."""
        log.warning("broker resync: catching %d rooms up from the store", len(self.feeds))
        for listener in self._session_listeners:
            listener(None)  # revocations may have been lost: forget every cached session
        # Revocations published while we were cut off are lost: ask the store.
        try:
            await self._close_ended_sessions()
        except Exception:
            log.exception("session check after resync failed")
        # Rights first: a directory change or a removal made during the
        # outage must take its rooms from the sockets here before the rooms
        # catch up on what was posted meanwhile (an outside probe: a pupil
        # moved to another class got her old class's messages, 4 runs in 4).
        await self.directory.refresh_changed()
        # Removals whose notice may have been lost with the broker.
        for room_id, person_id in await self.store.removed_members(list(self.feeds)):
            await self._revoke_locally(room_id, person_id)
        for feed in list(self.feeds.values()):
            if feed.ready:
                try:
                    await feed.catch_up()
                except Exception:
                    log.exception("room %s: catch-up after resync failed", feed.room_id)

    # -- connections ---------------------------------------------------------
    def sockets_of(self, person_id: str) -> int:
        return self._per_person.get(person_id, 0)

    def on_sessions_ended(self, listener: Callable[[list[str] | None], None]) -> None:
        """Call ``listener(token_hashes)`` when sessions are revoked (on any
        node), and ``listener(None)`` when revocations may have been lost."""
        self._session_listeners.append(listener)

    def register(self, conn: Connection) -> None:
        ended = self._ended.get(conn.session.token_hash)
        if ended is not None and time.monotonic() - ended < REVOKED_MEMORY_S:
            # Revoked while this socket was being admitted: closed like the others.
            conn.close(CloseCode.SESSION_ENDED, "session ended")
        self.connections.add(conn)
        self._by_session[conn.session.token_hash].add(conn)
        self._per_person[conn.member.id] += 1
        self._by_person[conn.member.id].add(conn)

    async def unregister(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self._per_person[conn.member.id] -= 1
        if self._per_person[conn.member.id] <= 0:
            del self._per_person[conn.member.id]
        mine = self._by_person.get(conn.member.id)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self._by_person[conn.member.id]
        conns = self._by_session.get(conn.session.token_hash)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_session[conn.session.token_hash]
        for room_id in list(conn.rooms):
            await self.unsubscribe(conn, room_id)

    # -- rooms ---------------------------------------------------------------
    async def _feed(self, room_id: str) -> RoomFeed:
        feed = self.feeds.get(room_id)
        if feed is None:
            feed = self.feeds[room_id] = RoomFeed(self, room_id)
        try:
            await asyncio.shield(feed.starting)
        except Exception:
            if self.feeds.get(room_id) is feed:
                del self.feeds[room_id]
            raise
        return feed

    async def subscribe(
        self,
        conn: Connection,
        room_id: str,
        since: int | None,
        acknowledge: Callable[[dict[str, Any]], bytes | None],
    ) -> None:
        """Subscribe ``conn`` (already authorised), answer, then replay and go live.

        ``acknowledge(fields)`` builds the reply (or sends it itself and
        returns None). With ``since``, the room's head, the missed messages
        and the reactions and edits changed meanwhile are one store read
        (``Store.resume``), and the reply and that replay leave in one write.
        """
        if room_id in conn.rooms:
            await self.unsubscribe(conn, room_id)  # a re-subscribe restarts from ``since``
        feed = await self._feed(room_id)
        # No await from here until the state is registered: the feed must not
        # be disposed of in between.
        head = max(feed.delivered, since or 0)
        start = head if since is None else since
        truncated = head - start > self.resume_limit
        if truncated:
            start = head - self.resume_limit
        if self._recently_revoked(room_id, conn.member.id):
            if not feed.subscribers and self.feeds.get(room_id) is feed:
                del self.feeds[room_id]
                await feed.stop()
            raise forbidden("you were removed from this room")
        state = RoomState(start)
        feed.subscribers[conn] = state
        conn.rooms[room_id] = state
        # Read after registering: what commits from now on reaches the
        # state's backlog, what committed before is in this snapshot.
        resume = None
        if since is not None:
            try:
                resume = await self.store.resume(room_id, since, start, conn.member.id,
                                                 REPLAY_PAGE)
            except BaseException:
                await self.unsubscribe(conn, room_id)
                raise
            if since > resume.head:
                await self.unsubscribe(conn, room_id)
                raise bad_request("since is beyond the room's last message")
        # Presence is ephemeral and lives in the broker's Redis: while that is
        # down the subscription (served from the store) must still work.
        try:
            first = await self.presence.join(
                room_id, conn.member.id, conn.id, self.presence_ttl_s
            )
            online = await self.presence.online(room_id)
        except Exception:
            log.warning("presence unavailable: room %s subscribed without it", room_id)
            first, online = False, [conn.member.id]
        reply = acknowledge({"head": head, "truncated": truncated, "first_seq": start + 1,
                             "online": await self._people(conn.member, online)})
        frames = [] if reply is None else [reply]
        complete = True
        if resume is not None:
            for message in resume.messages:
                if message.seq > state.last:
                    frames.append(await self.render(message))
                    state.last = message.seq
            complete = len(resume.messages) < REPLAY_PAGE
            if complete:
                frames += _changed_frames(room_id, resume)
        if frames and conn.rooms.get(room_id) is state and not conn.push_all(frames):
            for frame in frames:  # the socket is busy: paced by the client's reading
                await conn.room_to_push()
                if conn.rooms.get(room_id) is not state:
                    break
                conn.push(frame)
        if first:
            await self._publish_presence("presence.join", room_id, conn.member)
        # Without ``since`` the client starts at the feed's head: whatever comes
        # after reaches the feed, so there is nothing to read from the store.
        await self._replay(conn, room_id, state, from_store=not complete, since=since)

    async def _replay(
        self, conn: Connection, room_id: str, state: RoomState, from_store: bool = True,
        since: int | None = None,
    ) -> None:
        """The rest of a replay longer than a page (beyond ``Store.resume``'s),
        then the live frames that waited meanwhile; then live."""
        while from_store and conn.rooms.get(room_id) is state and not conn.closed:
            page = await self.store.messages_after(room_id, state.last, REPLAY_PAGE)
            for message in page:
                if message.seq > state.last:
                    await conn.room_to_push()
                    if conn.rooms.get(room_id) is not state:
                        return
                    conn.push(await self.render(message))
                    state.last = message.seq
            if len(page) < REPLAY_PAGE:
                break
        if from_store and since is not None and conn.rooms.get(room_id) is state:
            # Reactions changed while this client was away (counts, its own).
            for changed in await self.store.reactions_changed(
                room_id, since, 0, conn.member.id, REPLAY_PAGE
            ):
                conn.push(event("chat.reactions", room=room_id, seq=changed.seq,
                                **changed.to_wire()))
            # Texts edited meanwhile (their latest, with the edit revision).
            for edit in await self.store.edits_changed(room_id, since, REPLAY_PAGE):
                conn.push(event("chat.edited", room=room_id, seq=edit.seq, body=edit.body,
                                edited=edit.edited_ms, rev=edit.rev))
        for seq, frame, wire in state.backlog:
            if seq > state.last:
                conn.push(frame, wire)
                state.last = seq
        state.backlog.clear()
        state.live = True

    async def unsubscribe(self, conn: Connection, room_id: str) -> bool:
        state = conn.rooms.pop(room_id, None)
        if state is None:
            return False
        feed = self.feeds.get(room_id)
        if feed is not None:
            feed.subscribers.pop(conn, None)
            if not feed.subscribers and feed.ready:
                del self.feeds[room_id]
                await feed.stop()
        try:
            last = await self.presence.leave(room_id, conn.member.id, conn.id)
        except Exception:
            # The entry expires by itself (TTL) and expire() announces it then.
            log.warning("presence unavailable: leave of room %s left to expiry", room_id)
            last = False
        if last:
            await self._publish_presence("presence.leave", room_id, conn.member)
        return True

    async def _people(self, viewer: Member, ids: list[str]) -> list[dict[str, str]]:
        view = await self.directory.school(viewer.school_id)
        if view is None:
            return []
        return [_person(view.members[i]) for i in ids if i in view.members
                and presence_shown(viewer, view.members[i], view.school)]

    # -- publishing ----------------------------------------------------------
    async def publish_message(self, room_id: str, seq: int, frame: bytes) -> None:
        """Deliver a committed message here and on every other node."""
        sent_at, started = time.time(), time.perf_counter()
        feed = self.feeds.get(room_id)
        if feed is not None and feed.ready:
            feed.on_message(seq, frame)
            metrics.FANOUT_LOCAL.observe(time.perf_counter() - started)
        await self.broker.publish(room_channel(room_id),
                                  pack("m", seq, None, frame, sent_at=sent_at))

    async def publish_ephemeral(
        self, room_id: str, frame: bytes, exclude: str | None = None
    ) -> None:
        """Typing, presence: best effort, to subscribers except person ``exclude``."""
        feed = self.feeds.get(room_id)
        if feed is not None:
            feed.on_ephemeral(frame, exclude)
        await self.broker.publish(room_channel(room_id), pack("e", 0, exclude, frame))

    async def publish_to(self, room_id: str, frame: bytes, audience: Audience) -> None:
        """An event for part of a room's subscribers, on every node: best effort,
        like ephemeral events (what it announces is in the store)."""
        feed = self.feeds.get(room_id)
        if feed is not None:
            await feed.on_audience(frame, audience)
        await self.broker.publish(room_channel(room_id), pack("a", 0, None, frame, audience))

    async def tell_subscribers_here(self, room_id: str, frame: bytes, audience: Audience) -> None:
        """An event for part of a room's subscribers on this node only: what
        each node tells its own sockets (after a broker resync, nothing is
        published again for every node to get twice)."""
        feed = self.feeds.get(room_id)
        if feed is not None:
            await feed.on_audience(frame, audience)

    async def member_removed(self, room_id: str, person_id: str, removed: bool) -> None:
        """A removal (or a re-admission), already committed to the store, on
        every node: a removal cuts the person's subscriptions to the room."""
        await self._apply_removal(room_id, person_id, removed)
        await self.broker.publish(ROOMS_CHANNEL, orjson.dumps(
            {"room": room_id, "person": person_id, "removed": removed}))

    async def _on_rooms(self, data: dict[str, Any]) -> None:
        await self._apply_removal(str(data["room"]), str(data["person"]), bool(data["removed"]))

    def on_removal(self, listener: RemovalListener) -> None:
        """Call ``listener(room, person, removed)`` on every node after a
        removal or re-admission (after this node cut the subscriptions)."""
        self._removal_listeners.append(listener)

    async def _apply_removal(self, room_id: str, person_id: str, removed: bool) -> None:
        if removed:
            await self._revoke_locally(room_id, person_id)
        else:
            self._revoked.pop((room_id, person_id), None)
        for listener in self._removal_listeners:
            try:
                await listener(room_id, person_id, removed)
            except Exception:
                log.exception("removal listener failed for room %s", room_id)

    async def _revoke_locally(self, room_id: str, person_id: str) -> None:
        now = time.monotonic()
        self._revoked = {k: t for k, t in self._revoked.items() if now - t < REVOKED_MEMORY_S}
        self._revoked[(room_id, person_id)] = now
        for conn in [c for c in self.connections if c.member.id == person_id]:
            if room_id in conn.rooms:
                await self.unsubscribe(conn, room_id)
                conn.push(event("room.revoked", room=room_id, reason="removed"))

    def _recently_revoked(self, room_id: str, person_id: str) -> bool:
        at = self._revoked.get((room_id, person_id))
        return at is not None and time.monotonic() - at < REVOKED_MEMORY_S

    # -- events for people ----------------------------------------------------
    async def tell_people(self, person_ids: Iterable[str], frame: bytes) -> None:
        """Push ``frame`` to every open socket of these people, on every node
        (best effort, like ephemeral events: what it announces is in the store)."""
        people = sorted(set(person_ids))
        self._tell_locally(people, frame)
        await self.broker.publish(PEOPLE_CHANNEL, orjson.dumps(
            {"people": people, "frame": frame.decode()}))

    async def tell_each(self, frames: Mapping[str, bytes]) -> None:
        """Push each person their own frame (person id → frame), on every
        node: one broker message for all of them (a 1,000-parent
        announcement is one message per node, not 1,000), best effort."""
        if not frames:
            return
        for person_id, frame in frames.items():
            self._tell_locally([person_id], frame)
        await self.broker.publish(PEOPLE_CHANNEL, orjson.dumps(
            {"each": {p: f.decode() for p, f in frames.items()}}))

    async def _on_people(self, data: dict[str, Any]) -> None:
        each = data.get("each")
        if isinstance(each, dict):
            for person_id, frame in each.items():
                self._tell_locally([str(person_id)], str(frame).encode())
            return
        self._tell_locally([str(p) for p in data["people"]], str(data["frame"]).encode())

    def _tell_locally(self, people: list[str], frame: bytes) -> None:
        # Through the per-person index: a person's sockets, not every socket
        # of the node scanned per notification.
        for person_id in people:
            for conn in list(self._by_person.get(person_id, ())):
                conn.push(frame)

    # -- global state --------------------------------------------------------
    async def revoke_sessions(self, token_hashes: list[str], *,
                              account_closed: bool = False) -> None:
        """End these sessions on every node. ``account_closed``: the account
        is gone (closed by an admin, erased), so sockets close 4003, as the
        directory re-check does, not 4001 ("log in again"): on another node
        the notice of the revocation comes before its reload of the school."""
        self._close_sessions(token_hashes, account_closed)
        await self.broker.publish(SESSIONS_CHANNEL, orjson.dumps(
            {"revoked": token_hashes, "account_closed": account_closed}))

    async def _on_sessions(self, data: dict[str, Any]) -> None:
        self._close_sessions([str(h) for h in data.get("revoked", [])],
                             data.get("account_closed") is True)

    def _close_sessions(self, token_hashes: list[str], account_closed: bool = False) -> None:
        now = time.monotonic()
        if len(self._ended) > 4096:
            self._ended = {h: t for h, t in self._ended.items() if now - t < REVOKED_MEMORY_S}
        for token_hash in token_hashes:
            self._ended[token_hash] = now
        for listener in self._session_listeners:
            listener(token_hashes)
        code, reason = ((CloseCode.ACCOUNT_CLOSED, "account closed") if account_closed
                        else (CloseCode.SESSION_ENDED, "session ended"))
        for token_hash in token_hashes:
            for conn in list(self._by_session.get(token_hash, ())):
                conn.close(code, reason)

    async def directory_changed(self, school_id: str) -> None:
        """After an import on this node: reload here, and tell the other nodes."""
        await self.directory.reload(school_id)
        await self.broker.publish(DIRECTORY_CHANNEL, orjson.dumps({"school": school_id}))

    async def _on_directory(self, data: dict[str, Any]) -> None:
        await self.directory.reload(str(data["school"]))

    async def recheck(self, school_id: str) -> None:
        """Re-apply the circle of trust to live sockets after a directory change."""
        view = await self.directory.school(school_id)
        for conn in [c for c in self.connections if c.member.school_id == school_id]:
            member = None if view is None else view.members.get(conn.member.id)
            if member is None:
                conn.close(CloseCode.ACCOUNT_CLOSED, "account closed")
                continue
            conn.member = member
            for room_id in list(conn.rooms):
                # Through the directory: conversations are not in the school view.
                room = await self.directory.room(room_id) if view else None
                if room is None or not may_join(member, room):
                    await self.unsubscribe(conn, room_id)
                    conn.push(event("room.revoked", room=room_id))

    def stats(self) -> dict[str, int]:
        return {"connections": len(self.connections), "rooms": len(self.feeds)}


def _changed_frames(room_id: str, resume: Resume) -> list[bytes]:
    """A resume's repaints: reactions changed while the client was away
    (counts, its own), then texts edited meanwhile (latest, with revision)."""
    return [
        *(event("chat.reactions", room=room_id, seq=changed.seq, **changed.to_wire())
          for changed in resume.reactions),
        *(event("chat.edited", room=room_id, seq=edit.seq, body=edit.body,
                edited=edit.edited_ms, rev=edit.rev) for edit in resume.edits),
    ]


def _person(member: Member) -> dict[str, str]:
    return {"id": member.id, "name": member.display_name}


async def _none_ended(token_hashes: list[str]) -> set[str]:
    return set()
