"""Several evaluators at once (workers, a cron job) send each notice exactly once."""

from __future__ import annotations

import shutil
import threading

from tests.support.alerting import KeptChannel, shipped

from forkable.db import Database
from forkable.monitoring.alerts.evaluator import Evaluator
from forkable.services import Services

EVALUATORS = 4
ROUNDS = 3


def race(evaluators: list[Evaluator]) -> None:
    """Start every evaluation at the same moment, each from its own thread."""
    barrier = threading.Barrier(len(evaluators))
    errors: list[BaseException] = []

    def run(evaluator: Evaluator) -> None:
        try:
            barrier.wait(timeout=10)
            evaluator.evaluate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in evaluators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_evaluators_racing_notify_once_per_change(
    ready: Services, database_url: str, kept: KeptChannel
) -> None:
    data_dir = ready.settings.data_dir
    rule = shipped("readiness_failing", for_seconds=0)
    # One engine each, as separate processes would have.
    databases = [Database(database_url) for _ in range(EVALUATORS)]
    evaluators = [
        Evaluator(
            [rule],
            database=database,
            sites=ready.sites,
            data_dir=data_dir,
            channels=[kept],
            host=f"worker-{n}",
        )
        for n, database in enumerate(databases)
    ]
    try:
        for _ in range(ROUNDS):
            shutil.rmtree(data_dir)
            data_dir.write_text("a file where the data dir should be")
            race(evaluators)
            assert kept.kinds()[-1] == ("firing", None)
            race(evaluators)  # still firing everywhere: nothing new
            data_dir.unlink()
            data_dir.mkdir()
            race(evaluators)
            assert kept.kinds()[-1] == ("resolved", None)
        assert kept.kinds() == [("firing", None), ("resolved", None)] * ROUNDS
    finally:
        for database in databases:
            database.dispose()
