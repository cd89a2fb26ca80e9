"""``preau``: serve, import a school, migrate, issue a new activation code."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from server.settings import Settings, SettingsError


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server.app import create_app
    from server.gateway.uvicorn_protocol import PreauWebSocketProtocol

    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        ws=PreauWebSocketProtocol,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        # Frames above the hard limit close the socket (1009); between the soft
        # limit and this one the gateway answers too_large and keeps it open.
        ws_max_size=settings.hard_frame_bytes,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        ws_per_message_deflate=False,  # decompression bombs; chat frames are small
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
    return 0


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from server.app import build_services, close_services, format_accounts
    from server.directory.csv_import import parse_csv
    from server.directory.importer import import_directory

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")  # noqa: ASYNC240 (once, small)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
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
            parse_csv(text),
            uai=args.school,
            school_name=name,
            timezone=args.timezone or (existing.timezone if existing else "Europe/Paris"),
            activation_ttl_s=settings.activation_ttl_s,
            now_ms=services.clock.now_ms(),
        )
    finally:
        await close_services(services)
    for line, message in report.errors:
        print(f"{args.file}:{line}: {message}", file=sys.stderr)
    print(f"{report.school.name} ({report.school.uai}): {len(report.created)} created, "
          f"{report.updated} updated, {report.classes_created} new classes, "
          f"{len(report.errors)} rejected rows")
    if report.created:
        print(format_accounts(report))
    return 1 if report.errors else 0


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server.store.factory import open_store

    store = await open_store(settings.effective_store_url)
    try:
        version = await store.migrate()
    finally:
        await store.close()
    print(f"schema version {version}")
    return 0


async def _new_code(args: argparse.Namespace, settings: Settings) -> int:
    from server.app import build_services, close_services

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="preau", description="Préau real-time ENT server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies trusted for X-Forwarded-For")
    imp = commands.add_parser("import", help="import or update a school from a CSV file")
    imp.add_argument("file")
    imp.add_argument("--school", required=True, help="the school's UAI code")
    imp.add_argument("--name", help="the school's name (required the first time)")
    imp.add_argument("--timezone", help="IANA time zone (default Europe/Paris)")
    commands.add_parser("migrate", help="apply database migrations")
    code = commands.add_parser("new-code", help="issue a new activation code for an account")
    code.add_argument("login")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return _serve(args, settings)
    runner = {"import": _import, "migrate": _migrate, "new-code": _new_code}[args.command]
    return asyncio.run(runner(args, settings))


if __name__ == "__main__":
    sys.exit(main())
