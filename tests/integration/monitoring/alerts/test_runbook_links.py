"""A notice sent by the evaluator carries its runbook in every channel and in the log line."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import ROOT
from tests.integration.monitoring.alerts.conftest import BuildEvaluator
from tests.support.alerting import shipped
from tests.support.smtp import smtp_server

from forkable.monitoring.alerts.channels.email import EmailChannel
from forkable.monitoring.alerts.channels.slack import SlackChannel
from forkable.monitoring.alerts.channels.webhook import WebhookChannel
from forkable.monitoring.alerts.rules import load_rules
from forkable.services import Services
from forkable.testing.http import LoopbackServer, Reply

PAGE = "docs/runbooks/readiness_failing.md"


def break_data_dir(services: Services) -> None:
    data_dir = services.settings.data_dir
    shutil.rmtree(data_dir)
    data_dir.write_text("a file where the data dir should be")


def test_a_firing_alert_links_its_page_in_every_channel_and_the_log(
    ready: Services, build_evaluator: BuildEvaluator, caplog: pytest.LogCaptureFixture
) -> None:
    assert (ROOT / PAGE).is_file()
    break_data_dir(ready)
    with (
        LoopbackServer(lambda _request: Reply(204)) as hook,
        LoopbackServer(lambda _request: Reply(200, b"ok")) as slack,
        smtp_server() as (smtp_url, mailbox),
        caplog.at_level(logging.WARNING, logger="forkable.monitoring.alerts.evaluator"),
    ):
        evaluator = build_evaluator(
            shipped("readiness_failing", for_seconds=0),
            channels=[
                WebhookChannel(hook.url),
                SlackChannel(slack.url),
                EmailChannel(smtp_url, sender="alerts@example.com", recipients=["ops@example.com"]),
            ],
        )
        [outcome] = evaluator.evaluate()
    assert outcome.state == "firing"
    assert all(delivery.ok for delivery in outcome.deliveries), outcome.deliveries

    [webhook] = hook.recorded()
    assert webhook.json()["runbook"] == PAGE

    [slack_request] = slack.recorded()
    context = slack_request.json()["blocks"][-1]["elements"]
    assert {"type": "mrkdwn", "text": f"runbook: {PAGE}"} in context

    [mail] = mailbox.received
    body = mail.message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert f"Runbook: {PAGE}" in body.decode().splitlines()

    [record] = [r for r in caplog.records if getattr(r, "event", None) == "alert_firing"]
    assert record.getMessage().endswith(f"(runbook: {PAGE})")
    assert getattr(record, "runbook", None) == PAGE


def test_a_deployment_rule_carries_the_runbook_it_names(
    ready: Services, build_evaluator: BuildEvaluator, tmp_path: Path
) -> None:
    rules_file = tmp_path / "alerts.toml"
    rules_file.write_text(
        "[rules.data_dir_broken]\n"
        'signal = "readiness_failing"\n'
        'description = "The data dir or the database fails."\n'
        "threshold = 1\n"
        'runbook = "https://wiki.example.com/ops/data-dir"\n',
        encoding="utf-8",
    )
    [rule] = [rule for rule in load_rules(rules_file) if rule.name == "data_dir_broken"]
    break_data_dir(ready)
    with LoopbackServer(lambda _request: Reply(204)) as hook:
        build_evaluator(rule, channels=[WebhookChannel(hook.url)]).evaluate()
    [webhook] = hook.recorded()
    assert webhook.json()["rule"] == "data_dir_broken"
    assert webhook.json()["runbook"] == "https://wiki.example.com/ops/data-dir"


def test_every_readyz_component_has_a_section_in_the_readiness_page(client: TestClient) -> None:
    components = client.get("/readyz").json()["components"]
    assert {"database", "storage"} <= set(components)
    page = (ROOT / PAGE).read_text(encoding="utf-8").splitlines()
    for name in components:
        assert f"## {name}" in page, f"{PAGE} has no '## {name}' section"
