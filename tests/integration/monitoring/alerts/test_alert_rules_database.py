"""Rules measured from the database fire once, stay quiet while firing, remind, and resolve."""

from __future__ import annotations

import shutil
from datetime import timedelta

from sqlalchemy import select, text
from tests.integration.monitoring.alerts.conftest import BuildEvaluator
from tests.support.alerting import Clock, KeptChannel, finish, make_generations, shipped

from forkable.db import Database
from forkable.monitoring.alerts.evaluator import Evaluator, Outcome
from forkable.monitoring.alerts.process import ProcessSnapshot
from forkable.monitoring.alerts.rule import Rule
from forkable.monitoring.models import AlertState
from forkable.providers.breaker import CircuitBreaker
from forkable.providers.resolver import ProviderResolver
from forkable.services import Services


def by_key(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {outcome.key: outcome for outcome in outcomes}


def stored_state(services: Services, key: str) -> str | None:
    with services.database.session() as session:
        return session.scalar(select(AlertState.state).where(AlertState.key == key))


def test_generation_failures_fire_once_remind_after_the_cool_down_and_resolve(
    ready: Services, build_evaluator: BuildEvaluator, clock: Clock, kept: KeptChannel
) -> None:
    evaluator = build_evaluator(shipped("generation_failure_ratio", cooldown=600))
    make_generations(ready, "coloringbook", count=4, outcome="failed", reason="down")
    make_generations(ready, "coloringbook", count=1, outcome="succeeded")
    # Photos the provider refused are the visitor's business, not an outage.
    make_generations(ready, "coloringbook", count=3, outcome="failed", reason="blocked")
    make_generations(ready, "pencilsketch", count=5, outcome="succeeded")

    outcomes = by_key(evaluator.evaluate())
    firing = outcomes["generation_failure_ratio:coloringbook"]
    assert firing.state == "firing"
    assert firing.value == 0.8
    assert firing.summary == "4 of 5 generations failed in the last 15 min (down: 4)"
    assert outcomes["generation_failure_ratio:pencilsketch"].state == "ok"
    assert outcomes["generation_failure_ratio:cartoonavatar"].value is None  # no traffic
    assert kept.kinds() == [("firing", "coloringbook")]
    alert = kept.alerts[0]
    assert alert.severity == "warning" and alert.threshold == 0.25 and alert.host == "test-host"
    assert stored_state(ready, "generation_failure_ratio:coloringbook") == "firing"

    evaluator.evaluate()
    assert len(kept.alerts) == 1  # still firing: no repeat

    clock.advance(601)  # past the cool-down, the failures still inside the 15-minute window
    assert by_key(evaluator.evaluate())["generation_failure_ratio:coloringbook"].notice
    evaluator.evaluate()
    assert kept.kinds() == [("firing", "coloringbook"), ("reminder", "coloringbook")]

    clock.advance(15 * 60)  # the failures leave the window
    resolved = by_key(evaluator.evaluate())["generation_failure_ratio:coloringbook"]
    assert resolved.state == "ok"
    evaluator.evaluate()
    assert kept.kinds()[2:] == [("resolved", "coloringbook")]
    assert kept.alerts[2].since == kept.alerts[0].since  # "had been firing since"
    assert stored_state(ready, "generation_failure_ratio:coloringbook") == "ok"


def test_old_queued_jobs_fire_and_resolve_when_the_queue_drains(
    ready: Services, build_evaluator: BuildEvaluator, clock: Clock, kept: KeptChannel
) -> None:
    evaluator = build_evaluator(shipped("job_queue_age"))
    queued = make_generations(ready, "cartoonavatar", count=2, outcome="queued")
    assert by_key(evaluator.evaluate())["job_queue_age"].state == "ok"

    clock.advance(301)
    outcome = by_key(evaluator.evaluate())["job_queue_age"]
    assert outcome.state == "firing"
    assert outcome.value is not None and outcome.value > 300
    assert "of 2 queued generations on cartoonavatar has waited 5 min" in outcome.summary
    evaluator.evaluate()
    assert kept.kinds() == [("firing", None)]

    clock.advance(3600)  # the default cool-down
    evaluator.evaluate()
    assert kept.kinds()[-1] == ("reminder", None)

    for generation_id in queued:
        finish(ready, generation_id, "succeeded")
    assert by_key(evaluator.evaluate())["job_queue_age"].state == "ok"
    evaluator.evaluate()
    assert kept.kinds() == [("firing", None), ("reminder", None), ("resolved", None)]


def test_the_spend_cap_fires_for_its_site_and_resolves_at_midnight(
    ready: Services, build_evaluator: BuildEvaluator, clock: Clock, kept: KeptChannel
) -> None:
    site = ready.sites.get("coloringbook")
    assert site is not None
    cap = site.manifest.limits.daily_spend_cap_usd
    evaluator = build_evaluator(shipped("spend_cap_reached", cooldown=60))
    make_generations(ready, "coloringbook", count=1, outcome="failed", cost_usd=cap * 0.6)
    assert by_key(evaluator.evaluate())["spend_cap_reached:coloringbook"].state == "ok"

    make_generations(ready, "coloringbook", count=1, outcome="succeeded", cost_usd=cap * 0.4)
    outcome = by_key(evaluator.evaluate())["spend_cap_reached:coloringbook"]
    assert outcome.state == "firing"
    assert outcome.summary == f"${cap:,.2f} of the ${cap:,.2f} daily cap spent today (100%)"
    assert by_key(evaluator.evaluate())["spend_cap_reached:pencilsketch"].state == "ok"
    assert kept.kinds() == [("firing", "coloringbook")]

    clock.advance(61)
    evaluator.evaluate()
    evaluator.evaluate()
    assert kept.kinds() == [("firing", "coloringbook"), ("reminder", "coloringbook")]

    next_midnight = (clock.now + timedelta(days=1)).replace(hour=0, minute=0, second=1)
    clock.advance((next_midnight - clock.now).total_seconds())
    evaluator.evaluate()
    evaluator.evaluate()
    assert kept.kinds()[-1] == ("resolved", "coloringbook")
    assert len(kept.alerts) == 3


def test_a_tampered_ledger_fires_and_verify_runs_at_most_every_fifteen_minutes(
    ready: Services, build_evaluator: BuildEvaluator, clock: Clock, kept: KeptChannel
) -> None:
    evaluator = build_evaluator(shipped("ledger_verify_failing", cooldown=900))
    make_generations(ready, "pencilsketch", count=2, outcome="succeeded")
    assert by_key(evaluator.evaluate())["ledger_verify_failing:pencilsketch"].state == "ok"

    with ready.database.transaction() as session:
        session.execute(text("UPDATE token_accounts SET balance = balance + 7"))
    clock.advance(15 * 60)
    outcome = by_key(evaluator.evaluate())["ledger_verify_failing:pencilsketch"]
    assert outcome.state == "firing"
    assert "cached balance" in outcome.summary
    assert kept.kinds() == [("firing", "pencilsketch")]

    clock.advance(15 * 60)  # verify runs again, finds it still broken: one reminder
    evaluator.evaluate()
    assert kept.kinds()[-1] == ("reminder", "pencilsketch")

    with ready.database.transaction() as session:
        session.execute(text("UPDATE token_accounts SET balance = balance - 7"))
    clock.advance(60)  # too soon for the heavy check: last result stands, nothing is sent
    cached = by_key(evaluator.evaluate())["ledger_verify_failing:pencilsketch"]
    assert cached.state == "firing" and cached.notice is None

    clock.advance(15 * 60)
    evaluator.evaluate()
    evaluator.evaluate()
    assert kept.kinds() == [
        ("firing", "pencilsketch"),
        ("reminder", "pencilsketch"),
        ("resolved", "pencilsketch"),
    ]


def test_an_open_provider_circuit_fires_and_resolves_when_it_closes(
    ready: Services, build_evaluator: BuildEvaluator, kept: KeptChannel
) -> None:
    resolver = ProviderResolver(
        ready.settings,
        plugins={},
        breaker_factory=lambda: CircuitBreaker(failure_threshold=1, reset_seconds=3600),
    )
    breaker = resolver.breaker("gemini:gemini-2.5-flash-image")
    evaluator = build_evaluator(shipped("provider_circuit_open"), resolver=resolver)
    assert by_key(evaluator.evaluate())["provider_circuit_open"].state == "ok"

    breaker.record_failure()
    outcome = by_key(evaluator.evaluate())["provider_circuit_open"]
    assert outcome.state == "firing"
    assert outcome.summary == "open circuits: gemini:gemini-2.5-flash-image"
    evaluator.evaluate()

    breaker.record_success()
    evaluator.evaluate()
    evaluator.evaluate()
    assert kept.kinds() == [("firing", None), ("resolved", None)]

    # A cron job has no breakers of its own: the rule is not measurable there, not "ok".
    cron = build_evaluator(shipped("provider_circuit_open"))
    assert by_key(cron.evaluate())["provider_circuit_open"].state == "n/a"


def test_circuits_open_in_any_worker_count_through_the_merged_metrics(
    ready: Services, build_evaluator: BuildEvaluator, kept: KeptChannel
) -> None:
    class Merged:
        """Metrics merged over every worker: another worker's breaker is open."""

        open_circuits: tuple[str, ...] = ("gemini:gemini-2.5-flash-image",)

        def snapshot(self) -> ProcessSnapshot:
            return ProcessSnapshot(open_circuits=self.open_circuits)

    merged = Merged()
    resolver = ProviderResolver(ready.settings, plugins={})  # this worker's breakers: closed
    evaluator = build_evaluator(shipped("provider_circuit_open"), resolver=resolver, process=merged)
    assert by_key(evaluator.evaluate())["provider_circuit_open"].state == "firing"
    merged.open_circuits = ()
    assert by_key(evaluator.evaluate())["provider_circuit_open"].state == "ok"
    assert kept.kinds() == [("firing", None), ("resolved", None)]


def test_readiness_waits_for_its_duration_then_fires_and_resolves(
    ready: Services, build_evaluator: BuildEvaluator, clock: Clock, kept: KeptChannel
) -> None:
    data_dir = ready.settings.data_dir
    evaluator = build_evaluator(shipped("readiness_failing"))  # for = 1m
    shutil.rmtree(data_dir)
    data_dir.write_text("a file where the data dir should be")

    outcome = by_key(evaluator.evaluate())["readiness_failing"]
    assert outcome.state == "pending"
    assert outcome.summary.startswith("not ready: storage: data dir not writable")
    clock.advance(30)
    assert by_key(evaluator.evaluate())["readiness_failing"].state == "pending"
    assert kept.alerts == []

    clock.advance(31)
    assert by_key(evaluator.evaluate())["readiness_failing"].state == "firing"
    evaluator.evaluate()
    assert kept.kinds() == [("firing", None)]
    assert kept.alerts[0].since == clock.now - timedelta(seconds=61)  # when it began failing

    data_dir.unlink()
    data_dir.mkdir()
    evaluator.evaluate()
    evaluator.evaluate()
    assert kept.kinds() == [("firing", None), ("resolved", None)]


def test_a_pending_condition_that_clears_never_notifies(
    ready: Services, build_evaluator: BuildEvaluator, clock: Clock, kept: KeptChannel
) -> None:
    data_dir = ready.settings.data_dir
    evaluator = build_evaluator(shipped("readiness_failing"))
    shutil.rmtree(data_dir)
    data_dir.write_text("briefly broken")
    assert by_key(evaluator.evaluate())["readiness_failing"].state == "pending"
    data_dir.unlink()
    data_dir.mkdir()
    clock.advance(120)
    assert by_key(evaluator.evaluate())["readiness_failing"].state == "ok"
    assert kept.alerts == []


def test_an_unreachable_database_still_pages_from_memory(
    ready: Services, clock: Clock, kept: KeptChannel
) -> None:
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    rules: list[Rule] = [shipped("readiness_failing", for_seconds=0), shipped("job_queue_age")]
    evaluator = Evaluator(
        rules,
        database=broken,
        sites=ready.sites,
        data_dir=ready.settings.data_dir,
        channels=[kept],
        clock=clock,
    )
    try:
        outcomes = by_key(evaluator.evaluate())
        assert outcomes["readiness_failing"].state == "firing"
        assert outcomes["readiness_failing"].summary == "not ready: database: OperationalError"
        assert outcomes["job_queue_age"].state == "error"  # it needs the database
        evaluator.evaluate()
        assert kept.kinds() == [("firing", None)]  # de-duplicated in memory meanwhile
    finally:
        broken.dispose()


def test_a_notice_no_channel_took_is_sent_again_next_time(
    ready: Services, build_evaluator: BuildEvaluator, kept: KeptChannel
) -> None:
    down = KeptChannel(refuse=True)
    evaluator = build_evaluator(shipped("job_queue_age", threshold=0), channels=[down])
    first = by_key(evaluator.evaluate())["job_queue_age"]
    assert first.state == "firing"
    assert [str(d) for d in first.deliveries] == ["kept: error: refused on purpose"]

    evaluator.channels = [kept]
    assert by_key(evaluator.evaluate())["job_queue_age"].notice is not None
    evaluator.evaluate()
    assert kept.kinds() == [("firing", None)]
