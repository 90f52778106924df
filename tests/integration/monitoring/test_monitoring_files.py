"""deploy/monitoring: rules and dashboard use only metrics we export; promtool accepts them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import ROOT, missing_service
from tests.support.journey import Monitored, journey, samples

MONITORING = ROOT / "deploy" / "monitoring"
METRIC = re.compile(r"\bforkable_[a-z0-9_]+\b")


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def names_used() -> dict[str, set[str]]:
    rules = set(METRIC.findall((MONITORING / "alerts.yml").read_text()))
    panels = {name for query in dashboard_queries() for name in METRIC.findall(query)}
    return {"alerts.yml": rules, "grafana-dashboard.json": panels}


def test_rules_and_dashboard_use_only_exported_metrics(monitored: Monitored) -> None:
    exported = {name for name, _labels in samples(journey(monitored))}
    for source, used in names_used().items():
        assert used, source
        assert used <= exported, (
            f"{source} uses metrics /metrics does not export: {used - exported}"
        )


def test_the_rules_cover_what_operators_asked_for() -> None:
    rules = (MONITORING / "alerts.yml").read_text()
    for metric in (
        "forkable_http_requests_total",  # error rate
        "forkable_http_request_duration_seconds_bucket",  # p95 latency
        "forkable_generation_failures_total",  # generation failure ratio
        "forkable_provider_circuit_open",
        "forkable_generations_refused_total",  # spend cap reached
        "forkable_webhook_deliveries_total",  # signature failures
        "forkable_logins_total",  # failed logins
        "forkable_job_queue_oldest_age_seconds",
        "forkable_ready",
    ):
        assert metric in rules


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing_service("promtool not installed (Debian package `prometheus`)")
    assert found is not None
    return found


def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(MONITORING / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    # promtool insists the token file exists: point the config at one.
    token = tmp_path / "token"
    token.write_text("the-metrics-token")
    config = (MONITORING / "prometheus.yml").read_text()
    assert "credentials_file: /etc/prometheus/forkable-metrics-token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/forkable-metrics-token", str(token))
    )
    shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
    result = subprocess.run(
        [promtool(), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # Each panel query as a recording rule: promtool then checks its PromQL.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{number}", "expr": query}
                    for number, query in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["prometheus.yml", "alerts.yml", "grafana-dashboard.json"])
def test_the_monitoring_folder_is_complete(name: str) -> None:
    assert (MONITORING / name).is_file()
