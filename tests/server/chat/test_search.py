"""Search in a room's history (issue 20) under the circle of trust: found
only by who may read the room, on either node; never a redacted text."""

from __future__ import annotations

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.store import AuditAction
from tests.server.twonodes import Nodes


async def test_search_finds_only_what_one_may_read(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.b, "Léa Martin")
    await nodes.a.chat.send(claire, room, "t1", "Sortie au musée jeudi")
    secret = await nodes.a.chat.send(lea, room, "t2", "Mon code du casier au musée : 1234")
    assert secret.message is not None
    await nodes.a.moderation.redact(lea, room, secret.message.seq, None)
    found = await nodes.b.chat.search(lea, room, "MUSÉE", 50)
    assert [(m["seq"], m["body"]) for m in found] == [(1, "Sortie au musée jeudi")]
    assert "1234" not in str(await nodes.b.chat.search(lea, room, "casier", 50))

    # Out of reach reads as nothing there: another class, a parent, the removed.
    ines = nodes.member(nodes.b, "Inès Petit")
    camille = nodes.member(nodes.b, "Camille Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    await nodes.a.store.moderate_member(room, claire.id, hugo.id, AuditAction.MEMBER_REMOVE,
                                        None, None, nodes.a.clock.now_ms())
    for outsider in (ines, camille, hugo):
        with pytest.raises(PreauError) as refused:
            await nodes.b.chat.search(outsider, room, "musée", 50)
        assert refused.value.code is ErrorCode.NOT_FOUND

    # A private conversation: its people only.
    conversation, _ = await nodes.a.chat.open_conversation(claire, [camille.id])
    await nodes.a.chat.send(camille, conversation.id, "p1", "Léa sera absente au musée")
    assert len(await nodes.b.chat.search(claire, conversation.id, "absente", 50)) == 1
    julien = nodes.member(nodes.b, "Julien Garnier")
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.search(julien, conversation.id, "absente", 50)
    assert refused.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.search(claire, conversation.id, "  ", 50)
    assert refused.value.code is ErrorCode.BAD_REQUEST
