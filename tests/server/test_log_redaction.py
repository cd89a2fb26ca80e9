"""Session tokens never reach a log line (preau/server/log_redaction.py), and REST
never takes a token from the URL."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import websockets
from preau_client import PreauClient

from preau.server.log_redaction import REDACTED, install, redact
from tests.server.live import LiveServer

SECRET = "s3cr3t-T0ken_value-123"


@pytest.mark.parametrize("line", [
    f'127.0.0.1:5 - "WebSocket /collab/abc?token={SECRET}" 403',
    f'"GET /ws?x=1&token={SECRET}&y=2 HTTP/1.1"',
    f"url='http://h/collab/d?access_token={SECRET}'",
    f"Token={SECRET}",
])
def test_tokens_in_any_shape_of_line_are_redacted(line: str) -> None:
    out = redact(line)
    assert SECRET not in out
    assert REDACTED in out


def test_every_record_of_the_process_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:9",
                                                f"/collab/doc?token={SECRET}")
    assert SECRET not in caplog.text
    assert f"token={REDACTED}" in caplog.text


@pytest.mark.parametrize("address", ["203.0.113.9:51234", "[2001:db8::1]:443", "10.0.0.7:80"])
def test_no_client_address_reaches_a_log_line(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn starts each handshake's line with the client's address (from
    X-Forwarded-For behind a proxy): personal data, which an outside probe
    found in every node's log."""
    install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', address,
                                                "/ws")
        logging.getLogger("uvicorn.error").info("%s - invalid UTF-8 in a text frame", address)
    host = address.rsplit(":", 1)[0]
    assert host not in caplog.text
    assert caplog.text.count('client - ') == 2


@pytest.mark.slow
async def test_a_live_server_logs_no_token_and_rest_takes_none_from_the_url(
    tmp_path: Path,
) -> None:
    server = LiveServer(tmp_path, log_level="debug").start()
    try:
        client = await server.client("Léa Martin")
        token = client.token
        base = server.ws_url.rsplit("/", 1)[0]
        # Accepted and refused upgrades, both endpoints, token in the URL.
        for path in ("/ws", "/collab/nope"):
            for value in (token, SECRET):
                try:
                    async with websockets.connect(f"{base}{path}?token={value}") as ws:
                        await ws.close()
                except websockets.InvalidStatus:
                    pass
        # REST: the URL's token is not a credential (401), the header is.
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{server.base_url}/api/me?token={token}")
        assert response.status_code == 401
        async with PreauClient(server.base_url, token, client.person) as same:
            assert (await same.me())["person"]
        await client.close()
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "WebSocket" in log  # the handshakes were logged…
    assert token not in log  # …without their token
    assert SECRET not in log
