"""The word filter's matching and list cleaning: pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from preau.server.errors import PreauError
from preau.server.moderation.wordfilter import (
    DEFAULT_LISTS,
    FilterAction,
    FilterMatch,
    WordLists,
    clean_list,
    match,
    normalize,
    parse_lists,
)

LISTS = WordLists(block=("connard", "fils de pute"), hold=("kill yourself",),
                  alert=("débile", "con"))


def test_normalize_drops_case_accents_and_punctuation() -> None:
    assert normalize("  Élève, DÉBILE!!  ça   va ? ") == "eleve debile ca va"
    assert normalize("...") == ""


@pytest.mark.parametrize("body", [
    "t'es un connard", "CONNARD", "Connard!", "connard.", "«connard»", "fils de pute",
    "FILS  DE\nPUTE", "fils-de-pute",
])
def test_block_words_match_whole_words_any_case(body: str) -> None:
    found = match(LISTS, body)
    assert found is not None
    assert found.action is FilterAction.BLOCK


@pytest.mark.parametrize("body", ["c'est debile", "DÉBILE", "Débile", "débîle", "quel con"])
def test_accents_and_case_are_ignored(body: str) -> None:
    assert match(LISTS, body) == FilterMatch(
        FilterAction.ALERT, ("débile",) if "con" not in body.split() else ("con",))


@pytest.mark.parametrize("body", [
    "un conte de fées", "la confiance", "déconner", "connardise", "unconnard", "", "   ",
    "fils de putois",
])
def test_words_inside_other_words_do_not_match(body: str) -> None:
    assert match(LISTS, body) is None


def test_the_strictest_list_wins_and_says_what_matched() -> None:
    assert match(LISTS, "con et débile, connard") == FilterMatch(FilterAction.BLOCK, ("connard",))
    assert match(LISTS, "Kill yourself, con") == FilterMatch(FilterAction.HOLD, ("kill yourself",))
    assert match(LISTS, "con et débile") == FilterMatch(FilterAction.ALERT, ("débile", "con"))


def test_default_lists_are_small_and_bilingual() -> None:
    assert match(DEFAULT_LISTS, "Tu es une SALOPE") is not None
    assert match(DEFAULT_LISTS, "fuck you") == FilterMatch(FilterAction.BLOCK, ("fuck",))
    held = match(DEFAULT_LISTS, "Je vais te tuer demain")
    assert held is not None
    assert held.action is FilterAction.HOLD
    alert = match(DEFAULT_LISTS, "c'est nul")
    assert alert is not None
    assert alert.action is FilterAction.ALERT
    assert match(DEFAULT_LISTS, "Bonjour, voici le devoir de mathématiques") is None
    assert match(DEFAULT_LISTS, "Le conte de la concierge") is None
    for action in FilterAction:
        assert 0 < len(DEFAULT_LISTS.entries(action)) <= 50


def test_clean_list_trims_and_dedupes() -> None:
    assert clean_list([" gros   mot ", "Débile", "debile", "DÉBILE"]) == ("gros mot", "Débile")
    for bad in (["  "], ["!!"], [3], ["x" * 61]):
        with pytest.raises(PreauError):
            clean_list(bad)
    with pytest.raises(PreauError):
        clean_list([f"w{i}" for i in range(501)])


def test_parse_lists_requires_the_three_lists() -> None:
    assert parse_lists({"block": ["a"], "hold": [], "alert": ["b"]}) == WordLists(
        ("a",), (), ("b",))
    with pytest.raises(PreauError):
        parse_lists({"block": ["a"], "hold": []})
    with pytest.raises(PreauError):
        parse_lists({"block": [], "hold": [], "alert": [], "other": []})


def _reference_match(lists: WordLists, body: str) -> FilterMatch | None:
    """The matching rule written plainly (every entry normalised, no fast path)."""
    text = f" {normalize(body)} "
    for action in (FilterAction.BLOCK, FilterAction.HOLD, FilterAction.ALERT):
        found = tuple(e for e in lists.entries(action)
                      if (n := normalize(e)) and f" {n} " in text)
        if found:
            return FilterMatch(action, found)
    return None


@given(st.text(alphabet=st.sampled_from(list("abcdeé CONnard,.!-'ç\nœ")), max_size=40))
def test_fast_paths_match_the_plain_rule(body: str) -> None:
    # The ASCII shortcut of normalize and the word-by-word lookup of match
    # (lists indexed once per version) decide exactly as the plain rule does.
    lists = WordLists(block=("connard", "a b"), hold=("é",), alert=("con", "b", "ç a"))
    assert match(lists, body) == _reference_match(lists, body)
    for lst in (LISTS, DEFAULT_LISTS):
        assert match(lst, body) == _reference_match(lst, body)


_ENTRY = st.text(alphabet=st.sampled_from(list("abé CO,-'ç")), min_size=1, max_size=8).filter(
    lambda entry: normalize(entry) != "")


@given(
    st.lists(_ENTRY, max_size=6), st.lists(_ENTRY, max_size=6), st.lists(_ENTRY, max_size=6),
    st.text(alphabet=st.sampled_from(list("abé CO,-'ç\n")), max_size=40),
)
def test_any_lists_match_as_the_plain_rule_says(
    block: list[str], hold: list[str], alert: list[str], body: str,
) -> None:
    # Lists of any shape: entries of one or several words, repeated, shared
    # between lists, one the beginning of another.
    lists = WordLists(block=tuple(block), hold=tuple(hold), alert=tuple(alert))
    assert match(lists, body) == _reference_match(lists, body)


def test_a_phrase_matches_only_its_words_in_order() -> None:
    lists = WordLists(block=("fils de pute",), alert=("de",))
    assert match(lists, "Fils, de... PUTE !") == FilterMatch(FilterAction.BLOCK, ("fils de pute",))
    assert match(lists, "fils de la pute") == FilterMatch(FilterAction.ALERT, ("de",))
    assert match(lists, "pute de fils") == FilterMatch(FilterAction.ALERT, ("de",))
    assert match(lists, "fils de") == FilterMatch(FilterAction.ALERT, ("de",))
    assert match(WordLists(), "fils de pute") is None


def test_normalize_ascii_shortcut_agrees_with_the_unicode_path() -> None:
    body = "Hello, World! it's 3 o'clock -- fine_thing"
    # The same text with one non-ASCII word appended takes the Unicode path.
    assert normalize(body + " é") == normalize(body) + " e"
