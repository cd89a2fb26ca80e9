"""``preau``: serve, import a school, migrate, issue a new activation code, back up and restore."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from preau.server.settings import Settings, SettingsError

if TYPE_CHECKING:
    from preau.server.directory.importer import Rollover
    from preau.server.services import Services
    from preau.server.store.privacy import PersonRecord


def with_public_url(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` whose ``public_url`` (activation letters, e-mails' links)
    names the address served when PREAU_PUBLIC_URL is not set: a server on
    another port printed letters pointing at :8000, where nobody answers."""
    if "public_url" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    logging.getLogger(__name__).warning(
        "PREAU_PUBLIC_URL is not set: activation letters and e-mails' links point to %s;"
        " set it to the address the school's families use", url)
    return settings.model_copy(update={"public_url": url})


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from preau.server import log_redaction
    from preau.server.app import create_app
    from preau.server.gateway.uvicorn_protocol import PreauWebSocketProtocol
    from preau.server.http.uvicorn_http import deadline_protocol
    from preau.server.open_files import raise_open_files_limit
    from preau.server.serving import DrainingServer

    log_redaction.install()  # before uvicorn logs its first handshake
    settings = with_public_url(settings, args.host, args.port)

    app = create_app(settings)
    raise_open_files_limit()  # every socket is a file (preau/server/open_files.py)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        ws=PreauWebSocketProtocol,
        loop="uvloop",
        http=deadline_protocol(settings.http_head_timeout_s, settings.http_body_timeout_s),
        lifespan="on",
        # Frames above the hard limit close the socket (1009); between the soft
        # limit and this one the gateway answers too_large and keeps it open.
        ws_max_size=settings.hard_frame_bytes,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        ws_per_message_deflate=False,  # decompression bombs; chat frames are small
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips or settings.forwarded_allow_ips,
        access_log=False,
        log_config=None,  # uvicorn's loggers go to the root's handler (preau/server/logs.py)
        log_level=args.log_level,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )
    DrainingServer(config, drain_s=settings.drain_s).run()
    return 0


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from preau.server.app import (
        apply_school_defaults,
        build_services,
        close_services,
        format_accounts,
    )
    from preau.server.directory.importer import import_directory
    from preau.server.directory.several import MAX_FILES, parse_files

    files: list[tuple[str, bytes]] = []
    for name in args.file:
        try:
            files.append((Path(name).name, Path(name).read_bytes()))  # noqa: ASYNC240 (once, small)
        except OSError as exc:
            print(f"cannot read {name}: {exc}", file=sys.stderr)
            return 2
    if len(files) > MAX_FILES or len({n for n, _ in files}) != len(files):
        print(f"give at most {MAX_FILES} files, with different names", file=sys.stderr)
        return 2
    # One CSV (UTF-8, UTF-16 or Windows-1252: csv_import.decode_csv) or national
    # export, or several of both read as one (directory/several.py).
    parsed = parse_files(files)
    if parsed.errors and not parsed.people:
        # Nothing could be read (a header, an encoding, every row): the store
        # is not touched, not even to create the school.
        for error in parsed.errors:
            where = f"{args.file[0]}: " if len(args.file) == 1 else ""
            print(f"{where}{error.shown(args.lang)}", file=sys.stderr)
        print("nothing imported: no row could be read" if args.lang == "en"
              else "rien n'a été importé : aucune ligne n'a pu être lue", file=sys.stderr)
        return 2
    services = await build_services(settings)
    try:
        existing = await services.store.school_by_uai(args.school.upper())
        name = args.name or (existing.name if existing else None)
        if name is None:
            print("a new school needs --name", file=sys.stderr)
            return 2
        report = await import_directory(
            services.store,
            parsed,
            uai=args.school,
            school_name=name,
            timezone=args.timezone or (existing.timezone if existing else "Europe/Paris"),
            activation_ttl_s=settings.activation_ttl_s,
            now_ms=services.clock.now_ms(),
            rollover=_rollover(args, settings, services.clock.now_ms()),
        )
        if existing is None:
            await apply_school_defaults(services, report.school.id)
        elif report.created or report.updated or report.closed:
            await _tell_nodes(services, report.school.id)
    finally:
        await close_services(services)
    if report.closed or report.archived_rooms:
        print(f"rollover: {len(report.closed)} accounts closed (left the school), "
              f"{report.archived_rooms} rooms of last year kept read-only")
    for error in report.errors:  # with several files, each names its own
        where = f"{args.file[0]}: " if len(args.file) == 1 else ""
        print(f"{where}{error.shown(args.lang)}", file=sys.stderr)
    print(f"{report.school.name} ({report.school.uai}): {len(report.created)} created, "
          f"{report.updated} updated, {report.classes_created} new classes, "
          f"{len(report.errors)} rejected rows")
    if report.errors and args.rollover:
        # A rollover is all or nothing: one bad row and it did not start.
        print("rollover refused: nothing was changed; fix the rejected rows and run it again"
              if args.lang == "en" else "passage d'année refusé : rien n'a été modifié ;"
              " corrigez les lignes rejetées et relancez-le", file=sys.stderr)
    if report.created:
        print(format_accounts(report))
    return 1 if report.errors else 0


async def _tell_nodes(services: Services, school_id: str) -> None:
    """Tell running nodes that the school's directory changed, as a node does
    after an import of its own: over Redis they re-read it and re-check
    their sockets at once. Without a shared broker (the embedded default)
    they notice within ``PREAU_DIRECTORY_POLL_S``; so they do if this notice
    is lost (Redis unreachable: ``close_services`` waits briefly for it)."""
    import orjson

    from preau.server.live.channels import DIRECTORY_CHANNEL

    await services.broker.publish(DIRECTORY_CHANNEL, orjson.dumps({"school": school_id}))


def _rollover(args: argparse.Namespace, settings: Settings, now_ms: int) -> Rollover | None:
    from preau.server.directory.importer import Rollover, ended_school_year

    if not args.rollover:
        return None
    keep = settings.archived_rooms_days if args.keep_rooms_days is None else args.keep_rooms_days
    return Rollover(label=args.year_label or ended_school_year(now_ms), keep_rooms_days=keep)


async def _privacy_target(services: Services, who: str) -> PersonRecord | None:
    store = services.privacy.store
    return await store.person_by_login(who) or await store.person(who)


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    """Write a person's export to stdout (the operator answering a request)."""
    from preau.server.app import build_services, close_services

    services = await build_services(settings)
    try:
        target = await _privacy_target(services, args.person)
        if target is None:
            print(f"no account {args.person!r}", file=sys.stderr)
            return 2
        out = sys.stdout.buffer
        async for chunk in await services.privacy.export_of(target):
            out.write(chunk)
        out.write(b"\n")
        out.flush()
    finally:
        await close_services(services)
    return 0


async def _erase(args: argparse.Namespace, settings: Settings) -> int:
    from preau.server.app import build_services, close_services
    from preau.server.errors import PreauError

    services = await build_services(settings)
    try:
        target = await _privacy_target(services, args.person)
        if target is None:
            print(f"no account {args.person!r} (already erased?)", file=sys.stderr)
            return 2
        try:
            await services.privacy.erase(target, args.delete_contributions)
        except PreauError as exc:  # recorded: the retention job finishes it
            print(f"erase: {exc.message}", file=sys.stderr)
            return 1
    finally:
        await close_services(services)
    print("erased" + (" (contributions deleted)" if args.delete_contributions else ""))
    return 0


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from preau.server.store.factory import open_store

    store = await open_store(settings.effective_store_url)
    try:
        version = await store.migrate()
    finally:
        await store.close()
    print(f"schema version {version}")
    return 0


async def _new_code(args: argparse.Namespace, settings: Settings) -> int:
    from preau.server.app import build_services, close_services

    services = await build_services(settings)
    try:
        creds = await services.store.credentials_by_login(args.login)
        if creds is None:
            print(f"no account {args.login!r}", file=sys.stderr)
            return 2
        code = await services.auth.issue_activation_code(creds.person_id)
    finally:
        await close_services(services)
    print(f"{creds.login}: {code}")
    return 0


def _shown(url: str) -> str:
    """A store URL as an operator may read it (no password)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        parts = parts._replace(netloc=f"{parts.username}:***@{host}"
                               + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def _blob_files(settings: Settings) -> Path | None:
    """Where attachments' bytes are files (SQLite's default): backups carry them."""
    from preau.server.blobs.factory import file_blob_root

    return file_blob_root(settings.attachment_store, data_dir=settings.data_dir,
                          database_url=settings.effective_store_url)


async def _backup(args: argparse.Namespace, settings: Settings) -> int:
    """A backup of the store, taken while the nodes run (docs/operations.md)."""
    from preau.server.store.backup import BackupError, backup

    try:
        done = await backup(settings.effective_store_url, Path(args.file),
                            blob_files=_blob_files(settings))
    except BackupError as exc:
        print(f"backup: {exc}", file=sys.stderr)
        return 2
    print(f"{done.kind} backup written to {done.path} ({done.bytes} bytes"
          + (f", {done.note})" if done.note else ")"))
    return 0


# A node heartbeats every 5 s (preau/server/calls/service.py); silent this long, it is gone.
NODE_ALIVE_S = 20.0


async def _nodes_running(url: str) -> list[str]:
    """The nodes of the store at ``url`` that heartbeat lately (none for a
    store that does not exist yet)."""
    from preau.server.store.factory import open_engine
    from preau.server.store.sqlite import MEMORY, path_from_url

    if url.startswith("sqlite"):
        path = path_from_url(url)
        if path == MEMORY or not os.path.exists(path):  # noqa: ASYNC240 (a CLI, once)
            return []
    engine = await open_engine(url)
    try:
        async with engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT node_id FROM call_nodes WHERE seen_ms >= $1 ORDER BY node_id",
                int((time.time() - NODE_ALIVE_S) * 1000))
    except Exception:
        return []  # no schema yet: nothing runs on it
    finally:
        await engine.close()
    return [str(r["node_id"]) for r in rows]


async def _restore(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the store by a backup; the nodes must be stopped (docs/operations.md)."""
    from preau.server.store.backup import BackupError, restore

    if not args.yes:
        print("restore replaces every school's data by the backup's and ends every session;"
              " stop the nodes, then run it again with --yes", file=sys.stderr)
        return 2
    running = await _nodes_running(settings.effective_store_url)
    if running and not args.force:
        # A running node keeps serving what it cached (sessions included) and
        # reuses the restored rooms' sequence numbers (an outside probe).
        print(f"restore: node(s) {', '.join(running)} heartbeat within the last"
              f" {NODE_ALIVE_S:.0f} s: stop every node first (a stopped node is known"
              f" stopped {NODE_ALIVE_S:.0f} s after its last heartbeat); --force restores"
              " anyway", file=sys.stderr)
        return 2
    try:
        done = await restore(settings.effective_store_url, Path(args.file),
                             blob_files=_blob_files(settings))
    except BackupError as exc:
        print(f"restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored {done.kind} store {_shown(settings.effective_store_url)} from {done.path};"
          " every session ended"
          + (f"; {done.note}" if done.note else ""))
    return 0


async def _login_throttle(args: argparse.Namespace, settings: Settings) -> int:
    """The operator's view of the login throttle (preau/server/auth/throttle.py)."""
    from preau.server.app import build_services, close_services

    if settings.broker_url.split(":", 1)[0] == "memory":
        print("the embedded server keeps its login throttle in its own process: restart it"
              " to forget every delay (PREAU_BROKER_URL=redis://… shares it)", file=sys.stderr)
        return 2
    services = await build_services(settings)
    try:
        throttle = services.auth.throttle
        if args.clear_address:
            cleared = await throttle.clear_address(args.clear_address)
            print(f"{cleared}: the address's failed-login budget is whole again")
            return 0
        if args.clear:
            creds = await services.store.credentials_by_login(args.clear)
            person = await services.directory.person(creds.person_id) if creds else None
            await throttle.clear_login(args.clear, person.school_id if person else None,
                                       person.id if person else None)
            print(f"{args.clear}: failures and delay forgotten")
            return 0
        school = await services.store.school_by_uai(args.school.upper()) if args.school else None
        if args.school and school is None:
            print(f"no school {args.school!r}", file=sys.stderr)
            return 2
        schools = [school.id] if school else await services.store.school_ids()
        for school_id in schools:
            for entry in await throttle.watched_in(school_id):
                print(f"{entry['login']:<28} failures {entry['failures']:>3}"
                      f"  delayed until {entry['delayed_until'] or '-'}")
    finally:
        await close_services(services)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="preau", description="Préau real-time ENT server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="the reverse proxies trusted for X-Forwarded-For (addresses or CIDR, comma"
             "-separated; default PREAU_FORWARDED_ALLOW_IPS, else 127.0.0.1). Never '*' "
             "unless nothing but the proxy can reach the node: a client would choose its "
             "own address (and login throttle budget)")
    imp = commands.add_parser(
        "import", help="import or update a school from CSV files (one, or several read as"
        " one: pupils, parents, staff), its SIECLE (ElevesSansAdresses.xml,"
        " ResponsablesAvecAdresses.xml), STS-web or AAF exports, or a mix")
    imp.add_argument("file", nargs="+")
    imp.add_argument("--school", required=True, help="the school's UAI code")
    imp.add_argument("--name", help="the school's name (required the first time)")
    imp.add_argument("--timezone", help="IANA time zone (default Europe/Paris)")
    imp.add_argument("--rollover", action="store_true",
                     help="new school year: the file lists everyone; others are closed")
    imp.add_argument("--year-label", help="rollover: the ended year's label (default: "
                     "from today's date, e.g. 2025-2026)")
    imp.add_argument("--lang", choices=("fr", "en"), default="fr",
                     help="language of the rejected rows' messages (default fr)")
    imp.add_argument("--keep-rooms-days", type=int,
                     help="rollover: days last year's rooms stay read-only "
                     "(default PREAU_ARCHIVED_ROOMS_DAYS)")
    exp = commands.add_parser("export", help="write a person's data as JSON to stdout")
    exp.add_argument("person", help="login or person id")
    era = commands.add_parser("erase", help="erase a person's data now")
    era.add_argument("person", help="login or person id")
    era.add_argument("--delete-contributions", action="store_true",
                     help="also delete their messages in shared rooms (default: anonymised)")
    commands.add_parser("migrate", help="apply database migrations")
    bak = commands.add_parser("backup", help="back up the store (online: nodes may run)")
    bak.add_argument("file", help="where to write it (SQLite file, or pg_dump custom format)")
    res = commands.add_parser("restore", help="replace the store by a backup (nodes stopped)")
    res.add_argument("file", help="a file written by preau backup")
    res.add_argument("--yes", action="store_true",
                     help="really replace the data and end every session")
    res.add_argument("--force", action="store_true",
                     help="restore even though a node heartbeat in the last 20 s")
    code = commands.add_parser("new-code", help="issue a new activation code for an account")
    code.add_argument("login")
    thr = commands.add_parser("login-throttle",
                              help="accounts with recent failed logins; clear one's delay")
    thr.add_argument("--school", help="only this school (UAI)")
    thr.add_argument("--clear", metavar="LOGIN", help="forget this login's failures and delay")
    thr.add_argument("--clear-address", metavar="IP",
                     help="give a client address (a school's NAT) its failed-login budget back")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from preau.server import logs

    logs.configure(settings.log_format, settings.node_id)
    if args.command == "serve":
        return _serve(args, settings)
    runner = {"import": _import, "migrate": _migrate, "new-code": _new_code,
              "backup": _backup, "restore": _restore,
              "export": _export, "erase": _erase,
              "login-throttle": _login_throttle}[args.command]
    return asyncio.run(runner(args, settings))


if __name__ == "__main__":
    sys.exit(main())
