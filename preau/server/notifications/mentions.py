"""Who a message mentions: « @Prénom Nom » of someone who may read the room
(pure: no I/O).

People write a mention as an at sign and the name the room shows, as in
every chat (Matrix's pills, Rocket.Chat's @user): ``@Léa Martin``. Matched
case- and accent-insensitively (« @lea martin » too, typed on a phone), the
name ending at a word boundary (« @Léa Martinez » is not « @Léa Martin »), the
longest name winning where one name starts another. Only the room's readers
are candidates: a name outside the circle of trust is plain text, as if
nobody had that name.
"""

from __future__ import annotations

from preau.server.directory.model import Member
from preau.server.store.folding import fold


def mentioned(body: str, readers: list[Member]) -> list[Member]:
    """The readers ``body`` mentions, in the order of ``readers``."""
    if "@" not in body:
        return []
    text = fold(body)
    names = sorted(((fold(m.display_name), m) for m in readers if m.display_name.strip()),
                   key=lambda pair: -len(pair[0]))
    found: dict[str, Member] = {}
    taken: list[tuple[int, int]] = []  # spans already claimed by a longer name
    for name, member in names:
        start = text.find("@" + name)
        while start >= 0:
            end = start + 1 + len(name)
            boundary = end == len(text) or not text[end].isalnum()
            free = all(end <= a or start >= b for a, b in taken)
            if boundary and free:
                found[member.id] = member
                taken.append((start, end))
                break
            start = text.find("@" + name, start + 1)
    return [m for m in readers if m.id in found] if found else []
