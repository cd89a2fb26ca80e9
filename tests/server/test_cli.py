"""``preau serve``'s public address (preau/server/cli.py): activation letters
and e-mails' links name the address served unless PREAU_PUBLIC_URL says
otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from preau.server.cli import with_public_url
from preau.server.settings import Settings


def test_the_served_port_is_the_public_address_when_none_is_set(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"PREAU_DATA_DIR": str(tmp_path)})
    with caplog.at_level(logging.WARNING):
        assert with_public_url(settings, "127.0.0.1", 8133).public_url == "http://127.0.0.1:8133"
    assert "PREAU_PUBLIC_URL is not set" in caplog.text
    # Every interface: the loopback address (nothing better is known).
    assert with_public_url(settings, "0.0.0.0", 9000).public_url == "http://127.0.0.1:9000"
    assert with_public_url(settings, "::1", 9000).public_url == "http://[::1]:9000"


def test_an_address_the_operator_set_is_kept(tmp_path: Path) -> None:
    settings = Settings.from_env({"PREAU_DATA_DIR": str(tmp_path),
                                  "PREAU_PUBLIC_URL": "https://ent.example.fr"})
    assert with_public_url(settings, "127.0.0.1", 8133).public_url == "https://ent.example.fr"
