"""docs/runbooks: a page for every shipped rule, signal, Prometheus alert and /readyz component.

The names come from the rules file, the signals table, deploy/monitoring/alerts.yml and the
readiness code, so a new rule or alert without its page fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from tests.conftest import ROOT

from forkable.db import Database
from forkable.monitoring.alerts.rule import RUNBOOKS, Rule
from forkable.monitoring.alerts.rules import DEFAULT_RULES_FILE, load_rules
from forkable.monitoring.alerts.signals import SIGNALS
from forkable.observability.readiness import core_components
from forkable.settings import SettingsError

PAGES = ROOT / RUNBOOKS
INDEX = PAGES / "README.md"
ALERTS_YML = ROOT / "deploy" / "monitoring" / "alerts.yml"
LINK = re.compile(r"\]\(([^)\s]+)\)")
RUNBOOK_URL = re.compile(r"^docs/runbooks/([a-z0-9_]+)\.md$")


def shipped_rule_names() -> list[str]:
    rules = tomllib.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))["rules"]
    return sorted(rules)


def prometheus_alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS_YML.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def page_text(name: str) -> str:
    page = PAGES / f"{name}.md"
    assert page.is_file(), f"no runbook page {page.relative_to(ROOT)}"
    return page.read_text(encoding="utf-8")


def header(text: str, label: str) -> str:
    """The page's `- LABEL: ...` line, which names the alerts that link to it."""
    found = re.search(rf"^- {label}: (.*)$", text, re.MULTILINE)
    assert found, f"no '- {label}:' line"
    return found.group(1)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {slug(heading) for heading in headings}


@pytest.mark.parametrize("name", shipped_rule_names())
def test_every_shipped_rule_has_its_page(name: str) -> None:
    text = page_text(name)
    assert header(text, "Built-in rule").startswith(f"`{name}`")
    assert f"[{name}]({name}.md)" in INDEX.read_text(encoding="utf-8")


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_every_signal_has_the_page_added_rules_link_to(signal: str) -> None:
    rule = Rule.model_validate(
        {"name": "added", "signal": signal, "description": "d", "threshold": 1}
    )
    assert rule.runbook_link == f"docs/runbooks/{signal}.md"
    assert (ROOT / rule.runbook_link).is_file()


def test_every_shipped_rule_links_its_own_page() -> None:
    for rule in load_rules():
        assert rule.runbook_link == f"docs/runbooks/{rule.name}.md"


@pytest.mark.parametrize("alert", prometheus_alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_prometheus_alert_has_a_runbook_url_to_a_page_naming_it(
    alert: dict[str, object],
) -> None:
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    url = annotations.get("runbook_url")
    assert isinstance(url, str), f"{alert['alert']} has no annotations.runbook_url"
    match = RUNBOOK_URL.match(url)
    assert match, f"{alert['alert']}: runbook_url {url!r} is not docs/runbooks/NAME.md"
    text = page_text(match.group(1))
    assert header(text, "Prometheus alert").startswith(f"`{alert['alert']}`")


def test_pages_name_only_prometheus_alerts_that_link_to_them() -> None:
    """Both directions agree: a page claiming an alert is the page that alert links to."""
    linked = {
        str(alert["alert"]): str(alert["annotations"]["runbook_url"])  # type: ignore[index]
        for alert in prometheus_alerts()
    }
    for page in sorted(PAGES.glob("*.md")):
        if page == INDEX:
            continue
        claimed = re.findall(r"`(Forkable\w+)`", header(page.read_text(), "Prometheus alert"))
        for alert in claimed:
            assert linked.get(alert) == f"docs/runbooks/{page.name}", (alert, page.name)


def test_a_built_in_rule_and_the_alert_for_the_same_condition_share_the_page() -> None:
    shared = {
        "ForkableHighErrorRate": "http_error_rate",
        "ForkableJobQueueStuck": "job_queue_age",
        "ForkableNotReady": "readiness_failing",
    }
    urls = {str(a["alert"]): a["annotations"]["runbook_url"] for a in prometheus_alerts()}  # type: ignore[index]
    for alert, rule in shared.items():
        assert urls[alert] == f"docs/runbooks/{rule}.md"


def test_every_page_is_in_the_index() -> None:
    index = INDEX.read_text(encoding="utf-8")
    for page in sorted(PAGES.glob("*.md")):
        if page != INDEX:
            assert f"]({page.name})" in index, f"{page.name} is not linked from README.md"


def test_every_relative_link_of_the_runbooks_resolves() -> None:
    for page in sorted(PAGES.glob("*.md")):
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.is_file(), f"{page.name}: {target} does not exist"
            if anchor:
                assert anchor in anchors(file), f"{page.name}: {target}: no such heading"


def test_every_readiness_component_has_its_section(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'ready.db'}")
    try:
        names = set(core_components(database, tmp_path)) | set(
            core_components(database, tmp_path, lambda: None)
        )
    finally:
        database.dispose()
    assert names  # the readiness code still names its components
    sections = anchors(PAGES / "readiness_failing.md")
    for name in names:
        assert name in sections, f"readiness_failing.md has no '## {name}' section"


def test_a_deployment_rule_may_name_its_own_runbook(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(
        "[rules.mostly_failing]\n"
        'signal = "generation_failure_ratio"\n'
        'description = "Most generations fail."\n'
        "threshold = 0.8\n"
        "per_site = true\n"
        'runbook = "https://wiki.example.com/forkable/mostly-failing"\n'
        "\n"
        "[rules.job_queue_age]\n"
        "threshold = 600\n",
        encoding="utf-8",
    )
    rules = {rule.name: rule for rule in load_rules(path)}
    assert (
        rules["mostly_failing"].runbook_link == "https://wiki.example.com/forkable/mostly-failing"
    )
    # Changing a shipped rule keeps its page.
    assert rules["job_queue_age"].runbook_link == "docs/runbooks/job_queue_age.md"


def test_an_empty_runbook_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('[rules.failed_logins]\nthreshold = 9\nrunbook = ""\n', encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_rules(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:3: rules.failed_logins.runbook: ")
