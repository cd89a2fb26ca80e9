"""One network namespace and one Janus for this directory's tests (harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.needs import missing
from tests.rtc.janus.harness import (
    JanusServer,
    Namespace,
    janus_in,
    janus_missing_reason,
    network_namespace,
)


@pytest.fixture(scope="session")
def sfu_namespace() -> Iterator[Namespace]:
    reason = janus_missing_reason()
    if reason is not None:
        missing(f"SFU tests need Janus in a network namespace: {reason}")
    with network_namespace() as ns:
        yield ns


@pytest.fixture(scope="session")
def janus(
    sfu_namespace: Namespace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JanusServer]:
    workdir: Path = tmp_path_factory.mktemp("janus")
    with janus_in(sfu_namespace, workdir) as server:
        yield server


@pytest.fixture(scope="session")
def second_janus(
    sfu_namespace: Namespace, janus: JanusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JanusServer]:
    """Another instance beside ``janus`` (same secret, as in a deployment)."""
    workdir: Path = tmp_path_factory.mktemp("janus2")
    with janus_in(sfu_namespace, workdir, port=8089, rtp_ports="21000-21999",
                  secret=janus.secret) as server:
        yield server
