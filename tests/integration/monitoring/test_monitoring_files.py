"""deploy/monitoring: rules and dashboard use only metrics we export; promtool accepts them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import ROOT, missing_service
from tests.support.journey import Monitored, journey, samples

MONITORING = ROOT / "deploy" / "monitoring"
METRIC = re.compile(r"\bforkable_[a-z0-9_]+\b")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return loaded


def dashboard_queries() -> list[str]:
    # Rows hold no queries of their own (an open row's panels follow it in the list).
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def names_used() -> dict[str, set[str]]:
    rules = set(METRIC.findall((MONITORING / "alerts.yml").read_text()))
    panels = {name for query in dashboard_queries() for name in METRIC.findall(query)}
    return {"alerts.yml": rules, "grafana-dashboard.json": panels}


# The sample names a family of each type is exposed as.
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def exported_names(text: str) -> set[str]:
    """Every sample name of a scrape, and those of the families it declares without samples.

    A labelled metric has no sample until something records it (Redis calls on a site without
    Redis, media errors when none failed), but /metrics still declares it (`# TYPE`).
    """
    declared = {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",))
    }
    return declared | {name for name, _labels in samples(text)}


def test_rules_and_dashboard_use_only_exported_metrics(monitored: Monitored) -> None:
    exported = exported_names(journey(monitored))
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
        "forkable_process_resident_memory_bytes",  # memory near the host's limit
        "forkable_host_memory_limit_bytes",
        "forkable_process_open_fds",
        "forkable_db_pool_capacity",  # pool exhausted
        "forkable_db_pool_timeouts_total",
        "forkable_db_pool_wait_seconds_bucket",
        "forkable_db_query_duration_seconds_bucket",  # database slow
        "forkable_db_sqlite_busy_wait_seconds_bucket",
        "forkable_db_sqlite_busy_timeouts_total",
        "forkable_media_errors_total",
        "forkable_redis_errors_total",
        "forkable_redis_call_duration_seconds_bucket",
    ):
        assert metric in rules


def test_every_rule_states_its_severity_as_its_runbook_does() -> None:
    # An operator reads the severity on the page before deciding whether to get up.
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    for rule in (rule for group in groups for rule in group["rules"]):
        severity = rule["labels"]["severity"]
        assert severity in {"warning", "critical"}, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, rule["alert"]
        page = (ROOT / rule["annotations"]["runbook_url"]).read_text()
        assert f"`{rule['alert']}` ({severity}" in page, rule["alert"]


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


def test_the_alert_rules_pass_their_unit_tests() -> None:
    # alerts.test.yml feeds the rules made-up series and names what must fire, and when.
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_unit_tests_cover_the_machine_and_database_alerts() -> None:
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts.test.yml").read_text()))
    assert {"ForkableMemoryNearLimit", "ForkableDatabasePoolExhausted", "ForkableDatabaseSlow"} <= (
        tested
    )


def test_the_dashboard_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    taken: dict[tuple[int, int], int] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, (panel["title"], taken[(x, y)])
                taken[(x, y)] = panel["id"]
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], panel["title"]


def test_the_dashboard_has_the_machine_and_database_row() -> None:
    panels = dashboard()["panels"]
    [row] = [panel for panel in panels if panel["type"] == "row"]
    assert row["title"] == "Machine and database"
    assert not row["collapsed"]  # its panels stay in the top-level list, where queries are read
    below = [panel for panel in panels if panel["gridPos"]["y"] > row["gridPos"]["y"]]
    used = {
        name
        for panel in below
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    for family in (
        "forkable_process_cpu_seconds_total",
        "forkable_process_resident_memory_bytes",
        "forkable_host_memory_limit_bytes",
        "forkable_sqlite_memory_bytes",
        "forkable_process_open_fds",
        "forkable_python_gc_collections_total",
        "forkable_python_gc_pause_seconds_bucket",
        "forkable_db_pool_connections",
        "forkable_db_pool_capacity",
        "forkable_db_pool_wait_seconds_bucket",
        "forkable_db_query_duration_seconds_bucket",
        "forkable_db_sqlite_busy_wait_seconds_bucket",
        "forkable_redis_call_duration_seconds_bucket",
        "forkable_redis_errors_total",
        "forkable_media_call_duration_seconds_bucket",
        "forkable_media_errors_total",
    ):
        assert family in used, family


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


@pytest.mark.parametrize(
    "name", ["prometheus.yml", "alerts.yml", "alerts.test.yml", "grafana-dashboard.json"]
)
def test_the_monitoring_folder_is_complete(name: str) -> None:
    assert (MONITORING / name).is_file()
