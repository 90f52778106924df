"""How a queued generation reaches a worker: the seam between its row and its delivery.

The row is the truth; an announcer only says "work on generation X". In one process (the
embedded default) the runner's threads find queued rows themselves and only need waking. With
workers elsewhere, the message goes through the queue engine inside the transaction that left
the row queued, so the two commit together or not at all.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session


class Announcer(Protocol):
    def announce(self, session: Session, generation_id: str) -> None:
        """Inside the transaction that leaves the generation queued; delivered if it commits."""

    def after_commit(self) -> None:
        """Once such a transaction has committed: wake whoever waits in this process."""


class Silent:
    """For tools that queue nothing (a worker that only sweeps, tests of single steps)."""

    def announce(self, session: Session, generation_id: str) -> None:
        pass

    def after_commit(self) -> None:
        pass
