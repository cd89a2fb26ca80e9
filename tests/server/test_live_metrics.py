"""Metrics and JSON logs of a live server under a small load (issue 16, items 1 and 3).

A few clients chat, a teacher edits a document, someone mistypes a password:
the series named in docs/operations.md ("Metrics") move as they should, on
``/metrics`` (operators only) and on ``PREAU_METRICS_PORT``; the JSON log
lines parse, carry the node and request ids, and hold no password, token or
message body.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.collab.yclient import YClient
from tests.server.live import PASSWORD, LiveServer, free_port

pytestmark = pytest.mark.slow

OPS_TOKEN = "ops-" + secrets.token_hex(16)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("metrics"), log_level="info", env={
        "PREAU_OPS_TOKEN": OPS_TOKEN,
        "PREAU_LOG_FORMAT": "json",
        "PREAU_METRICS_PORT": str(free_port()),
    })
    server.start()
    try:
        yield server
    finally:
        server.stop()


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(server: LiveServer) -> Samples:
    response = httpx.get(server.base_url + "/metrics", timeout=5,
                         headers={"authorization": f"Bearer {OPS_TOKEN}",
                                  "x-forwarded-for": "203.0.113.9"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_are_for_operators_only(metered: LiveServer) -> None:
    # A caller from elsewhere (as the proxy reports it) without the token: refused.
    away = {"x-forwarded-for": "203.0.113.9"}
    response = httpx.get(metered.base_url + "/metrics", headers=away, timeout=5)
    assert response.status_code == 403
    assert "preau_" not in response.text
    wrong = httpx.get(metered.base_url + "/metrics", timeout=5,
                      headers={**away, "authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert value(scrape(metered), "preau_node_info", node=f"test-{metered.port}") == 1


async def test_series_move_under_a_small_load(metered: LiveServer) -> None:
    before = scrape(metered)
    body = "Corps-secret-" + secrets.token_hex(8)  # must never reach a log line
    names = ("Léa Martin", "Hugo Bernard", "Claire Lefèvre")
    clients = [await metered.client(n) for n in names]
    rooms = (await clients[0].me())["rooms"]
    room = next(r["id"] for r in rooms if r["name"] == "6eA")
    async with (await clients[0].connect() as a, await clients[1].connect() as b,
                await clients[2].connect() as c):
        for conn in (a, b, c):
            await conn.subscribe(room)
        for i, sender in enumerate((a, b, c, a)):
            await sender.send_message(room, f"{body} {i}")
            for conn in (a, b, c):
                await conn.messages(room, 1)
        during = scrape(metered)
        assert value(during, "preau_connections", endpoint="ws") >= 3
        assert value(during, "preau_connections", endpoint="ws", profile="teacher") >= 1

    # A mistyped password.
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.post(metered.base_url + "/api/auth/login",
                                  json={"login": metered.login_of("Léa Martin"),
                                        "password": PASSWORD + "x"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"]

    # A document edit.
    teacher = clients[2]
    class_id = next(r["class_id"] for r in (await teacher.me())["rooms"] if r["name"] == "6eA")
    created = await teacher.post("/api/documents", {"class": class_id, "title": "Mesures"})
    y = await YClient.connect(f"ws://127.0.0.1:{metered.port}", str(created["id"]),
                              teacher.token)
    try:
        async with asyncio.timeout(5):
            await y.synced.wait()
        y.text.insert(0, "Relevé du jour")
        async with asyncio.timeout(5):
            # The server's own count is the fence (no event tells the client).
            target = value(before, "preau_document_updates_total")
            while value(scrape(metered), "preau_document_updates_total") <= target:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await y.close()
    for client in clients:
        await client.close()

    after = scrape(metered)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("preau_messages_total", outcome="posted") == 4
    assert moved("preau_deliveries_total") >= 4 * 3  # every message to the three sockets
    assert moved("preau_fanout_latency_seconds_count", path="local") >= 4
    assert moved("preau_store_operation_seconds_count", operation="post_message") >= 4
    assert moved("preau_store_transaction_seconds_count", kind="write") >= 4
    assert moved("preau_store_transaction_seconds_count", kind="read") >= 1
    assert moved("preau_broker_published_messages_total") >= 4
    assert moved("preau_connections_opened_total", endpoint="ws") >= 3
    assert moved("preau_connections_opened_total", endpoint="collab") >= 1
    assert moved("preau_logins_total", outcome="failure") == 1
    assert moved("preau_logins_total", outcome="success") >= 0  # activations are not logins
    assert moved("preau_http_responses_total", status="4xx") >= 1
    assert moved("preau_http_responses_total", status="2xx") >= 1
    assert moved("preau_document_updates_total") >= 1
    assert moved("preau_document_update_bytes_total") > 0
    assert value(after, "preau_broker_up") == 1
    assert value(after, "preau_store_up") == 1
    assert value(after, "preau_store_outages_total") == 0
    assert value(after, "preau_slow_consumer_cuts_total") == value(
        before, "preau_slow_consumer_cuts_total")
    # The sockets closed: the gauge went back down.
    assert value(after, "preau_connections", endpoint="ws") == 0

    # The same series on the metrics port, without a token.
    port = int(metered.env["PREAU_METRICS_PORT"])
    async with httpx.AsyncClient(timeout=5) as http:
        side = parse((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
    assert value(side, "preau_messages_total", outcome="posted") == value(
        after, "preau_messages_total", outcome="posted")

    # Labels never name a person, a room or a document.
    ids = {room, class_id, str(created["id"]), *(c.person["id"] for c in clients)}
    for (_, labels) in after:
        assert not ids & {v for _, v in labels}

    # The logs: JSON lines with the node and request ids; no secret, no body.
    log = await asyncio.to_thread(Path(metered.log_path).read_text, errors="replace")
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines
    assert all(line["node"] == f"test-{metered.port}" for line in lines)
    assert all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    refusals = [line for line in lines if line["msg"].startswith("login refused")]
    assert refusals
    assert refusals[-1]["ctx"].startswith("r-")
    assert any(line.get("ctx", "").startswith("c-") for line in lines)
    assert body not in log
    assert PASSWORD not in log
    for client in clients:
        assert client.token not in log
