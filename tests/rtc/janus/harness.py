"""A network namespace with a real Janus in it, for the SFU tests.

Janus does not gather ICE candidates on loopback, and tests may send traffic
only to loopback or into namespaces they create (shared/reference/video.md).
So each test session makes a namespace with ``lo`` up and a veth pair whose
one end carries a private 10.x.y.1/24; Janus runs inside it with its ICE
confined to that end and its HTTP API on the namespace's loopback. Préau and
the aiortc peers run inside it too (``ip netns exec``): the scenarios are
scripts (tests/rtc/janus/scenarios/) that report JSON the tests assert on.

Janus's configuration is rendered from deploy/janus/*.jcfg.in, the same
templates the compose service uses, so the tests check the shipped config.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "deploy" / "janus"
JANUS_PORT = 8088
START_TIMEOUT_S = 20


def janus_missing_reason() -> str | None:
    """Why the tests cannot run here, or None (scripts/test installs Janus)."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if shutil.which("janus") is None:
        # The Debian package is the one the deployment uses (deploy/janus).
        return "janus is not installed (scripts/test installs Debian's janus as root)"
    probe = f"preau-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], check=False)
    return None


@dataclass(frozen=True)
class Namespace:
    name: str
    device: str  # the veth end carrying ``address``, inside the namespace
    address: str

    def command(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@contextlib.contextmanager
def network_namespace() -> Iterator[Namespace]:
    tag = f"{os.getpid() % 100000}{secrets.token_hex(1)}"
    name, dev, peer = f"preau-sfu-{tag}", f"pj{tag}a", f"pj{tag}b"
    address = f"10.{77 + os.getpid() % 100}.{secrets.randbelow(250) + 1}.1"
    _ip("netns", "add", name)
    try:
        ns = Namespace(name, dev, address)
        run = ["-n", name]
        _ip(*run, "link", "set", "lo", "up")
        # Both ends stay in the namespace: media never leaves it.
        _ip(*run, "link", "add", dev, "type", "veth", "peer", "name", peer)
        _ip(*run, "addr", "add", f"{address}/24", "dev", dev)
        _ip(*run, "link", "set", dev, "up")
        _ip(*run, "link", "set", peer, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@dataclass(frozen=True)
class JanusServer:
    url: str  # reachable inside the namespace only
    secret: str
    log: Path
    pid: int


def render_config(target: Path, values: dict[str, str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for template in TEMPLATES.glob("*.jcfg.in"):
        text = template.read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        leftover = re.findall(r"@[A-Z_]+@", text)
        if leftover:
            raise ValueError(f"{template.name}: no value for {leftover}")
        (target / template.name.removesuffix(".in")).write_text(text)


@contextlib.contextmanager
def janus_in(
    ns: Namespace, workdir: Path, *, port: int = JANUS_PORT, rtp_ports: str = "20000-20999",
    secret: str | None = None,
) -> Iterator[JanusServer]:
    """A Janus in ``ns``; several may run side by side on distinct ports."""
    secret = secret or secrets.token_urlsafe(18)
    config = workdir / f"janus-{port}"
    render_config(config, {
        "CONFIG_DIR": str(config), "SECRET": secret, "ICE_INTERFACES": ns.device,
        "NAT_EXTRA": "", "RTP_PORTS": rtp_ports,
        "HTTP_PORT": str(port), "HTTP_IP": "127.0.0.1",
    })
    log = workdir / f"janus-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ns.command("janus", "-F", str(config), "-C", str(config / "janus.jcfg")),
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "HTTP webserver started" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Janus did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield JanusServer(f"http://127.0.0.1:{port}/janus", secret, log, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_scenario(
    ns: Namespace, script: str, args: dict[str, object], *, timeout: float = 90
) -> dict[str, object]:
    """Run tests/rtc/janus/scenarios/<script>.py inside the namespace; its last
    stdout line is a JSON report."""
    proc = subprocess.run(
        ns.command(sys.executable, "-m", f"tests.rtc.janus.scenarios.{script}",
                   json.dumps(args)),
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'clients' / 'python'}"},
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"scenario {script} failed:\n{proc.stdout[-2000:]}\n"
                             f"{proc.stderr[-4000:]}")
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report
