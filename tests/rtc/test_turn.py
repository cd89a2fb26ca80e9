"""coturn REST credentials (preau/rtc/turn.py), checked against an HMAC computed here."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from preau.rtc.turn import TurnConfig, ice_servers, parse_urls, turn_password, valid_username


def test_credentials_follow_coturns_use_auth_secret_scheme() -> None:
    config = TurnConfig("s3cret", ("stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp",
                                   "turns:turn.example:5349"), ttl_s=600)
    stun, turn = ice_servers(config, "person-1", now_s=1_000_000)
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    assert turn["urls"] == ["turn:127.0.0.1:3478?transport=udp", "turns:turn.example:5349"]
    assert turn["username"] == "1000600:person-1"
    expected = base64.b64encode(
        hmac.new(b"s3cret", b"1000600:person-1", hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected == turn_password("s3cret", "1000600:person-1")
    assert valid_username(turn["username"], 1_000_599)
    assert not valid_username(turn["username"], 1_000_600)
    assert not valid_username("person-1", 0)


def test_no_secret_means_no_turn_entry() -> None:
    assert ice_servers(TurnConfig("", ("turn:127.0.0.1:3478",)), "p", 0) == []
    assert ice_servers(TurnConfig("", ()), "p", 0) == []


def test_urls_are_parsed_and_checked() -> None:
    assert parse_urls(" stun:a:1 , turn:b:2 ,") == ("stun:a:1", "turn:b:2")
    with pytest.raises(ValueError, match="stun:/turn:"):
        parse_urls("http://x")
