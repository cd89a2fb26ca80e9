"""compose.yaml, checked without a Docker engine (none runs on our machines).

It must parse, define every service the operations guide names with its health
check, wire the nodes to PostgreSQL and Redis, pass WebSockets through the
proxy, and use only settings that exist and are documented.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from preau.server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
NODES = ["preau-1", "preau-2"]
MONITORING = ["prometheus", "grafana"]


def test_every_service_is_there_with_a_health_check() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"proxy", *NODES, "postgres", "redis", "coturn", "janus",
                             *MONITORING}
    for name in ("proxy", "postgres", "redis", "janus", *MONITORING):
        assert services[name]["healthcheck"]["test"], name
    # Nodes get their health check from the image (Dockerfile HEALTHCHECK on /api/health).
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()
    # The image serves the browser app, built from the npm lock file.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "npm ci" in dockerfile
    assert "PREAU_WEB_DIR=/app/web" in dockerfile
    assert "**/node_modules" in (ROOT / ".dockerignore").read_text()
    assert "/api/health" in (ROOT / "Dockerfile").read_text()
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pgdata" in COMPOSE["volumes"]


def test_nodes_share_postgres_and_redis_and_have_distinct_ids() -> None:
    ids = set()
    for node in NODES:
        service = COMPOSE["services"][node]
        env = service["environment"]
        assert env["PREAU_STORE_URL"].startswith("postgresql://preau:")
        assert env["PREAU_STORE_URL"].endswith("@postgres:5432/preau")
        assert env["PREAU_BROKER_URL"] == "redis://redis:6379/0"
        assert env["PREAU_SEED_DEMO"] == "false"
        ids.add(env["PREAU_NODE_ID"])
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        # Every socket is a file: room for a surge (docs/operations.md, "Open files").
        assert service["ulimits"]["nofile"]["hard"] >= 65536
    assert ids == set(NODES)


def test_the_proxy_passes_websockets_to_every_node() -> None:
    proxy = COMPOSE["services"]["proxy"]
    assert "8080:80" in proxy["ports"]
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for node in NODES:
        assert f"server {node}:8000" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert re.search(r"location ~ \^/\(ws\|collab/\)", conf)


def test_coturn_uses_time_limited_credentials() -> None:
    command = COMPOSE["services"]["coturn"]["command"]
    assert "--use-auth-secret" in command
    assert any(arg.startswith("--static-auth-secret=${TURN_SECRET") for arg in command)
    assert "3478:3478/udp" in COMPOSE["services"]["coturn"]["ports"]


def test_every_setting_used_exists_and_is_documented() -> None:
    used = {
        name
        for node in NODES
        for name in COMPOSE["services"][node]["environment"]
        if name.startswith("PREAU_")
    }
    assert used
    for name in used:
        assert name in Settings.variables(), f"{name} is not read by preau/server/settings.py"
        assert f"`{name}`" in OPERATIONS, f"{name} is not documented in docs/operations.md"
    example = (ROOT / "deploy" / "env.example").read_text()
    for secret in ("POSTGRES_PASSWORD", "TURN_SECRET"):
        assert f"{secret}=" in example


def test_every_setting_of_the_server_is_documented() -> None:
    names = set(Settings.variables())
    assert len(names) > 20
    assert "PREAU_STORE_URL" in names
    missing = sorted(n for n in names if f"`{n}`" not in OPERATIONS)
    assert missing == []


def test_janus_api_is_internal_and_shares_the_nodes_secret() -> None:
    janus = COMPOSE["services"]["janus"]
    # Media (UDP) is published; the HTTP API (8088) is not: only the nodes reach it.
    assert all("8088" not in port for port in janus.get("ports", []))
    assert all(port.endswith("/udp") for port in janus["ports"])
    assert janus["build"] == "./deploy/janus"
    secret = janus["environment"]["JANUS_SECRET"]
    for node in NODES:
        env = COMPOSE["services"][node]["environment"]
        assert env["PREAU_JANUS_URLS"] == "http://janus:8088/janus"
        assert env["PREAU_JANUS_ADMIN_SECRET"] == secret
        # coturn's shared secret is the one the nodes derive TURN credentials from.
        assert env["PREAU_TURN_SECRET"].startswith("${TURN_SECRET")
    templates = {p.name for p in (ROOT / "deploy" / "janus").glob("*.jcfg.in")}
    assert templates == {"janus.jcfg.in", "janus.plugin.videoroom.jcfg.in",
                         "janus.transport.http.jcfg.in"}
    assert "JANUS_SECRET=" in (ROOT / "deploy" / "env.example").read_text()


def test_monitoring_is_an_optional_profile_provisioned_from_deploy() -> None:
    services = COMPOSE["services"]
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"], name
        # Reachable from the host only, never from the outside.
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])
    for service in services.values():  # the default deployment does not need them
        assert "prometheus" not in service.get("depends_on", {}) or service is services["grafana"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in services["prometheus"]["volumes"]}
    assert mounts["./deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert "/etc/prometheus/alerts.yml" in config["rule_files"]
    [job] = config["scrape_configs"]
    # Every node serves its metrics port on the compose network, unpublished.
    port = {COMPOSE["services"][n]["environment"]["PREAU_METRICS_PORT"] for n in NODES}
    assert port == {"9464"}
    assert job["static_configs"][0]["targets"] == [f"{n}:9464" for n in NODES]
    for node in NODES:
        assert all("9464" not in p for p in services[node].get("ports", []))
    grafana = {m.split(":")[0]: m.split(":")[1] for m in services["grafana"]["volumes"]}
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    provider = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "preau.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "GRAFANA_ADMIN_PASSWORD=" in (ROOT / "deploy" / "env.example").read_text()
