"""Notification e-mails over the operator's SMTP relay (aiosmtplib;
docs/decisions.md, "Notification e-mails").

Every node runs ``EmailSender.run``; each pass claims due jobs in the store
(``claim_email_jobs``: a lease per job, so two nodes never send the same
one), sends them, and records the outcome:

- sent: done;
- a transient failure (a 4xx answer, the relay unreachable, a time-out):
  tried again after ``PREAU_EMAIL_RETRY_S``, doubled each time, up to
  ``PREAU_EMAIL_ATTEMPTS`` attempts;
- a school that had ``PREAU_EMAIL_PER_MINUTE`` mails in the last minute
  waits (the relay's protection, counted in the store: every node agrees);
- a permanent one (5xx): the address is marked bouncing (shown to the
  school's admins; no more mail goes to it until the import changes it).

A mail carries no message content: who, where, and a link to Préau; a
``List-Unsubscribe`` header (with ``List-Unsubscribe-Post``, RFC 8058) and a
link in the text unsubscribe from this kind of notification without logging
in (the kind goes back to the app only). French first, English below.
Daily and weekly digests: a job per notification, due at 18:00 school time
(weekly: Fridays, ``preferences.next_digest_ms``); the node that claims one
claims the person's other due jobs of that digest in the same transaction
and sends them as one mail, grouped by room (or document), then by who.

A notification withdrawn (a message deleted or recalled) before its mail
left takes its mail with it (the job is deleted with it, or dropped when
claimed).
"""

from __future__ import annotations

import asyncio
import html
import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from preau.server.clock import Clock
from preau.server.directory.service import Directory
from preau.server.log_records import RetryLog
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.notifications import EmailJob, Notification

log = logging.getLogger(__name__)

BATCH = 20

_FR = {
    "message": "Nouveau message privé de {name}",
    "conversation": "{name} a ouvert une conversation avec vous",
    "announcement": "Annonce de {name} dans « {room} » : confirmez la lecture",
    "held.approved": "Votre message dans « {room} » a été approuvé",
    "held.rejected": "Votre message dans « {room} » a été refusé",
    "report.resolved": "Votre signalement dans « {room} » a été traité",
    "scheduled.delivered": "Votre message programmé dans « {room} » a été distribué",
    "call.started": "{name} a lancé une visio dans « {room} »",
    "document.shared": "{name} a partagé le document « {title} »",
    "document.locked": "{name} a verrouillé le document « {title} »",
}
_EN = {
    "message": "New private message from {name}",
    "conversation": "{name} opened a conversation with you",
    "announcement": "Announcement from {name} in “{room}”: please confirm you read it",
    "held.approved": "Your message in “{room}” was approved",
    "held.rejected": "Your message in “{room}” was rejected",
    "report.resolved": "Your report in “{room}” was dealt with",
    "scheduled.delivered": "Your scheduled message in “{room}” was delivered",
    "call.started": "{name} started a video call in “{room}”",
    "document.shared": "{name} shared the document “{title}”",
    "document.locked": "{name} locked the document “{title}”",
}


class Transient(Exception):
    """Try again later."""


class Permanent(Exception):
    """The relay refused the address for good (5xx)."""


def classify(exc: BaseException) -> Exception:
    """A send's failure: ``Permanent`` for a 5xx answer, ``Transient`` otherwise."""
    codes: list[int] = []
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        codes = [exc.code]
    if codes and all(500 <= c < 600 for c in codes):
        return Permanent(str(exc))
    return Transient(str(exc) or type(exc).__name__)


class EmailSender:
    def __init__(
        self, store: Store, directory: Directory, settings: Settings, clock: Clock, holder: str
    ) -> None:
        self._store = store
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self.holder = holder

    # -- the mail ------------------------------------------------------------------------
    async def compose(self, job: EmailJob, token: str) -> EmailMessage:
        fr, en, _where, link = await self._texts(job.notification)
        base = self._settings.public_url.rstrip("/")
        unsubscribe = f"{base}/api/notifications/unsubscribe/{token}"
        message = self._envelope(job.email, f"Préau : {fr}", unsubscribe)
        message.set_content(
            f"{fr}.\n\nOuvrir Préau : {link}\n\n"
            f"Ne plus recevoir ces courriels : {unsubscribe}\n\n"
            f"-- \n{en}.\nOpen Préau: {link}\nStop these e-mails: {unsubscribe}\n")
        e = html.escape
        message.add_alternative(
            f'<!doctype html><html lang="fr"><body>'
            f"<p>{e(fr)}.</p><p><a href=\"{e(link)}\">Ouvrir Préau</a></p>"
            f"<p><small><a href=\"{e(unsubscribe)}\">Ne plus recevoir ces courriels</a>"
            f"</small></p><hr><div lang=\"en\"><p>{e(en)}.</p>"
            f"<p><a href=\"{e(link)}\">Open Préau</a> · "
            f"<a href=\"{e(unsubscribe)}\">Stop these e-mails</a></p></div>"
            f"</body></html>", subtype="html")
        return message

    # -- sending -------------------------------------------------------------------------
    async def send_due(self) -> int:
        """Claim what is due and send it; the number this node sent."""
        settings = self._settings
        lease_ms = int((settings.smtp_timeout_s * 2 + 30) * 1000) * BATCH
        sent = 0
        while True:
            jobs = await self._store.claim_email_jobs(
                self.holder, self._clock.now_ms(), lease_ms, BATCH,
                per_minute=settings.email_per_minute)
            digests: dict[tuple[str, str], list[EmailJob]] = {}
            for job in jobs:
                if job.digest is None:
                    sent += await self._send([job])
                else:
                    digests.setdefault((job.notification.person_id, job.digest), []).append(job)
            for group in digests.values():
                sent += await self._send(group)
            if len(jobs) < BATCH // 2:  # (a school over its minute gives some back)
                return sent

    async def _send(self, jobs: list[EmailJob]) -> int:
        """One mail: a notification's, or a digest's (all of ``jobs``)."""
        settings = self._settings
        job = jobs[0]
        token = await self._store.unsubscribe_token(job.id)
        if token is None:
            return 0
        if job.digest is None:
            message = await self.compose(job, token)
        else:
            message = await self.compose_digest(jobs, token)
        try:
            await aiosmtplib.send(
                message, hostname=settings.smtp_host, port=settings.smtp_port,
                timeout=settings.smtp_timeout_s, start_tls=False)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            failure = classify(exc)
            now = self._clock.now_ms()
            error = str(failure)[:500]
            for one in jobs:
                if isinstance(failure, Permanent):
                    await self._store.finish_email_job(one.id, self.holder, "bounced", now, error)
                elif one.attempts >= settings.email_attempts:
                    await self._store.finish_email_job(one.id, self.holder, "failed", now, error)
                else:
                    delay_ms = int(settings.email_retry_s * 1000) * 2 ** (one.attempts - 1)
                    await self._store.retry_email_job(one.id, self.holder, now + delay_ms, error)
            if isinstance(failure, Permanent):
                log.warning("e-mail %s refused for good: the address is marked bouncing",
                            job.id)
            return 0
        for one in jobs:
            await self._store.finish_email_job(one.id, self.holder, "sent", self._clock.now_ms())
        return 1

    async def _texts(self, n: Notification) -> tuple[str, str, str, str]:
        """A notification's French and English lines, where it is, and its link."""
        person = await self._directory.person(n.actor_id) if n.actor_id else None
        room = await self._directory.room(n.room_id) if n.room_id else None
        fields = {"name": person.display_name if person else "Préau",
                  "room": room.name if room else "", "title": str(n.data.get("title", ""))}
        base = self._settings.public_url.rstrip("/")
        link = (f"{base}/room/{n.room_id}" if n.room_id
                else f"{base}/doc/{n.data['document']}" if "document" in n.data else base)
        where = room.name if room else fields["title"] or "Préau"
        return (_FR.get(n.kind, "Du nouveau dans Préau").format(**fields),
                _EN.get(n.kind, "Something new in Préau").format(**fields), where, link)

    async def compose_digest(self, jobs: list[EmailJob], token: str) -> EmailMessage:
        """A digest: the person's notifications grouped by room (or document),
        then by who, oldest first; no message content."""
        ordered = sorted(jobs, key=lambda j: (j.notification.created_ms, j.id))
        groups: dict[str, list[tuple[str, str, str]]] = {}
        links: dict[str, str] = {}
        for job in ordered:
            fr, en, where, link = await self._texts(job.notification)
            who = job.notification.actor_id or ""
            groups.setdefault(where, []).append((who, fr, en))
            links.setdefault(where, link)
        for lines in groups.values():
            lines.sort(key=lambda line: line[0])  # by who (stable: oldest first each)
        daily = jobs[0].digest == "daily"
        count = len(jobs)
        plural = "s" if count > 1 else ""
        subject_fr = (f"votre résumé du jour ({count} notification{plural})" if daily
                      else f"votre résumé de la semaine ({count} notification{plural})")
        base = self._settings.public_url.rstrip("/")
        unsubscribe = f"{base}/api/notifications/unsubscribe/{token}"
        message = self._envelope(jobs[0].email, f"Préau : {subject_fr}", unsubscribe)
        text_fr = [f"{'Aujourd’hui' if daily else 'Cette semaine'} dans Préau :", ""]
        text_en = [f"{'Today' if daily else 'This week'} in Préau:", ""]
        e = html.escape
        html_fr, html_en = [], []
        for where, lines in groups.items():
            text_fr.append(f"« {where} » ({links[where]})")
            text_en.append(f"“{where}” ({links[where]})")
            text_fr += [f"  - {fr}" for _, fr, _ in lines]
            text_en += [f"  - {en}" for _, _, en in lines]
            html_fr.append(f'<h2><a href="{e(links[where])}">{e(where)}</a></h2><ul>'
                           + "".join(f"<li>{e(fr)}</li>" for _, fr, _ in lines) + "</ul>")
            html_en.append(f'<h2><a href="{e(links[where])}">{e(where)}</a></h2><ul>'
                           + "".join(f"<li>{e(en)}</li>" for _, _, en in lines) + "</ul>")
        message.set_content(
            "\n".join(text_fr) + f"\n\nNe plus recevoir ces résumés : {unsubscribe}\n\n-- \n"
            + "\n".join(text_en) + f"\n\nStop these digests: {unsubscribe}\n")
        message.add_alternative(
            '<!doctype html><html lang="fr"><body>' + "".join(html_fr)
            + f'<p><small><a href="{e(unsubscribe)}">Ne plus recevoir ces résumés</a>'
            + '</small></p><hr><div lang="en">' + "".join(html_en)
            + f'<p><a href="{e(unsubscribe)}">Stop these digests</a></p></div></body></html>',
            subtype="html")
        return message

    def _envelope(self, to: str, subject: str, unsubscribe: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(self._clock.now_ms() / 1000, localtime=False)
        message["Message-ID"] = make_msgid(domain="preau.invalid")
        message["Content-Language"] = "fr, en"
        message["Auto-Submitted"] = "auto-generated"
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return message

    async def run(self, interval_s: float) -> None:
        """Send what is due every ``interval_s`` (a task of the lifespan)."""
        retries = RetryLog(log, "notification e-mails")
        while True:
            try:
                await self.send_due()
            except Exception as exc:
                retries.failed(exc, interval_s)
            else:
                retries.succeeded()
            await asyncio.sleep(interval_s)
