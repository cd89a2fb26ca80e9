"""The notification mail as written by hand (preau/server/notifications/email.py,
``_mail``): what any mail parser reads back, ASCII only, short lines, and
no header a name could inject."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from preau.server.notifications.email import _address, _encoded, _mail


def parse(data: bytes) -> EmailMessage:
    found = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(found, EmailMessage)
    return found


def test_a_mail_reads_back_as_written() -> None:
    subject = "Préau : Nouveau message privé de Zoé-Éléonore Nguyễn, " * 3
    text = "Bonjour,\n\n« Réunion » jeudi 🎒\n.une ligne qui commence par un point\n-- \n" \
        + "x" * 200 + "\n"
    data = _mail([("From", _address("Préau École <ne-pas-repondre@college.example>")[0]),
                  ("To", "camille@famille.example"), ("Subject", _encoded(subject)),
                  ("List-Unsubscribe", "<https://ent.example/api/notifications/unsubscribe/"
                   + "t" * 32 + ">")],
                 text, "<p>Été 🎒</p>")
    data.decode("ascii")  # nothing but ASCII on the wire
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert all(len(line) <= 78 for line in data.split(b"\r\n") if b"List-Unsubscribe" not in line)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    mail = parse(data)
    assert str(mail["Subject"]) == subject
    assert str(mail["From"]) == "Préau École <ne-pas-repondre@college.example>"
    assert mail["List-Unsubscribe"] == "<https://ent.example/api/notifications/unsubscribe/" \
        + "t" * 32 + ">"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().replace("\r\n", "\n") == text
    assert html.get_content().strip() == "<p>Été 🎒</p>"


def test_a_name_cannot_add_a_header() -> None:
    sneaky = "Claire\r\nBcc: tout-le-monde@example.org"
    data = _mail([("To", "camille@famille.example"), ("Subject", _encoded(sneaky))], "a", "b")
    mail = parse(data)
    assert mail["Bcc"] is None
    assert b"\r\nBcc:" not in data
    assert "Bcc" in str(mail["Subject"])  # kept as text, inside the subject
