"""Session tokens and activation codes."""

from __future__ import annotations

import re

import pytest

from preau.server.auth.tokens import (
    CODE_ALPHABET,
    digest,
    new_activation_code,
    new_session_token,
    normalise_code,
)

CODE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")


def test_activation_code_format() -> None:
    codes = [new_activation_code() for _ in range(300)]
    for code in codes:
        assert CODE.match(code), code
        assert set(code.replace("-", "")) <= set(CODE_ALPHABET)
    assert len(set(codes)) == len(codes)
    # All the alphabet shows up (the choice is not stuck on a few characters).
    assert set("".join(codes).replace("-", "")) == set(CODE_ALPHABET)


def test_code_alphabet_has_no_look_alikes() -> None:
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) == len(set(CODE_ALPHABET)) == 31


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("K7QX-M2PD-9HRT", "K7QX-M2PD-9HRT"),
        ("k7qx-m2pd-9hrt", "K7QX-M2PD-9HRT"),
        ("K7QXM2PD9HRT", "K7QX-M2PD-9HRT"),
        ("k7qx m2pd 9hrt", "K7QX-M2PD-9HRT"),
        ("  k7qx - m2pd - 9hrt \n", "K7QX-M2PD-9HRT"),
        ("K7Q.XM2-PD9_HRT", "K7QX-M2PD-9HRT"),
        # Not twelve letters and digits: left as typed (upper-cased, trimmed),
        # so it simply fails to match.
        (" k7qx-m2pd ", "K7QX-M2PD"),
        ("", ""),
    ],
)
def test_normalise_code(typed: str, canonical: str) -> None:
    assert normalise_code(typed) == canonical


def test_generated_codes_are_already_normal() -> None:
    for _ in range(50):
        code = new_activation_code()
        assert normalise_code(code) == code
        assert normalise_code(code.lower().replace("-", " ")) == code


def test_digest_is_sha256_hex() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digest("K7QX-M2PD-9HRT") != digest("k7qx-m2pd-9hrt")


def test_session_tokens() -> None:
    tokens = [new_session_token() for _ in range(100)]
    assert len(set(tokens)) == 100
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token  # 32 random bytes
