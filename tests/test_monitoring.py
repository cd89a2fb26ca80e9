"""The alert rules and the Grafana dashboard of deploy/ (issue 16, item 2).

``promtool check rules`` (Debian's ``prometheus`` package) validates the
rules; every query of the rules and the dashboard names series the server
exports (preau/server/metrics.py), so a renamed metric cannot leave a blind panel.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import preau.server.metrics  # noqa: F401 (registers every series)
from tests.needs import missing

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "preau.json"
NAME = re.compile(r"\b(preau_[a-z0-9_]+)")


def exported() -> set[str]:
    """Every sample name the server can export (with _total, _bucket, …)."""
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        names |= set(REGISTRY._collector_to_names[collector])
    return {n for n in names if n.startswith("preau_")}


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool (apt-get install prometheus)")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_cover_what_an_operator_acts_on() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    by_name = {r["alert"]: r for r in rules}
    for needed in ("PreauNodeCutFromRedis", "PreauStoreDown", "PreauStoreSlow",
                   "PreauSlowConsumerCutsRising", "PreauHttpErrors"):
        assert needed in by_name
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        for name in NAME.findall(rule["expr"]):
            assert name in exported(), f"{rule['alert']}: {name} is not exported"


def test_dashboard_parses_and_each_panel_queries_exported_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "preau-overview"
    assert dashboard["panels"]
    names = exported()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            found = NAME.findall(target["expr"])
            assert found, f"{panel['title']}: no Préau series in {target['expr']!r}"
            for name in found:
                assert name in names, f"{panel['title']}: {name} is not exported"
        assert panel["datasource"]["uid"] == "preau-prometheus"
    source = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
        .read_text())
    assert source["datasources"][0]["uid"] == "preau-prometheus"


@pytest.mark.parametrize("name", sorted(exported()))
def test_names_follow_prometheus_conventions(name: str) -> None:
    assert re.fullmatch(r"preau_[a-z0-9_]+", name)
    base = re.sub(r"_(bucket|count|sum|created|total)$", "", name)
    if "latency" in base or base.endswith("_seconds"):
        assert base.endswith("_seconds"), name
