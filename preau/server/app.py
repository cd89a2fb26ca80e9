"""The composition root: the one place that builds every service and wires them.

``create_app(settings)`` returns the ASGI application; its lifespan opens the
store (and migrates it), the broker and the hub, seeds the demo school when
asked, and closes everything on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from preau.collab.ports import Access
from preau.server import __version__, log_redaction, metrics
from preau.server.attachments.checks import InspectChecks
from preau.server.attachments.service import AttachmentService
from preau.server.auth.recovery import RecoveryService
from preau.server.auth.service import AuthService
from preau.server.blobs.factory import open_blobs
from preau.server.broker import Broker
from preau.server.broker.factory import open_broker
from preau.server.calls.rules import people_per_call
from preau.server.calls.service import CallService
from preau.server.charter.service import CharterService
from preau.server.chat.editing import EditService
from preau.server.chat.reactions import ReactionService
from preau.server.chat.receipts import ReceiptService
from preau.server.chat.render import MessageRenderer
from preau.server.chat.scheduler import ScheduledDelivery
from preau.server.chat.service import ChatService
from preau.server.clock import Clock, WallClock
from preau.server.console.service import ConsoleService
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import ImportReport, import_directory
from preau.server.directory.service import Directory
from preau.server.documents.endpoint import CollabEndpoint
from preau.server.documents.service import DocumentService, build_documents
from preau.server.errors import PreauError
from preau.server.gateway.call_ops import CallOps
from preau.server.gateway.charter_ops import CharterOps
from preau.server.gateway.edit_ops import EditOps
from preau.server.gateway.endpoint import WebSocketGateway
from preau.server.gateway.mood_ops import MoodOps
from preau.server.gateway.reaction_ops import ReactionOps
from preau.server.gateway.reading_ops import ReadingOps
from preau.server.gateway.sfu_ops import SfuOps, open_sfu_backend
from preau.server.http import meta_api
from preau.server.http.middleware import (
    BodyLimitMiddleware,
    SecurityMiddleware,
    http_error_handler,
    preau_error_handler,
    unexpected_error_handler,
)
from preau.server.http.routes import api_routes
from preau.server.http.web import WebApp, WebRoute
from preau.server.live.events import encode
from preau.server.live.hub import Hub
from preau.server.logs import ContextMiddleware, new_context
from preau.server.moderation.bursts import BurstDetector
from preau.server.moderation.service import ModerationService
from preau.server.moderation.shown_text import ShownTextGate
from preau.server.mood.service import MoodService
from preau.server.notifications.email import EmailSender
from preau.server.notifications.push import WebPush
from preau.server.notifications.service import NotificationService
from preau.server.presence.factory import open_presence
from preau.server.privacy.factory import build_privacy
from preau.server.ratelimit.factory import open_rate_limiter
from preau.server.ratelimit.spread import open_spread
from preau.server.services import Services
from preau.server.settings import Settings
from preau.server.sso.config import load as load_sso_config
from preau.server.sso.service import SsoService
from preau.server.store import AttachmentRef, Store
from preau.server.store.attachments import AttachmentSql
from preau.server.store.calls import CallStore
from preau.server.store.factory import open_store

log = logging.getLogger(__name__)

# gc.set_threshold for a serving node (see the lifespan, after gc.freeze).
GC_THRESHOLDS = (100_000, 50, 1_000)


async def build_services(
    settings: Settings, *, clock: Clock | None = None, broker: Broker | None = None
) -> Services:
    clock = clock or WallClock()
    store = await open_store(settings.effective_store_url)
    await store.migrate()
    broker = broker or open_broker(settings.broker_url, settings.node_id)
    # Presence and the per-account send limit live where the broker lives:
    # in this process for memory://, shared by every node on Redis.
    presence = open_presence(settings.broker_url)
    sends = open_rate_limiter(
        settings.broker_url, settings.sends_per_s, settings.sends_burst, name="sends"
    )
    directory = Directory(store)
    auth = AuthService(store, directory, settings, clock)
    sso_config = load_sso_config(settings.sso_config)
    auth.password_allowed = sso_config.password_allowed
    render = MessageRenderer(directory)
    hub = Hub(
        store, broker, presence, directory, render.frame,
        resume_limit=settings.resume_limit, keep_alive=auth.keep_alive,
        presence_ttl_s=settings.presence_ttl_s, sessions_ended=auth.ended_among,
    )
    opens = open_rate_limiter(
        settings.broker_url, settings.conversations_per_hour / 3600,
        settings.conversations_burst, name="conversations",
    )
    bursts = BurstDetector(open_spread(settings.broker_url), settings.burst_rooms,
                           settings.burst_window_s)
    notifications = NotificationService(store, directory, hub, clock)
    notifications.holder = broker.node_id  # its claims of the notification outbox
    chat = ChatService(store, directory, hub, render, settings, clock, sends, opens, bursts,
                       notices=notifications)
    moderation = ModerationService(store, directory, hub, chat, render, settings, clock)
    receipts = ReceiptService(store, directory, hub, chat, render, clock)
    # Reactions per account at the rate of sends, in a bucket of their own.
    reactions = ReactionService(store, directory, hub, chat, render, clock, open_rate_limiter(
        settings.broker_url, settings.sends_per_s, settings.sends_burst, name="reactions"))
    # Edits of one's own messages, likewise in a bucket of their own.
    edits = EditService(store, hub, chat, settings, clock, open_rate_limiter(
        settings.broker_url, settings.sends_per_s, settings.sends_burst, name="edits"))
    delivery = ScheduledDelivery(store, hub, render, clock, notices=notifications)
    delivery.may_post = chat.may_still_post  # waiting messages follow the directory
    privacy = build_privacy(store, settings, clock, hub, moderation, directory)
    moderation.on_view(privacy.viewed)  # oversight reads go to the access journal
    auth.on_revoke(hub.revoke_sessions)
    hub.on_sessions_ended(auth.forget_sessions)  # revoked on any node: not cached here
    directory.on_change(hub.recheck)
    directory.while_reloading(hub.gate.hold, hub.gate.release)  # chat waits for the re-check
    directory.on_change(chat.directory_changed)  # conversations a change closed
    calls = CallService(CallStore(store.engine), directory, broker, settings, clock,
                        text_gate=ShownTextGate(store),
                        hub=hub)
    directory.on_change(calls.recheck)  # after the hub's: it refreshes sockets' members
    directory.while_reloading(calls.gate.hold, calls.gate.release)
    documents = build_documents(store, broker, directory, settings, clock)

    async def tell_rights_changed(document_id: str, people: set[str]) -> None:
        await hub.tell_people(people, encode({"ev": "document.changed", "document": document_id}))

    documents.on_rights_changed(tell_rights_changed)  # clients re-read their rights

    async def document_readable(person_id: str, document_id: str) -> bool:
        return await documents.access(person_id, document_id) is not Access.NONE

    notifications.document_readable = document_readable
    privacy.source_readable = notifications.source_readable  # the export's notifications
    documents.notices = notifications
    calls.notices = notifications
    directory.on_change(documents.directory_changed)
    # Document relays wait while a change's rights are re-read here (the
    # notice of a change made on another node comes before its re-check).
    directory.while_reloading(documents.rooms.gate.hold, documents.rooms.gate.release)
    hub.on_removal(documents.member_removed)  # removed from a class room: its documents too
    broker.on_resync(documents.rooms.resync)
    broker.on_resync(chat.resynced)  # conversation.closed lost with the broker
    # After a broker outage every relay waits until the resync listeners are
    # done (the hub's refreshes the directory before any room catches up).
    broker.while_resyncing(directory.hold_relays, directory.release_relays)
    attachments = build_attachments(store, chat, hub, settings, clock, documents, directory)
    documents.files = attachments.store  # a deleted document's files go in its transaction

    async def held_attachments(held_id: str) -> list[AttachmentRef]:
        return [a.ref() for a in await attachments.store.of_held(held_id)]

    render.held_attachments = held_attachments
    attachments.review = moderation.may_review  # reviewers read a reported message's files
    privacy.retention.purge_files = attachments.sweep
    privacy.erasures.purge_files = attachments.sweep  # an erased person's unsent uploads
    return Services(
        settings, clock, store, broker, presence, directory, auth, hub, chat, moderation,
        receipts, delivery,
        privacy,
        calls=calls,
        documents=documents,
        mood=MoodService(store, directory, hub, clock),
        charter=CharterService(store, directory, broker, hub, settings, clock),
        reactions=reactions,
        edits=edits,
        notifications=notifications,
        email=EmailSender(store, directory, settings, clock, broker.node_id,
                          visible=notifications.visible_to),
        push=WebPush(store, directory, settings, clock, broker.node_id,
                     visible=notifications.visible_to),
        recovery=RecoveryService(store, directory, auth, settings, clock),
        console=ConsoleService(store, directory, hub, auth, settings, clock),
        attachments=attachments,
        sso=SsoService(sso_config, store, auth, settings, clock),
    )


def build_attachments(
    store: Store, chat: ChatService, hub: Hub, settings: Settings, clock: Clock,
    documents: DocumentService, directory: Directory,
) -> AttachmentService:
    """The attachment service: its store and blob store on the one engine,
    the content checks (PREAU_ATTACHMENT_CLAMD: the antivirus), documents' rights."""
    blobs = open_blobs(settings.attachment_store, store.engine, data_dir=settings.data_dir,
                       database_url=settings.effective_store_url)

    async def document_access(person_id: str, document_id: str) -> int:
        return int(await documents.access(person_id, document_id))

    return AttachmentService(
        AttachmentSql(store.engine, blobs), chat, hub, settings, clock,
        InspectChecks.from_settings(settings), document_access=document_access,
        directory=directory,
        uploads=open_rate_limiter(settings.broker_url, settings.attachment_uploads_per_hour / 3600,
                                  settings.attachment_uploads_burst, name="uploads"))


async def close_services(services: Services) -> None:
    await services.notifications.close()  # fan-outs under way finish (or wait in the outbox)
    await services.push.close()
    await services.calls.close()
    await services.charter.close()
    await services.sso.close()
    await services.documents.rooms.close()
    await services.hub.stop()
    await services.privacy.close()
    await services.presence.close()
    await services.recovery.close()
    await services.email.close()
    await services.auth.close()
    await services.chat.close()
    await services.attachments.close()
    await services.reactions.close()
    await services.edits.close()
    await services.broker.close()
    await services.store.close()


async def seed_demo(services: Services) -> ImportReport | None:
    """Create the demo school on a store that has no school yet; None when
    there is one (also when another node made it at the same time)."""
    if await services.store.school_ids():
        return None
    report = await import_directory(
        services.store,
        parse_csv(demo_csv()),
        uai=DEMO_UAI,
        school_name=DEMO_NAME,
        timezone=DEMO_TIMEZONE,
        activation_ttl_s=services.settings.activation_ttl_s,
        now_ms=services.clock.now_ms(),
    )
    if not report.created:
        # Another node started on the same empty store created it first (the
        # import's lock made this one update it, as a re-import): its codes
        # are the ones printed, and they stay valid.
        return None
    await apply_school_defaults(services, report.school.id)
    # The demo's people are seeded as having accepted the default charter, so
    # the demo opens on the app; publish a version to see the charter screen.
    await services.charter.accept_for(
        report.school.id, [a.account.person_id for a in report.created])
    _write_codes(services.settings.data_dir / "demo-accounts.txt", report)
    return report


async def apply_school_defaults(services: Services, school_id: str) -> None:
    """Give a school created just now the deployment's defaults (PREAU_QUIET_HOURS_DEFAULT)."""
    quiet = services.settings.quiet_hours_default
    if (await services.store.school_settings(school_id)).quiet_hours != quiet:
        await services.store.set_school_settings(
            school_id, None, services.clock.now_ms(), quiet_hours=quiet
        )


def format_accounts(report: ImportReport) -> str:
    lines = [f"{'login':<28} {'profile':<8} {'activation code':<16} name"]
    lines += [
        f"{a.account.login:<28} {a.profile.value:<8} {a.activation_code:<16} {a.display_name}"
        for a in report.created
    ]
    return "\n".join(lines)


def _write_codes(path: Path, report: ImportReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Codes open accounts of minors: readable by the operator only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(format_accounts(report) + "\n")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    log_redaction.install()  # tokens never reach a log line, however Préau is served
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings, clock=clock)
        try:
            if settings.seed_demo:
                report = await seed_demo(services)
                if report is not None:
                    print(f"Demo school created: {report.school.name}. Accounts "
                          f"(also in {settings.data_dir / 'demo-accounts.txt'}):")
                    print(format_accounts(report), flush=True)
            await services.hub.start()
            await services.calls.start()
            await services.charter.start()
            watcher = asyncio.get_running_loop().create_task(
                services.directory.watch(settings.directory_poll_s)
            )
            # Audit retention included (ModerationService.purge_expired), on one
            # node per pass: preau/server/privacy/retention.py.
            retention = asyncio.get_running_loop().create_task(
                services.privacy.retention.loop()
            )
            app.state.services = services
            delivery = asyncio.get_running_loop().create_task(
                services.delivery.run(settings.quiet_release_s)
            )
            # Attachments: pending scans retried (one node each), files swept.
            attachment_work = asyncio.get_running_loop().create_task(
                services.attachments.run())
            # Posts whose notifications were left undone (the outbox), on every node.
            outbox = asyncio.get_running_loop().create_task(
                services.notifications.run(settings.notification_outbox_s))
            # Notification e-mails, when an SMTP relay is configured (PREAU_SMTP_HOST).
            mails = asyncio.get_running_loop().create_task(
                services.email.run(settings.email_every_s)) if settings.smtp_host else None
            # Web Push: every node sends the pushes it claims (none without devices).
            pushes = asyncio.get_running_loop().create_task(
                services.push.run(settings.push_every_s))
            # Janus for calls in SFU mode (PREAU_JANUS_URLS), or None.
            sfu = open_sfu_backend(settings.janus_urls, settings.janus_admin_secret)
            if sfu is None:
                log.warning(
                    "no SFU configured (PREAU_JANUS_URLS): video calls stay in mesh mode,"
                    " at most %d people each (PREAU_CALL_MESH_SIZE); larger calls are refused"
                    " (docs/video.md)", people_per_call(settings))
            app.state.gateway = WebSocketGateway(
                settings, services.auth, services.directory, services.hub, services.chat,
                services.moderation,
                modules=[ReadingOps(services.receipts), CallOps(services.calls),
                         SfuOps(services.calls, sfu), CharterOps(services.charter),
                         MoodOps(services.mood), ReactionOps(services.reactions),
                         EditOps(services.edits)],
                charter=services.charter,
            )
            app.state.collab = CollabEndpoint(
                settings, services.auth, services.directory, services.documents,
                services.documents.rooms, charter=services.charter,
            )
            services.auth.on_revoke(app.state.collab.revoke_sessions)
            await app.state.collab.start(services.broker)
            # Everything built so far lives as long as the process: move it out
            # of the collector's sight, so full collections stay short (a full
            # pass over start-up objects stalled every socket for ~80 ms).
            metrics.bind_node(
                settings.node_id, __version__,
                broker_up=lambda: bool(getattr(services.broker, "connected", True)),
                documents_open=lambda: len(services.documents.rooms.rooms),
                call_participants=services.calls.local_seats,
            )
            stop_metrics = (metrics.serve(settings.metrics_host, settings.metrics_port)
                            if settings.metrics_port else None)
            gc.collect()
            gc.freeze()
            # A node holds tens of thousands of long-lived objects per thousand
            # sockets; CPython's default young threshold (700 allocations)
            # collects so often that at 10,000 sockets a reconnection surge
            # spent a third of its CPU in the collector (loadtests/surge.py:
            # 2.6 → 1.6 ms per reconnecting socket; docs/decisions.md, "Garbage
            # collection"). Cycles are still collected, 100 times less often.
            gc.set_threshold(*GC_THRESHOLDS)
            log.info("node %s ready (store %s, broker %s)", settings.node_id,
                     settings.effective_store_url.split(":")[0], settings.broker_url)
            yield
            if stop_metrics is not None:
                stop_metrics()
            await app.state.collab.stop()
            watcher.cancel()
            retention.cancel()
            delivery.cancel()
            attachment_work.cancel()
            outbox.cancel()
            if mails is not None:
                mails.cancel()
            pushes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pushes  # its HTTP session closed
            if sfu is not None:
                await sfu.close()
        finally:
            await close_services(services)

    app = _App(
        routes=[
            *api_routes(),
            WebSocketRoute("/ws", _GatewayEntry()),
            WebSocketRoute("/collab/{document}", _CollabEntry()),
            # Prometheus, for operators only (docs/operations.md, "Metrics").
            Route("/metrics", meta_api.metrics, methods=["GET"]),
            # The browser app: "/" and client routes (keep last: it takes
            # every other plain HTTP path, never /api, /ws or /collab).
            WebRoute(WebApp(settings.web_dir)),
        ],
        middleware=[
            Middleware(ContextMiddleware),  # request/connection ids in logs
            Middleware(SecurityMiddleware, allowed_origins=settings.allowed_origins),
            Middleware(BodyLimitMiddleware),
        ],
        exception_handlers={PreauError: preau_error_handler,
                            StarletteHTTPException: http_error_handler,
                            Exception: unexpected_error_handler},
        lifespan=lifespan,
    )
    return app


class _App(Starlette):
    """Starlette, with ``/ws`` sockets handed to the gateway straight away.

    A ``/ws`` upgrade went through six ASGI layers (the error middlewares, the
    log context, the security and body-limit middlewares, which all pass
    sockets through, and the router's match against every API route) before
    reaching the gateway, and every ASGI send of the socket's life back
    through their wrappers: about a tenth of a reconnection storm's CPU
    (loadtests/surge.py). The gateway answers every frame and refusal
    itself; what the layers did for a socket is done here: the app in the
    scope, and the log context's connection id."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path") == "/ws" \
                and scope.get("root_path", "") == "":
            scope["app"] = self
            new_context("c")
            await _GatewayEntry()(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _GatewayEntry:
    """An ASGI app (not a function, so Starlette passes raw scope/receive/send)
    that hands the socket to the gateway built in the lifespan."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway: WebSocketGateway = scope["app"].state.gateway
        await gateway(scope, receive, send)


class _CollabEntry:
    """Hands a ``/collab/{document}`` socket to the endpoint built in the lifespan."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        collab: CollabEndpoint = scope["app"].state.collab
        await collab(scope, receive, send)
