"""A rolling upgrade under open pages (issue 16, item 4): two nodes
(PostgreSQL + Redis) behind a load balancer; each node in turn gets SIGTERM.
Every page says it is reconnecting ("Hors ligne, reconnexion…") while its
node drains, comes back by itself through the other node with the same
session, and shows every message once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.multinode.balancer import Balancer, balancing
from tests.multinode.cluster import Cluster, running_cluster
from tests.server.live import LiveServer
from tests.services import fresh_database
from tests.web.conftest import People
from tests.web.test_chat import open_room, send

pytestmark = pytest.mark.slow

DRAIN_S = 1.0

# Every text the connection indicator shows, in order (it may show
# "reconnecting" for a fraction of a second: a poll could miss it).
RECORD_CONN = """() => {
  window.__conn = [];
  const note = () => {
    const text = document.querySelector('.conn')?.textContent ?? '';
    if (window.__conn[window.__conn.length - 1] !== text) window.__conn.push(text);
  };
  new MutationObserver(note).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
  note();
}"""


@pytest.fixture(scope="module")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for the cluster, held open by a loop in another thread."""
    entered = concurrent.futures.Future[str]()
    leave = threading.Event()

    async def hold() -> None:
        async with fresh_database(postgres_server_url) as url:
            entered.set_result(url)
            await asyncio.to_thread(leave.wait)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(asyncio.run, hold())
        try:
            yield entered.result(60)
        finally:
            leave.set()
            held.result(60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, web_dist: Path, database_url: str,
            redis_server_url: str) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("web-drain"), database_url, redis_server_url, size=2,
        env={"PREAU_WEB_DIR": str(web_dist), "PREAU_DRAIN_S": str(DRAIN_S)},
    ) as started:
        yield started


@pytest.fixture(scope="module")
def balancer(cluster: Cluster) -> Iterator[Balancer]:
    with balancing([node.port for node in cluster.nodes]) as started:
        yield started


class Front:
    """What the pages see as "the server": the balancer's address, with the
    demo accounts node 0 seeded."""

    def __init__(self, balancer: Balancer, seeder: LiveServer) -> None:
        self.base_url = balancer.url
        self.accounts = seeder.accounts
        self.login_of = seeder.login_of
        self._activated: set[str] = set()


@pytest.fixture(scope="module")
def front(cluster: Cluster, balancer: Balancer) -> Front:
    """One for the module: it records the activation codes already used."""
    return Front(balancer, cluster[0])


@pytest.fixture
def people(browser: Browser, front: Front) -> Iterator[People]:
    crowd = People(browser, cast(LiveServer, front))
    try:
        yield crowd
    finally:
        crowd.close()
    assert not crowd.errors, f"uncaught errors in the app: {crowd.errors}"


def conn_texts(page: Page) -> list[str]:
    return cast(list[str], page.evaluate("() => window.__conn"))


def test_pages_reconnect_by_themselves_while_each_node_drains(
    cluster: Cluster, people: People
) -> None:
    teacher = people.login("Sophie Faure")
    pupil = people.login("Inès Petit")
    pages = (teacher, pupil)
    for page in pages:
        open_room(page, "6eB")
        page.evaluate(RECORD_CONN)
    send(teacher, "Avant la mise à jour")
    expect(pupil.locator(".msg", has_text="Avant la mise à jour")).to_have_count(1)

    for leaving in (0, 1):
        node = cluster[leaving]
        node.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        assert node.process.wait(DRAIN_S + 15) in (0, -signal.SIGTERM)  # type: ignore[union-attr]
        for page in pages:
            expect(page.locator('[data-conn="open"]')).to_be_visible(timeout=20_000)
        send(teacher, f"Après le départ du nœud {leaving}")
        send(pupil, f"Toujours là ({leaving})")
        for page in pages:
            expect(page.locator(".msg", has_text=f"Après le départ du nœud {leaving}")
                   ).to_have_count(1)
            expect(page.locator(".msg", has_text=f"Toujours là ({leaving})")).to_have_count(1)
        accounts = node.accounts  # a node that does not seed writes none
        node.start()
        node.accounts = accounts

    for page in pages:
        shown = conn_texts(page)
        # Each page was on a draining node at least once: it said so, then
        # came back by itself (no reload: the recorder is still there).
        assert "Hors ligne, reconnexion…" in shown, shown
        assert shown[-1] == "En ligne", shown
        expect(page.locator(".msg", has_text="Avant la mise à jour")).to_have_count(1)
    for node in cluster.nodes:
        assert "Traceback" not in node.log_path.read_text(errors="replace"), node.log_tail(60)


def test_a_message_sent_on_a_silent_socket_goes_again_on_a_new_one(
    balancer: Balancer, people: People
) -> None:
    """The page's socket stops carrying bytes without closing (a middlebox
    lost the flow; a browser does not ping): the send's 10 s without an
    answer give the socket up, the page reconnects by itself and sends again
    with the same txn, and the message is shown once on both pages."""
    teacher = people.login("Sophie Faure")
    open_room(teacher, "6eB")
    mine = balancer.paths_to(b"/ws")
    assert len(mine) == 1, [p.request for p in mine]  # the teacher's page's socket
    pupil = people.login("Inès Petit")
    open_room(pupil, "6eB")
    teacher.evaluate(RECORD_CONN)
    balancer.black_hole(mine)
    send(teacher, "Malgré la coupure")
    for page in (teacher, pupil):
        expect(page.locator(".msg", has_text="Malgré la coupure")).to_have_count(1,
                                                                                timeout=30_000)
    expect(teacher.locator('[data-conn="open"]')).to_be_visible()
    assert "Hors ligne, reconnexion…" in conn_texts(teacher), conn_texts(teacher)
