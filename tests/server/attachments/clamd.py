"""A real clamd for the tests: Debian's clamav-daemon, started on a private
unix socket and a free port of 127.0.0.1, with a signature database the
tests write themselves (no freshclam here: no network), which holds the EICAR
test signature and one signature of our own.

``CLAMD_ADDRESS`` (``unix:/…`` or ``tcp:host:port``), when set, names a clamd
to use instead (its database must detect EICAR, as the official one does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.needs import missing

CLAMD = "/usr/sbin/clamd"
START_TIMEOUT_S = 60

# The EICAR test file (eicar.org): every antivirus detects it, none is harmed
# by it. Kept in two halves so this source file is not itself "infected".
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# A second signature of our own, to show that detection is the database's:
# any file holding these bytes is "infected".
PREAU_TEST_MARKER = b"PREAU-ATTACHMENT-SCANNER-TEST-MARKER-7f3a"


def write_database(directory: Path) -> None:
    """Body signatures (ClamAV's .ndb: name:target:offset:hex), any offset."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "preau-test.ndb").write_text(
        f"Eicar-Test-Signature:0:*:{EICAR.hex()}\n"
        f"Preau-Test-Marker:0:*:{PREAU_TEST_MARKER.hex()}\n")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ClamdServer:
    """A private clamd a test may stop and start again (same socket, same port)."""

    def __init__(self, base: Path, *, stream_max: str = "64M") -> None:
        if not os.path.exists(CLAMD):
            missing("clamd is not installed (Debian package clamav-daemon; "
                    "scripts/bootstrap.sh ensure_test_packages installs it)")
        self.base = base
        self.socket_path = base / "clamd.sock"
        self.port = _free_port()
        self.unix_address = f"unix:{self.socket_path}"
        self.tcp_address = f"tcp:127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        write_database(base / "db")
        (base / "tmp").mkdir(exist_ok=True)
        (base / "clamd.conf").write_text(
            f"LocalSocket {self.socket_path}\n"
            f"TCPSocket {self.port}\n"
            "TCPAddr 127.0.0.1\n"
            f"DatabaseDirectory {base / 'db'}\n"
            f"TemporaryDirectory {base / 'tmp'}\n"
            f"LogFile {base / 'clamd.log'}\n"
            "Foreground yes\n"
            f"StreamMaxLength {stream_max}\n"
            "SelfCheck 0\n")

    def start(self) -> ClamdServer:
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [CLAMD, "-c", str(self.base / "clamd.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clamd exited: {self._log()}")
            if self._pong():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clamd did not answer within {START_TIMEOUT_S} s: {self._log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def _pong(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(str(self.socket_path))
                s.sendall(b"zPING\0")
                return s.recv(16) == b"PONG\0"
        except OSError:
            return False

    def _log(self) -> str:
        log = self.base / "clamd.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


@contextlib.contextmanager
def private_clamd(*, start: bool = True, stream_max: str = "64M") -> Iterator[ClamdServer]:
    """A clamd of the block's own (never ``CLAMD_ADDRESS``), stopped at the end
    (``start=False``: configured, not started: a scanner that is down)."""
    # /tmp, not pytest's deep temporary paths: a unix socket path has at most 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="preau-clamd-", dir="/tmp"))
    try:
        server = ClamdServer(base, stream_max=stream_max)
        if start:
            server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def clamd_address() -> Iterator[str]:
    """``CLAMD_ADDRESS`` if set, else a private clamd's unix socket."""
    configured = os.environ.get("CLAMD_ADDRESS")
    if configured:
        yield configured
        return
    with private_clamd() as server:
        yield server.unix_address
