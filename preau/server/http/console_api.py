"""REST for the school admins' console (preau/server/console/service.py):
people and classes with search, create, edit, move, parent links, close,
activation letters (PDF), and a directory import previewed before it is
applied. The service authorises: the school's admins only; anyone else, and
any id outside the school, answers ``not_found`` like an unknown id."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Base64Bytes, BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.directory.several import MAX_FILES
from preau.server.errors import ErrorCode, PreauError, bad_request
from preau.server.http.common import (
    Strict,
    json_body,
    member_of,
    path_id,
    query_id,
    services,
)
from preau.server.http.middleware import IMPORT_BODY_LIMIT, IMPORT_REQUEST_LIMIT
from preau.server.http.openapi import Endpoint

Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class NewPersonBody(Strict):
    profile: Literal["pupil", "teacher", "parent", "staff"]
    first_name: Name
    last_name: Name
    classes: Annotated[list[Id], Field(max_length=40)] = Field(default_factory=list)
    children: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)
    email: Annotated[StrictStr, Field(max_length=254)] | None = None
    admin: StrictBool = False


class EditBody(Strict):
    first_name: Name | None = None
    last_name: Name | None = None
    admin: StrictBool | None = None
    email: Annotated[StrictStr, Field(max_length=254)] | None = None  # "": no address


class NewClassBody(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    kind: Literal["class", "group"] = "class"


class NewClassOut(BaseModel):
    id: str
    name: str  # as stored: a division's name normalised ("5e B" → "5eB")
    kind: str


class ClassesBody(Strict):
    classes: Annotated[list[Id], Field(max_length=40)]
    groups: Annotated[list[Id], Field(max_length=40)] | None = None  # None: unchanged


class ChildrenBody(Strict):
    children: Annotated[list[Id], Field(min_length=1, max_length=20)]


class CloseBody(Strict):
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


class LettersBody(Strict):
    people: Annotated[list[Id], Field(max_length=2000)] = Field(default_factory=list)
    # Everyone of the class (pupils and their parents) not activated yet.
    klass: Id | None = Field(None, alias="class")


Group = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class LinkBody(Strict):
    from_: Group = Field(alias="from")
    to: Group


class RuleGroup(BaseModel):
    id: str
    scope: Literal["school", "class", "group"]
    scope_id: str
    scope_name: str
    profile: Literal["pupil", "teacher", "parent", "staff"]


class RuleLink(BaseModel):
    from_: str = Field(alias="from")
    to: str
    default: bool = True  # one of the French ENT defaults (not in missing_defaults)


class RulesOut(BaseModel):
    groups: list[RuleGroup]
    links: list[RuleLink]
    missing_defaults: list[RuleLink]  # default links the school removed
    is_default: bool
    parents_may_message: bool  # the school's setting: parents of a class among themselves


class LinkChangedOut(BaseModel):
    changed: bool  # False: it already was so (nothing written, nothing audited)


class ResetOut(BaseModel):
    added: int
    removed: int


class Ref(BaseModel):
    id: str
    name: str


class ConsolePerson(BaseModel):
    id: str
    external_id: str
    login: str
    first_name: str
    last_name: str
    name: str
    profile: str
    admin: bool
    email: str | None
    classes: list[Ref]
    groups: list[Ref]  # options, languages (a pupil's or a teacher's)
    children: list[Ref]
    guardians: list[Ref]
    activated: bool
    code_expires: int | None


class PeopleOut(BaseModel):
    people: list[ConsolePerson]


class ConsoleClass(BaseModel):
    id: str
    name: str
    kind: Literal["class", "group"]
    pupils: int
    teachers: int
    pending: int  # pupils who have not activated yet


class ClassesOut(BaseModel):
    classes: list[ConsoleClass]


class CreatedOut(BaseModel):
    id: str
    login: str
    code: str  # shown once
    expires: int


class ImportFile(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    data: Base64Bytes  # the file's bytes, base64


class ImportFilesBody(Strict):
    """Several files as one import (``content-type: application/json``)."""

    files: Annotated[list[ImportFile], Field(min_length=1, max_length=MAX_FILES)]


class FileReadOut(BaseModel):
    name: str
    kind: str  # csv, siecle-pupils, siecle-guardians, sts-web, aaf
    encoding: str  # a CSV's; "" for XML
    people: int  # read from it (an AAF set: counted on its first file)


class RowOut(BaseModel):
    line: int
    field: str
    file: str  # several files: the one at fault; "" for one file
    message_fr: str
    message_en: str


class PlannedRow(BaseModel):
    line: int | None = None
    external_id: str
    name: str
    profile: str
    classes: list[str] = Field(default_factory=list)
    # ``moved`` only: the classes before the import.
    from_: list[str] | None = Field(None, alias="from")


class PreviewOut(BaseModel):
    encoding: str
    files: list[FileReadOut]  # several files: what each was; [] for one
    created: list[PlannedRow]
    moved: list[PlannedRow]
    updated: int
    closed: list[PlannedRow]
    rejected: list[RowOut]
    refused: bool


class AppliedOut(BaseModel):
    created: int
    updated: int
    classes_created: int
    closed: int
    rejected: int
    rejected_rows: list[RowOut]


def _school(request: Request) -> str:
    return path_id(request, "school")


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "0")
    if raw not in ("0", "1", "true", "false"):
        raise bad_request(f"{name} is 0 or 1")
    return raw in ("1", "true")


async def people(request: Request) -> Response:
    viewer = await member_of(request)
    query = request.query_params.get("q", "")
    if len(query) > 100:
        raise bad_request("q has at most 100 characters")
    profile = request.query_params.get("profile")
    if profile is not None and profile not in ("pupil", "teacher", "parent", "staff"):
        raise bad_request("profile is pupil, teacher, parent or staff")
    found = await services(request).console.people(
        viewer, _school(request), query=query, class_id=query_id(request, "class"),
        profile=profile, pending_only=_flag(request, "pending"))
    return JSONResponse({"people": found})


async def classes(request: Request) -> Response:
    viewer = await member_of(request)
    return JSONResponse({"classes": await services(request).console.classes(
        viewer, _school(request))})


async def new_class(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, NewClassBody)
    made = await services(request).console.create_class(
        viewer, _school(request), body.name, body.kind)
    return JSONResponse(made, status_code=201)


async def create(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, NewPersonBody)
    created = await services(request).console.create(
        viewer, _school(request), profile=body.profile, first_name=body.first_name,
        last_name=body.last_name, class_ids=body.classes, children=body.children,
        email=body.email, admin=body.admin)
    return JSONResponse(created, status_code=201, headers={"cache-control": "no-store"})


async def edit(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, EditBody)
    await services(request).console.edit(
        viewer, _school(request), path_id(request, "person"), first_name=body.first_name,
        last_name=body.last_name, admin=body.admin, email=body.email)
    return JSONResponse({})


async def move(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, ClassesBody)
    await services(request).console.move(
        viewer, _school(request), path_id(request, "person"), body.classes, body.groups)
    return JSONResponse({})


async def children(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, ChildrenBody)
    await services(request).console.set_children(
        viewer, _school(request), path_id(request, "person"), body.children)
    return JSONResponse({})


async def close(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, CloseBody, empty_is_object=True)
    await services(request).console.close(
        viewer, _school(request), path_id(request, "person"), body.reason)
    return JSONResponse({})


async def letters(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, LettersBody)
    if not body.people and body.klass is None:
        raise bad_request("name people or a class")
    pdf = await services(request).console.letters(
        viewer, _school(request), people=body.people, class_id=body.klass)
    return Response(pdf, media_type="application/pdf", headers={
        "cache-control": "no-store",
        "content-disposition": 'attachment; filename="lettres-activation.pdf"'})


async def _files(request: Request) -> list[tuple[str, bytes]]:
    """The body: one file as it is, or several as JSON (ImportFilesBody)."""
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
        body = await json_body(request, ImportFilesBody, limit=IMPORT_REQUEST_LIMIT)
        files = [(f.name.strip() or "?", f.data) for f in body.files]
        names = [name for name, _ in files]
        if len(set(names)) != len(names):
            raise bad_request("two files have the same name")
    else:
        files = [("", await request.body())]
    if sum(len(data) for _, data in files) > IMPORT_BODY_LIMIT:
        raise PreauError(ErrorCode.TOO_LARGE, f"files larger than {IMPORT_BODY_LIMIT} bytes")
    for name, data in files:
        if not data.strip():
            raise bad_request(f"the file {name} is empty" if name else "the file is empty")
    return files


async def preview(request: Request) -> Response:
    viewer = await member_of(request)
    school = _school(request)
    rollover = _flag(request, "rollover")
    files = await _files(request)
    found = await services(request).console.preview(viewer, school, files, rollover)
    return JSONResponse({
        "encoding": found.encoding, "files": found.files, "created": found.created,
        "moved": found.moved,
        "updated": found.updated, "closed": found.closed, "rejected": found.rejected,
        "refused": found.refused})


async def apply(request: Request) -> Response:
    viewer = await member_of(request)
    school = _school(request)
    rollover = _flag(request, "rollover")
    files = await _files(request)
    return JSONResponse(await services(request).console.apply(viewer, school, files, rollover))


async def rules(request: Request) -> Response:
    viewer = await member_of(request)
    return JSONResponse(await services(request).console.rules(viewer, _school(request)))


async def add_link(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, LinkBody)
    return JSONResponse(await services(request).console.set_link(
        viewer, _school(request), body.from_, body.to, True))


async def remove_link(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, LinkBody)
    return JSONResponse(await services(request).console.set_link(
        viewer, _school(request), body.from_, body.to, False))


async def reset_rules(request: Request) -> Response:
    viewer = await member_of(request)
    await json_body(request, Strict, empty_is_object=True)
    return JSONResponse(await services(request).console.reset_rules(viewer, _school(request)))


FILE = {"rollover": "1: a new school year (everyone not in the file is closed)"}
ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/schools/{school}/people",
             "The school's people with their classes, children and parents, by name, login "
             "or id (school admins)", people, response=PeopleOut,
             query={"q": "words of the name, login or id", "class": "a class id",
                    "profile": "pupil, teacher, parent or staff",
                    "pending": "1: only those who have not activated yet"}),
    Endpoint("POST", "/api/schools/{school}/people",
             "Create an account; its activation code is in the answer, once (school admins; "
             "audited)", create, body=NewPersonBody, response=CreatedOut),
    Endpoint("PUT", "/api/schools/{school}/people/{person}",
             "Edit names, e-mail address (\"\" removes it; never for a pupil), admin right "
             "(school admins; audited)", edit, body=EditBody),
    Endpoint("PUT", "/api/schools/{school}/people/{person}/classes",
             "Move a pupil to another class, or set a teacher's classes; live rights follow "
             "at once (school admins; audited)", move, body=ClassesBody),
    Endpoint("PUT", "/api/schools/{school}/people/{person}/children",
             "Set a parent's children (school admins; audited)", children, body=ChildrenBody),
    Endpoint("POST", "/api/schools/{school}/people/{person}/close",
             "Close an account: its sessions and sockets end, the erasure clock starts "
             "(school admins; audited)", close, body=CloseBody),
    Endpoint("GET", "/api/schools/{school}/classes",
             "The school's classes with their pupils, teachers and those not activated "
             "(school admins)", classes, response=ClassesOut),
    Endpoint("POST", "/api/schools/{school}/classes",
             "Create a class or a group with its room and default rules; a name the school "
             "has: conflict (school admins; audited)", new_class, body=NewClassBody,
             response=NewClassOut),
    Endpoint("GET", "/api/schools/{school}/rules",
             "The school's communication rules: its groups (per profile, school-wide and per "
             "class or group) and the directed links between them, defaults marked (school "
             "admins)", rules, response=RulesOut),
    Endpoint("POST", "/api/schools/{school}/rules/links",
             "Add a link: members of one group may reach members of the other (a group to "
             "itself: among themselves); rights follow at once on every node (school admins; "
             "audited)", add_link, body=LinkBody, response=LinkChangedOut),
    Endpoint("POST", "/api/schools/{school}/rules/links/remove",
             "Remove a link; conversations it allowed close, live sockets lose what it "
             "allowed, at once on every node (school admins; audited)", remove_link,
             body=LinkBody, response=LinkChangedOut),
    Endpoint("POST", "/api/schools/{school}/rules/reset",
             "Put the school's links back to the defaults for its classes and groups "
             "(school admins; audited)", reset_rules, response=ResetOut),
    Endpoint("POST", "/api/schools/{school}/letters",
             "New activation codes and their letters as one PDF, in French: the people named, "
             "or a class's pupils and parents not activated yet (school admins; each code "
             "audited)", letters, body=LettersBody),
    Endpoint("POST", "/api/schools/{school}/import/preview",
             "What importing this directory CSV (the request body, any encoding; or several "
             "files as JSON {files: [{name, data (base64)}]}, read as one) would change: "
             "created, moved, closed, rejected rows with their reasons in French and English; "
             "nothing is written (school admins)", preview, response=PreviewOut, query=FILE),
    Endpoint("POST", "/api/schools/{school}/import",
             "Import this directory CSV (the request body; or several files as JSON, as for the "
             "preview); bad rows are reported and left "
             "out, a rollover with one is refused whole (school admins; audited)", apply,
             response=AppliedOut, query=FILE),
]
