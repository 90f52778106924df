"""Serve like `forkable serve`, but hang inside every webhook transaction before it commits.

The crash test kills this process there: the ledger entry has been written in the
transaction, the event record is not yet committed. Once there, the process writes the file
MARK, so the test kills it at that point and not at a guess.
Usage: paused_webhook_serve.py SITES PORT MARK
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from forkable.payments import webhooks
from forkable.payments.crediting import Outcome

_real_apply = webhooks.apply_event


def _apply_then_hang(
    session: Session, event_type: str, obj: dict[str, Any], holds: Callable[[str], bool]
) -> Outcome:
    outcome = _real_apply(session, event_type, obj, holds)
    session.flush()  # the credit is written inside the open transaction...
    mark = Path(sys.argv[3])
    written = mark.with_name(mark.name + ".part")
    written.write_text(f"{event_type}: {outcome.action}\n")
    written.rename(mark)  # whole or not at all: the test reads it as soon as it appears
    threading.Event().wait()  # ...and the process is killed before it commits
    return outcome


def main() -> None:
    webhooks.apply_event = _apply_then_hang  # type: ignore[assignment]
    from forkable.cli.main import main as forkable

    forkable(["serve", sys.argv[1], "--port", sys.argv[2]])


if __name__ == "__main__":
    main()
