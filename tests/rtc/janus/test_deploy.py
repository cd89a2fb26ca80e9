"""deploy/janus/entrypoint.sh, the compose service's start script, run for real:
its rendered config starts Janus with only VideoRoom and the HTTP API, and the
API is closed to anyone without the secret."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.rtc.janus.harness import ROOT, Namespace, run_scenario

pytestmark = pytest.mark.slow

PORT = 8091


def test_the_deployed_config_keeps_the_api_to_preau(
    sfu_namespace: Namespace, tmp_path: Path
) -> None:
    secret = "deployed-secret-0123456789"
    log = tmp_path / "janus.log"
    env = {**os.environ, "JANUS_SECRET": secret, "JANUS_PUBLIC_IP": sfu_namespace.address,
           "JANUS_INTERFACE": sfu_namespace.device, "JANUS_RTP_PORTS": "23000-23099",
           "JANUS_HTTP_PORT": str(PORT), "JANUS_TEMPLATES": str(ROOT / "deploy" / "janus"),
           "JANUS_CONFIG_OUT": str(tmp_path / "config")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            sfu_namespace.command("sh", str(ROOT / "deploy" / "janus" / "entrypoint.sh")),
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "HTTP webserver started" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        rendered = (tmp_path / "config" / "janus.jcfg").read_text()
        assert f'nat_1_1_mapping = "{sfu_namespace.address}"' in rendered
        report = run_scenario(sfu_namespace, "deployed", {
            "url": f"http://127.0.0.1:{PORT}/janus", "secret": secret})
    finally:
        proc.terminate()
        proc.wait(10)
    assert report["plugins"] == ["janus.plugin.videoroom"]
    assert report["transports"] == ["janus.transport.http"]
    assert report["without_secret"] == 403  # Janus: unauthorized request
    assert report["create_without_admin_key"] == 429  # VideoRoom: missing element (admin_key)
    assert report["create_with_wrong_admin_key"] == 433  # VideoRoom: unauthorized
    assert report["create_with_admin_key"] == "created"
    assert report["destroy_with_wrong_secret"] == 433  # VideoRoom: unauthorized (room secret)
