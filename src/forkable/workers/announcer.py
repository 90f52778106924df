"""Announcing a queued generation on the shared queue, in the transaction that queued it."""

from __future__ import annotations

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.orm import Session

from forkable.workers.engine import GENERATION_TASK, GENERATIONS_QUEUE


class QueueAnnouncer:
    """Defers "work on generation X" on the transaction's own connection: the message exists
    if and only if the row it names was committed queued.

    Each message carries the generation's id as its queueing lock, so at most one waits per
    generation: announcing it again (a sweep, a retry) while one waits changes nothing.
    """

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    def announce(self, session: Session, generation_id: str) -> None:
        connection = session.connection().connection.driver_connection
        if connection is None:  # only a closed connection has none
            raise RuntimeError("announcing needs the transaction's open connection")
        deferrer = self.app.configure_task(
            GENERATION_TASK,
            queue=GENERATIONS_QUEUE,
            queueing_lock=generation_id,
            connection=connection,
        )
        # A savepoint, so that a message already waiting is refused without aborting the rest
        # of the transaction. Plain statements on purpose: psycopg's `transaction()` would
        # commit on its own if no statement had begun the session's transaction yet.
        connection.execute("SAVEPOINT forkable_announce")
        try:
            deferrer.defer(generation_id=generation_id)
        except AlreadyEnqueued:
            connection.execute("ROLLBACK TO SAVEPOINT forkable_announce")
        else:
            connection.execute("RELEASE SAVEPOINT forkable_announce")

    def after_commit(self) -> None:
        pass  # PostgreSQL's NOTIFY, sent at the commit, wakes the workers
