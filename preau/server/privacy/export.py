"""A person's data as one JSON document, produced in chunks.

``export_chunks`` is an async generator of ``bytes`` that together form one
JSON object; each page of rows is read from the store in its own short
transaction and written out before the next is read, so memory stays bounded
by a page however much the person wrote (a Starlette ``StreamingResponse``
sends the chunks as they come; the CLI writes them to stdout).

What is in it (docs/data-protection.md): the profile, memberships (classes,
guardians or children by name, moderation state per room), sessions (the
connection log), the messages the person wrote in class and parents' rooms,
the private conversations they are part of (every message, the other
participants named only by display name, never by id or login), their held
and scheduled messages and reports, the moderation actions concerning them (the actor by
display name), what they read in moderation views (staff), and the documents
they edited, the files they uploaded (with their download links). Nobody
else's id, login or data appears.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from preau.server.store.privacy import PersonRecord, PrivacyStore

FORMAT = "preau-export/1"
ERASED_NAME = "(compte supprimé / deleted account)"
# What may be a person's id inside free-form text (ids are URL-safe tokens).
_ID_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")


class _Names:
    """Display names by person id, looked up in batches and remembered."""

    def __init__(self, store: PrivacyStore) -> None:
        self._store = store
        self._known: dict[str, str] = {}

    async def load(self, ids: list[str]) -> None:
        missing = [i for i in set(ids) if i not in self._known]
        if missing:
            found = await self._store.display_names(missing)
            for i in missing:
                self._known[i] = found.get(i) or ERASED_NAME

    def __getitem__(self, person_id: str) -> str:
        return self._known.get(person_id, ERASED_NAME)

    async def named(self, value: Any, own: str) -> Any:
        """``value`` (text, or a JSON value holding text) with every other
        person's id in it replaced by their display name: what the access
        journal and audit details say about someone (an export's subject, an
        audit query's actor or target) names them, never identifies them."""
        if isinstance(value, dict):
            return {k: await self.named(v, own) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.named(v, own) for v in value]
        if not isinstance(value, str):
            return value
        tokens = sorted({t for t in _ID_TOKEN.findall(value) if t != own})
        if not tokens:
            return value
        found = await self._store.display_names(tokens)
        self._known.update(found)
        return _ID_TOKEN.sub(lambda m: found.get(m[0], m[0]), value)


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


async def _array(items: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for item in items:
        yield item if first else b"," + item
        first = False
    yield b"]"


# Whether a notification's source (room id, document id; either may be None)
# is still readable by the person exported.
SourceCheck = Callable[[str | None, str | None], Awaitable[bool]]


async def export_chunks(
    store: PrivacyStore, person: PersonRecord, school_name: str, now_ms: int,
    readable: frozenset[str], still_readable: SourceCheck,
) -> AsyncIterator[bytes]:
    """``readable``: the private conversations the person may read now (the
    directory's ``conversation_now``); the others they were part of give
    only their own messages. ``still_readable(room, document)``: whether a
    notification's source is still theirs to read; one that is not keeps
    only its kind and times (as the notification centre, which no longer
    lists it, and every other path, which answers as for an unknown room)."""
    names = _Names(store)
    pid = person.id
    yield b'{"format":' + _dump(FORMAT) + b',"generated":' + _dump(now_ms)
    yield b',"person":' + _dump({
        "id": pid,
        "external_id": person.external_id,
        "login": person.login,
        "profile": person.profile,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "school": school_name,
        "is_admin": person.is_admin,
        "activated": person.activated,
        "active": person.active,
        "created": person.created_ms,
        "updated": person.updated_ms,
        "closed": person.closed_ms,
    })
    relations = await store.export_relations(pid)
    # Who caused each notification, by name only (never an id); a private
    # conversation is not named by its id (as in "conversations").
    notified = relations.get("notifications", [])
    for n in notified:
        document = n["data"].get("document") if isinstance(n["data"], dict) else None
        if not await still_readable(n["room"], document if isinstance(document, str) else None):
            n.update(room=None, room_kind=None, seq=None, by=None, data={}, lost=True)
    await names.load([str(n["by"]) for n in notified if n["by"]])
    for n in notified:
        n["by"] = None if not n["by"] else names[n["by"]]
        if n.pop("room_kind") == "private":
            n["room"] = "conversation"
    yield b',"memberships":' + _dump(relations)
    yield b',"rooms_posted_in":' + _dump(await store.shared_rooms_posted_in(pid))

    async def own_messages() -> AsyncIterator[bytes]:
        async for r in store.own_messages(pid):
            entry: dict[str, Any] = {
                "room": r["room_id"], "seq": int(r["seq"]), "id": r["id"],
                "ts": int(r["created_ms"]), "kind": r["kind"],
            }
            if r["kind"] == "redaction":
                entry["redacts"] = r["redacts"]
                entry["reason"] = r["reason"]
            elif r["redacted_seq"] is not None:
                entry["redacted"] = True
            else:
                entry["body"] = r["body"]
                if r["edited_ms"] is not None:
                    entry["edited"] = int(r["edited_ms"])
            yield _dump(entry)

    yield b',"messages":'
    async for chunk in _array(own_messages()):
        yield chunk

    yield b',"conversations":'
    async for chunk in _conversations(store, names, pid, readable):
        yield chunk

    held = await store.held_of(pid)
    await names.load([str(h["decided_by"]) for h in held if h["decided_by"]])
    yield b',"held_messages":' + _dump([
        {"room": h["room_id"], "body": h["body"], "ts": int(h["created_ms"]),
         "status": h["status"], "decided_by": names[h["decided_by"]] if h["decided_by"] else None,
         "decided": h["decided_ms"], "reason": h["reason"], "seq": h["seq"]}
        for h in held
    ])
    yield b',"scheduled_messages":' + _dump([
        {"room": m["room_id"], "body": m["body"], "ts": int(m["created_ms"]),
         "release": int(m["release_ms"]), "seq": m["seq"]}
        for m in await store.scheduled_of(pid)
    ])
    yield b',"reports_made":' + _dump([
        {"room": r["room_id"], "seq": int(r["seq"]), "reason": r["reason"],
         "ts": int(r["created_ms"]), "status": r["status"], "resolved": r["resolved_ms"]}
        for r in await store.reports_by(pid)
    ])
    actions = await store.moderation_concerning(pid)
    await names.load([str(a["actor_id"]) for a in actions])
    yield b',"moderation":' + _dump([
        {"room": a["room_id"], "action": a["action"],
         "by": "me" if a["actor_id"] == pid else names[a["actor_id"]],
         "message_seq": a["target_seq"], "reason": a["reason"],
         "details": await names.named(orjson.loads(a["details"]), pid),
         "ts": int(a["created_ms"])}
        for a in actions
    ])
    # What they read in moderation views: the subject may name someone else
    # (an export made for a child, an audit query about a pupil): by name.
    yield b',"views_read":' + _dump([
        {"view": j["view"], "subject": await names.named(j["subject"], pid),
         "ts": int(j["at_ms"])}
        for j in await store.journal_of_actor(pid)
    ])
    yield b',"documents_edited":' + _dump([
        {"document": d["document_id"], "title": d["title"], "first_edit": int(d["first_ms"]),
         "last_edit": int(d["last_ms"]), "edits": int(d["edits"])}
        for d in await store.document_edits(pid)
    ])
    # The files they sent: each downloadable at its link by whoever may read
    # where it was sent (the person themselves while they may).
    yield b',"files":' + _dump([
        {"id": f["id"], "name": f["name"], "size": int(f["size"]), "kind": f["kind"],
         "mime": f["mime"], "state": f["state"], "ts": int(f["created_ms"]),
         "room": f["room_id"], "seq": f["seq"], "document": f["document_id"],
         "sent": f["bound_ms"] is not None, "download": f"/api/attachments/{f['id']}"}
        for f in await store.files_of(pid)
    ])
    yield b"}"


async def _conversations(
    store: PrivacyStore, names: _Names, pid: str, readable: frozenset[str]
) -> AsyncIterator[bytes]:
    """The conversations array; each conversation spans several chunks.

    A conversation the person lost when a relation ended (docs/conversations.md,
    "When a relation ends": a parent who lost custody, two pupils after a class
    move) answers on every other path as an unknown room: here it gives only
    the words they wrote themselves (theirs to have), not the others' words
    nor who the others are (a minor's words stay with the people the circle of
    trust still lets near that minor)."""
    yield b"["
    for index, conv in enumerate(await store.conversations(pid)):
        kept = conv["id"] in readable
        head: dict[str, Any] = {"created": conv["created"]}
        if kept:
            others = [m for m in conv["members"] if m != pid]
            await names.load(others)
            # The room's stored name is its members' names: rebuilt here from
            # the same display names, so nothing but names is given.
            head["participants"] = sorted(names[m] for m in others)
        else:
            head["lost"] = True
        yield (b"," if index else b"") + b'{"conversation":' + _dump(head) + b',"messages":'
        first = True
        yield b"["
        async for r in store.room_messages(conv["id"]):
            sender = str(r["sender_id"])
            if sender != pid:
                if not kept:
                    continue
                await names.load([sender])
            entry: dict[str, Any] = {
                "seq": int(r["seq"]), "ts": int(r["created_ms"]),
                "from": "me" if sender == pid else names[sender],
            }
            if r["kind"] == "redaction":
                entry["recalled"] = r["redacts"]
            elif r["redacted_seq"] is not None:
                entry["redacted"] = True
            else:
                entry["body"] = r["body"]
                if r["edited_ms"] is not None:
                    entry["edited"] = int(r["edited_ms"])
            yield _dump(entry) if first else b"," + _dump(entry)
            first = False
        yield b"]}"
    yield b"]"
