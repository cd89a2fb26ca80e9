"""One shared document on one node: its replica, its connections, their awareness.

The room is the whole y-websocket server logic for a document, with no socket
in sight: a connection is a :class:`Peer` (an id, a person, rights, ``send``
and ``close`` that never block), frames come in through :meth:`receive`, and
the room talks to other nodes through the broker and to the disk through the
document store (preau/collab/ports.py).

An update from a writer goes: size check → the integrity checks
(preau/collab/integrity.py: would every Yjs replica integrate it as yrs does? yrs'
re-encoding of it is what goes on) → document size check → integration into
the replica (an update yrs refuses is refused here, and the replica rebuilt)
→ **append to the store** → relay to this node's other connections and
publish to the other nodes. It is relayed only
once stored, so anything a client saw from another client survives a crash;
a refused update is never stored nor relayed, and the sender is told why
with a y-websocket *permission denied* message whose reason starts with a
stable code (``forbidden``, ``too_large``, ``bad_request``, ``unavailable``).

Every stored update has a per-document seq. The room tracks the highest seq
below which it has applied everything (``head``); updates from other nodes
arrive by broker, at most once and in any order across nodes: they are
applied in seq order (which is causal order, see ``_integrate``), and a gap
makes the room read the missing seqs from the store (``_catch_up``).

A refused update is never stored, but the client that sent it keeps it: the
room remembers the refused Yjs copies (preau/collab/refusals.py, stored for every
node) and refuses whatever carries, builds on or deletes their refused
structs; the connection that sent it is *diverged* and its later updates are
refused too. A reason ending with
``[refused-edit]`` tells the client: drop this copy and start a new one
(a new Y.Doc, so a new client id) from the server's state. The web client
does so by itself (docs/collab.md, "Refused edits").

Awareness (cursors, names) is never stored; who holds which client id, and
what counts as a relay or a forgery, is preau/collab/awareness.py.

Why this module is ~800 lines: it is the one place where a document's
connections, replica, store and broker meet, and its steps must be read
together to see that "relayed means stored" and "refused means never stored
nor relayed" hold on every path. Every decision that needs no I/O already
lives apart: the wire codec (codec.py), what an update is and whether Yjs
integrates it as yrs does (updates.py, integrity.py, places.py), refused
copies (refusals.py), awareness ownership (awareness.py), seq ordering
(ordered.py) and compaction (compaction.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pycrdt import Doc

from preau.collab import codec, crdt, envelope, integrity, refusals, updates
from preau.collab.awareness import AwarenessTable, Claim, with_real_name
from preau.collab.compaction import compact
from preau.collab.gate import HeldRelays, RelayGate
from preau.collab.ordered import OrderedFeed, Released
from preau.collab.ports import Access, Authoriser, Broker, DocumentStore, StoredLog, Subscription
from preau.collab.statevector import StateVectorReader

log = logging.getLogger(__name__)

EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions: what a client in sync sends
EMPTY_STATE_VECTOR = b"\x00"

# Close codes (docs/protocol.md, "Documents"). y-websocket 3.1 takes a 44xx
# close as final; a new connection gets 404 while the rights are gone.
CLOSE_FORBIDDEN = 4403  # rights withdrawn (group, class, removed from the class room)
CLOSE_POLICY = 1008  # too many malformed frames in a row

# Ends the reason of every refused update after which the sender's copy holds
# a change the document does not: the client should start a new copy.
REFUSED_EDIT = "[refused-edit]"
AWARENESS_TAG = bytes([codec.MessageType.AWARENESS])  # its first byte (a 1-byte varuint)
MAX_RELAY_CREDIT = 1000  # free relayed awareness frames a connection may save up


class Refusal(StrEnum):
    """The stable code at the start of a permission-denied reason (same values
    as the server's ErrorCode, so clients see one vocabulary)."""

    FORBIDDEN = "forbidden"
    TOO_LARGE = "too_large"
    BAD_REQUEST = "bad_request"
    UNAVAILABLE = "unavailable"


class Peer(Protocol):
    """One connection to the document, as the host hands it to the room."""

    @property
    def id(self) -> str: ...

    @property
    def person_id(self) -> str: ...

    @property
    def name(self) -> str:
        """The person's display name: what others see next to their cursor."""

    access: Access

    def send(self, frame: bytes) -> None:
        """Queue a frame; never blocks (a slow reader is cut by the host)."""

    def close(self, code: int, reason: str) -> None:
        """Close the connection (idempotent)."""


@dataclass(frozen=True)
class Limits:
    max_update_bytes: int = 512 * 1024
    max_document_bytes: int = 16 * 1024 * 1024  # snapshot + log, as stored
    max_awareness_bytes: int = 16 * 1024  # one awareness message
    max_awareness_ids: int = 4  # client ids one connection may own
    # New Yjs copies (client ids) one change may bring: a stock client's
    # changes carry one, its own.
    max_new_copies: int = 8
    new_copies_per_hour: int = 120  # per person and node
    # Refused copies a document remembers; beyond, refusals only cut the
    # connection (a reconnection loop cannot grow every node's memory).
    max_refused_copies: int = 4096
    max_refused_per_person: int = 256  # copies nobody owns, refused for one person
    awareness_timeout_s: float = 30.0  # a remote entry not renewed this long is stale
    compact_after_updates: int = 500  # log entries above the snapshot
    compact_after_bytes: int = 1024 * 1024
    errors_before_close: int = 20  # consecutive malformed frames
    catch_up_delay_s: float = 0.05  # wait for an out-of-order broker message first
    # An update that builds on what its own connection has not sent yet (a
    # stock client typing before it answered our SyncStep1) waits this long,
    # and at most this many per connection, before it is refused.
    wait_for_base_s: float = 5.0
    max_waiting_updates: int = 64


@dataclass(slots=True)
class _PeerState:
    owner: str
    client_ids: set[int] = field(default_factory=set)
    errors: int = 0
    diverged: bool = False  # one of its updates was refused: its copy differs
    relay_credit: int = 0  # awareness frames sent to it, not yet echoed back
    # Updates that build on structs nobody has sent yet, in arrival order.
    waiting: list[bytes] = field(default_factory=list)


class DocumentRoom:
    def __init__(
        self,
        document_id: str,
        *,
        store: DocumentStore,
        broker: Broker,
        authoriser: Authoriser,
        limits: Limits,
        now_ms: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
        gate: RelayGate | None = None,
    ) -> None:
        self.document_id = document_id
        self.gate = gate or RelayGate()
        self._held = HeldRelays(self.gate)  # relays waiting for the gate
        self.store = store
        self.broker = broker
        self.authoriser = authoriser
        self.limits = limits
        self.now_ms = now_ms
        self.monotonic = monotonic
        self.doc: Doc[Any] = Doc()
        # What the update checks need of ``doc`` (the ``index`` property);
        # stored parts loaded but not yet noted in it: indexed when an update
        # first needs it, so a late joiner's sync of a large document does not
        # wait for the parse of its whole history (the integrity checks are
        # not weakened: no update is checked against an index lacking them).
        self._index = integrity.DocIndex()
        self._unindexed: list[bytes] = []
        self.peers: dict[str, Peer] = {}
        self._peer_state: dict[str, _PeerState] = {}
        # Stored updates in seq order (preau/collab/ordered.py): its head is the
        # highest seq below which everything is applied; local updates are
        # applied at once ("done"), other nodes' wait their turn.
        self.feed: OrderedFeed[bytes] = OrderedFeed()
        self.log_count = 0  # stored updates above the snapshot, as far as we know
        self.log_bytes = 0  # their size
        self.stored_bytes = 0  # snapshot + log: what the document size limit bounds
        self._encoded: bytes | None = None  # the whole state, encoded once per change
        # The replica's state vector, read again only where it changed.
        self._state_vector = StateVectorReader()
        # The replica's delete set, encoded and read (``_delete_set``).
        self._deletes_read: tuple[bytes, dict[int, list[tuple[int, int]]]] = (b"", {})
        self.awareness = AwarenessTable(broker.node_id, limits.awareness_timeout_s, monotonic)
        # Yjs client id -> first refused clock: structs from there on hold
        # refused changes (shared with every node through the store).
        self.refused: dict[int, int] = {}
        # Yjs client id -> the person whose copy it is (bound at its first
        # accepted change, in the store for every node; see ``_whose_copies``).
        self.owners: dict[int, str] = {}
        self._copies_bound: dict[str, list[float]] = {}  # person -> when (this hour)
        # Person -> copies nobody owns refused for them (``_refuse_for_person``).
        self._refused_for: dict[str, dict[int, int]] = {}
        self._channel = envelope.channel(document_id)
        self._subscription: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._catch_up_task: asyncio.Task[None] | None = None
        self._rebuild_task: asyncio.Task[None] | None = None
        self._compaction: asyncio.Task[None] | None = None
        self._waits: set[asyncio.Task[None]] = set()  # updates waiting for their base
        self.closed = False

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe, then load: an update published meanwhile is either in the
        loaded log or delivered by the broker (or both; duplicates are skipped)."""
        self._subscription = await self.broker.subscribe(self._channel)
        try:
            stored = await self.store.load_log(self.document_id)
        except BaseException:
            await self._subscription.close()
            raise
        self._load(stored)
        try:
            self.refused = await self.store.refused_clients(self.document_id)
            self.owners = await self.store.client_owners(self.document_id)
        except BaseException:
            await self._subscription.close()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read_broker())

    def _load(self, stored: StoredLog) -> None:
        # One integration per stored part: integrating their merge instead is
        # much slower (it carries every deleted character; preau/collab/compaction.py).
        parts = [] if stored.snapshot is None else [stored.snapshot]
        parts += [update for _, update in stored.updates]
        for data in parts:
            if crdt.apply(self.doc, data):
                self._unindexed.append(data)
        self.feed = OrderedFeed(stored.head)
        self._sizes(stored)
        self._encoded = None

    @property
    def index(self) -> integrity.DocIndex:
        """The integrity index of the replica, with every loaded part in it."""
        if self._unindexed:
            parts, self._unindexed = self._unindexed, []
            for data in parts:
                parsed = self._parse(data)
                if parsed is None:  # stored before this server checked updates
                    log.warning("document %s: a stored update Yjs would not read",
                                self.document_id)
                    continue
                self._index.add(parsed)
        return self._index

    @index.setter
    def index(self, value: integrity.DocIndex) -> None:
        self._index = value
        self._unindexed = []

    def _sizes(self, stored: StoredLog) -> None:
        self.log_count = len(stored.updates)
        self.log_bytes = sum(len(u) for _, u in stored.updates)
        self.stored_bytes = stored.stored_bytes

    async def close(self) -> None:
        """Stop listening; finish a running compaction (it only touches the store)."""
        self.closed = True
        for task in (self._reader, self._catch_up_task, self._rebuild_task, *self._waits):
            if task is not None:
                task.cancel()
        if self._subscription is not None:
            await self._subscription.close()
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)

    # -- connections -----------------------------------------------------------
    def join(self, peer: Peer) -> None:
        """Register a connection and start the handshake (our SyncStep1, known awareness)."""
        self.peers[peer.id] = peer
        state = _PeerState(f"{self.broker.node_id}/{peer.id}")
        self._peer_state[peer.id] = state
        peer.send(codec.sync_step1(self.doc.get_state()))
        entries = self.awareness.live()
        if entries:
            peer.send(codec.awareness(entries))
            state.relay_credit += 1

    async def leave(self, peer: Peer) -> None:
        """Drop a connection; remove its awareness entries everywhere."""
        self.peers.pop(peer.id, None)
        self.awareness.forget_removed()
        state = self._peer_state.pop(peer.id, None)
        if state is None or not state.client_ids:
            return
        removed = self.awareness.remove_owned(state.owner, state.client_ids)
        if removed:
            entries = tuple(removed)
            self._relay_awareness(entries, origin=None)
            await self._publish(envelope.awareness(self._owner_tag(state, peer), entries))

    # -- inbound frames --------------------------------------------------------
    async def receive(self, peer: Peer, frame: bytes) -> bool:
        """Handle one frame of ``peer``; never raises for anything the client sent.

        Returns whether the frame counts against the sender's frame budget:
        every frame does, except an awareness message that only echoed back
        states the room sent it (what stock y-websocket clients do for every
        awareness message they receive), up to the number of awareness
        messages it was sent.
        """
        state = self._peer_state.get(peer.id)
        if state is None:
            return True  # left already
        if (frame[:1] == AWARENESS_TAG and len(frame) > self.limits.max_awareness_bytes):
            # Sized before decoding: a 1 MB awareness message decoded entry by
            # entry costs the event loop half a second (issue 21).
            self._refuse(peer, Refusal.TOO_LARGE,
                         f"awareness larger than {self.limits.max_awareness_bytes} bytes")
            return True
        try:
            message = codec.decode(frame)
        except codec.CodecError as exc:
            self._refuse(peer, Refusal.BAD_REQUEST, f"{exc.code}: {exc}")
            state.errors += 1
            if state.errors > self.limits.errors_before_close:
                peer.close(CLOSE_POLICY, "too many malformed frames")
            return True
        if isinstance(message, codec.SyncStep1):
            self._answer_step1(peer, message.state_vector)
        elif isinstance(message, codec.SyncStep2 | codec.Update):
            await self._client_update(peer, message.update)
        elif isinstance(message, codec.Awareness):
            return await self._client_awareness(peer, state, message.entries, len(frame))
        elif isinstance(message, codec.QueryAwareness):
            peer.send(codec.awareness(self.awareness.live()))
            state.relay_credit = min(state.relay_credit + 1, MAX_RELAY_CREDIT)
        # A client never sends permission-denied; if one does, there is nothing to do.
        return True

    def _refuse(self, peer: Peer, code: Refusal, message: str) -> None:
        peer.send(codec.permission_denied(f"{code.value}: {message}"))

    def _answer_step1(self, peer: Peer, state_vector: bytes) -> None:
        if state_vector == EMPTY_STATE_VECTOR:
            peer.send(codec.sync_step2(self.encoded_state()))
            return
        diff = crdt.missing_for(self.doc, state_vector)
        if diff is None:
            self._refuse(peer, Refusal.BAD_REQUEST, "bad state vector")
            return
        peer.send(codec.sync_step2(diff))

    def _state(self) -> dict[int, int]:
        """The replica's state vector (client → next clock); read-only."""
        return self._state_vector.read(self.doc.get_state())

    def encoded_state(self) -> bytes:
        """The whole document as one update, cached until the next change: a
        crowd of late joiners costs one encoding, not one each."""
        if self._encoded is None:
            self._encoded = self.doc.get_update()
        return self._encoded

    async def _client_update(self, peer: Peer, data: bytes) -> None:
        if data == EMPTY_UPDATE:
            return
        state = self._peer_state.get(peer.id)
        if state is None:
            return
        limits = self.limits
        parsed = self._parse(data)
        ids = parsed.ids if parsed is not None else None
        if len(data) > limits.max_update_bytes:
            await self._refuse_edit(peer, state, ids, Refusal.TOO_LARGE,
                                    f"update larger than {limits.max_update_bytes} bytes")
            return
        if ids is not None:
            mine = await self._refused_for_person(peer)
            if mine is None:
                return
            if refusals.touches(self.refused, ids) or refusals.touches(mine, ids):
                await self._refuse_edit(
                    peer, state, ids, Refusal.FORBIDDEN,
                    "this copy holds a change that was refused: start again from the saved"
                    " document",
                )
                return
        if state.diverged or peer.access < Access.WRITE:
            if ids is not None and self._brings_nothing(ids):
                return  # a reader's handshake (Yjs sends its whole delete set): no change
            if peer.access < Access.WRITE:
                await self._refuse_edit(peer, state, ids, Refusal.FORBIDDEN,
                                        "read-only: this change was not saved")
            else:
                await self._refuse_edit(
                    peer, state, ids, Refusal.FORBIDDEN,
                    "this copy holds a change that was refused: start again from the saved"
                    " document",
                )
            return
        if parsed is None:
            if crdt.decodes(data):
                # yrs would take it, a Yjs client would not read it alike: the
                # sender's copy may hold it, so the copy is diverged.
                await self._refuse_edit(peer, state, None, Refusal.BAD_REQUEST,
                                        "this change would break the document for the others")
            else:
                # Nothing in it anyone could build on: the sender's copy is
                # not known to differ, so this one does not make it diverged.
                self._refuse(peer, Refusal.BAD_REQUEST, "not a Yjs update")
            return
        copies = await self._whose_copies(peer, parsed.ids)
        if copies is None:
            return
        refusal, unbound = copies
        if refusal:
            await self._refuse_edit(peer, state, ids, Refusal.FORBIDDEN, refusal)
            return
        canonical = await self._checked(peer, state, parsed, data)
        if canonical is None:
            return
        if self.stored_bytes + len(canonical) > limits.max_document_bytes:
            await self._refuse_edit(peer, state, ids, Refusal.TOO_LARGE,
                                    f"document larger than {limits.max_document_bytes} bytes")
            return
        # Applied to the replica first: an update that yrs cannot integrate
        # (fuzzing finds some, a few even panic) is refused here and never
        # stored, so the log holds only updates that apply. A failed
        # integration may have changed the replica half-way: it is rebuilt
        # from the store.
        replica = self.doc
        if not crdt.apply(replica, canonical):
            await self._refuse_edit(peer, state, ids, Refusal.BAD_REQUEST,
                                    "this Yjs update does not apply")
            self._schedule_rebuild()
            return
        try:
            integrity.check_placed(parsed, self.index, self.doc)
        except integrity.Poisoned as exc:
            await self._poisoned(peer, state, parsed, exc)
            self._schedule_rebuild()  # the replica holds it: back to the store
            return
        self.index.add(parsed)
        self._encoded = None
        if unbound:  # accepted: its new copies are its sender's from now on
            bound = await self._bind(peer, unbound)
            if not bound:
                self._schedule_rebuild()  # the replica holds it: back to the store
                if bound is None:
                    self._refuse(peer, Refusal.UNAVAILABLE, "could not save this change, retry")
                else:
                    await self._refuse_edit(
                        peer, state, ids, Refusal.FORBIDDEN,
                        "this change is written in another person's copy of the document")
                return
        try:
            seq = await self.store.append_update(
                self.document_id, canonical, peer.person_id, self.now_ms()
            )
        except LookupError:
            # Deleted meanwhile (docs/collab.md, "Deleting a document"): its
            # sockets are being closed; nothing to retry, nothing went wrong.
            self._refuse(peer, Refusal.FORBIDDEN, "this document no longer exists")
            return
        except Exception:
            log.exception("document %s: append failed", self.document_id)
            self._refuse(peer, Refusal.UNAVAILABLE, "could not save this change, retry")
            # The replica holds a change the store does not: back to the store.
            self._schedule_rebuild()
            return
        self._peer_state_ok(peer)
        # A rebuild may have replaced the replica while this was being
        # appended, from a store read that did not hold it yet: then it is
        # taken into the new replica like any stored update.
        self._integrate(seq, canonical, origin=peer, applied=self.doc is replica)
        await self._publish(envelope.update(seq, canonical))
        self._maybe_compact()
        if state.waiting:
            waiting, state.waiting = state.waiting, []
            for update in waiting:  # what still lacks its base waits again
                await self._client_update(peer, update)

    async def _checked(
        self, peer: Peer, state: _PeerState, parsed: updates.Parsed, data: bytes
    ) -> bytes | None:
        """yrs' re-encoding of a writer's update, once it is known that every
        Yjs replica would integrate it as this one does (preau/collab/integrity.py);
        None if refused.

        An update that builds on structs this node lacks (its client saw them
        through another node, or another tab) waits for the store to bring
        them, which it does: whatever a client saw was stored first. What
        then still builds on nothing is refused rather than kept pending.
        """
        try:
            return integrity.admit(parsed, data, self.index, self._state())
        except integrity.Unknown:
            pass
        except integrity.Poisoned as exc:
            await self._poisoned(peer, state, parsed, exc)
            return None
        try:
            await self.sync_from_store()
        except Exception:
            log.warning("document %s: store unreachable", self.document_id)
            self._refuse(peer, Refusal.UNAVAILABLE, "could not save this change, retry")
            return None
        try:
            return integrity.admit(parsed, data, self.index, self._state())
        except integrity.Poisoned as exc:
            await self._poisoned(peer, state, parsed, exc)
            return None
        except integrity.Unknown:
            pass
        if len(state.waiting) < self.limits.max_waiting_updates:
            # Kept aside until the connection sends what it builds on.
            state.waiting.append(data)
            task = asyncio.get_running_loop().create_task(self._give_up_waiting(peer, data))
            self._waits.add(task)
            task.add_done_callback(self._waits.discard)
            return None
        await self._refuse_edit(peer, state, parsed.ids, Refusal.BAD_REQUEST,
                                "this change builds on changes the document does not have")
        return None

    async def _poisoned(
        self, peer: Peer, state: _PeerState, parsed: updates.Parsed, exc: integrity.Poisoned,
    ) -> None:
        log.info("document %s: refused a poisoned update (%s)", self.document_id, exc)
        await self._refuse_edit(
            peer, state, parsed.ids, Refusal.BAD_REQUEST,
            f"this change would break the document for the others ({exc})")

    async def _give_up_waiting(self, peer: Peer, data: bytes) -> None:
        """Refuse an update still waiting for its base after ``wait_for_base_s``."""
        await asyncio.sleep(self.limits.wait_for_base_s)
        state = self._peer_state.get(peer.id)
        if state is None or data not in state.waiting or self.closed:
            return
        state.waiting.remove(data)
        await self._refuse_edit(peer, state, updates.read(data), Refusal.BAD_REQUEST,
                                "this change builds on changes the document does not have")

    def _parse(self, data: bytes) -> updates.Parsed | None:
        try:
            return updates.parse(data)
        except codec.CodecError:
            return None

    def _apply(
        self, doc: Doc[Any], index: integrity.DocIndex, data: bytes,
        parsed: updates.Parsed | None = None,
    ) -> bool:
        """Integrate ``data`` into ``doc`` and note it in ``index``."""
        if not crdt.apply(doc, data):
            return False
        if parsed is None:
            parsed = self._parse(data)
            if parsed is None:  # stored before this server checked updates
                log.warning("document %s: a stored update Yjs would not read",
                            self.document_id)
                return True
        index.add(parsed)
        return True

    # -- whose copies -----------------------------------------------------------
    async def _whose_copies(
        self, peer: Peer, ids: updates.UpdateIds
    ) -> tuple[str, list[int]] | None:
        """Why ``peer`` may not write this update ("" when it may), and the
        copies new to the document it would bind to its sender once accepted
        (``_bind``). Its new structs must all be under Yjs copies of the
        sender's own or new ones: writing under someone else's copy would
        write in their name and make their next keystrokes, at those clocks,
        vanish as duplicates. Nothing is bound here: a change refused later
        binds nothing (an outside probe bound the teacher's next copy, read
        from awareness, with a change made to be refused, and condemned it).
        None: the store did not answer (told to retry)."""
        person = peer.person_id
        owners = self.owners
        if all(owners.get(client) == person for client in ids.structs):
            return "", []  # the usual change: its sender's own copy, already bound
        try:
            fresh = self._fresh(ids)
            if any(owners.get(client) != person for client in fresh):
                # Another's structs this replica lacks yet (the client saw
                # them through another node first) are in the store already:
                # read first, so that only what is really new counts.
                await self.sync_from_store()
                fresh = self._fresh(ids)
            await self._look_up_owners(fresh)
        except Exception:
            log.warning("document %s: store unreachable", self.document_id)
            self._refuse(peer, Refusal.UNAVAILABLE, "could not save this change, retry")
            return None
        if any(owners.get(client, person) != person for client in fresh):
            return "this change is written in another person's copy of the document", []
        unbound = [client for client in fresh if client not in owners]
        limits = self.limits
        if len(unbound) > limits.max_new_copies:
            return f"more than {limits.max_new_copies} new Yjs copies in one change", []
        if unbound and not self._new_copies_allowed(person, len(unbound)):
            return (f"more than {limits.new_copies_per_hour} new Yjs copies an hour:"
                    " reopen the documents you have open instead"), []
        return "", unbound

    def _new_copies_allowed(self, person: str, count: int) -> bool:
        """At most ``Limits.new_copies_per_hour`` copies bound per person and
        hour on this node (a person opens a document in a few tabs; a script
        making new copies would grow the bindings without end)."""
        now = self.monotonic()
        recent = [t for t in self._copies_bound.get(person, []) if now - t < 3600]
        if len(recent) + count > self.limits.new_copies_per_hour:
            self._copies_bound[person] = recent
            return False
        self._copies_bound[person] = recent + [now] * count
        return True

    async def _bind(self, peer: Peer, unbound: list[int]) -> bool | None:
        """Bind the accepted change's new copies to its sender; False when
        another person's change bound one first (the store decides between
        nodes), None when the store did not answer."""
        try:
            found = await self.store.bind_clients(
                self.document_id, unbound, peer.person_id, self.now_ms())
        except Exception:
            log.warning("document %s: store unreachable", self.document_id)
            return None
        self.owners.update(found)
        return all(found.get(client) == peer.person_id for client in unbound)

    def _fresh(self, ids: updates.UpdateIds) -> list[int]:
        """The clients whose structs the update brings beyond the replica's."""
        known = self._state()
        return sorted(client for client, (_, end) in ids.structs.items()
                      if end > known.get(client, 0))

    async def _senders_own(self, peer: Peer, clients: Collection[int]) -> set[int]:
        """Which of ``clients`` are the sender's own copies: bound to them by
        a change of theirs the document accepted. A copy that never had one
        is nobody's: a refusal condemns it for no one (awareness ids are not
        proof: on a node where the copy is not open, anyone may claim one)."""
        try:
            await self._look_up_owners(list(clients)[:64])
        except Exception:
            log.warning("document %s: store unreachable", self.document_id)
        return {client for client in clients if self.owners.get(client) == peer.person_id}

    async def _look_up_owners(self, clients: list[int]) -> None:
        """Read the owners of ``clients`` this room does not know: bound on
        another node since it loaded, or never bound (then still unknown)."""
        unknown = [client for client in clients if client not in self.owners]
        if unknown:
            self.owners.update(await self.store.client_owners(self.document_id, unknown))

    # -- refused edits ---------------------------------------------------------
    def _brings_nothing(self, ids: updates.UpdateIds) -> bool:
        """Does the replica hold every struct and deletion of the update already?"""
        known = self._state()
        for client, (_, end) in ids.structs.items():
            if end > known.get(client, 0):
                return False
        if not any(length for ranges in ids.deletes.values() for _, length in ranges):
            return True
        # No struct beyond the replica's state vector, only its delete set.
        deleted = self._delete_set()
        return all(updates.covered(ranges, deleted.get(client, []))
                   for client, ranges in ids.deletes.items())

    def _delete_set(self) -> dict[int, list[tuple[int, int]]]:
        """The replica's delete set, read once per version of it: every reader
        that reconnects with a copy sends its whole delete set, and reading
        the replica's in Python cost 7 ms each on the automerge-paper
        document, where yrs encodes it in 0.3 ms."""
        encoded = self.doc.get_update(self.doc.get_state())  # no struct: the delete set
        if encoded != self._deletes_read[0]:
            self._deletes_read = (encoded, updates.read(encoded).deletes)
        return self._deletes_read[1]

    async def _refuse_edit(
        self, peer: Peer, state: _PeerState, ids: updates.UpdateIds | None,
        code: Refusal, message: str,
    ) -> None:
        """Refuse an update the client keeps in its copy: the connection is
        diverged, and its Yjs client ids are refused from what the document
        holds of them on, here and on every node (stored first)."""
        self._refuse(peer, code, f"{message} {REFUSED_EDIT}")
        state.diverged = True
        marked = refusals.marks(ids, state.client_ids, self._state())
        mine = await self._senders_own(peer, marked)
        await self._refuse_for_person(peer, {
            client: clock for client, clock in marked.items()
            if client not in mine and client not in self.owners})
        new = {client: clock for client, clock in marked.items() if client in mine}
        if len(self.refused) + len(new) > self.limits.max_refused_copies:
            log.warning("document %s: %d refused copies already: this one is not remembered",
                        self.document_id, len(self.refused))
            return
        new = refusals.merge(self.refused, new)
        if not new:
            return
        try:
            await self.store.refuse_clients(self.document_id, new, self.now_ms())
        except Exception:
            log.exception("document %s: could not store refused clients", self.document_id)
            return
        await self._publish(envelope.refused(new))

    async def _refused_for_person(self, peer: Peer) -> dict[int, int] | None:
        """The copies refused for this peer's person (nobody's copies, read
        once per person while the room is open). None: the store did not
        answer (told to retry)."""
        person = peer.person_id
        found = self._refused_for.get(person)
        if found is None:
            try:
                found = await self.store.refused_copies(self.document_id, person)
            except Exception:
                log.warning("document %s: store unreachable", self.document_id)
                self._refuse(peer, Refusal.UNAVAILABLE, "could not save this change, retry")
                return None
            found = self._refused_for.setdefault(person, found)
        return found

    async def _refuse_for_person(self, peer: Peer, clients: dict[int, int]) -> None:
        """Condemn copies nobody owns for the sender's person only: their
        later changes under them are refused, anyone else's are not (a copy
        nobody owns may be claimed by anyone: an outside probe had a reader
        condemn a live editor's copy so)."""
        mine = await self._refused_for_person(peer)
        if mine is None or not clients:
            return
        room = self.limits.max_refused_per_person - len(mine)
        new = refusals.merge(mine, dict(sorted(clients.items())[:max(0, min(room, 16))]))
        if new:
            try:
                await self.store.refuse_copies(
                    self.document_id, peer.person_id, new, self.now_ms())
            except Exception:
                log.exception("document %s: could not store refused copies", self.document_id)

    def _remote_refused(self, clients: dict[int, int]) -> None:
        refusals.merge(self.refused, clients)

    async def server_update(self, data: bytes, person_id: str) -> int:
        """An update made by the server on someone's behalf (a restore): stored,
        applied and relayed to every connection on every node; returns its seq."""
        seq = await self.store.append_update(self.document_id, data, person_id, self.now_ms())
        self._integrate(seq, data, origin=None)
        await self._publish(envelope.update(seq, data))
        self._maybe_compact()
        return seq

    def _peer_state_ok(self, peer: Peer) -> None:
        state = self._peer_state.get(peer.id)
        if state is not None:
            state.errors = 0

    def _integrate(
        self, seq: int, data: bytes, origin: Peer | None, applied: bool = False
    ) -> bool:
        """Take a stored update once: apply it in seq order and relay it.

        Seq order is causal order: an update is appended before anyone sees
        it, so whatever a client built on has a lower seq. Applying remote
        updates in seq order therefore never leaves the replica with pending
        structs, which matters because yrs (pycrdt 0.14) loses content when
        several pending updates stack up (tests/collab/test_room.py shows it).
        An update from another node above a gap waits in the feed for the
        gap to fill (broker or store). ``applied``: a local client's update,
        already in the replica. Returns False for a duplicate.
        """
        if self.feed.known(seq):
            return False
        self.log_count += 1
        self.log_bytes += len(data)
        self.stored_bytes += len(data)
        if applied:
            self._encoded = None
            self._relay(codec.update(data), origin)
            self._take(self.feed.done(seq))
        else:
            self._take(self.feed.offer(seq, data))
        if self.feed.waiting:
            self._schedule_catch_up()
        return True

    def _take(self, released: list[Released[bytes]]) -> None:
        """Apply and relay, in seq order, the other nodes' updates the feed releases."""
        for update in released:
            if update.done or update.item is None:
                continue
            if not self._apply(self.doc, self.index, update.item):
                # It applied on the node that stored it but not here:
                # replay the store in seq order instead.
                log.warning("document %s: update %d did not apply here",
                            self.document_id, update.seq)
                self._schedule_rebuild()
            self._encoded = None
            self._relay(codec.update(update.item), origin=None)

    @property
    def head(self) -> int:
        """Every stored update up to this seq is in the replica."""
        return self.feed.head

    def _relay(self, frame: bytes, origin: Peer | None) -> None:
        if self._held.held_back(lambda: self._relay(frame, origin)):
            return
        for peer in list(self.peers.values()):
            if peer is not origin:
                peer.send(frame)

    async def _publish(self, payload: bytes) -> None:
        try:
            await self.broker.publish(self._channel, payload)
        except Exception:
            # At most once: other nodes find stored updates by seq (catch-up),
            # awareness is renewed by clients every 15 s.
            log.warning("document %s: publish failed", self.document_id, exc_info=True)

    # -- awareness -------------------------------------------------------------
    async def _client_awareness(
        self, peer: Peer, state: _PeerState, entries: tuple[codec.AwarenessEntry, ...],
        size: int,
    ) -> bool:
        """Apply the connection's own entries, drop what it relays; whether the
        frame counts against its budget (see :meth:`receive`)."""
        if size > self.limits.max_awareness_bytes:
            self._refuse(peer, Refusal.TOO_LARGE,
                         f"awareness larger than {self.limits.max_awareness_bytes} bytes")
            return True
        accepted: list[codec.AwarenessEntry] = []
        relayed = forged = too_many = False
        for entry in entries:
            claim = self.awareness.claim(entry, state.owner, peer.person_id)
            if claim is Claim.RELAY:
                relayed = True
                continue
            if claim is Claim.FORGED:
                forged = True
                continue
            if (entry.client_id not in state.client_ids
                    and len(state.client_ids) >= self.limits.max_awareness_ids):
                too_many = True
                continue
            if entry.client_id in self.refused and not entry.removed:
                # Its Yjs copy is one whose change was refused (a reconnect):
                # whatever it sends is refused until it starts a new copy.
                state.diverged = True
            entry = with_real_name(entry, peer.name)
            if self.awareness.apply(entry, state.owner, peer.person_id):
                if entry.removed:
                    state.client_ids.discard(entry.client_id)
                else:
                    state.client_ids.add(entry.client_id)
                accepted.append(entry)
        if forged:
            self._refuse(peer, Refusal.FORBIDDEN,
                         "awareness client id belongs to another connection")
        if too_many:
            self._refuse(peer, Refusal.TOO_LARGE, "too many awareness client ids")
        if accepted:
            self._relay_awareness(tuple(accepted), origin=peer)
            await self._publish(envelope.awareness(self._owner_tag(state, peer),
                                                   tuple(accepted)))
        if relayed and not (accepted or forged or too_many) and state.relay_credit > 0:
            state.relay_credit -= 1
            return False
        return True

    def _relay_awareness(
        self, entries: tuple[codec.AwarenessEntry, ...], origin: Peer | None
    ) -> None:
        """Send entries to this node's connections (but ``origin``); each may
        echo the frame back once for free (stock clients do)."""
        if self._held.held_back(lambda: self._relay_awareness(entries, origin)):
            return
        frame = codec.awareness(entries)
        for peer in list(self.peers.values()):
            if peer is origin:
                continue
            peer.send(frame)
            state = self._peer_state.get(peer.id)
            if state is not None and state.relay_credit < MAX_RELAY_CREDIT:
                state.relay_credit += 1

    def _owner_tag(self, state: _PeerState, peer: Peer) -> str:
        return f"{state.owner}#{peer.person_id}"

    def _remote_awareness(self, tag: str, entries: tuple[codec.AwarenessEntry, ...]) -> None:
        owner, _, person = tag.partition("#")  # "node/connection#person" (envelope.py)
        accepted = self.awareness.remote(owner, person, entries)
        if accepted:
            self._relay_awareness(tuple(accepted), origin=None)

    # -- other nodes -----------------------------------------------------------
    async def _read_broker(self) -> None:
        assert self._subscription is not None
        async for payload in self._subscription:
            try:
                message = envelope.decode(payload)
            except codec.CodecError:
                log.warning("document %s: malformed envelope dropped", self.document_id)
                continue
            try:
                if isinstance(message, envelope.RemoteUpdate):
                    self._integrate(message.seq, message.update, origin=None)
                    self._maybe_compact()
                elif isinstance(message, envelope.RemoteAwareness):
                    self._remote_awareness(message.owner, message.entries)
                elif isinstance(message, envelope.Refused):
                    self._remote_refused(message.clients)
                else:
                    await self.recheck()
            except Exception:
                log.exception("document %s: broker message failed", self.document_id)

    def _schedule_rebuild(self) -> None:
        if self.closed or (self._rebuild_task is not None and not self._rebuild_task.done()):
            return
        self._rebuild_task = asyncio.get_running_loop().create_task(self._rebuild())

    async def _rebuild(self) -> None:
        """Replace the replica with the store's state, and send it to everyone
        (idempotent for clients; rare: only after a refused integration)."""
        try:
            stored = await self.store.load_log(self.document_id)
        except Exception:
            log.exception("document %s: rebuild failed", self.document_id)
            return
        doc: Doc[Any] = Doc()
        index = integrity.DocIndex()
        if stored.snapshot is not None:
            self._apply(doc, index, stored.snapshot)
        for _, update in stored.updates:
            self._apply(doc, index, update)
        self.doc = doc
        self.index = index
        self._encoded = None
        # Seqs applied to the old replica after this read are read again from
        # the store (the catch-up below); applying twice is harmless.
        held = self.feed.held_items()
        self.feed = OrderedFeed(stored.head)  # updates applied ahead are in it now
        self._relay(codec.update(self.encoded_state()), origin=None)
        for seq, update in held:
            self._take(self.feed.offer(seq, update))
        self._schedule_catch_up()

    def _schedule_catch_up(self) -> None:
        if self.closed:
            return
        if self._catch_up_task is None or self._catch_up_task.done():
            self._catch_up_task = asyncio.get_running_loop().create_task(self._catch_up())

    async def _catch_up(self) -> None:
        """Read from the store what the broker did not bring (lost or not yet
        arrived), until no gap is left below the highest seq applied."""
        delay = self.limits.catch_up_delay_s
        while not self.closed:
            await asyncio.sleep(delay)
            try:
                await self.sync_from_store()
            except Exception:
                log.warning("document %s: catch-up failed", self.document_id, exc_info=True)
            if not self.feed.waiting:
                return
            delay = min(delay * 2, 2.0)

    async def resync(self) -> None:
        """The broker lost messages (Redis reconnected): read what they said
        from the store — updates, refused clients — and re-check rights (a
        rights change or a removal announced meanwhile)."""
        await self.sync_from_store()
        self._remote_refused(await self.store.refused_clients(self.document_id))
        await self.recheck()

    async def sync_from_store(self) -> None:
        """Apply every stored update above ``head`` (after a broker loss too)."""
        stored = await self.store.load_log(self.document_id, after=self.feed.head)
        if stored.snapshot is not None:
            # Compacted past our head: the snapshot holds what we miss.
            self._apply(self.doc, self.index, stored.snapshot)
            self._encoded = None
            self._relay(codec.update(stored.snapshot), origin=None)
            if stored.snapshot_seq > self.feed.head:
                self._take(self.feed.reset(stored.snapshot_seq))
        for seq, data in stored.updates:
            self._integrate(seq, data, origin=None)

    # -- rights ----------------------------------------------------------------
    async def recheck(self, person_id: str | None = None) -> None:
        """Ask the authoriser again for every connection (or only the
        person's): downgrade or cut at once."""
        for peer in list(self.peers.values()):
            if person_id is not None and peer.person_id != person_id:
                continue
            try:
                access = await self.authoriser.access(peer.person_id, self.document_id)
            except Exception:
                log.exception("document %s: rights re-check failed", self.document_id)
                continue
            if access is Access.NONE:
                peer.close(CLOSE_FORBIDDEN, "access to this document was withdrawn")
                await self.leave(peer)
            elif access < peer.access:
                peer.access = access
                self._refuse(peer, Refusal.FORBIDDEN, "read-only from now on")
            else:
                peer.access = access

    async def rights_changed(self) -> None:
        """Re-check here and tell the other nodes to re-check theirs."""
        await self._publish(envelope.rights_changed())
        await self.recheck()

    # -- compaction ------------------------------------------------------------
    def _maybe_compact(self) -> None:
        limits = self.limits
        if self.log_count < limits.compact_after_updates and (
            self.log_bytes < limits.compact_after_bytes or self.log_count < 2
        ):
            return
        if self.closed:
            return
        if self._compaction is None or self._compaction.done():
            self._compaction = asyncio.get_running_loop().create_task(self.compact())

    async def compact(self) -> None:
        """Merge the stored log into the snapshot (see preau/collab/compaction.py)."""
        try:
            await compact(self.store, self.document_id)
            stored = await self.store.load_log(self.document_id)
        except Exception:
            log.exception("document %s: compaction failed", self.document_id)
            return
        self._sizes(stored)
