"""The shipped rules, a deployment's overrides, and every mistake reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.monitoring.alerts.rule import format_duration, parse_duration
from forkable.monitoring.alerts.rules import load_rules
from forkable.monitoring.alerts.signals import SIGNALS
from forkable.settings import SettingsError

SHIPPED = {
    "http_error_rate",
    "http_latency_p95",
    "generation_failure_ratio",
    "provider_circuit_open",
    "spend_cap_reached",
    "webhook_signature_failures",
    "failed_logins",
    "job_queue_age",
    "readiness_failing",
    "ledger_verify_failing",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_rules(path)
    return [problem.replace(f"{path}:", "") for problem in caught.value.problems]


def test_the_shipped_rules_cover_every_signal_with_sane_defaults() -> None:
    rules = {rule.name: rule for rule in load_rules()}
    assert set(rules) == SHIPPED
    assert {rule.signal for rule in rules.values()} == set(SIGNALS)
    latency = rules["http_latency_p95"]
    assert (latency.threshold, latency.window, latency.for_seconds) == (2.0, 300, 300)
    assert rules["ledger_verify_failing"].every == 900
    assert rules["generation_failure_ratio"].ignore_errors == ("blocked", "rejected")
    assert all(rule.enabled and rule.description for rule in rules.values())
    assert {name for name, rule in rules.items() if rule.per_site} == {
        "generation_failure_ratio",
        "spend_cap_reached",
        "ledger_verify_failing",
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30), (2.5, 2.5), ("45s", 45), ("5m", 300), ("1h30m", 5400), ("1d", 86400)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_durations_print_back_in_their_shortest_form() -> None:
    assert [format_duration(s) for s in (0, 45, 300, 7200, 86400, 90.5)] == [
        "0s",
        "45s",
        "5m",
        "2h",
        "1d",
        "90.5s",
    ]


def test_a_deployment_changes_keys_turns_rules_off_and_adds_its_own(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[rules.failed_logins]
threshold = 200
window = "10m"

[rules.http_latency_p95]
enabled = false

[rules.generation_failures_critical]
signal = "generation_failure_ratio"
description = "Most generations fail."
severity = "critical"
threshold = 0.8
per_site = true
""",
    )
    rules = {rule.name: rule for rule in load_rules(path)}
    logins = rules["failed_logins"]
    assert (logins.threshold, logins.window, logins.cooldown) == (200, 600, 3600)
    assert logins.description.startswith("Failed logins")  # kept from the shipped rule
    assert not rules["http_latency_p95"].enabled
    added = rules["generation_failures_critical"]
    assert (added.signal, added.severity, added.window) == (
        "generation_failure_ratio",
        "critical",
        300,
    )


def test_every_mistake_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """[rules.failed_logins]
threshold = 5
windw = "5m"

[rules.mine]
signal = "cpu_load"
description = "Not a signal we know."
threshold = 1

[rules.spend_cap_reached]
per_site = false

[rules.readiness_failing]
for = "soon"
severity = "page"

[rules.Bad-Name]
threshold = 1
""",
    )
    assert problems(path) == [
        "3: rules.failed_logins.windw: unknown key (see the rules table in docs/operations.md)",
        "6: rules.mine.signal: unknown signal 'cpu_load' (known: failed_logins, "
        "generation_failure_ratio, http_error_rate, http_latency_p95, job_queue_age, "
        "ledger_verify_failing, provider_circuit_open, readiness_failing, "
        "spend_cap_reached, webhook_signature_failures)",
        "11: rules.spend_cap_reached.per_site: spend_cap_reached is measured per site only: "
        "set per_site = true",
        "14: rules.readiness_failing.for: 'soon' is not a duration "
        "(use seconds or e.g. '30s', '5m', '2h')",
        "15: rules.readiness_failing.severity: Input should be 'info', 'warning' or 'critical'",
        "17: rules.Bad-Name: rule names are lowercase letters, digits and underscores",
    ]


def test_a_new_rule_needs_a_description_and_a_threshold(tmp_path: Path) -> None:
    path = write(tmp_path, '[rules.failed_logins_burst]\nsignal = "failed_logins"\n')
    assert problems(path) == [
        "1: rules.failed_logins_burst.description: required key is missing",
        "1: rules.failed_logins_burst.threshold: required key is missing",
    ]


def test_other_tables_and_broken_toml_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[rule.failed_logins]\nthreshold = 5\n")
    assert problems(path) == ["1: rule: unknown key (rules go in [rules.NAME] tables)"]
    path = write(tmp_path, "[rules.failed_logins]\nthreshold = \n")
    [problem] = problems(path)
    assert problem.startswith("2: invalid TOML: ")


def test_a_missing_rules_file_is_one_line() -> None:
    with pytest.raises(SettingsError) as caught:
        load_rules(Path("/nonexistent/alerts.toml"))
    assert caught.value.problems == [
        "/nonexistent/alerts.toml: cannot read the alert rules: No such file or directory"
    ]
