"""Single logout on a cluster: the identity provider tells one node, the
sockets held on every node close.

Two Préau nodes (PostgreSQL, Redis) behind one public address (node 0's)
and a real LemonLDAP::NG portal: a pupil signs in through CAS, holds a socket
on each node, then logs out at the portal; its CAS single logout request
reaches node 0, and node 1 closes its socket through ``control.sessions``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from preau_client import PreauClient

from tests.multinode.cluster import Cluster, close_quietly
from tests.server.live import ROOT
from tests.server.sso.conftest import SCHOOL_CSV, UAI, sso_config
from tests.server.sso.llng import Browser, Llng, available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str,
         redis_server_url: str) -> Iterator[tuple[Cluster, Llng]]:
    available()
    base = tmp_path_factory.mktemp("cluster-sso")
    cluster = Cluster(base, cluster_database_url, redis_server_url, size=2,
                      env={"PREAU_CHARTER_REQUIRED": "false"})
    public = cluster[0].base_url
    llng = Llng(base / "llng", public)
    config = base / "sso.toml"
    config.write_text(sso_config(llng), encoding="utf-8")
    for node in cluster.nodes:
        node.env.update({"PREAU_SSO_CONFIG": str(config), "PREAU_PUBLIC_URL": public})
    llng.start()
    try:
        cluster.start()
        try:
            csv = base / "school.csv"
            csv.write_text(SCHOOL_CSV, encoding="utf-8")
            done = subprocess.run(
                [sys.executable, "-m", "preau.server.cli", "import", "--school", UAI,
                 "--name", "Collège des Tests", str(csv)],
                cwd=ROOT, env=cluster[0].env, capture_output=True, text=True, timeout=120,
                check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            yield cluster, llng
        finally:
            cluster.stop()
    finally:
        llng.stop()


async def test_a_cas_single_logout_closes_the_sockets_on_every_node(
        site: tuple[Cluster, Llng]) -> None:
    cluster, llng = site
    browser = Browser()
    try:
        back = f"{cluster[0].base_url}/api/auth/sso/llngcas/callback"
        at_portal = await browser.sign_in(
            f"{cluster[0].base_url}/api/auth/sso/llngcas/start", "rtyler", "rtyler", back)
        answer = await browser.http.get(at_portal.headers["location"])
        assert answer.status_code == 303, answer.text
        token = browser.http.cookies.get("preau_session")
        assert token
        async with httpx.AsyncClient() as http:
            me = await http.get(cluster[1].base_url + "/api/me",
                                headers={"authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        person = me.json()["person"]
        on_a = PreauClient(cluster[0].base_url, token, person)
        on_b = PreauClient(cluster[1].base_url, token, person)
        sockets = [await on_a.connect(), await on_b.connect()]
        try:
            await browser.http.get(llng.url + "/", params={"logout": "1"})
            async with asyncio.timeout(10):
                for conn in sockets:
                    await conn.closed.wait()
            assert [conn.close_code for conn in sockets] == [4001, 4001]
            for node in cluster.nodes:
                async with httpx.AsyncClient() as http:
                    after = await http.get(node.base_url + "/api/me",
                                           headers={"authorization": f"Bearer {token}"})
                assert after.status_code == 401
        finally:
            for conn in sockets:
                await close_quietly(conn)
            await on_a.close()
            await on_b.close()
    finally:
        await browser.close()
