"""Password policy (CNIL 2022) and argon2id hashing (OWASP parameters)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from preau.server.auth import passwords
from preau.server.auth.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)


@pytest.mark.parametrize(
    "password",
    [
        "tarDIF12",  # exactly 8, lower + upper + digits
        "mouton1!",  # lower + digits + symbol
        "ROUGE17!",  # upper + digits + symbol
        "vertBLEU!?",  # lower + upper + symbol
        "Éléphant rose 7",  # accented letters and a space count as their kinds
        "Aa1!bcDE" * 16,  # 128 characters: the maximum
    ],
)
def test_accepted(password: str) -> None:
    assert password_problem(password) is None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least 8 characters"),
        ("aB3!xyz", "at least 8 characters"),  # 7 characters, 4 kinds
        ("abcdefgh", "at least 3 kinds"),
        ("x" * 100 + "Y1", "different characters"),
        ("abcdefg1", "at least 3 kinds"),  # 2 kinds
        ("ABCDEFG!", "at least 3 kinds"),
        ("12345678!", "at least 3 kinds"),
        ("Aa1!" * 32 + "x", "at most 128 characters"),
        # Common passwords, refused whatever their kinds, in any case.
        ("Azerty123!", "too common"),
        ("azerty123!", "too common"),
        ("AZERTY123!", "too common"),
        ("Password1!", "too common"),
        ("password1!", "too common"),
        ("Motdepasse1", "too common"),
        ("MOTDEPASSE1!", "too common"),
        ("Ecole2025!", "too common"),
        ("ecole2025!", "too common"),
    ],
)
def test_refused(password: str, reason: str) -> None:
    problem = password_problem(password)
    assert problem is not None
    assert reason in problem


def test_every_listed_word_dressed_up_is_refused_in_any_case() -> None:
    for word in passwords.COMMON_WORDS:
        for dressed in (f"{word.capitalize()}123!", f"!!{word.upper()}2026",
                        f"{word.capitalize()}-2027"):
            assert password_problem(dressed) is not None, dressed


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Aaaaaaa1", "different characters"),  # issue 21: accepted before
        ("Aa1\x00\x00\x00\x00\x00", "control or invisible"),
        ("Aa1\u200b\u200b\u200b\u200b\u200b", "control or invisible"),
        ("Aa1\u202egnp.exe", "control or invisible"),
        ("Abcd1234", "too common"),
        ("Azer1234!", "too common"),
        ("Qwerty789", "too common"),
    ],
)
def test_what_a_guesser_tries_first_is_refused(password: str, reason: str) -> None:
    problem = password_problem(password)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize(
    "password", ["Lea.Martin1", "xxMARTIN-42x", "Léa-Rouge-2026", "lea.martin+9X"])
def test_the_login_and_the_names_are_refused_inside_a_password(password: str) -> None:
    problem = password_problem(password, login="lea.martin", names=("Léa", "Martin"))
    assert problem is not None
    assert "login or your name" in problem or "too common" in problem
    assert password_problem(password) is None or "too common" in (password_problem(password) or "")


@pytest.mark.parametrize("password", ["Cahier-de-textes-42", "Correct-Horse-7", "Vélo rouge 2027",
                                      "Tournesol-Bleu-9"])
def test_good_passwords_pass(password: str) -> None:
    assert password_problem(password, login="lea.martin", names=("Léa", "Martin")) is None


async def test_hash_is_argon2id_with_owasp_parameters() -> None:
    stored = await hash_password("Correct-Horse-7")
    assert stored.startswith("$argon2id$")
    # m in KiB (19 MiB), t iterations, p lanes.
    assert "$m=19456,t=2,p=1$" in stored
    assert not needs_rehash(stored)


async def test_hashes_are_salted() -> None:
    assert await hash_password("Correct-Horse-7") != await hash_password("Correct-Horse-7")


async def test_verify() -> None:
    stored = await hash_password("Correct-Horse-7")
    assert await verify_password(stored, "Correct-Horse-7")
    assert not await verify_password(stored, "correct-horse-7")
    assert not await verify_password(stored, "")


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$argon2id$v=19$m=1,t=1,p=1$xx$yy"])
async def test_verify_without_a_usable_hash_is_false(stored: str | None) -> None:
    assert not await verify_password(stored, "not a real password: used to equalise timing")
    assert not await verify_password(stored, "Correct-Horse-7")


async def test_weaker_hashes_still_verify_and_need_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("Correct-Horse-7")
    assert await verify_password(old, "Correct-Horse-7")
    assert needs_rehash(old)
