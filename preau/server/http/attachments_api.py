"""REST for attachments (docs/protocol.md, "Attachments"): upload (the raw
body, streamed), download (ranges), thumbnail, delete an upload not sent yet;
a document's attachments. The service (preau/server/attachments/service.py)
checks the rights on every request: out of reach answers ``not_found``, as
an unknown id.

A download can never run as a page of Préau's origin: ``Content-Disposition``
(``attachment``, ``inline`` only for images, audio and video, whose types the
server detected from the bytes), ``X-Content-Type-Options: nosniff`` and a
sandboxing ``Content-Security-Policy``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import BaseModel, Field, StrictStr
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from preau.server.attachments.service import MAX_PER_MESSAGE
from preau.server.blobs import BlobMissing
from preau.server.errors import ErrorCode, PreauError, bad_request
from preau.server.http.common import Strict, json_body, member_of, path_id, services
from preau.server.http.openapi import Endpoint
from preau.server.store.attachments import Attachment
from preau.server.text import decimal

log = logging.getLogger(__name__)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_INLINE_KINDS = frozenset({"image", "audio", "video"})


class AttachmentOut(BaseModel):
    id: str
    name: str
    size: int
    kind: str
    mime: str
    state: str  # ready | pending
    thumbnail: bool
    width: int | None = None
    height: int | None = None


class UploadedOut(BaseModel):
    attachment: AttachmentOut


class AttachmentsOut(BaseModel):
    attachments: list[AttachmentOut]


class AttachBody(Strict):
    attachments: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=MAX_PER_MESSAGE),
    ]


def attachment_wire(found: Attachment) -> dict[str, Any]:
    return found.ref().to_wire()


def _length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    length = decimal(raw)
    if length is None:
        raise bad_request("Content-Length must be a number of bytes")
    return length


async def upload(request: Request) -> Response:
    member = await member_of(request)
    name = request.query_params.get("name")
    if name is None:
        raise PreauError(ErrorCode.ATTACHMENT_NAME_INVALID, "a file needs a name")
    declared = request.headers.get("content-type")

    async def body() -> Any:
        try:
            async for chunk in request.stream():
                if chunk:
                    yield chunk
        except ClientDisconnect:
            return  # fewer bytes than announced: the service says truncated

    found = await services(request).attachments.upload(
        member, name, declared, _length(request), body())
    return JSONResponse({"attachment": attachment_wire(found)}, status_code=201)


def _disposition(found: Attachment) -> str:
    how = "inline" if found.kind in _INLINE_KINDS else "attachment"
    return f"{how}; filename*=UTF-8''{quote(found.name, safe='')}"


def _headers(mime: str) -> dict[str, str]:
    return {
        "content-type": mime,
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'",
        "cache-control": "private, no-store",
        "cross-origin-resource-policy": "same-origin",
    }


def _range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """``(start, end)`` (end exclusive) of a single ``bytes=`` range; None:
    no usable range (the whole file); False: unsatisfiable."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match[1] == match[2] == "":
        return None  # several ranges, or another unit: the whole file (RFC 9110)
    if match[1] == "":
        suffix = int(match[2])
        if suffix == 0:
            return False
        return max(0, size - suffix), size
    start = int(match[1])
    end = size if match[2] == "" else min(size, int(match[2]) + 1)
    if start >= size or start >= end:
        return False
    return start, end


def _report(request: Request) -> str | None:
    """``?report=``: the report a reviewer reads the file for (its message's)."""
    value = request.query_params.get("report")
    if value is not None and not 1 <= len(value) <= 64:
        raise bad_request("report has 1 to 64 characters")
    return value


async def download(request: Request) -> Response:
    member = await member_of(request)
    node = services(request).attachments
    found = await node.download(member, path_id(request, "attachment"), _report(request))
    headers = _headers(found.mime)
    headers["content-disposition"] = _disposition(found)
    headers["accept-ranges"] = "bytes"
    wanted = _range(request.headers.get("range"), found.size)
    if wanted is False:
        headers["content-range"] = f"bytes */{found.size}"
        return Response(status_code=416, headers=headers)
    if wanted is None or wanted is True:  # the whole file
        headers["content-length"] = str(found.size)
        return StreamingResponse(await _started(node.read(found)), headers=headers)
    start, end = wanted
    headers["content-range"] = f"bytes {start}-{end - 1}/{found.size}"
    headers["content-length"] = str(end - start)
    return StreamingResponse(await _started(node.read(found, start, end)), status_code=206,
                             headers=headers)


async def _started(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` with its first one read before the answer starts: bytes
    missing from the blob store (lost storage) answer ``unavailable`` rather
    than a response cut after its headers."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except BlobMissing:
        log.error("attachment bytes missing from the blob store")
        raise PreauError(ErrorCode.UNAVAILABLE, "this file cannot be read now") from None

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()


async def thumbnail(request: Request) -> Response:
    member = await member_of(request)
    data, mime = await services(request).attachments.thumbnail(
        member, path_id(request, "attachment"), _report(request))
    return Response(data, headers=_headers(mime))


async def delete(request: Request) -> Response:
    member = await member_of(request)
    await services(request).attachments.delete(member, path_id(request, "attachment"))
    return Response(status_code=204)


async def attach_to_document(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, AttachBody)
    bound = await services(request).attachments.attach_to_document(
        member, path_id(request, "document"), body.attachments)
    return JSONResponse({"attachments": [attachment_wire(a) for a in bound]})


async def document_attachments(request: Request) -> Response:
    member = await member_of(request)
    found = await services(request).attachments.of_document(
        member, path_id(request, "document"))
    return JSONResponse({"attachments": [attachment_wire(a) for a in found]})


async def detach_from_document(request: Request) -> Response:
    member = await member_of(request)
    await services(request).attachments.detach_from_document(
        member, path_id(request, "document"), path_id(request, "attachment"))
    return Response(status_code=204)


UPLOAD = "/api/attachments"
REVIEW = {"report": "a report the reader reviews: the reported message's files, for its"
                     " moderators and the school's admins while it is open (journaled)"}
ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", UPLOAD,
             "Upload a file: the raw body with its Content-Type and Content-Length",
             upload, response=UploadedOut, query={"name": "the file's name (URL-encoded)"}),
    Endpoint("GET", "/api/attachments/{attachment}",
             "Download a file (Range supported): whoever may read its message or document",
             download, query=REVIEW),
    Endpoint("GET", "/api/attachments/{attachment}/thumbnail", "An image's thumbnail",
             thumbnail, query=REVIEW),
    Endpoint("DELETE", "/api/attachments/{attachment}", "Delete an upload not sent yet",
             delete),
    Endpoint("POST", "/api/documents/{document}/attachments",
             "Attach my uploads to a document I may edit", attach_to_document,
             body=AttachBody, response=AttachmentsOut),
    Endpoint("GET", "/api/documents/{document}/attachments", "A document's attachments",
             document_attachments, response=AttachmentsOut),
    Endpoint("DELETE", "/api/documents/{document}/attachments/{attachment}",
             "Remove an attachment from a document I may edit", detach_from_document),
]
