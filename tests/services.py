"""Real servers for the tests: a private PostgreSQL (fresh databases on it), a private Redis.

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
import signal
import socket
import subprocess
import tempfile
import time
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
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp_root = Path("/tmp" if as_root else tempfile.gettempdir())
    _reap_orphans(tmp_root, prefix, bin_dir)
    base = Path(tempfile.mkdtemp(prefix="preau-pg-", dir=tmp_root))
    # Who owns this server: a later run stops it if this process died without
    # cleaning up (a killed test run; pg_ctl detaches the server from us).
    (base / "owner.pid").write_text(str(os.getpid()))
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


class PostgresServer:
    """A private PostgreSQL that a test may stop and start again on the same
    port (a restart, a failover): :func:`private_postgres`."""

    def __init__(self, prefix: list[str], bin_dir: Path, base: Path, port: int) -> None:
        self.prefix, self.bin_dir, self.base, self.port = prefix, bin_dir, base, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (as a restart does); ``immediate`` as a crash."""
        _run(self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.base / "data"),
             "-m", mode, "-w", "stop")
        self.running = False

    def start(self) -> None:
        _start(self.prefix, self.bin_dir, self.base / "data", self.base / "sockets",
               self.base / "postgres.log", port=self.port)
        self.running = True


@contextlib.contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL of the block's own (never ``DATABASE_URL``): stop it at will."""
    bin_dir = _postgres_bin()
    as_root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp_root = Path("/tmp" if as_root else tempfile.gettempdir())
    base = Path(tempfile.mkdtemp(prefix="preau-pg-", dir=tmp_root))
    (base / "owner.pid").write_text(str(os.getpid()))
    data, sockets = base / "data", base / "sockets"
    try:
        sockets.mkdir()
        if as_root:
            user = pwd.getpwnam("postgres")
            for path in (base, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        _run(prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        server = PostgresServer(prefix, bin_dir, base,
                                _start(prefix, bin_dir, data, sockets, base / "postgres.log"))
        try:
            yield server
        finally:
            if (data / "postmaster.pid").exists():
                server.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _reap_orphans(tmp_root: Path, prefix: list[str], bin_dir: Path) -> None:
    """Stop and remove private servers whose owning test run is gone."""
    for base in tmp_root.glob("preau-pg-*"):
        try:
            owner = int((base / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours to judge (an older layout, or being set up)
        if _alive(owner):
            continue  # its run is alive
        if (base / "data" / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate",
                 "-w", "stop"],
                capture_output=True, check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


def _run(prefix: list[str], *args: str) -> None:
    subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)


def _start(prefix: list[str], bin_dir: Path, data: Path, sockets: Path, logfile: Path,
           port: int | None = None) -> int:
    # The free port may be taken between our probe and the server's bind:
    # try a few (a restart keeps its ``port``).
    for attempt in range(3):
        port = port if port is not None and attempt == 0 else _free_port()
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


# -- Redis -------------------------------------------------------------------

REDIS_START_TIMEOUT_S = 10.0


class RedisServer:
    """A private ``redis-server`` on a free port of 127.0.0.1, in a temporary directory.

    Nothing is persisted (``--save ''``, no AOF). ``stop()`` and ``start()``
    keep the port, so ``restart()`` plays "Redis restarted" for the fault
    tests: clients see their connections closed, then the same address
    answers again, empty.
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "no redis-server on PATH: install the redis-server package, or set "
                "REDIS_URL to a server whose database the tests may flush"
            )
        self.binary = binary
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        reap_redis_orphans(Path(tempfile.gettempdir()))
        self._dir = Path(tempfile.mkdtemp(prefix="preau-redis-"))
        # Who owns this server: a later run kills it if this process died
        # without cleaning up (a killed test run leaves its children running).
        (self._dir / "owner.pid").write_text(str(os.getpid()))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start the server (on the same port as before) and wait until it answers PING."""
        assert self._process is None, "already running"
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self._dir),
        ]  # fmt: skip
        log = open(self._dir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        (self._dir / "server.pid").write_text(str(self._process.pid))
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while not _redis_answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = (self._dir / "redis.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"private redis-server did not start:\n{output}")
            time.sleep(0.005)
        return self

    def stop(self, kill: bool = True) -> None:
        """Stop the server: SIGKILL by default (a crash), else SIGTERM (a clean shutdown)."""
        process, self._process = self._process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def reap_redis_orphans(tmp_root: Path) -> int:
    """Kill and remove private redis-servers whose owning test run is gone; how many."""
    reaped = 0
    for base in tmp_root.glob("preau-redis-*"):
        try:
            owner = int((base / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours to judge (an older layout, or being set up)
        if _alive(owner):
            continue
        try:
            server = int((base / "server.pid").read_text())
            command = Path(f"/proc/{server}/cmdline").read_bytes()
        except (OSError, ValueError):
            command = b""
        if b"redis-server" in command:  # the pid was not reused by something else
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(server, signal.SIGKILL)
                reaped += 1
        shutil.rmtree(base, ignore_errors=True)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    """A running private Redis for the block, removed afterwards."""
    server = RedisServer()
    try:
        # The port was free when probed; another process may take it before
        # redis-server binds: then try another.
        for attempt in range(3):
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                server.port = _free_port()
                server.url = f"redis://127.0.0.1:{server.port}/0"
        yield server
    finally:
        server.remove()


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """A Redis server URL: ``REDIS_URL`` if set (its database gets flushed), else a private one."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with private_redis() as server:
        yield server.url
