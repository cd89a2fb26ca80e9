"""preau/collab/integrity.py: an update is taken only if every Yjs replica would
integrate it as the server's yrs replica does (issue 21, "poisoned documents").

Stock Yjs in Node is the oracle (tests/collab/node/oracle.mjs): the property
test damages real updates made by Yjs and checks that whatever the server
takes leaves Yjs replicas that received it live, Yjs replicas that load the
server's stored state, and the server's replica reloaded, all equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text, merge_updates

from preau.collab import crdt, integrity, updates
from preau.collab.codec import CodecError, var_bytes, var_uint
from tests.collab.yjs_oracle import YjsOracle


@pytest.fixture(scope="module")
def oracle() -> Iterator[YjsOracle]:
    yjs = YjsOracle()
    yield yjs
    yjs.close()


class Server:
    """The server's side of one document, as preau/collab/room.py runs it."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.index = integrity.DocIndex()
        self.taken: list[bytes] = []

    def take(self, update: bytes) -> bytes | str:
        """The bytes it stores and relays, or why it refuses."""
        try:
            parsed = updates.parse(update)
        except CodecError as exc:
            return f"unreadable: {exc}"
        try:
            canonical = integrity.admit(parsed, update, self.index,
                                        updates.read_state_vector(self.doc.get_state()))
        except integrity.Unknown:
            return "unknown"  # the room waits for the base, then refuses
        except integrity.Poisoned as exc:
            return str(exc)
        assert crdt.apply(self.doc, canonical)
        try:
            integrity.check_placed(parsed, self.index, self.doc)
        except integrity.Poisoned as exc:
            self.rebuild()  # as the room does: back to what was stored
            return str(exc)
        self.index.add(parsed)
        self.taken.append(canonical)
        return canonical

    def rebuild(self) -> None:
        self.doc = Doc()
        self.index = integrity.DocIndex()
        for update in self.taken:
            self.doc.apply_update(update)
            self.index.add(updates.parse(update))

    def take_all(self, session: list[bytes]) -> list[bytes]:
        taken = []
        for update in session:
            result = self.take(update)
            assert isinstance(result, bytes), result
            taken.append(result)
        return taken


def text(doc: Doc[Any]) -> str:
    return str(doc.get("content", type=Text))


def contents(oracle: YjsOracle, parts: list[bytes]) -> Any:
    answer = oracle.apply(parts)
    assert answer["ok"], answer
    return answer["dump"]["roots"]


# -- what stock Yjs clients send -----------------------------------------------


def test_a_real_session_with_emoji_formats_and_maps_is_taken_whole(oracle: YjsOracle) -> None:
    session = oracle.make([
        {"insert": [0, "Le devoir 😀 de demain", None]},
        {"insert": [10, "🙂", {"bold": True}]},  # before the emoji: a whole character
        {"delete": [12, 2]},  # the 😀, both halves
        {"format": [0, 2, {"italic": True}]},
        {"client": 1},
        {"embed": [3, {"image": "photo.png"}]},
        {"map": ["title", "Devoir 👩‍👩‍👧"]},
        {"nested": "inner"},
        {"array": [1, 2.5, "x", True, None, {"a": [1, -7]}]},
        {"insert": [0, "👍", None]},
    ])
    assert session is not None
    server = Server()
    relayed = server.take_all(session)
    live = contents(oracle, relayed)
    assert live == contents(oracle, session)  # as the senders' own copies
    assert live == contents(oracle, [server.doc.get_update()])  # a late joiner
    assert shown(live) == "👍Le devoir 🙂 de demain"


def shown(roots: Any) -> str:
    """The characters of the "content" text in a Yjs dump (UTF-16 units joined)."""
    units = roots.get("content", {"items": []})["items"]
    return "".join(u for u in units if isinstance(u, str)).encode(
        "utf-16-le", "surrogatepass").decode("utf-16-le")


def test_an_insertion_inside_an_emoji_is_refused(oracle: YjsOracle) -> None:
    """Yjs splits the pair into two U+FFFD, yrs does not, and then yrs encodes
    a state that Yjs cannot load: every late joiner would fail."""
    session = oracle.make([{"insert": [0, "é😀x", None]}, {"insert": [2, "Z", None]}])
    assert session is not None
    # Without the check: the stored state is poison for Yjs.
    unchecked: Doc[Any] = Doc()
    for update in session:
        unchecked.apply_update(update)
    late = oracle.apply([unchecked.get_update()])
    assert not late["ok"] or late["dump"] != oracle.apply(session)["dump"]
    server = Server()
    assert isinstance(server.take(session[0]), bytes)
    assert server.take(session[1]) == "an insertion splits a character in two"
    assert text(server.doc) == "é😀x"


def test_a_deletion_of_half_an_emoji_is_refused(oracle: YjsOracle) -> None:
    session = oracle.make([{"insert": [0, "😀x", None]}, {"delete": [1, 2]}])
    assert session is not None
    server = Server()
    assert isinstance(server.take(session[0]), bytes)
    assert server.take(session[1]) == "a deletion splits a character in two"


def test_the_missing_part_of_a_string_may_not_start_inside_a_character(
    oracle: YjsOracle,
) -> None:
    session = oracle.make([{"insert": [0, "a", None]}, {"insert": [1, "😀b", None]}])
    assert session is not None
    server = Server()
    server.take_all(session[:1])
    second = updates.parse(session[1]).structs[0]
    # The same string, but claiming the document already holds its first unit.
    crafted = _item_update(second.client, 1, [
        bytes([0x84]) + var_uint(second.client) + var_uint(0) + var_bytes("😀b".encode())])
    server.doc.apply_update(_item_update(second.client, 1, [
        bytes([0x84]) + var_uint(second.client) + var_uint(0) + var_bytes(b"q")]))
    assert server.take(crafted) == (
        "the part of a string this document lacks starts inside a character")


# -- crafted updates -----------------------------------------------------------


def _item_update(client: int, clock: int, structs: list[bytes],
                 deletes: bytes = b"\x00") -> bytes:
    return (var_uint(1) + var_uint(len(structs)) + var_uint(client) + var_uint(clock)
            + b"".join(structs) + deletes)


def _string_item(text_: str, origin: tuple[int, int] | None = None,
                 right: tuple[int, int] | None = None) -> bytes:
    info = 4 | (0x80 if origin else 0) | (0x40 if right else 0)
    out = bytes([info])
    if origin:
        out += var_uint(origin[0]) + var_uint(origin[1])
    if right:
        out += var_uint(right[0]) + var_uint(right[1])
    if not origin and not right:
        out += var_uint(1) + var_bytes(b"content")
    return out + var_bytes(text_.encode())


BASE_CLIENT = 11


@pytest.fixture
def abcdef() -> Server:
    server = Server()
    server.take_all([_item_update(BASE_CLIENT, 0, [_string_item("abcdef")])])
    return server


def test_an_insertion_between_a_character_and_itself_is_refused(abcdef: Server) -> None:
    update = _item_update(7, 0, [_string_item("Z", (BASE_CLIENT, 2), (BASE_CLIENT, 2))])
    assert abcdef.take(update) == "an insertion's left and right are the same character"


def test_an_insertion_whose_left_is_after_its_right_is_refused(abcdef: Server) -> None:
    update = _item_update(7, 0, [_string_item("Z", (BASE_CLIENT, 4), (BASE_CLIENT, 1))])
    assert abcdef.take(update) == "an insertion's left comes after its right"
    good = _item_update(7, 0, [_string_item("Z", (BASE_CLIENT, 1), (BASE_CLIENT, 2))])
    assert isinstance(abcdef.take(good), bytes)
    assert text(abcdef.doc) == "abZcdef"


def test_an_item_built_on_its_own_future_is_refused(abcdef: Server) -> None:
    # Client 7 carries clocks 0-4; its first item is placed after its third.
    update = _item_update(7, 0, [_string_item("Z", (7, 2)),
                                 _string_item("wxyz", (BASE_CLIENT, 5))])
    assert abcdef.take(update) == "an item builds on its own future"


def test_an_item_whose_parent_is_a_character_is_refused(abcdef: Server) -> None:
    item = bytes([4]) + var_uint(0) + var_uint(BASE_CLIENT) + var_uint(2) + var_bytes(b"Z")
    assert abcdef.take(_item_update(7, 0, [item])) == "an item's parent is not a shared type"


def _any_item(values: bytes, count: int, origin: tuple[int, int] | None = None,
              root: bytes | None = None) -> bytes:
    if origin is not None:
        head = bytes([0x80 | 8]) + var_uint(origin[0]) + var_uint(origin[1])
    else:
        head = bytes([8]) + var_uint(1) + var_bytes(root or b"list")
    return head + var_uint(count) + values


def test_an_insertion_between_two_types_is_refused(abcdef: Server) -> None:
    abcdef.take_all([_item_update(12, 0, [_any_item(b"\x7d\x01\x7d\x02", 2)])])
    update = _item_update(7, 0, [_string_item("Z", (BASE_CLIENT, 2), (12, 1))])
    assert abcdef.take(update) == "an insertion's neighbours are in different places"


def test_array_values_inside_text_are_refused(abcdef: Server) -> None:
    update = _item_update(7, 0, [_any_item(b"\x7d\x01", 1, origin=(BASE_CLIENT, 2))])
    assert abcdef.take(update) == "content that does not belong in that place"


def test_a_struct_rewriting_part_of_a_held_one_elsewhere_is_refused(oracle: YjsOracle) -> None:
    """Found by the property test: a merged update whose first struct starts
    a clock early, in the document's text, while it says it goes into an
    array; Yjs and yrs put the rest in different places."""
    session = oracle.make([{"insert": [0, "abc", None]}, {"embed": [0, {"image": "x.png"}]},
                           {"array": [1, 2.5]}, {"insert": [0, "abc", None]}])
    assert session is not None
    server = Server()
    server.take_all(session[:2])
    merged = updates.parse(merge_updates(*session[2:]))
    first = merged.structs[0]
    assert first.parent == ("root", "list")
    damaged = bytearray(merge_updates(*session[2:]))
    at = len(var_uint(1) + var_uint(len(merged.structs)) + var_uint(first.client))
    assert damaged[at] == first.clock  # the first struct's clock
    damaged[at] -= 1
    assert server.take(bytes(damaged)) == "a change rewrites part of what the document holds"


def test_a_client_listed_twice_is_unreadable(abcdef: Server) -> None:
    block = var_uint(1) + var_uint(7) + var_uint(0) + _string_item("Z", (BASE_CLIENT, 5))
    update = var_uint(2) + block + block + b"\x00"
    assert abcdef.take(update) == "unreadable: a client's structs listed twice"


@pytest.mark.parametrize("content", [b"{not json", b"NaN", b"[1,"])
def test_embeds_that_are_not_json_are_unreadable(abcdef: Server, content: bytes) -> None:
    embed = bytes([0x80 | 5]) + var_uint(BASE_CLIENT) + var_uint(5) + var_bytes(content)
    assert abcdef.take(_item_update(7, 0, [embed])) == "unreadable: content is not JSON"


def test_an_empty_deletion_and_trailing_bytes_are_unreadable(abcdef: Server) -> None:
    deletes = var_uint(1) + var_uint(BASE_CLIENT) + var_uint(1) + var_uint(2) + var_uint(0)
    assert abcdef.take(b"\x00" + deletes) == "unreadable: empty deletion"
    good = b"\x00" + var_uint(1) + var_uint(BASE_CLIENT) + var_uint(1) + var_uint(2) \
        + var_uint(1)
    assert abcdef.take(good + b"\x00") == "unreadable: bytes left after the message"
    assert isinstance(abcdef.take(good), bytes)
    assert text(abcdef.doc) == "abdef"


def test_what_builds_on_structs_nobody_has_is_unknown(abcdef: Server) -> None:
    assert abcdef.take(_item_update(7, 0, [_string_item("Z", (99, 0))])) == "unknown"
    assert abcdef.take(_item_update(BASE_CLIENT, 9, [_string_item("Z")])) == "unknown"
    deletes = var_uint(1) + var_uint(BASE_CLIENT) + var_uint(1) + var_uint(5) + var_uint(4)
    assert abcdef.take(b"\x00" + deletes) == "unknown"


# -- the property: damaged real updates never leave replicas apart -------------

WORDS = ["abc", "é😀x", "👩‍👩‍👧 famille", "z", "🙂🙂", "mot "]


@st.composite
def sessions(draw: st.DrawFn) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    length = 0
    for _ in range(draw(st.integers(2, 8))):
        kind = draw(st.sampled_from(
            ["insert", "insert", "insert", "delete", "format", "embed", "map", "client",
             "array", "nested"]))
        if kind == "insert" or length < 2:
            word = draw(st.sampled_from(WORDS))
            steps.append({"insert": [draw(st.integers(0, length)), word,
                                     draw(st.sampled_from([None, {"bold": True}]))]})
            length += len(word.encode("utf-16-le")) // 2
        elif kind == "delete":
            start = draw(st.integers(0, length - 1))
            count = draw(st.integers(1, min(3, length - start)))
            steps.append({"delete": [start, count]})
            length -= count
        elif kind == "format":
            start = draw(st.integers(0, length - 1))
            steps.append({"format": [start, draw(st.integers(1, length - start)),
                                     {"italic": True}]})
        elif kind == "embed":
            steps.append({"embed": [draw(st.integers(0, length)), {"image": "x.png"}]})
            length += 1
        elif kind == "map":
            steps.append({"map": ["title", draw(st.sampled_from(["Devoir 😀", 3, None]))]})
        elif kind == "client":
            steps.append({"client": draw(st.integers(0, 2))})
        elif kind == "array":
            steps.append({"array": [1, 2.5, "x", True, None, {"a": [1, -7]}]})
        else:
            steps.append({"nested": "inner"})
    return steps


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(steps=sessions(), data=st.data())
def test_damaged_real_updates_never_leave_replicas_apart(
    oracle: YjsOracle, steps: list[dict[str, Any]], data: st.DataObject,
) -> None:
    session = oracle.make(steps)
    assume(session)
    assert session is not None
    at = data.draw(st.integers(0, len(session) - 1))
    server = Server()
    for update in session[:at]:
        taken = server.take(update)
        assume(isinstance(taken, bytes))  # a base that splits an emoji: refused, not a base
    base = [server.doc.get_update()]
    # One keystroke's update, or everything from there on in one update (a
    # SyncStep2 after editing offline: items built on items of the same update).
    damaged = bytearray(merge_updates(*session[at:]) if data.draw(st.booleans())
                        else session[at])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(damaged) - 1))
        how = data.draw(st.sampled_from(["small", "small", "small", "flip", "byte", "drop",
                                         "add"]))
        if how == "small":  # a low bit: varints keep their length, so it often still reads
            damaged[i] ^= 1 << data.draw(st.integers(0, 2))
        elif how == "flip":
            damaged[i] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "byte":
            damaged[i] = data.draw(st.integers(0, 255))
        elif how == "drop" and len(damaged) > 1:
            del damaged[i]
        else:
            damaged.insert(i, data.draw(st.integers(0, 255)))
    taken = server.take(bytes(damaged))
    if not isinstance(taken, bytes):
        event(f"refused: {taken.partition(':')[0]}")
        return  # refused: nobody receives it
    event("taken")
    live = oracle.apply([*base, taken])  # a client that was there receives the relay
    assert live["ok"], live
    stored = server.doc.get_update()
    late = oracle.apply([stored])  # a client that joins later loads the stored state
    assert late["ok"], late
    assert live["dump"] == late["dump"]
    reloaded: Doc[Any] = Doc()  # the server itself, after a restart
    reloaded.apply_update(stored)
    assert contents(oracle, [reloaded.get_update()]) == late["dump"]["roots"]
    units = late["dump"]["roots"].get("content", {"items": []})["items"]
    if all(isinstance(u, str) for u in units):  # pycrdt's str() leaves embeds out
        assert shown(late["dump"]["roots"]) == text(server.doc)


def test_objects_are_read_alike_whatever_order_yrs_writes_their_keys_in() -> None:
    """yrs keeps an object's entries in a hash map: its re-encoding may list
    them in another order, which is the same value (found on a map document)."""
    for i in range(20):
        doc: Doc[Any] = Doc()
        made: list[bytes] = []
        doc.observe(lambda event, made=made: made.append(event.update))
        doc.get("content", type=Map)[f"idée {i}"] = {
            "texte": "Volcans", "enfants": ["lave", "cendres"], "x": i, "y": -i, "couleur": "#f00",
            "taille": 1.5, "ouvert": True}
        assert isinstance(Server().take(made[-1]), bytes)
