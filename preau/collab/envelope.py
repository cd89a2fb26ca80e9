"""What document rooms tell each other over the broker (channel ``collab:<document>``).

Small binary envelopes, one per broker message, so a node relays an update
without JSON or base64 on the way:

- ``U`` varUint seq, then the update (already appended to the store);
- ``A`` varString owner (``node/connection``), then an awareness payload;
- ``R``: the document's rights changed, re-check every connection now;
- ``X`` varUint count, then (varUint client, varUint clock) pairs: Yjs clients
  whose changes were refused from that clock on (already in the store).

The owner of awareness entries is ``node/connection#person``: the person
lets another node hand a departed connection's client id back to the same
person when they reconnect (preau/collab/room.py). Nodes that predate it compare
the whole string, which stays unique per connection.

A malformed envelope is a bug or a foreign publisher on our channel: it raises
:class:`~preau.collab.codec.CodecError` and the room logs and drops it.
"""

from __future__ import annotations

from dataclasses import dataclass

from preau.collab import codec


def channel(document_id: str) -> str:
    return f"collab:{document_id}"


@dataclass(frozen=True, slots=True)
class RemoteUpdate:
    seq: int
    update: bytes


@dataclass(frozen=True, slots=True)
class RemoteAwareness:
    owner: str
    entries: tuple[codec.AwarenessEntry, ...]


@dataclass(frozen=True, slots=True)
class RightsChanged:
    pass


@dataclass(frozen=True, slots=True)
class Refused:
    clients: dict[int, int]


Envelope = RemoteUpdate | RemoteAwareness | RightsChanged | Refused


def update(seq: int, data: bytes) -> bytes:
    return b"U" + codec.var_uint(seq) + data


def awareness(owner: str, entries: tuple[codec.AwarenessEntry, ...]) -> bytes:
    return b"A" + codec.var_bytes(owner.encode("utf-8")) + codec.awareness_payload(entries)


def rights_changed() -> bytes:
    return b"R"


def refused(clients: dict[int, int]) -> bytes:
    parts = [b"X", codec.var_uint(len(clients))]
    for client, clock in sorted(clients.items()):
        parts += [codec.var_uint(client), codec.var_uint(clock)]
    return b"".join(parts)


def decode(payload: bytes) -> Envelope:
    if not payload:
        raise codec.CodecError("truncated", "empty envelope")
    kind = payload[:1]
    reader = codec.Reader(payload)
    reader.pos = 1
    if kind == b"U":
        seq = reader.var_uint()
        return RemoteUpdate(seq, payload[reader.pos:])
    if kind == b"A":
        owner = reader.var_string()
        return RemoteAwareness(owner, codec.decode_awareness(payload[reader.pos:]))
    if kind == b"R":
        reader.end()
        return RightsChanged()
    if kind == b"X":
        count = reader.var_uint()
        if count * 2 > len(payload):
            raise codec.CodecError("truncated", "refused count larger than the envelope")
        clients = {}
        for _ in range(count):
            client = reader.var_uint()
            clients[client] = reader.var_uint()
        reader.end()
        return Refused(clients)
    raise codec.CodecError("unknown_type", f"unknown envelope {kind!r}")
