"""The HTTP layer's shared parsing (preau/server/http/common.py)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from preau.server.errors import ErrorCode, PreauError
from preau.server.http.common import Strict, json_body


class Body(Strict):
    text: str


async def test_a_client_gone_mid_body_is_a_bad_request_not_a_crash() -> None:
    """An outside probe's dropped requests each logged two tracebacks."""
    sent = [{"type": "http.request", "body": b'{"text": "bonj', "more_body": True},
            {"type": "http.disconnect"}]

    async def receive() -> dict[str, object]:
        return sent.pop(0)

    request = Request({"type": "http", "method": "POST", "path": "/api/x", "headers": [],
                       "query_string": b""}, receive)  # type: ignore[arg-type]
    with pytest.raises(PreauError) as gone:
        await json_body(request, Body)
    assert gone.value.code is ErrorCode.BAD_REQUEST
