"""The document service: rights, metadata and the teacher features.

It is the authoriser ``collab`` asks on every connect and re-check
(:meth:`DocumentService.access`), and the business layer of the REST API
(preau/server/http/documents_api.py). Every method takes the acting member and
checks their role first; a document someone may not see answers
``not_found``, exactly like one that does not exist, so a pupil of another
class learns nothing by guessing names.

A rights change (lock, group, readers) is committed, then announced on the
document's broker channel: every node re-checks its open connections at once
(``DocumentRooms.rights_changed``). A directory change (a pupil moved to
another class by an import) re-checks every open document of this node. A
removal from a class room (preau/server/moderation) takes the class's documents
away on every path — REST, the ``/collab`` upgrade, and the person's open
sockets, which the hub's removal notice re-checks on every node
(:meth:`DocumentService.member_removed`); a re-admission gives them back.

Deleting a document (:meth:`DocumentService.delete`, its class's teachers
only, as its lock; anyone else who sees it: ``forbidden``) goes
the same way: committed, then every node re-checks its connections, which
the authoriser now refuses (4403), and whoever could see it is told.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from preau.collab import content
from preau.collab.compaction import compact, merge_log
from preau.collab.ports import Access
from preau.collab.room import Limits
from preau.collab.rooms import DocumentRooms
from preau.server.broker import Broker
from preau.server.clock import Clock
from preau.server.directory.model import Member, Profile, Room, RoomKind
from preau.server.directory.service import Directory
from preau.server.documents.model import DocumentEdit, DocumentInfo, DocumentKind, DocumentVersion
from preau.server.documents.notices import DocumentNotices
from preau.server.documents.rights import Role, document_role, live_access, named_reader_in_reach
from preau.server.errors import bad_request, forbidden, not_found
from preau.server.moderation.shown_text import ShownTextGate
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.documents import DocumentFiles, SqlDocumentStore
from preau.server.text import is_blank, without_bidi_controls

MAX_TITLE = 200
log = logging.getLogger(__name__)

MAX_PEOPLE = 200  # editors + readers named on one document

# (document id, person ids): told after a rights change (see on_rights_changed).
RightsListener = Callable[[str, set[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Opened:
    document: DocumentInfo
    role: Role

    @property
    def access(self) -> Access:
        return live_access(self.role, self.document)


class DocumentService:
    def __init__(
        self, store: SqlDocumentStore, directory: Directory, clock: Clock,
        text_gate: ShownTextGate | None = None,
    ) -> None:
        self.store = store
        # Titles and version names are shown to the class: a message's gates.
        self.text_gate = text_gate
        self.directory = directory
        self.clock = clock
        self._rooms: DocumentRooms | None = None
        self._rights_listeners: list[RightsListener] = []
        # Bumped by every removal notice: a /collab upgrade that checked
        # rights before one re-checks after joining (preau/server/documents/endpoint.py).
        self.removals_seen = 0
        # The notification centre (preau/server/notifications/service.py; set by app.py).
        self.notices: DocumentNotices | None = None
        # Documents' attachments, deleted with their document (set by app.py);
        # without it they are left to the attachments' sweep.
        self.files: DocumentFiles | None = None

    def on_rights_changed(self, listener: RightsListener) -> None:
        """Call ``listener(document_id, people)`` after a lock or a group change,
        with everyone who had or now has access: their clients re-read the
        document's rights (a stock Yjs provider cannot be told over /collab)."""
        self._rights_listeners.append(listener)

    async def _concerned(self, document: DocumentInfo) -> set[str]:
        """Who may see the document, in any role (its class, the staff, its readers)."""
        view = await self.directory.school(document.school_id)
        if view is None:
            return set()
        room = await self._class_room(document)
        return {m.id for m in view.members.values()
                if document_role(m, document, room, named_in_reach=named_reader_in_reach(
                    m, document, view)) is not Role.NONE}

    async def _rights_changed(self, before: DocumentInfo) -> DocumentInfo:
        await self.rooms.rights_changed(before.id)
        after = await self._reload(before.id)
        if self._rights_listeners:
            await self._tell(after.id, await self._concerned(before) | await self._concerned(after))
        return after

    async def _tell(self, document_id: str, people: set[str]) -> None:
        for listener in self._rights_listeners:
            try:
                await listener(document_id, people)
            except Exception:
                log.exception("document %s: rights listener failed", document_id)

    def attach(self, rooms: DocumentRooms) -> None:
        """The node's rooms (built after the service, which is their authoriser)."""
        self._rooms = rooms

    @property
    def rooms(self) -> DocumentRooms:
        if self._rooms is None:
            raise RuntimeError("DocumentService.attach was not called")
        return self._rooms

    # -- rights ----------------------------------------------------------------
    async def access(self, person_id: str, document_id: str) -> Access:
        """collab's Authoriser: the person's live rights on the document."""
        member = await self.directory.member(person_id)
        document = await self.store.document(document_id)
        if member is None or document is None:
            return Access.NONE
        return live_access(await self._role(member, document), document)

    async def _role(self, member: Member, document: DocumentInfo) -> Role:
        room = await self._class_room(document)
        removed = room is not None and bool(
            await self.store.removed_from(member.id, [room.id]))
        view = await self.directory.school(document.school_id)
        return document_role(member, document, room, removed,
                             named_reader_in_reach(member, document, view))

    async def _class_room(self, document: DocumentInfo) -> Room | None:
        view = await self.directory.school(document.school_id)
        if view is None:
            return None
        return next(
            (r for r in view.rooms.values()
             if r.kind is RoomKind.CLASS and r.class_id == document.class_id),
            None,
        )

    async def open(self, member: Member, document_id: str) -> Opened:
        """The document and the member's role; ``not_found`` if they may not see it."""
        document = await self.store.document(document_id)
        if document is None:
            raise not_found("no such document")
        role = await self._role(member, document)
        if role is Role.NONE:
            raise not_found("no such document")
        return Opened(document, role)

    async def _moderate(self, member: Member, document_id: str) -> DocumentInfo:
        opened = await self.open(member, document_id)
        if opened.role is not Role.MODERATOR:
            raise forbidden("only the class's teachers may do this")
        return opened.document

    # -- metadata --------------------------------------------------------------
    async def create(
        self, member: Member, class_id: str, title: str, kind: DocumentKind,
        editors: Iterable[str] | None = None, readers: Iterable[str] = (),
    ) -> DocumentInfo:
        """A teacher of the class creates a document; ``editors`` restricts it
        to those pupils of the class (None: every pupil of the class edits)."""
        title = without_bidi_controls(title).strip()
        if is_blank(title) or len(title) > MAX_TITLE:
            raise bad_request(f"title: 1 to {MAX_TITLE} characters")
        if member.profile is not Profile.TEACHER or class_id not in member.classes:
            raise forbidden("only the class's teachers create its documents")
        if self.text_gate is not None:
            await self.text_gate.check(member, title)
        document = DocumentInfo(
            id="doc-" + secrets.token_hex(8), school_id=member.school_id, class_id=class_id,
            title=title, kind=kind, created_by=member.id, created_ms=self.clock.now_ms(),
        )
        editor_set, reader_set = await self._check_people(member, document, editors, readers)
        document = replace(document, restricted=editors is not None, editors=editor_set,
                           readers=reader_set)
        await self.store.create_document(document)
        if self.notices is not None:
            await self.notices.about_document(
                "document.shared", document.id, document.school_id, document.title,
                actor_id=member.id, to=await self._concerned(document))
        return document

    async def list_for(self, member: Member) -> list[Opened]:
        """The documents the member may open: of their classes, or naming them."""
        view = await self.directory.school(member.school_id)
        class_ids = set(member.classes)
        if member.profile is Profile.STAFF and view is not None:
            class_ids = set(view.classes)
        found = await self.store.documents_of_classes(class_ids)
        found += [d for d in await self.store.documents_naming(member.id)
                  if d.class_id not in class_ids]
        rooms = {d.id: await self._class_room(d) for d in found}
        removed = await self.store.removed_from(
            member.id, {r.id for r in rooms.values() if r is not None})
        opened = [Opened(d, document_role(member, d, room, room is not None
                                          and room.id in removed,
                                          named_reader_in_reach(member, d, view)))
                  for d, room in ((d, rooms[d.id]) for d in found)]
        return [o for o in opened if o.role is not Role.NONE]

    async def set_locked(self, member: Member, document_id: str, locked: bool) -> DocumentInfo:
        document = await self._moderate(member, document_id)
        await self.store.set_locked(document.id, locked)
        after = await self._rights_changed(document)
        if locked and not document.locked and self.notices is not None:
            await self.notices.about_document(
                "document.locked", after.id, after.school_id, after.title,
                actor_id=member.id, to=await self._concerned(after))
        return after

    async def set_people(
        self, member: Member, document_id: str, editors: Iterable[str] | None,
        readers: Iterable[str],
    ) -> DocumentInfo:
        """Choose the group (``editors``; None: the whole class) and the readers.
        Whoever loses rights is downgraded or cut at once, on every node."""
        document = await self._moderate(member, document_id)
        editor_set, reader_set = await self._check_people(member, document, editors, readers)
        await self.store.set_people(document.id, editors is not None, editor_set, reader_set)
        return await self._rights_changed(document)

    async def delete(self, member: Member, document_id: str) -> DocumentInfo:
        """Delete the document for good, with its content, versions, history,
        people and files (one transaction). Its open sockets close on every
        node (4403: the authoriser finds no document), its room here goes,
        and everyone who could see it gets ``document.changed``. Its
        notifications stay until their retention but are no longer listed
        (the centre asks the rights, which a missing document has none of)."""
        document = await self._moderate(member, document_id)
        concerned = await self._concerned(document) if self._rights_listeners else set()
        if not await self.store.delete_document(document.id, self.files):
            raise not_found("no such document")  # deleted meanwhile
        await self.rooms.deleted(document.id)
        await self._tell(document.id, concerned)
        return document

    async def _check_people(
        self, member: Member, document: DocumentInfo, editors: Iterable[str] | None,
        readers: Iterable[str],
    ) -> tuple[frozenset[str], frozenset[str]]:
        editor_set = frozenset(editors or ())
        reader_set = frozenset(readers) - editor_set
        if len(editor_set) + len(reader_set) > MAX_PEOPLE:
            raise bad_request(f"at most {MAX_PEOPLE} people per document")
        view = await self.directory.school(document.school_id)
        if view is None:
            raise not_found("no such school")
        for person_id in editor_set:
            pupil = view.members.get(person_id)
            if (pupil is None or pupil.profile is not Profile.PUPIL
                    or document.class_id not in pupil.classes):
                raise bad_request(f"editors: {person_id} is not a pupil of this class")
        for person_id in reader_set:
            # Naming a reader shows them the content: the circle of trust decides.
            if not await self.directory.may_communicate(member, person_id):
                raise bad_request(f"readers: {person_id} is not someone you may reach")
        return editor_set, reader_set

    async def _reload(self, document_id: str) -> DocumentInfo:
        document = await self.store.document(document_id)
        if document is None:
            raise not_found("no such document")
        return document

    # -- content, versions, history ---------------------------------------------
    async def state(self, document_id: str) -> bytes:
        """The whole stored state, merged (everything ever accepted)."""
        stored = await self.store.load_log(document_id)
        parts = ([stored.snapshot] if stored.snapshot is not None else []) + [
            u for _, u in stored.updates
        ]
        return merge_log(parts)

    async def export(self, member: Member, document_id: str) -> tuple[DocumentInfo, object]:
        """The content as text (``text`` kind) or JSON (``map`` kind); readers too."""
        opened = await self.open(member, document_id)
        return opened.document, content.read(await self.state(document_id),
                                              opened.document.kind.value)

    async def create_version(self, member: Member, document_id: str, name: str) -> DocumentVersion:
        document = await self._moderate(member, document_id)
        name = without_bidi_controls(name).strip()
        if is_blank(name) or len(name) > MAX_TITLE:
            raise bad_request(f"name: 1 to {MAX_TITLE} characters")
        if self.text_gate is not None:
            await self.text_gate.check(member, name)
        version = DocumentVersion(
            "ver-" + secrets.token_hex(8), document.id, name, member.id, self.clock.now_ms()
        )
        await self.store.add_version(version, await self.state(document.id))
        return version

    async def versions(self, member: Member, document_id: str) -> list[DocumentVersion]:
        await self.open(member, document_id)
        return await self.store.versions(document_id)

    async def restore(self, member: Member, document_id: str, version_id: str) -> int:
        """Bring the content back to a version, as a new edit everyone receives;
        its seq, or 0 when the content already was the version's."""
        document = await self._moderate(member, document_id)
        saved = await self.store.version_state(document.id, version_id)
        if saved is None:
            raise not_found("no such version")
        update = content.restore_update(await self.state(document.id), saved,
                                        document.kind.value)
        if update == b"\x00\x00":
            return 0  # the content is already the version's
        return await self.rooms.server_update(document.id, update, member.id)

    async def history(self, member: Member, document_id: str) -> list[DocumentEdit]:
        """Who edited when (teachers of the class)."""
        document = await self._moderate(member, document_id)
        return await self.store.edits(document.id)

    async def compact(self, document_id: str) -> None:
        await compact(self.store, document_id)

    # -- live re-checks ----------------------------------------------------------
    async def directory_changed(self, school_id: str) -> None:
        """A school's directory changed: re-check every open document here."""
        await self.rooms.recheck_all()

    async def member_removed(self, room_id: str, person_id: str, removed: bool) -> None:
        """A removal from a room (or a re-admission), committed and announced
        on every node (the hub's ``on_removal``): the person's open documents
        here are re-checked, so a removed pupil's sockets on the class's
        documents close (4403) at once. A re-admitted pupil is let in again
        on the next connection (y-websocket takes 4403 as final: the app
        connects again)."""
        self.removals_seen += 1
        if removed:
            await self.rooms.recheck_person(person_id)


def build_documents(
    store: Store, broker: Broker, directory: Directory, settings: Settings, clock: Clock
) -> DocumentService:
    """The document service with this node's rooms attached (called by app.py)."""
    service = DocumentService(SqlDocumentStore(store.engine), directory, clock,
                              ShownTextGate(store))
    limits = Limits(
        max_update_bytes=settings.collab_max_update_bytes,
        max_document_bytes=settings.collab_max_document_bytes,
        compact_after_updates=settings.collab_compact_after,
    )
    service.attach(DocumentRooms(
        store=service.store, broker=broker, authoriser=service, limits=limits,
        now_ms=clock.now_ms,
    ))
    return service
