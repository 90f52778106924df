"""`forkable alerts test` and `forkable alerts check`, run as an operator (or cron) would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.alerting import make_generations
from tests.support.smtp import smtp_server

from forkable.services import Services
from forkable.testing.http import LoopbackServer, Reply


def forkable(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forkable", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=120,
        check=False,
    )


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda _r: Reply(200, b"ok")) as server:
        yield server


def test_alerts_test_reports_one_line_per_channel(receiver: LoopbackServer) -> None:
    created = Reply(201, b'{"sid": "SM1"}', {"content-type": "application/json"})
    with (
        LoopbackServer(lambda _r: Reply(500, b"it broke")) as broken,
        LoopbackServer(lambda _r: created) as twilio,
        smtp_server() as (smtp_url, mailbox),
    ):
        result = forkable(
            "alerts",
            "test",
            env={
                "FORKABLE_ALERT_SLACK_WEBHOOK_URL": f"{receiver.url}/services/T/B/x",
                "FORKABLE_ALERT_WEBHOOK_URL": f"{broken.url}/hook",
                "FORKABLE_ALERT_SMTP_URL": smtp_url,
                "FORKABLE_ALERT_EMAIL_FROM": "alerts@example.com",
                "FORKABLE_ALERT_EMAIL_TO": "ops@example.com",
                "TWILIO_ACCOUNT_SID": "AC123",
                "TWILIO_AUTH_TOKEN": "token",
                "TWILIO_FROM": "+15550001111",
                "FORKABLE_ALERT_SMS_TO": "+15550002222",
                "FORKABLE_TWILIO_API_BASE": twilio.url,
            },
        )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "slack: ok",
        "webhook: error: HTTP 500: it broke",
        "email: ok",
        "sms: ok",
    ]
    assert receiver.recorded()[0].json()["text"].startswith(":information_source: [TEST] test")
    assert len(broken.recorded()) == 2  # retried once
    assert mailbox.received[0].message["Subject"] == "[TEST] test (info)"
    assert twilio.recorded()[0].path == "/2010-04-01/Accounts/AC123/Messages.json"


def test_alerts_test_exits_0_when_every_channel_works(receiver: LoopbackServer) -> None:
    result = forkable("alerts", "test", env={"FORKABLE_ALERT_WEBHOOK_URL": receiver.url})
    assert (result.returncode, result.stdout) == (0, "webhook: ok\n")
    assert receiver.recorded()[0].json()["status"] == "test"


def test_alerts_test_without_channels_says_what_to_set() -> None:
    result = forkable("alerts", "test", env={})
    assert result.returncode == 1
    assert result.stderr.startswith("error: no alert channel is configured: set ")


def test_alerts_check_prints_states_notifies_once_and_agrees_across_runs(
    ready: Services, database_url: str, sites_dir: Path, receiver: LoopbackServer
) -> None:
    site = ready.sites.get("coloringbook")
    assert site is not None
    cap = site.manifest.limits.daily_spend_cap_usd
    make_generations(ready, "coloringbook", count=1, outcome="succeeded", cost_usd=cap)
    env = {
        "FORKABLE_DATABASE_URL": database_url,
        "FORKABLE_DATA_DIR": str(ready.settings.data_dir),
        "FORKABLE_SITES": str(sites_dir),
        "FORKABLE_ALERT_WEBHOOK_URL": receiver.url,
    }

    first = forkable("alerts", "check", env=env)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    states = {line.split()[1]: line.split()[0] for line in lines if not line.startswith(" ")}
    assert states["spend_cap_reached:coloringbook"] == "firing"
    assert states["spend_cap_reached:pencilsketch"] == "ok"
    assert states["job_queue_age"] == "ok"
    assert states["readiness_failing"] == "ok"
    assert states["ledger_verify_failing:coloringbook"] == "ok"
    # Process-local rules are the serving process's job.
    assert states["http_error_rate"] == states["failed_logins"] == "n/a"
    assert any("measured by the serving process only" in line for line in lines)
    assert "         -> notified firing: webhook: ok" in lines
    [notice] = receiver.recorded()
    assert notice.json()["rule"] == "spend_cap_reached"
    assert notice.json()["site_id"] == "coloringbook"

    again = forkable("alerts", "check", env=env)
    assert again.returncode == 0
    assert "firing" in again.stdout and "-> notified" not in again.stdout
    assert len(receiver.recorded()) == 1  # the state in the database remembered

    strict = forkable("alerts", "check", "--fail-if-firing", env=env)
    assert strict.returncode == 2
