"""Password recovery by e-mail, for adults who have an address (issue 19;
docs/operations.md, "Password recovery").

``request`` answers the same thing, in the same time, whatever the login:
unknown, a closed account, a pupil, an adult without an address, or one who
gets a mail. It does the same work on every path (the limits, one store
read, a token drawn and hashed) and then waits until ``recovery_answer_ms``
have passed since it began, so the duration of the answer carries nothing
either; the write and the mail, for the one path that has them, happen after
the answer, in a task of their own.

- Never an e-mail to a child: a pupil's request sends nothing (pupils get a
  new activation code from their teacher or the school's admin,
  ``AuthService.new_code_for``).
- The link carries a 256-bit token in its fragment (``/recovery#…``: never
  sent to a server, so never in a log or a Referer); the store keeps its
  SHA-256 only. It works once, for ``recovery_ttl_s``; a newer link replaces
  it.
- Limits, shared by every node on Redis: requests per login typed (the
  login's hash is the key, whether it exists or not: the limit tells
  nothing), per client address, and mails per e-mail address (that one is
  silent: it would tell that the login has this address).
- Using the link sets the password and ends every session of the person;
  their sockets close on every node (``AuthService.revoke_person``).
- A profile whose local passwords are off (single sign-on only,
  ``AuthService.password_allowed``) gets no link, and a link cannot be used
  for it.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import time
from collections.abc import Callable, Coroutine
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from preau.server.auth import passwords, tokens
from preau.server.auth.service import PASSWORD_OFF, AuthService
from preau.server.auth.throttle import AddressLimits
from preau.server.clock import Clock
from preau.server.directory.model import Profile
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError
from preau.server.ratelimit import RateLimiter
from preau.server.ratelimit.factory import open_rate_limiter
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.recovery import RecoveryStore, RecoveryTarget

log = logging.getLogger(__name__)

BAD_LINK = "this recovery link is unknown, used or expired: ask for a new one"
TOO_MANY = "too many recovery requests: try again later"
# A trusted network (PREAU_LOGIN_TRUSTED_NETWORKS) is many people behind one
# address: its recovery budget per address is this many times the usual one.
TRUSTED_FACTOR = 10


class RecoveryService:
    def __init__(
        self, store: Store, directory: Directory, auth: AuthService, settings: Settings,
        clock: Clock,
    ) -> None:
        self._resets = RecoveryStore(store.engine)
        self._directory = directory
        self._auth = auth
        self._settings = settings
        self._clock = clock
        url = settings.broker_url

        def hourly(per_hour: int, name: str) -> RateLimiter:
            return open_rate_limiter(url, per_hour / 3600, per_hour, name=name)

        self._per_login = hourly(settings.recovery_per_login_hour, "recovery-login")
        self._per_ip = hourly(settings.recovery_per_ip_hour, "recovery-ip")
        # A trusted network (a region's schools) is a whole school behind
        # one address: a larger budget, as for failed logins.
        self._per_trusted_ip = hourly(
            settings.recovery_per_ip_hour * TRUSTED_FACTOR, "recovery-ip-trusted")
        # Links that lead nowhere, per address: a budget of their own, so that
        # requests (anyone's, made-up logins included) never stand between a
        # person and the link they were mailed.
        self._bad_links = hourly(settings.recovery_per_ip_hour, "recovery-bad-link")
        self._addresses = AddressLimits.of(settings)
        self._per_email = hourly(settings.recovery_per_email_hour, "recovery-email")
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def available(self) -> bool:
        """Can a mail be sent at all (an SMTP relay is configured)?"""
        return bool(self._settings.smtp_host)

    async def request(self, login: str, client_ip: str) -> None:
        """Ask for a link; the answer and its duration never depend on the login."""
        started = time.monotonic()
        mail: Callable[[], Coroutine[Any, Any, None]] | None = None
        try:
            mail = await self._request(login, client_ip)
        finally:
            left = self._settings.recovery_answer_ms / 1000 - (time.monotonic() - started)
            if left > 0:
                await asyncio.sleep(left)
        if mail is not None:
            # Sent once the answer's time is up: its work (store, SMTP) would
            # otherwise share the event loop with this very answer's timer, and
            # only the logins that get a mail would pay it.
            task = asyncio.get_running_loop().create_task(mail())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _request(
        self, login: str, client_ip: str
    ) -> Callable[[], Coroutine[Any, Any, None]] | None:
        """What to send (nothing, for whatever gets no mail), after the checks."""
        login = tokens.normalise_login(login)
        address, _ = self._addresses.limit_for(client_ip)  # an IPv6 /64 counts as one
        per_ip = self._per_trusted_ip if self._addresses.is_trusted(client_ip) else self._per_ip
        for limiter, key in ((per_ip, address), (self._per_login, tokens.digest(login))):
            wait = await limiter.take(key)
            if wait is not None:
                raise PreauError(ErrorCode.RATE_LIMITED, TOO_MANY, retry_after=wait)
        target = await self._resets.recovery_target(login) if login else None
        token = tokens.new_session_token()
        token_hash = tokens.digest(token)
        if target is None or not target.active:
            log.info("password recovery: no such account")
            return None
        if target.profile is Profile.PUPIL:
            log.info("password recovery: refused for a pupil (a new code from school)")
            return None
        if target.email is None or not self.available:
            log.info("password recovery: no usable address (or no relay)")
            return None
        if not await self._password_allowed(target.person_id):
            log.info("password recovery: local passwords are off for this profile (SSO)")
            return None
        return functools.partial(self._send, target, token, token_hash)

    async def _send(self, target: RecoveryTarget, token: str, token_hash: str) -> None:
        assert target.email is not None
        try:
            if await self._per_email.take(tokens.digest(target.email.lower())) is not None:
                log.warning("password recovery: too many mails to one address: not sent")
                return
            now = self._clock.now_ms()
            await self._resets.create_reset(
                target.person_id, token_hash, now, now + self._settings.recovery_ttl_s * 1000)
            await self._resets.purge_resets(now)  # used and expired links are not kept
            settings = self._settings
            await aiosmtplib.send(
                self.compose(target, token), hostname=settings.smtp_host,
                port=settings.smtp_port, timeout=settings.smtp_timeout_s, start_tls=False)
            log.info("password recovery: link sent")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the person asked again: a log line, not a crash
            log.warning("password recovery: the mail was not sent (%s)", type(exc).__name__)

    def compose(self, target: RecoveryTarget, token: str) -> EmailMessage:
        settings = self._settings
        link = f"{settings.public_url.rstrip('/')}/recovery#{token}"
        minutes = settings.recovery_ttl_s // 60
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = target.email
        message["Subject"] = "Préau : choisir un nouveau mot de passe"
        message["Date"] = formatdate(self._clock.now_ms() / 1000, localtime=False)
        message["Message-ID"] = make_msgid(domain="preau.invalid")
        message["Content-Language"] = "fr, en"
        message["Auto-Submitted"] = "auto-generated"
        fr = (f"Bonjour {target.first_name},\n\nQuelqu'un (vous, sans doute) a demandé à "
              f"changer le mot de passe de votre compte Préau. Pour en choisir un nouveau, "
              f"ouvrez ce lien dans les {minutes} minutes ; il ne sert qu'une fois :\n\n{link}\n\n"
              "Si vous n'avez rien demandé, ignorez ce courriel : votre mot de passe ne change "
              "pas.")
        en = (f"Someone (you, probably) asked to change the password of your Préau account. "
              f"To choose a new one, open this link within {minutes} minutes; it works once:"
              f"\n\n{link}\n\nIf you did not ask, ignore this e-mail: your password stays.")
        message.set_content(f"{fr}\n\n-- \n{en}\n")
        e = html.escape
        message.add_alternative(
            '<!doctype html><html lang="fr"><body>'
            + "".join(f"<p>{e(p)}</p>" for p in fr.split("\n\n") if p != link)
            + f'<p><a href="{e(link)}">Choisir un nouveau mot de passe</a></p><hr>'
            + '<div lang="en">' + "".join(f"<p>{e(p)}</p>" for p in en.split("\n\n")
                                          if p != link)
            + f'<p><a href="{e(link)}">Choose a new password</a></p></div></body></html>',
            subtype="html")
        return message

    async def check(self, token: str) -> bool:
        """Is this link still usable (the page asks the new password only then)?"""
        if not token or len(token) > 128:
            return False
        return await self._resets.reset_person(tokens.digest(token), self._clock.now_ms()) \
            is not None

    async def reset(self, token: str, new_password: str, client_ip: str) -> None:
        """Set the password with a link: once; every session of the person ends.
        Only links that lead nowhere are counted against the address."""
        token_hash = tokens.digest(token) if token and len(token) <= 128 else ""
        now = self._clock.now_ms()
        person_id = await self._resets.reset_person(token_hash, now) if token_hash else None
        if person_id is None:
            wait = await self._bad_links.take(self._addresses.limit_for(client_ip)[0])
            if wait is not None:
                raise PreauError(ErrorCode.RATE_LIMITED, TOO_MANY, retry_after=wait)
            raise PreauError(ErrorCode.INVALID_CREDENTIALS, BAD_LINK)
        problem = passwords.password_problem(new_password)
        if problem is not None:
            raise PreauError(ErrorCode.WEAK_PASSWORD, f"password refused: {problem}")
        if not await self._password_allowed(person_id):
            raise PreauError(ErrorCode.PASSWORD_LOGIN_OFF, PASSWORD_OFF)
        person = await self._directory.person(person_id)
        if person is not None:
            problem = passwords.password_problem(
                new_password, login=person.login, names=(person.first_name, person.last_name))
            if problem is not None:
                raise PreauError(ErrorCode.WEAK_PASSWORD, f"password refused: {problem}")
        password_hash = await passwords.hash_password(new_password)
        if await self._resets.use_reset(token_hash, password_hash, self._clock.now_ms()) is None:
            raise PreauError(ErrorCode.INVALID_CREDENTIALS, BAD_LINK)
        log.info("password recovery: password set with a link")
        await self._auth.revoke_person(person_id)

    async def _password_allowed(self, person_id: str) -> bool:
        """Local passwords may be off for a profile that signs in through single
        sign-on (``AuthService.password_allowed``): no link for them."""
        member = await self._directory.member(person_id)
        view = await self._directory.school(member.school_id) if member is not None else None
        return (member is not None and view is not None
                and self._auth.password_allowed(view.school.uai, member.profile.value))

    async def settle(self) -> None:
        """Wait for the mails being sent (tests; the lifespan's end)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.settle()
        for limiter in (self._per_login, self._per_ip, self._per_trusted_ip, self._bad_links,
                        self._per_email):
            await limiter.close()
