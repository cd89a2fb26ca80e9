"""Search folds case and accents the same way in Python, SQLite and
PostgreSQL (preau/server/store/folding.py): « ecole » finds « École » and
« ÉCOLE » on both stores, « oeuvre » finds « Œuvre », and LIKE's own
characters in the words are literal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from preau.server.store import Store
from preau.server.store.folding import fold
from tests.server.store.contract import Room, room

__all__ = ["room"]  # fixture

LETTERS = "abcdeEÉéèÈêÊëàÀâÂçÇîÎïôÔöùÙûüÿŸœŒæÆ%_\\ 'xyzΣσДд"


async def test_case_and_accents_aside(room: Room) -> None:
    bodies = ["Sortie à l'ÉCOLE des Beaux-Arts", "Rendez-vous à l'école", "Une Œuvre d'art",
              "Cahier de français", "100% réussi", "mot_de_passe"]
    for i, body in enumerate(bodies):
        await room.post(room.lea, f"t{i}", body=body)

    async def found(words: str) -> list[int]:
        return [m.seq for m in await room.store.search_messages(room.id, words, 50)]

    assert await found("ecole") == [1, 2]
    assert await found("ÉCOLE") == [1, 2]
    assert await found("Ecole des beaux") == [1]
    assert await found("oeuvre") == [3]
    assert await found("FRANCAIS") == [4]
    assert await found("%") == [5]  # literal, not "anything"
    assert await found("s_r") == []  # "_" is literal too (else it finds « Sortie »)
    assert await found("mot_de") == [6]


@settings(max_examples=200)
@given(text=st.text(alphabet=LETTERS, max_size=30))
def test_python_folds_as_the_database_does_sqlite(text: str) -> None:
    import sqlite3

    from preau.server.store.sqlite import _connect

    conn: sqlite3.Connection = _connect(":memory:", 1.0)
    try:
        [(folded,)] = conn.execute("SELECT preau_fold(?)", (text,)).fetchall()
    finally:
        conn.close()
    assert folded == fold(text)


async def test_python_folds_as_the_database_does(store: Store) -> None:
    # Latin letters only: beyond the table, PostgreSQL lower-cases as its
    # LC_CTYPE says (ASCII only under C), which Python cannot know.
    latin = LETTERS.replace("ΣσДд", "")
    samples = [latin, latin.upper(), "Œuvre ÆSOP", "ÉCOLE école Ecole", "", "Straße"]
    async with store.engine.transaction(readonly=True) as tx:
        for text in samples:
            folded = await tx.fetchval(f"SELECT {store.engine.fold('$1')}", text)
            assert folded == fold(text), text
