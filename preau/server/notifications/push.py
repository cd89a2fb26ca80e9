"""Web Push (RFC 8030, 8291, 8292) through pywebpush (docs/decisions.md,
"Web Push").

A person's browser subscribes one device at a time (``subscribe``): its push
service's endpoint and the keys Préau encrypts for (``p256dh``, ``auth``),
checked here before anything is stored. The deployment signs every push with
one VAPID key pair (``PREAU_VAPID_PRIVATE_KEY``, else generated once and kept
in the store: every node uses the same, so a subscription made through one
node works from all).

What is pushed: the notification service queues a push job per (notification,
device) for what a person is told of at once (``preau/server/notifications/service.py``),
held by the school's quiet hours as mails are. Every node runs ``PushSender.run``;
each pass claims due jobs (a lease per job, so two nodes never send the same
one) and sends them, a few at a time, over one aiohttp session:

- 201 (or any 2xx): sent;
- 404 or 410: the push service forgot the device: its subscription is deleted
  (with its other pending pushes);
- 429 or 5xx, the service unreachable, a time-out: tried again after
  ``Retry-After`` or ``PREAU_PUSH_RETRY_S`` doubled each time, up to
  ``PREAU_PUSH_ATTEMPTS`` attempts;
- anything else (400, 403, 413…): given up (failed), logged.

A retry that falls in the school's quiet hours waits for its delivery
window, as the first attempt did (``leaving.py``); an admin's urgent
message's pushes (``Urgency: high``) go through them. As a batch leaves, the
directory is read again if a ``preau import`` elsewhere changed it, and a
push is dropped (failed) whose person is no longer told of its kind at once
(``in_app`` or ``email``), or may no longer read its source.

A payload carries no message content: a title, who and where (the same line
as the mail's subject), the notification's id and a link; the client opens
the content after login. Encrypted (aes128gcm) for the device: the push
service cannot read it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import time
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from preau.server.clock import Clock
from preau.server.directory.model import Member
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, not_found
from preau.server.log_records import RetryLog
from preau.server.notifications import leaving
from preau.server.notifications.email import (
    OUT_OF_REACH,
    StillVisible,
    describe,
    excerpt_of,
    language_of,
)
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.push import VAPID_KEY, PushJob, PushSubscription

log = logging.getLogger(__name__)

BATCH = 50  # pushes claimed per pass and node
CONCURRENCY = 10  # requests in flight per node
ENDPOINT_MAX = 2048
LABEL_MAX = 80
JWT_LIFETIME_S = 12 * 3600  # RFC 8292: at most 24 hours

# RFC 8030 §5.3: how soon the device should wake for it. A mention addresses
# the person as a message does: ``normal`` too.
URGENCY = {
    "message": "normal", "conversation": "normal", "announcement": "normal", "mention": "normal",
    "call.started": "high",
}
URGENT = "high"  # an admin's urgent message


def urgency_of(kind: str, urgent: bool = False) -> str:
    return URGENT if urgent else URGENCY.get(kind, "low")


def was_urgent(kind: str, urgency: str) -> bool:
    """Whether a push job (its kind, the urgency it was queued with) is an
    admin's urgent message's, which goes through quiet hours: ``high`` where
    its kind alone would not be (a call's push is ``high`` and never urgent)."""
    return urgency == URGENT and URGENCY.get(kind, "low") != URGENT


# -- keys ----------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Base64url (RFC 4648 §5) with or without padding; ValueError otherwise."""
    if not text or len(text) > 200 or not all(c.isalnum() or c in "-_=" for c in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def new_private_key() -> str:
    """A fresh VAPID private key: the raw P-256 scalar, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64(key.private_numbers().private_value.to_bytes(32, "big"))


def load_private_key(raw: str) -> ec.EllipticCurvePrivateKey:
    """A VAPID private key from its base64url raw scalar (what
    ``PREAU_VAPID_PRIVATE_KEY`` holds); ValueError if it is not one."""
    value = int.from_bytes(_unb64(raw.strip()), "big")
    if len(_unb64(raw.strip())) != 32:
        raise ValueError("a VAPID private key is 32 bytes, base64url")
    return ec.derive_private_key(value, ec.SECP256R1())


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The application server key a browser subscribes with (uncompressed point)."""
    return _b64(key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


# -- what a browser may subscribe ------------------------------------------------------

def check_endpoint(endpoint: str, settings: Settings) -> None:
    """A push service's URL: https, a host among ``PREAU_PUSH_SERVICES``
    (never an address: Préau would POST into the operator's network); or
    ``http://127.0.0.1:port`` where ``PREAU_PUSH_ALLOW_LOOPBACK`` (tests)."""
    if len(endpoint) > ENDPOINT_MAX:
        raise bad_request(f"endpoint: at most {ENDPOINT_MAX} characters")
    try:
        url = urlsplit(endpoint)
        host = (url.hostname or "").lower()
        url.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise bad_request("endpoint: not a URL") from None
    if settings.push_allow_loopback and url.scheme == "http" and host == "127.0.0.1":
        return
    if url.scheme != "https" or not host or url.username or url.password:
        raise bad_request("endpoint: a push service's https:// URL")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise bad_request("endpoint: a push service's host name, not an address")
    services = settings.push_services
    if "*" not in services and not any(host == s or host.endswith("." + s) for s in services):
        raise bad_request("endpoint: not a push service this server sends to")


def check_keys(p256dh: str, auth: str) -> None:
    """The subscription's keys (RFC 8291 §3): ``p256dh`` a P-256 public key
    (uncompressed point), ``auth`` 16 bytes, both base64url."""
    try:
        point = _unb64(p256dh)
        if len(point) != 65 or point[0] != 4:
            raise ValueError("not an uncompressed point")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise bad_request("keys.p256dh: a P-256 public key (65 bytes, base64url)") from None
    try:
        secret = _unb64(auth)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        raise bad_request("keys.auth: 16 bytes, base64url")


def payload(n_id: str, kind: str, line: str, link: str, lang: str = "fr") -> bytes:
    """What the device decrypts: who and where, a link (a short excerpt only
    where the school enabled it, for adults), in the person's language."""
    return orjson.dumps({"title": "Préau", "body": line[:400], "url": link, "tag": n_id,
                         "kind": kind, "lang": lang})


class WebPush:
    """Devices (subscribe, list, remove) and the sender (``run``)."""

    def __init__(
        self, store: Store, directory: Directory, settings: Settings, clock: Clock, holder: str,
        *, visible: StillVisible,
    ) -> None:
        self._store = store
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self.holder = holder
        self._visible = visible
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- the key -----------------------------------------------------------------------
    async def key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            raw = self._settings.vapid_private_key or await self._store.deployment_key(
                VAPID_KEY, new_private_key(), self._clock.now_ms())
            self._key = load_private_key(raw)
        return self._key

    async def public_key(self) -> dict[str, str]:
        return {"public_key": public_key_of(await self.key())}

    # -- devices -------------------------------------------------------------------------
    @staticmethod
    def _wire(s: PushSubscription) -> dict[str, Any]:
        return {"id": s.id, "endpoint": s.endpoint, "label": s.label, "since": s.created_ms,
                "last_ok": s.last_ok_ms}

    async def subscribe(
        self, member: Member, endpoint: str, p256dh: str, auth: str, label: str
    ) -> dict[str, Any]:
        check_endpoint(endpoint, self._settings)
        check_keys(p256dh, auth)
        if len(label) > LABEL_MAX or any(ord(c) < 32 for c in label):
            raise bad_request(f"label: at most {LABEL_MAX} printable characters")
        added = await self._store.add_push_subscription(
            member.id, member.school_id, endpoint, p256dh, auth, label, self._clock.now_ms(),
            self._settings.push_devices_max)
        if added is None:
            raise PreauError(ErrorCode.CONFLICT,
                             f"at most {self._settings.push_devices_max} devices: remove one "
                             "first")
        return self._wire(added)

    async def devices(self, member: Member) -> dict[str, Any]:
        found = (await self._store.push_subscriptions_of([member.id])).get(member.id, [])
        return {"devices": [self._wire(s) for s in found]}

    async def unsubscribe(self, member: Member, subscription_id: str) -> None:
        if not await self._store.delete_push_subscription(member.id, subscription_id):
            raise not_found("no such device")

    # -- sending -------------------------------------------------------------------------
    async def send_due(self) -> int:
        """Claim what is due and send it; the number of pushes this node sent."""
        settings = self._settings
        lease_ms = int((settings.push_timeout_s * 2 + 30) * 1000)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=settings.push_timeout_s))
        gate = asyncio.Semaphore(CONCURRENCY)
        sent = 0

        async def one(job: PushJob) -> bool:
            async with gate:
                try:
                    return await self._send(job)
                except Exception as exc:  # a bug or a bad setting: the others go on
                    log.exception("push %s failed", job.id)
                    await self._retry(job, self._clock.now_ms() + int(settings.push_retry_s
                                                                      * 1000),
                                      (str(exc) or type(exc).__name__)[:500])
                    return False

        while True:
            jobs = await self._store.claim_push_jobs(
                self.holder, self._clock.now_ms(), lease_ms, BATCH)
            wanted = await self._still_wanted(await self._outside_quiet_hours(jobs))
            sent += sum(await asyncio.gather(*(one(j) for j in wanted)))
            if len(jobs) < BATCH:
                return sent

    async def _outside_quiet_hours(self, jobs: list[PushJob]) -> list[PushJob]:
        """Those of ``jobs`` that may leave now; the others (claimed again
        after their node died, in the school's quiet hours) wait for the
        window's opening."""
        kept = []
        now = self._clock.now_ms()
        for job in jobs:
            n = job.notification
            due = await leaving.still_held(self._directory, n.school_id, now,
                                           urgent=was_urgent(n.kind, job.urgency))
            if due is None:
                kept.append(job)
            else:
                await self._store.retry_push_job(job.id, self.holder, due, leaving.QUIET_HOURS)
        return kept

    async def _still_wanted(self, jobs: list[PushJob]) -> list[PushJob]:
        """Those of ``jobs`` whose person is still told of their kind at once
        (``in_app`` or ``email``); the others are dropped, never pushed: the
        kind changed to a digest or ``never``, or forced off by the school,
        since the push was queued. The directory is read again first if
        another process changed it (a ``preau import``): once per batch, for
        this check and each push's visibility check."""
        if not jobs:
            return []
        channels = await leaving.channels_as_they_leave(
            self._store, self._directory, [j.notification for j in jobs])
        kept = []
        for job in jobs:
            channel = channels.get((job.notification.person_id, job.notification.kind))
            if channel is None or channel in leaving.PUSHED:  # (unknown: out of reach, later)
                kept.append(job)
            else:
                await self._store.finish_push_job(job.id, self.holder, "failed",
                                                  self._clock.now_ms(), leaving.UNSUBSCRIBED)
        return kept

    async def _retry(self, job: PushJob, due: int, error: str) -> None:
        """Try ``job`` again at ``due``, or when the school's delivery window
        opens if that falls in its quiet hours (an urgent message's: at ``due``)."""
        n = job.notification
        held = await leaving.hold(self._directory, n.school_id,
                                  urgent=was_urgent(n.kind, job.urgency))
        await self._store.retry_push_job(job.id, self.holder, held(due), error)

    async def _send(self, job: PushJob) -> bool:
        settings = self._settings
        n, sub = job.notification, job.subscription
        if not await self._visible(n.person_id, [n]):
            # Out of reach since (a class move, a custody change): never shown.
            await self._store.finish_push_job(job.id, self.holder, "failed",
                                              self._clock.now_ms(), OUT_OF_REACH)
            return False
        fr, en, _where, link = await describe(self._directory, settings, n)
        lang = await language_of(self._store, n.person_id)
        line = en if lang == "en" else fr
        excerpt = await excerpt_of(self._store, self._directory, n)
        if excerpt:  # the school's choice, adults only
            line = f"{line}\n{excerpt}"
        # A path: the service worker opens it on its own origin.
        link = link.removeprefix(settings.public_url.rstrip("/")) or "/"
        url = urlsplit(sub.endpoint)
        claims: dict[str, str | int] = {
            "sub": subject(settings),
            "aud": f"{url.scheme}://{url.netloc}",
            "exp": int(time.time()) + JWT_LIFETIME_S,  # the push service's clock: real time
        }
        vapid = Vapid02()
        vapid.private_key = await self.key()
        status: int | None = None
        retry_after: float | None = None
        error = ""
        try:
            await webpush_async(
                {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                data=payload(n.id, n.kind, line, link, lang).decode(), vapid_private_key=vapid,
                vapid_claims=claims, ttl=settings.push_ttl_s,
                headers={"Urgency": job.urgency}, timeout=settings.push_timeout_s,
                aiohttp_session=self._session)
        except WebPushException as exc:
            status = exc.status_code
            error = f"{status} {exc.message}"[:500] if status else str(exc)[:500]
            retry_after = _seconds(exc.retry_after)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = (str(exc) or type(exc).__name__)[:500]
        else:
            await self._store.finish_push_job(job.id, self.holder, "sent", self._clock.now_ms())
            return True
        now = self._clock.now_ms()
        if status in (404, 410):
            await self._store.finish_push_job(job.id, self.holder, "gone", now, error)
            log.info("push subscription %s expired (%s): removed", sub.id, status)
        elif status is not None and status != 429 and status < 500:
            await self._store.finish_push_job(job.id, self.holder, "failed", now, error)
            log.warning("push %s refused by the push service: %s", job.id, error)
        elif job.attempts >= settings.push_attempts:
            await self._store.finish_push_job(job.id, self.holder, "failed", now, error)
            log.warning("push %s given up after %d attempts: %s", job.id, job.attempts, error)
        else:
            delay_s = settings.push_retry_s * 2 ** (job.attempts - 1)
            if retry_after is not None:
                delay_s = max(delay_s, min(retry_after, 3600.0))
            await self._retry(job, now + int(delay_s * 1000), error)
        return False

    async def run(self, interval_s: float) -> None:
        """Send what is due every ``interval_s`` (a task of the lifespan)."""
        retries = RetryLog(log, "notification pushes")
        try:
            while True:
                try:
                    await self.send_due()
                except Exception as exc:
                    retries.failed(exc, interval_s)
                else:
                    retries.succeeded()
                await asyncio.sleep(interval_s)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def subject(settings: Settings) -> str:
    """The contact in VAPID tokens (RFC 8292 §2.1: mailto: or https:):
    ``PREAU_VAPID_SUBJECT``, else ``PREAU_PUBLIC_URL`` when it is https, else
    the address mails come from (``PREAU_SMTP_FROM``)."""
    if settings.vapid_subject:
        return settings.vapid_subject
    if settings.public_url.startswith("https://"):
        return settings.public_url
    return "mailto:" + (parseaddr(settings.smtp_from)[1] or "no-reply@localhost")


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (an HTTP date is not worth parsing here)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
