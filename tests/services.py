"""Real servers for the tests: a private PostgreSQL, fresh databases on it.

Nothing here is global: ``postgres_url()`` is a context manager that the
session fixture in conftest.py enters once, so the server lives exactly as
long as the test session.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 60


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL: ``DATABASE_URL`` if set, else a private server.

    The private server runs from the binaries under /usr/lib/postgresql/*/bin
    (the newest version found), in a temporary directory, with trust auth, on
    a free port of 127.0.0.1 only and its unix socket inside that directory,
    with fsync off (a test database need not survive a power cut). It is
    stopped and removed when the block exits.
    """
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with _private_postgres() as url:
        yield url


def _postgres_bin() -> Path:
    candidates = sorted(
        glob.glob(POSTGRES_BIN_GLOB), key=lambda p: int(Path(p).parent.name.split(".")[0])
    )
    if not candidates:
        raise RuntimeError(
            f"no PostgreSQL binaries under {POSTGRES_BIN_GLOB}: install the postgresql "
            "package, or set DATABASE_URL to a server the tests may create databases on"
        )
    return Path(candidates[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _private_postgres() -> Iterator[str]:
    bin_dir = _postgres_bin()
    as_root = os.geteuid() == 0
    # PostgreSQL refuses to run as root: then its files belong to the
    # ``postgres`` user and its commands run as that user. /tmp (not $TMPDIR,
    # which may be under /root) so that user can reach the directory.
    base = Path(tempfile.mkdtemp(prefix="preau-pg-", dir="/tmp" if as_root else None))
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    data, sockets, logfile = base / "data", base / "sockets", base / "postgres.log"
    try:
        sockets.mkdir()
        if as_root:
            user = pwd.getpwnam("postgres")
            for path in (base, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)

        _run(
            prefix,
            str(bin_dir / "initdb"),
            "-D", str(data),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        port = _start(prefix, bin_dir, data, sockets, logfile)
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run(prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    except subprocess.CalledProcessError as exc:
        log = logfile.read_text(errors="replace") if logfile.exists() else ""
        raise RuntimeError(
            f"private PostgreSQL failed: {exc.cmd}\n{exc.stdout}\n{exc.stderr}\n{log}"
        ) from exc
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run(prefix: list[str], *args: str) -> None:
    subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)


def _start(prefix: list[str], bin_dir: Path, data: Path, sockets: Path, logfile: Path) -> int:
    # The free port may be taken between our probe and the server's bind:
    # try a few.
    for attempt in range(3):
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _run(
                prefix,
                str(bin_dir / "pg_ctl"),
                "-D", str(data),
                "-l", str(logfile),
                "-o", options,
                "-t", str(START_TIMEOUT_S),
                "-w",
                "start",
            )  # fmt: skip
            return port
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """Create an empty database ``t_<random>`` on the server; drop it afterwards.

    The caller must have closed its own connections to it before the block
    exits (``WITH (FORCE)`` ends any that remain, as a safety net).
    """
    import asyncpg

    name = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
