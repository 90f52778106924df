"""The Metrics object: recording helpers, exposition and the snapshot alerting reads."""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.support.metrics import exported

from forkable.db.events import GenerationFinished, LedgerBooked, PurchasePaid
from forkable.observability.metrics import Metrics, fresh_multiprocess_dir


def test_two_apps_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.record_signup("a")
    assert exported(first)[("forkable_signups_total", (("site", "a"),))] == 1
    assert ("forkable_signups_total", (("site", "a"),)) not in exported(second)


def test_no_created_series_and_odd_methods_are_folded() -> None:
    metrics = Metrics()
    metrics.record_request("BREW", "/coffee", 418, 0.01)
    found = exported(metrics)
    assert not any(name.endswith("_created") for name, _ in found)
    labels = (("method", "other"), ("route", "/coffee"), ("status", "418"))
    assert found[("forkable_http_requests_total", labels)] == 1


def test_ledger_entries_become_token_counters() -> None:
    metrics = Metrics()
    metrics.record_facts(
        [
            LedgerBooked("s", "signup_bonus", 3, 0),
            LedgerBooked("s", "purchase", 20, 0),
            LedgerBooked("s", "admin_grant", 5, 0),
            LedgerBooked("s", "admin_grant", -2, 0),
            LedgerBooked("s", "generation_hold", 0, 1),
            LedgerBooked("s", "generation_capture", -1, -1),
            LedgerBooked("s", "generation_hold", 0, 2),
            LedgerBooked("s", "generation_void", 0, -2),
            LedgerBooked("s", "clawback", -20, 0),
            PurchasePaid("s", "eur", 1199),
        ]
    )
    found = exported(metrics)

    def get(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted({"site": "s", **labels}.items())))]

    assert get("forkable_tokens_granted_total", source="signup_bonus") == 3
    assert get("forkable_tokens_granted_total", source="purchase") == 20
    assert get("forkable_tokens_granted_total", source="admin_grant") == 5
    assert get("forkable_tokens_revoked_total", source="admin_grant") == 2
    assert get("forkable_tokens_revoked_total", source="clawback") == 20
    assert get("forkable_tokens_spent_total") == 1
    assert get("forkable_tokens_refunded_total") == 2
    assert get("forkable_purchases_total", currency="eur") == 1
    assert get("forkable_revenue_cents_total", currency="eur") == 1199


def test_snapshot_sums_what_alert_rules_read() -> None:
    metrics = Metrics()
    for status, seconds in [(200, 0.004), (200, 1.5), (500, 3.0), (404, 0.02)]:
        metrics.record_request("GET", "/x", status, seconds)
    metrics.record_request("GET", "/healthz", 200, 0.001)  # probes stay out
    metrics.record_login("s", "failure")
    metrics.record_login("t", "failure")
    metrics.record_login("s", "success")
    metrics.record_webhook("invalid_signature")
    metrics.record_webhook("credited")
    metrics.record_circuit("gemini:m", True)
    metrics.record_circuit("other:m", False)
    metrics.record_facts(
        [
            GenerationFinished("s", "gemini", None, "succeeded", None, 4.0, 0.039),
            GenerationFinished("s", "gemini", "kids", "failed", "down", 9.0, None),
        ]
    )
    metrics.record_refusal("s", "spend_cap")

    snapshot = metrics.snapshot()
    assert snapshot["http_requests_total"] == 4
    assert snapshot["http_errors_total"] == 1
    assert snapshot["http_requests_by_class"] == {"2xx": 2, "5xx": 1, "4xx": 1}
    buckets = dict(snapshot["http_request_duration_seconds_buckets"])
    assert buckets[0.005] == 1 and buckets[2.0] == 3 and buckets[math.inf] == 4
    assert snapshot["login_failures_total"] == 2
    assert snapshot["logins"]["s"] == {"failure": 1, "success": 1}
    assert snapshot["webhook_signature_failures_total"] == 1
    assert snapshot["open_circuits"] == ["gemini:m"]
    assert snapshot["generations"] == {"s": {"succeeded": 1, "failed": 1}}
    assert snapshot["generation_failures"] == {"s": {"down": 1}}
    assert snapshot["generations_refused"] == {"s": {"spend_cap": 1}}
    assert snapshot["provider_spend_usd"] == {"s": 0.039}


def test_an_empty_snapshot_still_has_the_inf_bucket() -> None:
    snapshot = Metrics().snapshot()
    assert snapshot["http_request_duration_seconds_buckets"] == [(math.inf, 0)]
    assert snapshot["http_requests_total"] == 0


def test_switched_off_records_nothing() -> None:
    metrics = Metrics(enabled=False)
    metrics.record_request("GET", "/", 200, 0.1)
    metrics.record_signup("s")
    metrics.warm("s", "usd")
    metrics.record_facts([LedgerBooked("s", "signup_bonus", 3, 0)])
    assert all(value == 0 for value in exported(metrics).values())
    assert metrics.snapshot()["http_requests_total"] == 0


def test_warm_creates_the_known_series_at_zero() -> None:
    metrics = Metrics()
    metrics.warm("s", "usd")
    found = exported(metrics)
    for outcome in ("success", "failure", "throttled"):
        assert found[("forkable_logins_total", (("outcome", outcome), ("site", "s")))] == 0
    assert found[("forkable_webhook_deliveries_total", (("outcome", "invalid_signature"),))] == 0


def test_the_multiprocess_folder_is_emptied_at_start(tmp_path: Path) -> None:
    folder = fresh_multiprocess_dir(tmp_path)
    (folder / "counter_123.db").write_bytes(b"stale")
    (folder / "keep.txt").write_text("not ours")
    assert fresh_multiprocess_dir(tmp_path) == folder
    assert not (folder / "counter_123.db").exists()
    assert (folder / "keep.txt").exists()


def test_a_worker_file_still_being_created_does_not_break_a_scrape(tmp_path: Path) -> None:
    # A starting worker creates its file empty and sizes it a moment later.
    folder = fresh_multiprocess_dir(tmp_path)
    (folder / "counter_999.db").touch()
    metrics = Metrics(enabled=True, multiprocess_dir=folder)

    text = metrics.exposition().decode()

    assert list(text_string_to_metric_families(text)) is not None
