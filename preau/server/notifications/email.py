"""Notification e-mails over the operator's SMTP relay (aiosmtplib;
docs/decisions.md, "Notification e-mails").

Every node runs ``EmailSender.run``; each pass claims due jobs in the store
(``claim_email_jobs``: a lease per job, so two nodes never send the same
one), sends them over one SMTP connection kept for the pass, and records the
outcome:

- sent: done;
- a transient failure (a 4xx answer, the relay unreachable, a time-out):
  tried again after ``PREAU_EMAIL_RETRY_S``, doubled each time, up to
  ``PREAU_EMAIL_ATTEMPTS`` attempts;
- the relay refusing the mail itself (5xx to MAIL FROM, AUTH or DATA: its
  setup, not the address): retried the same way, then given up (failed),
  one warning naming the relay's answer; no address is marked;
- a school that had ``PREAU_EMAIL_PER_MINUTE`` mails in the last minute
  waits (the relay's protection, counted in the store: every node agrees);
- the recipient refused for good (5xx to RCPT TO): the address is marked
  bouncing (shown to the school's admins; no more mail goes to it until the
  import or the person changes it).

A next attempt (a retry, a per-minute deferral) that falls in the school's
quiet hours waits for its delivery window, as the first one did
(``leaving.py``); an admin's urgent message's mails go through them. As a
batch leaves, the directory is read again if a ``preau import`` elsewhere
changed it, and a job is dropped (failed) whose person no longer chose
e-mail (or that digest) for its kind, or may no longer read its source.

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
import base64
import html
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email import quoprimime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import aiosmtplib

from preau.server.auth import tokens
from preau.server.clock import Clock
from preau.server.directory.csv_import import valid_email
from preau.server.directory.model import Member, Profile
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, forbidden
from preau.server.log_records import RetryLog
from preau.server.notifications import leaving
from preau.server.ratelimit.factory import open_rate_limiter
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.notifications import EmailJob, Notification

log = logging.getLogger(__name__)

BATCH = 20
CHANGE_TTL_S = 24 * 3600  # a confirmation link of a new address

_FR = {
    "message": "Nouveau message privé de {name}",
    "conversation": "{name} a ouvert une conversation avec vous",
    "announcement": "Annonce de {name} dans « {room} » : confirmez la lecture",
    "mention": "{name} vous a mentionné dans « {room} »",
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
    "mention": "{name} mentioned you in “{room}”",
    "held.approved": "Your message in “{room}” was approved",
    "held.rejected": "Your message in “{room}” was rejected",
    "report.resolved": "Your report in “{room}” was dealt with",
    "scheduled.delivered": "Your scheduled message in “{room}” was delivered",
    "call.started": "{name} started a video call in “{room}”",
    "document.shared": "{name} shared the document “{title}”",
    "document.locked": "{name} locked the document “{title}”",
}


async def describe(
    directory: Directory, settings: Settings, n: Notification
) -> tuple[str, str, str, str]:
    """A notification's French and English lines (who and where, never the
    message), where it is, and its link: a mail's subject, a push's text."""
    person = await directory.person(n.actor_id) if n.actor_id else None
    room = await directory.room(n.room_id) if n.room_id else None
    fields = {"name": person.display_name if person else "Préau",
              "room": room.name if room else "", "title": str(n.data.get("title", ""))}
    base = settings.public_url.rstrip("/")
    link = (f"{base}/room/{n.room_id}" if n.room_id
            else f"{base}/doc/{n.data['document']}" if "document" in n.data else base)
    where = room.name if room else fields["title"] or "Préau"
    return (_FR.get(n.kind, "Du nouveau dans Préau").format(**fields),
            _EN.get(n.kind, "Something new in Préau").format(**fields), where, link)


EXCERPT_CHARS = 140
EXCERPT_KINDS = frozenset({"message", "announcement"})


async def language_of(store: Store, person_id: str) -> str:
    """``fr`` or ``en``: the person's language (French unless they chose English)."""
    return (await store.languages_of([person_id])).get(person_id, "fr")


async def excerpt_of(store: Store, directory: Directory, n: Notification) -> str | None:
    """The first words of a private message or announcement, for a mail or
    a push: only where the school turned it on, only to an adult, never a
    message since deleted or recalled. None otherwise (who and where only)."""
    if n.kind not in EXCERPT_KINDS or n.room_id is None or n.seq is None:
        return None
    person = await directory.person(n.person_id)
    if person is None or person.profile is Profile.PUPIL:
        return None
    if not await store.notification_excerpt(n.school_id):
        return None
    found = await store.messages_after(n.room_id, n.seq - 1, 1)
    if not found or found[0].seq != n.seq or found[0].redacted:
        return None
    text = " ".join(found[0].body.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1].rstrip() + "…"


# Notification mails are written here as bytes, not built with the email
# package: EmailMessage with the default policy parsed every header on
# assignment and refolded it when flattened (two thirds of a mail's ~3 ms of
# CPU), and even its compat32 classes spent most of the rest folding headers
# (profiled: docs/benchmarks.md). The format is simple and fixed: ASCII
# headers (non-ASCII text as RFC 2047 encoded words, base64, at most 75
# characters each), multipart/alternative with a plain-text and an HTML part
# in UTF-8, quoted-printable, lines of at most 76 characters, CRLF.


@dataclass(frozen=True, slots=True)
class Mail:
    """A mail ready for the relay: its recipient and its bytes."""

    to: str
    data: bytes


def _encoded(value: str) -> str:
    """A header's text: as is when it is printable ASCII, else encoded words
    (UTF-8, base64: 39 bytes of text a word, whole characters), folded."""
    if value.isascii() and value.isprintable():
        return value
    words: list[bytes] = []
    chunk = b""
    for char in value:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > 39:
            words.append(chunk)
            chunk = b""
        chunk += data
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _address(value: str) -> tuple[str, str]:
    """The ``From`` header (the name encoded when it is not ASCII) and the
    envelope's sender, from ``PREAU_SMTP_FROM``."""
    name, address = parseaddr(value)
    if not address:
        return value, value
    return (f"{_encoded(name)} <{address}>" if name else address), address


def _mail(headers: list[tuple[str, str]], text: str, html_body: str) -> bytes:
    """A multipart/alternative mail: plain text, then HTML."""
    boundary = "=_preau_" + secrets.token_hex(12)  # "=" never starts a QP line
    lines = [f"{name}: {value}" for name, value in headers]
    lines += ["MIME-Version: 1.0",
              "Content-Type: multipart/alternative;", f' boundary="{boundary}"', ""]
    for subtype, body in (("plain", text), ("html", html_body)):
        lines += [f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                  "Content-Transfer-Encoding: quoted-printable", "",
                  # (of the UTF-8 bytes, each as one latin-1 character: =C3=A9)
                  quoprimime.body_encode(body.encode("utf-8").decode("latin-1"),
                                         maxlinelen=76, eol="\r\n")]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode("ascii")


class Transient(Exception):
    """Try again later."""


class RelayRefused(Transient):
    """The relay refused the mail itself for good (5xx to MAIL FROM, AUTH,
    DATA…): its setup or its rules, not the recipient's address. Tried again
    like a transient failure (the operator may fix it), never a bounce."""


class Permanent(Exception):
    """The recipient's address was refused for good (5xx to RCPT TO): a bounce."""


def classify(exc: BaseException) -> Exception:
    """A send's failure: ``Permanent`` for a recipient refused with 5xx,
    ``RelayRefused`` for any other 5xx answer, ``Transient`` otherwise."""
    codes: list[int] = []
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
    elif isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        codes = [exc.code]
    elif isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600:
        return RelayRefused(f"{exc.code} {exc.message}")
    if codes and all(500 <= c < 600 for c in codes):
        return Permanent(str(exc))
    return Transient(str(exc) or type(exc).__name__)


class _Relay:
    """One SMTP connection for a pass of ``send_due``, opened at the first
    mail and kept for the next ones (a connection per mail cost ~4 ms of CPU
    each: docs/benchmarks.md). A refused recipient leaves it usable (the
    client resets the envelope); a broken one is dropped and the next mail
    opens another."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._sender = _address(settings.smtp_from)[1]

    async def send(self, mail: Mail) -> None:
        settings = self._settings
        if self._smtp is None or not self._smtp.is_connected:
            self._smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                                         timeout=settings.smtp_timeout_s, start_tls=False)
            try:
                await self._smtp.connect()
            except BaseException:
                self._smtp = None
                raise
        try:
            await self._smtp.sendmail(self._sender, [mail.to], mail.data)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError,
                aiosmtplib.SMTPTimeoutError, TimeoutError, OSError):
            await self.close()
            raise

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                await smtp.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            smtp.close()


# The notifications of a person they may still read (the circle of trust as it
# stands when the mail or push leaves: NotificationService.visible_to).
StillVisible = Callable[[str, Sequence[Notification]], Awaitable[list[Notification]]]
OUT_OF_REACH = "out of reach"  # why a job was dropped (email_jobs/push_jobs.last_error)


class EmailSender:
    def __init__(
        self, store: Store, directory: Directory, settings: Settings, clock: Clock, holder: str,
        *, visible: StillVisible,
    ) -> None:
        self._store = store
        self._visible = visible
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self.holder = holder
        self._from = _address(settings.smtp_from)[0]
        # Confirmation mails per address and hour, whoever asks (each asker
        # may ask once a minute): nobody's mailbox is flooded through Préau.
        per_hour = settings.recovery_per_email_hour
        self._per_address = open_rate_limiter(settings.broker_url, per_hour / 3600, per_hour,
                                              name="email-change-address")
        self._relay_refusing = False  # warned once, until a mail goes through again

    # -- the mail ------------------------------------------------------------------------
    async def compose(self, job: EmailJob, token: str) -> Mail:
        """A notification's mail in the person's language first (French
        unless they chose English), the other below; an excerpt only where
        the school enabled it, for adults (``excerpt_of``)."""
        n = job.notification
        fr, en, _where, link = await self._texts(n)
        english = await language_of(self._store, n.person_id) == "en"
        excerpt = await excerpt_of(self._store, self._directory, n)
        base = self._settings.public_url.rstrip("/")
        unsubscribe = f"{base}/api/notifications/unsubscribe/{token}"
        headers = self._envelope(job.email, f"Préau : {en if english else fr}", unsubscribe,
                                 english)
        quoted = f"« {excerpt} »\n\n" if excerpt else ""
        text_fr = (f"{fr}.\n\n{quoted}Ouvrir Préau : {link}\n\n"
                   f"Ne plus recevoir ces courriels : {unsubscribe}\n")
        text_en = (f"{en}.\n{quoted.replace('« ', '“').replace(' »', '”')}Open Préau: {link}\n"
                   f"Stop these e-mails: {unsubscribe}\n")
        first, second = (text_en, text_fr) if english else (text_fr, text_en)
        e = html.escape
        said = f"<blockquote>{e(excerpt)}</blockquote>" if excerpt else ""
        html_fr = (f"<p>{e(fr)}.</p>{said}<p><a href=\"{e(link)}\">Ouvrir Préau</a></p>"
                   f"<p><small><a href=\"{e(unsubscribe)}\">Ne plus recevoir ces courriels</a>"
                   f"</small></p>")
        html_en = (f"<p>{e(en)}.</p>{said}<p><a href=\"{e(link)}\">Open Préau</a> · "
                   f"<a href=\"{e(unsubscribe)}\">Stop these e-mails</a></p>")
        if english:
            body = f'<html lang="en"><body>{html_en}<hr><div lang="fr">{html_fr}</div>'
        else:
            body = f'<html lang="fr"><body>{html_fr}<hr><div lang="en">{html_en}</div>'
        return Mail(job.email, _mail(headers, f"{first}\n-- \n{second}",
                                     f"<!doctype html>{body}</body></html>"))

    # -- a person's own address ------------------------------------------------------------
    async def my_email(self, member: Member) -> dict[str, Any]:
        """My address, whether it bounces, the change waiting for confirmation."""
        return await self._store.email_status(member.id)

    async def request_change(self, member: Member, address: str) -> dict[str, Any]:
        """Mail a confirmation link (single use, ``CHANGE_TTL_S``) to
        ``address``; it becomes mine when the link is followed. Pupils have
        no address (minors' are never used); at most one request a minute."""
        if member.profile is Profile.PUPIL:
            raise forbidden("pupils receive no e-mail")
        email = valid_email(address)
        if email is None:
            raise bad_request("email: not a valid e-mail address")
        if not self._settings.smtp_host:
            raise PreauError(ErrorCode.UNAVAILABLE, "e-mail is not configured on this server")
        wait = await self._per_address.take(tokens.digest(email.lower()))
        if wait is not None:
            raise PreauError(ErrorCode.RATE_LIMITED,
                             "too many confirmation mails to this address: try later",
                             retry_after=wait)
        token = secrets.token_urlsafe(24)
        now = self._clock.now_ms()
        last = await self._store.request_email_change(
            member.id, member.school_id, email, tokens.digest(token), now,
            now + CHANGE_TTL_S * 1000)
        if last is not None:
            raise PreauError(ErrorCode.RATE_LIMITED, "one request a minute: wait a little",
                             retry_after=max(1.0, (last + 60_000 - now) / 1000))
        base = self._settings.public_url.rstrip("/")
        link = f"{base}/api/account/email/confirm/{token}"
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = email
        english = await language_of(self._store, member.id) == "en"
        message["Subject"] = ("Préau: confirm your e-mail address" if english
                              else "Préau : confirmez votre adresse électronique")
        message["Date"] = formatdate(now / 1000, localtime=False)
        message["Message-ID"] = make_msgid(domain="preau.invalid")
        message["Auto-Submitted"] = "auto-generated"
        text_fr = (f"Bonjour {member.display_name},\n\nPour recevoir les notifications de Préau"
                   f" à cette adresse, ouvrez ce lien dans les 24 heures :\n{link}\n\nSi vous"
                   " n'avez rien demandé, ignorez ce courriel : rien ne change.\n")
        text_en = (f"Hello {member.display_name},\n\nTo get Préau's notifications at this"
                   f" address, open this link within 24 hours:\n{link}\n\nIf you did not ask"
                   " for it, ignore this e-mail: nothing changes.\n")
        first, second = (text_en, text_fr) if english else (text_fr, text_en)
        message.set_content(f"{first}\n-- \n{second}")
        message["Content-Language"] = "en, fr" if english else "fr, en"
        try:
            await aiosmtplib.send(
                message, hostname=self._settings.smtp_host, port=self._settings.smtp_port,
                timeout=self._settings.smtp_timeout_s, start_tls=False)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            log.warning("the confirmation mail could not be sent: %s", classify(exc))
            raise PreauError(ErrorCode.UNAVAILABLE,
                             "the confirmation e-mail could not be sent: try again later") from None
        return await self.my_email(member)

    async def change_pending(self, token: str) -> bool:
        """Whether the confirmation link may still be followed (the page
        before the button), changing nothing."""
        if not 16 <= len(token) <= 64:
            return False
        return await self._store.email_change_pending(tokens.digest(token), self._clock.now_ms())

    async def confirm_change(self, token: str) -> bool:
        """The link of the confirmation mail (no login): once, before it expires."""
        if not 16 <= len(token) <= 64:
            return False
        return await self._store.confirm_email_change(
            tokens.digest(token), self._clock.now_ms()) is not None

    # -- sending -------------------------------------------------------------------------
    async def send_due(self) -> int:
        """Claim what is due and send it; the number this node sent."""
        settings = self._settings
        lease_ms = int((settings.smtp_timeout_s * 2 + 30) * 1000) * BATCH
        sent = 0
        relay = _Relay(settings)
        try:
            while True:
                jobs = await self._store.claim_email_jobs(
                    self.holder, self._clock.now_ms(), lease_ms, BATCH,
                    per_minute=settings.email_per_minute)
                digests: dict[tuple[str, str], list[EmailJob]] = {}
                leaving_now = await self._outside_quiet_hours(jobs)
                for job in await self._still_visible(await self._still_wanted(leaving_now)):
                    if job.digest is None:
                        sent += await self._send([job], relay)
                    else:
                        digests.setdefault((job.notification.person_id, job.digest),
                                           []).append(job)
                for group in digests.values():
                    sent += await self._send(group, relay)
                if len(jobs) < BATCH // 2:  # (a school over its minute gives some back)
                    return sent
        finally:
            await relay.close()

    async def _outside_quiet_hours(self, jobs: Sequence[EmailJob]) -> list[EmailJob]:
        """Those of ``jobs`` that may leave now; the others (claimed again
        after their node died, in the school's quiet hours) wait for the
        window's opening."""
        kept: list[EmailJob] = []
        now = self._clock.now_ms()
        for job in jobs:
            due = await leaving.still_held(self._directory, job.notification.school_id, now,
                                           urgent=job.urgent)
            if due is None:
                kept.append(job)
            else:
                await self._store.retry_email_job(job.id, self.holder, due, leaving.QUIET_HOURS)
        return kept

    async def _still_wanted(self, jobs: Sequence[EmailJob]) -> list[EmailJob]:
        """Those of ``jobs`` whose person still gets this kind by this way (a
        mail: ``email``; a digest's line: ``daily`` or ``weekly``); the others
        are dropped, never mailed: unsubscribed, changed to the app or
        ``never``, or forced off by the school since the job was queued. The
        directory is read again first if another process changed it (a
        ``preau import``): once per batch, for this check and the next."""
        if not jobs:
            return []
        channels = await leaving.channels_as_they_leave(
            self._store, self._directory, [j.notification for j in jobs])
        kept: list[EmailJob] = []
        for job in jobs:
            channel = channels.get((job.notification.person_id, job.notification.kind))
            ways = leaving.MAILED if job.digest is None else leaving.DIGESTED
            if channel is None or channel in ways:  # (unknown person: out of reach, next)
                kept.append(job)
            else:
                await self._store.finish_email_job(
                    job.id, self.holder, "failed", self._clock.now_ms(), leaving.UNSUBSCRIBED)
        return kept

    async def _still_visible(self, jobs: Sequence[EmailJob]) -> list[EmailJob]:
        """Those of ``jobs`` whose notification its person may still read; the
        others are dropped, never mailed: a digest or a mail held for quiet
        hours leaves after a class move or a custody change."""
        by_person: dict[str, list[EmailJob]] = {}
        for job in jobs:
            by_person.setdefault(job.notification.person_id, []).append(job)
        kept: list[EmailJob] = []
        for person_id, theirs in by_person.items():
            shown = {n.id for n in await self._visible(
                person_id, [j.notification for j in theirs])}
            for job in theirs:
                if job.notification.id in shown:
                    kept.append(job)
                else:
                    await self._store.finish_email_job(
                        job.id, self.holder, "failed", self._clock.now_ms(), OUT_OF_REACH)
        return kept

    async def _send(self, jobs: list[EmailJob], relay: _Relay) -> int:
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
            await relay.send(message)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            failure = classify(exc)
            now = self._clock.now_ms()
            error = str(failure)[:500]
            if isinstance(failure, RelayRefused) and not self._relay_refusing:
                self._relay_refusing = True
                log.warning("the SMTP relay refuses Préau's mail (%s): check its settings "
                            "(PREAU_SMTP_*, the relay's sender and authentication rules); "
                            "mails are retried, no address is marked bouncing", error)
            for one in jobs:
                if isinstance(failure, Permanent):
                    await self._store.finish_email_job(one.id, self.holder, "bounced", now, error)
                elif one.attempts >= settings.email_attempts:
                    await self._store.finish_email_job(one.id, self.holder, "failed", now, error)
                else:
                    delay_ms = int(settings.email_retry_s * 1000) * 2 ** (one.attempts - 1)
                    # Not in the school's quiet hours (an urgent message's: at once).
                    held = await leaving.hold(self._directory, one.notification.school_id,
                                              urgent=one.urgent)
                    await self._store.retry_email_job(one.id, self.holder,
                                                      held(now + delay_ms), error)
            if isinstance(failure, Permanent):
                log.warning("e-mail %s refused for good: the address is marked bouncing",
                            job.id)
            return 0
        if self._relay_refusing:
            self._relay_refusing = False
            log.info("the SMTP relay accepts Préau's mail again")
        # One time for the mail's jobs: a digest's unsubscribe link finds them by it.
        now = self._clock.now_ms()
        for one in jobs:
            await self._store.finish_email_job(one.id, self.holder, "sent", now)
        return 1

    async def _texts(self, n: Notification) -> tuple[str, str, str, str]:
        return await describe(self._directory, self._settings, n)

    async def compose_digest(self, jobs: list[EmailJob], token: str) -> Mail:
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
        english = await language_of(self._store, jobs[0].notification.person_id) == "en"
        subject_en = (f"your daily digest ({count} notification{plural})" if daily
                      else f"your weekly digest ({count} notification{plural})")
        base = self._settings.public_url.rstrip("/")
        unsubscribe = f"{base}/api/notifications/unsubscribe/{token}"
        headers = self._envelope(jobs[0].email,
                                 f"Préau: {subject_en}" if english else f"Préau : {subject_fr}",
                                 unsubscribe, english)
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
        plain_fr = "\n".join(text_fr) + f"\n\nNe plus recevoir ces résumés : {unsubscribe}\n"
        plain_en = "\n".join(text_en) + f"\n\nStop these digests: {unsubscribe}\n"
        part_fr = ("".join(html_fr) + f'<p><small><a href="{e(unsubscribe)}">Ne plus recevoir'
                   " ces résumés</a></small></p>")
        part_en = "".join(html_en) + f'<p><a href="{e(unsubscribe)}">Stop these digests</a></p>'
        if english:
            text = f"{plain_en}\n-- \n{plain_fr}"
            body = f'<html lang="en"><body>{part_en}<hr><div lang="fr">{part_fr}</div>'
        else:
            text = f"{plain_fr}\n-- \n{plain_en}"
            body = f'<html lang="fr"><body>{part_fr}<hr><div lang="en">{part_en}</div>'
        return Mail(jobs[0].email, _mail(headers, text, f"<!doctype html>{body}</body></html>"))

    def _envelope(self, to: str, subject: str, unsubscribe: str,
                  english: bool = False) -> list[tuple[str, str]]:
        return [
            ("From", self._from),
            ("To", to),
            ("Subject", _encoded(subject)),
            ("Date", formatdate(self._clock.now_ms() / 1000, localtime=False)),
            ("Message-ID", make_msgid(domain="preau.invalid")),
            ("Auto-Submitted", "auto-generated"),
            ("List-Unsubscribe", f"<{unsubscribe}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Content-Language", "en, fr" if english else "fr, en"),
        ]

    async def close(self) -> None:
        await self._per_address.close()

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
