"""The admin console's REST routes (preau/server/http/console_api.py) over the
real route table, on two nodes sharing a store: what each route answers the
school's admin, and every refusal — another profile or an id out of reach
(``not_found``, the same bytes as an unknown id), a bad body or parameter
(``bad_request`` naming it), a file too large (``too_large``) — in French
unless English is asked for; the recovery routes' one answer."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from preau.server.errors import PreauError
from preau.server.http.middleware import (
    BodyLimitMiddleware,
    http_error_handler,
    preau_error_handler,
    unexpected_error_handler,
)
from preau.server.http.routes import api_routes
from tests.server.twonodes import Nodes, two_nodes


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, recovery_answer_ms=0) as pair:
        yield pair


async def client_for(nodes: Nodes, name: str) -> httpx.AsyncClient:
    member = nodes.member(nodes.a, name)
    issued = await nodes.a.auth._open_session(member.id, "bearer")
    app = Starlette(routes=api_routes(), middleware=[Middleware(BodyLimitMiddleware)],
                    exception_handlers={PreauError: preau_error_handler,
                                        StarletteHTTPException: http_error_handler,
                                        Exception: unexpected_error_handler})
    app.state.services = nodes.a
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                             headers={"authorization": f"Bearer {issued.token}"})


async def test_the_admin_s_routes(nodes: Nodes) -> None:
    anne = nodes.member(nodes.a, "Anne Roux")
    school = anne.school_id
    base = f"/api/schools/{school}"
    async with await client_for(nodes, "Anne Roux") as http:
        classes = (await http.get(f"{base}/classes")).json()["classes"]
        by_name = {c["name"]: c["id"] for c in classes}
        assert [c["kind"] for c in classes] == ["class", "class", "class"]
        people = (await http.get(f"{base}/people", params={"q": "martin"})).json()["people"]
        assert sorted(p["name"] for p in people) == ["Camille Martin", "Léa Martin"]
        lea = next(p for p in people if p["name"] == "Léa Martin")
        pending = (await http.get(f"{base}/people", params={"pending": "1"})).json()["people"]
        assert len(pending) == 35
        created = await http.post(f"{base}/people", json={
            "profile": "teacher", "first_name": "Paul", "last_name": "Dumas",
            "classes": [by_name["6eA"], by_name["6eB"]]})
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        teacher = created.json()["id"]
        assert (await http.put(f"{base}/people/{teacher}", json={"last_name": "Dumas-Roy"})
                ).status_code == 200
        moved = await http.put(f"{base}/people/{lea['id']}/classes",
                               json={"classes": [by_name["6eB"]]})
        assert moved.status_code == 200
        letters = await http.post(f"{base}/letters", json={"people": [teacher]})
        assert letters.status_code == 200
        assert letters.headers["content-type"] == "application/pdf"
        assert letters.content.startswith(b"%PDF-")
        csv = "id;profil;nom;prénom;classe\nN1;élève;Blanc;Zoé;6eA\n".encode("cp1252")
        preview = await http.post(f"{base}/import/preview", content=csv)
        assert preview.json()["created"][0]["name"] == "Zoé Blanc"
        applied = await http.post(f"{base}/import", content=csv)
        assert applied.json()["created"] == 1
        closed = await http.post(f"{base}/people/{teacher}/close", json={"reason": "parti"})
        assert closed.status_code == 200
        # Refusals with their code, in French by default.
        for method, path, body, field in (
            ("PUT", f"{base}/people/{lea['id']}/classes", {"classes": []}, None),
            ("PUT", f"{base}/people/{lea['id']}", {"first_name": 3}, "first_name"),
            ("POST", f"{base}/people", {"profile": "robot", "first_name": "a",
                                        "last_name": "b"}, "profile"),
            ("POST", f"{base}/letters", {}, None),
        ):
            refused = await http.request(method, path, json=body)
            assert refused.status_code == 400, (path, refused.text)
            assert refused.json()["error"]["code"] == "bad_request"
            if field:
                assert field in refused.json()["error"]["message"]
        rollover = await http.post(f"{base}/import/preview", params={"rollover": "x"},
                                   content=csv)
        assert rollover.status_code == 400
        empty = await http.post(f"{base}/import/preview", content=b"  ")
        assert empty.status_code == 400
        huge = await http.post(f"{base}/import/preview", content=b"x" * (8 * 1024 * 1024 + 1))
        assert huge.status_code == 413
        assert huge.json()["error"]["code"] == "too_large"
        unknown = await http.get(f"{base}/people", params={"class": "no-such-class"})
        assert unknown.status_code == 404


async def test_anyone_else_finds_nothing(nodes: Nodes) -> None:
    school = nodes.member(nodes.a, "Anne Roux").school_id
    lea = nodes.member(nodes.a, "Léa Martin")
    for who in ("Claire Lefèvre", "Camille Martin", "Léa Martin"):
        async with await client_for(nodes, who) as http:
            answers = set()
            for target in (school, "no-such-school"):
                for method, path in (("GET", "people"), ("GET", "classes"),
                                     ("POST", f"people/{lea.id}/close")):
                    response = await http.request(method, f"/api/schools/{target}/{path}",
                                                  json={} if method == "POST" else None)
                    answers.add((response.status_code, response.content))
            assert answers == {
                (404, b'{"error":{"code":"not_found","message":"introuvable"}}')}, who


async def test_recovery_answers_alike(nodes: Nodes) -> None:
    async with await client_for(nodes, "Léa Martin") as http:
        answers = {(r.status_code, r.content) for r in [
            await http.post("/api/auth/recovery", json={"login": login})
            for login in ("lea.martin", "personne", "camille.martin")]}
        assert answers == {(202, b'{"accepted":false}')}  # no relay configured here
        bad = await http.post("/api/auth/recovery/reset",
                              json={"token": "x" * 43, "password": "Un-Mot-De-Passe-2026"})
        assert bad.status_code == 401
        assert "lien n'est pas valable" in bad.json()["error"]["message"]
        assert (await http.post("/api/auth/recovery/check", json={"token": "x"})).json() == {
            "usable": False}


async def test_the_rule_editor_s_routes(nodes: Nodes) -> None:
    anne = nodes.member(nodes.a, "Anne Roux")
    base = f"/api/schools/{anne.school_id}/rules"
    async with await client_for(nodes, "Anne Roux") as http:
        shown = (await http.get(base)).json()
        assert (shown["is_default"], shown["missing_defaults"]) == (True, [])
        pupils = next(g["id"] for g in shown["groups"]
                      if g["scope_name"] == "6eA" and g["profile"] == "pupil")
        link = {"from": pupils, "to": pupils}
        assert (await http.post(f"{base}/links/remove", json=link)).json() == {"changed": True}
        assert (await http.post(f"{base}/links/remove", json=link)).json() == {"changed": False}
        assert (await http.get(base)).json()["missing_defaults"] == [link]
        assert (await http.post(f"{base}/links", json=link)).json() == {"changed": True}
        assert (await http.post(f"{base}/reset")).json() == {"added": 0, "removed": 0}
        for body in ({"from": pupils}, {"from": pupils, "to": 3},
                     {**link, "extra": 1}, {"from": "", "to": pupils}):
            bad = await http.post(f"{base}/links", json=body)
            assert bad.status_code == 400, body
        unknown = await http.post(f"{base}/links", json={"from": "x/pupil", "to": pupils})
        assert unknown.status_code == 404
        assert (await http.post(f"{base}/reset", json=[])).status_code == 400
    async with await client_for(nodes, "Claire Lefèvre") as http:
        answers = {(r.status_code, r.content) for r in [
            await http.get(base), await http.post(f"{base}/links", json=link),
            await http.post(f"{base}/links/remove", json=link), await http.post(f"{base}/reset"),
            await http.get("/api/schools/no-such-school/rules")]}
        assert answers == {(404, b'{"error":{"code":"not_found","message":"introuvable"}}')}


async def test_several_files_as_one_import(nodes: Nodes) -> None:
    from tests.server.directory.test_several import PARENTS_CSV, PUPILS_CSV

    anne = nodes.member(nodes.a, "Anne Roux")
    base = f"/api/schools/{anne.school_id}/import"

    def body(*files: tuple[str, bytes]) -> dict[str, Any]:
        return {"files": [{"name": n, "data": base64.b64encode(d).decode()} for n, d in files]}

    async with await client_for(nodes, "Anne Roux") as http:
        files = body(("eleves.csv", PUPILS_CSV), ("parents.csv", PARENTS_CSV))
        preview = (await http.post(f"{base}/preview", json=files)).json()
        assert preview["encoding"] == "cp1252, utf-8"
        assert [f["name"] for f in preview["files"]] == ["eleves.csv", "parents.csv"]
        assert [(r["file"], r["line"]) for r in preview["rejected"]] == [
            ("eleves.csv", 4), ("parents.csv", 3), ("parents.csv", 4)]
        # One file as before: no file list, rows name no file.
        alone = (await http.post(f"{base}/preview", content=PUPILS_CSV)).json()
        assert (alone["files"], alone["rejected"][0]["file"]) == ([], "")
        applied = (await http.post(base, json=files)).json()
        assert (applied["created"], applied["rejected"]) == (3, 3)
        for bad in ({"files": []}, {"files": [{"name": "a.csv", "data": "%%%"}]},
                    body(("a.csv", PUPILS_CSV), ("a.csv", PARENTS_CSV)),
                    body(("a.csv", b"  ")), {"files": [{"name": "", "data": ""}]}):
            refused = await http.post(f"{base}/preview", json=bad)
            assert refused.status_code == 400, bad
        big = body(*((f"f{i}.csv", b"x" * (3 * 1024 * 1024)) for i in range(3)))
        assert (await http.post(f"{base}/preview", json=big)).status_code == 413
