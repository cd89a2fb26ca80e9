"""The word filter: a school's word lists, each with an action, matched
against a message's body. Pure functions over immutable values.

Three lists per school, one per action:

- ``block``: the post is refused (error ``filtered``);
- ``hold``: the post waits in the pre-moderation queue, whatever the room's
  pre-moderation setting;
- ``alert``: the post goes through, and the room's moderators get a
  ``moderation.alert`` event (and the audit log an entry).

An entry is a word or a phrase of a few words. Matching is on whole words,
ignoring case and accents (``Débile`` matches ``debile``; ``con`` does not
match ``conte``). A body matching several lists gets the strictest action
(block, then hold, then alert). A school that never edited its lists uses
:data:`DEFAULT_LISTS`. Moderators are never filtered (the store applies the
filter to members only, in the post transaction).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from preau.server.errors import bad_request

MAX_ENTRIES = 500  # per list
MAX_ENTRY_CHARS = 60

_WORD = re.compile(r"\w+")


class FilterAction(StrEnum):
    BLOCK = "block"
    HOLD = "hold"
    ALERT = "alert"


# Strictest first: the order a match is looked for.
_SEVERITY = (FilterAction.BLOCK, FilterAction.HOLD, FilterAction.ALERT)


def normalize(text: str) -> str:
    """Lower case, accents removed (``Écœuré`` -> ``ecœure``), words joined by
    single spaces; punctuation is a word boundary."""
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    """The words of ``text``, lower case, accents removed."""
    if text.isascii():  # most posts: NFKD and the accent strip change nothing
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(c for c in decomposed if not unicodedata.combining(c)))


@dataclass(frozen=True, slots=True)
class WordLists:
    """A school's three lists, entries as given (normalised when matched)."""

    block: tuple[str, ...] = ()
    hold: tuple[str, ...] = ()
    alert: tuple[str, ...] = ()
    # The lists indexed for matching, kept on the value once built: a
    # school's lists are one object from post to post (the store remembers
    # them), and hashing three lists of hundreds of entries to find their
    # index again cost as much as matching a post against it.
    _index: _Index | None = field(default=None, init=False, repr=False, compare=False)

    def entries(self, action: FilterAction) -> tuple[str, ...]:
        match action:
            case FilterAction.BLOCK:
                return self.block
            case FilterAction.HOLD:
                return self.hold
            case FilterAction.ALERT:
                return self.alert

    def to_wire(self) -> dict[str, list[str]]:
        return {a.value: list(self.entries(a)) for a in _SEVERITY}


@dataclass(frozen=True, slots=True)
class FilterMatch:
    """The strictest action a body triggers, and the entries it matched in that list."""

    action: FilterAction
    words: tuple[str, ...]


# Per action, strictest first: each entry as given, with its normalised words.
_Entries = tuple[tuple[FilterAction, tuple[tuple[str, tuple[str, ...]], ...]], ...]
# A body's word -> the entries' word sequences that begin with it.
_Starts = dict[str, tuple[tuple[str, ...], ...]]
_Index = tuple[_Starts, _Entries]


def _indexed(lists: WordLists) -> _Index:
    index = lists._index
    if index is None:
        index = _compiled(lists)
        object.__setattr__(lists, "_index", index)
    return index


@functools.lru_cache(maxsize=256)
def _compiled(lists: WordLists) -> _Index:
    """The lists indexed by first word, and per action the (entry, words) pairs.

    Every post is matched against its school's lists: they are normalised
    once per version of the lists (a school's lists are equal values from one
    read to the next, so they hit this cache), not once per post. A body is
    then read word by word, one dictionary lookup each, so a post costs the
    same against the 61 default entries as against three lists of 500 (one
    pattern of every entry, tried at each word, cost 6 µs with the defaults
    and 37 µs with 900 entries: docs/benchmarks.md)."""
    entries = tuple(
        (action, tuple((entry, tuple(found)) for entry in lists.entries(action)
                       if (found := _words(entry))))
        for action in _SEVERITY
    )
    starts: dict[str, set[tuple[str, ...]]] = {}
    for _, pairs in entries:
        for _, words in pairs:
            starts.setdefault(words[0], set()).add(words)
    return {first: tuple(sorted(found)) for first, found in starts.items()}, entries


def match(lists: WordLists, body: str) -> FilterMatch | None:
    """The strictest list ``body`` matches, or ``None``.

    An entry matches where its words follow each other in the body's words
    (both normalised): whole words, never inside one."""
    starts, entries = _indexed(lists)
    if not starts:
        return None
    words = _words(body)
    present: set[tuple[str, ...]] = set()
    for at, word in enumerate(words):
        for phrase in starts.get(word, ()):
            if len(phrase) == 1 or tuple(words[at:at + len(phrase)]) == phrase:
                present.add(phrase)
    if not present:
        return None
    for action, pairs in entries:
        found = tuple(entry for entry, phrase in pairs if phrase in present)
        if found:
            return FilterMatch(action, found)
    return None


def clean_list(entries: Iterable[object]) -> tuple[str, ...]:
    """A list as an admin gives it: strings, trimmed, without duplicates
    (after normalisation), within the limits; ``bad_request`` otherwise."""
    seen: set[str] = set()
    out: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise bad_request("word list entries are strings")
        word = " ".join(entry.split())
        norm = normalize(word)
        if not norm:
            raise bad_request(f"no word in entry {entry!r}")
        if len(word) > MAX_ENTRY_CHARS:
            raise bad_request(f"an entry has at most {MAX_ENTRY_CHARS} characters")
        if norm not in seen:
            seen.add(norm)
            out.append(word)
    if len(out) > MAX_ENTRIES:
        raise bad_request(f"a list has at most {MAX_ENTRIES} entries")
    return tuple(out)


def parse_lists(body: Mapping[str, object]) -> WordLists:
    """``{"block": [...], "hold": [...], "alert": [...]}`` (all three required)."""
    unknown = set(body) - {a.value for a in FilterAction}
    if unknown:
        raise bad_request(f"unknown word lists: {', '.join(sorted(unknown))}")
    lists: dict[str, tuple[str, ...]] = {}
    for action in FilterAction:
        value = body.get(action.value)
        if not isinstance(value, list):
            raise bad_request(f"{action.value}: a list of words is required")
        lists[action.value] = clean_list(value)
    return WordLists(**lists)


# Small and sensible: common French and English insults and slurs at school
# age (block), harassment and self-harm phrases a teacher should look at
# before the class does (hold), and words worth a look (alert). Each school
# edits its own lists (PUT /api/schools/{school}/word-filter).
DEFAULT_LISTS = WordLists(
    block=(
        # French
        "connard", "connasse", "salope", "salaud", "pute", "putain", "enculé", "encule",
        "batard", "bâtard", "fils de pute", "ta gueule", "nique ta mère", "ntm", "pd",
        "pédé", "gouine", "negro", "bougnoule", "youpin",
        # English
        "fuck", "fucking", "motherfucker", "bitch", "cunt", "asshole", "bastard",
        "whore", "slut", "faggot", "retard", "nigger",
    ),
    hold=(
        # French
        "suicide", "me suicider", "je vais te tuer", "crève", "creve", "va mourir",
        "personne ne t'aime", "tu sers à rien",
        # English
        "kill yourself", "kys", "i will kill you", "nobody likes you",
    ),
    alert=(
        # French
        "con", "conne", "débile", "idiot", "idiote", "abruti", "abrutie", "nul", "nulle",
        "merde", "harcèlement", "harceler",
        # English
        "stupid", "loser", "shit", "damn", "bully",
    ),
)
