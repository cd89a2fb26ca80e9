"""REST for shared documents: create and list, lock, group and readers, versions,
edit history, export, deletion. The live editing itself is ``/collab/{document}``.

Handlers only parse, authenticate and call the document service
(preau/server/documents/service.py), which checks the roles; a document the caller
may not see is ``not_found``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from preau.server.documents.model import DocumentInfo, DocumentKind, DocumentVersion
from preau.server.documents.rights import Role, live_access
from preau.server.documents.service import MAX_PEOPLE, MAX_TITLE, DocumentService
from preau.server.errors import bad_request
from preau.server.http.common import M, Strict, json_body, member_of, services
from preau.server.http.openapi import Endpoint

MAX_BODY = 64 * 1024

PersonId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class CreateDocumentBody(BaseModel):  # as Strict (ruff sees pydantic's defaults only here)
    model_config = ConfigDict(extra="forbid")
    class_id: Annotated[StrictStr, Field(alias="class", min_length=1, max_length=64)]
    title: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TITLE)]
    kind: DocumentKind = DocumentKind.TEXT
    # A group of the class's pupils who alone edit; absent/null: the whole class.
    editors: Annotated[list[PersonId], Field(max_length=MAX_PEOPLE)] | None = None
    readers: Annotated[list[PersonId], Field(max_length=MAX_PEOPLE)] = []


class PeopleBody(BaseModel):  # as Strict
    model_config = ConfigDict(extra="forbid")
    editors: Annotated[list[PersonId], Field(max_length=MAX_PEOPLE)] | None = None
    readers: Annotated[list[PersonId], Field(max_length=MAX_PEOPLE)] = []


class VersionBody(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TITLE)]


class DocumentOut(BaseModel):
    id: str
    class_id: str
    title: str
    kind: str
    created_by: str
    created_ms: int
    locked: bool
    restricted: bool
    role: str  # moderator | editor | reader
    access: str  # write | read: what a connection may do now (a lock makes editors read)
    editors: list[str] | None = None  # moderators only
    readers: list[str] | None = None  # moderators only
    collab: str  # the y-websocket room name: connect to /collab/<this>


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class VersionOut(BaseModel):
    id: str
    name: str
    created_by: str
    created_ms: int


class VersionsOut(BaseModel):
    versions: list[VersionOut]


class EditOut(BaseModel):
    person: str
    name: str | None
    at: int


class HistoryOut(BaseModel):
    edits: list[EditOut]


class RestoredOut(BaseModel):
    seq: int


class DeletedOut(BaseModel):
    id: str
    deleted: bool


def _documents(request: Request) -> DocumentService:
    return services(request).documents


async def _body(request: Request, model: type[M]) -> M:
    return await json_body(request, model, limit=MAX_BODY, empty_is_object=True)


def _out(document: DocumentInfo, role: Role) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": document.id, "class_id": document.class_id, "title": document.title,
        "kind": document.kind.value, "created_by": document.created_by,
        "created_ms": document.created_ms, "locked": document.locked,
        "restricted": document.restricted, "role": role.name.lower(),
        "access": live_access(role, document).name.lower(), "collab": document.id,
    }
    if role is Role.MODERATOR:
        body["editors"] = sorted(document.editors)
        body["readers"] = sorted(document.readers)
    return body


def _version(version: DocumentVersion) -> dict[str, Any]:
    return {"id": version.id, "name": version.name, "created_by": version.created_by,
            "created_ms": version.created_ms}


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def create_document(request: Request) -> Response:
    member = await member_of(request)
    body = await _body(request, CreateDocumentBody)
    document = await _documents(request).create(
        member, body.class_id, body.title, body.kind, body.editors, body.readers
    )
    return _json(_out(document, Role.MODERATOR))


async def list_documents(request: Request) -> Response:
    member = await member_of(request)
    opened = await _documents(request).list_for(member)
    return _json({"documents": [_out(o.document, o.role) for o in opened]})


async def get_document(request: Request) -> Response:
    member = await member_of(request)
    opened = await _documents(request).open(member, request.path_params["document"])
    return _json(_out(opened.document, opened.role))


async def delete_document(request: Request) -> Response:
    member = await member_of(request)
    document = await _documents(request).delete(member, request.path_params["document"])
    return _json({"id": document.id, "deleted": True})


async def _lock(request: Request, locked: bool) -> Response:
    member = await member_of(request)
    document = await _documents(request).set_locked(
        member, request.path_params["document"], locked
    )
    return _json(_out(document, Role.MODERATOR))


async def lock_document(request: Request) -> Response:
    return await _lock(request, True)


async def unlock_document(request: Request) -> Response:
    return await _lock(request, False)


async def set_people(request: Request) -> Response:
    member = await member_of(request)
    body = await _body(request, PeopleBody)
    document = await _documents(request).set_people(
        member, request.path_params["document"], body.editors, body.readers
    )
    return _json(_out(document, Role.MODERATOR))


async def list_versions(request: Request) -> Response:
    member = await member_of(request)
    versions = await _documents(request).versions(member, request.path_params["document"])
    return _json({"versions": [_version(v) for v in versions]})


async def create_version(request: Request) -> Response:
    member = await member_of(request)
    body = await _body(request, VersionBody)
    version = await _documents(request).create_version(
        member, request.path_params["document"], body.name
    )
    return _json(_version(version))


async def restore_version(request: Request) -> Response:
    member = await member_of(request)
    seq = await _documents(request).restore(
        member, request.path_params["document"], request.path_params["version"]
    )
    return _json({"seq": seq})


async def history(request: Request) -> Response:
    member = await member_of(request)
    service = _documents(request)
    edits = await service.history(member, request.path_params["document"])
    view = await service.directory.school(member.school_id)
    names = {} if view is None else {i: m.display_name for i, m in view.members.items()}
    return _json({"edits": [{"person": e.person_id, "name": names.get(e.person_id),
                             "at": e.at_ms} for e in edits]})


async def export(request: Request) -> Response:
    member = await member_of(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("text", "json"):
        raise bad_request("format: text or json")
    document, content = await _documents(request).export(
        member, request.path_params["document"]
    )
    if fmt == "text":
        text = content if isinstance(content, str) else orjson.dumps(
            content, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        return PlainTextResponse(text)
    return JSONResponse({"id": document.id, "title": document.title,
                         "kind": document.kind.value, "content": content})


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/api/documents",
             "Create a shared document of a class (its teachers); optionally only a group "
             "of its pupils edits", create_document, body=CreateDocumentBody,
             response=DocumentOut),
    Endpoint("GET", "/api/documents", "Documents I may open, with my role", list_documents,
             response=DocumentsOut),
    Endpoint("GET", "/api/documents/{document}", "A document's metadata and my role",
             get_document, response=DocumentOut),
    Endpoint("DELETE", "/api/documents/{document}",
             "Delete a document for good, with its content, versions, history and files "
             "(the class's teachers; others who see it: forbidden, anyone else: not_found);"
             " its open sockets close (4403)",
             delete_document, response=DeletedOut),
    Endpoint("POST", "/api/documents/{document}/lock",
             "Lock: only the class's teachers edit; open editors become read-only at once",
             lock_document, response=DocumentOut),
    Endpoint("POST", "/api/documents/{document}/unlock", "Unlock (the class's teachers)",
             unlock_document, response=DocumentOut),
    Endpoint("PUT", "/api/documents/{document}/people",
             "Choose the editing group (null: the whole class) and the readers; whoever "
             "loses rights is downgraded or disconnected at once", set_people,
             body=PeopleBody, response=DocumentOut),
    Endpoint("GET", "/api/documents/{document}/versions", "Named versions", list_versions,
             response=VersionsOut),
    Endpoint("POST", "/api/documents/{document}/versions",
             "Save the current content as a named version (the class's teachers)",
             create_version, body=VersionBody, response=VersionOut),
    Endpoint("POST", "/api/documents/{document}/versions/{version}/restore",
             "Bring the content back to a version, as a new edit everyone receives",
             restore_version, response=RestoredOut),
    Endpoint("GET", "/api/documents/{document}/history",
             "Who edited when, newest first, per minute of editing (the class's teachers)",
             history, response=HistoryOut),
    Endpoint("GET", "/api/documents/{document}/export",
             "The content as plain text or JSON", export,
             query={"format": "text or json (default)"}),
]
