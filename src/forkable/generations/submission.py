"""Submitting a validated upload and getting its job going.

`service.submit` is the transaction (row + hold, and the job's message when workers are
elsewhere). On serverless hosts, where no thread outlives the request, the row is created
leased to this process and the job runs here before the response.
"""

from __future__ import annotations

from forkable.accounts.service import Principal
from forkable.db import Database
from forkable.generations import service
from forkable.generations.admission import AdmissionPolicy
from forkable.generations.announce import Announcer
from forkable.generations.runner import JobRunner
from forkable.generations.uploads import ValidatedImage
from forkable.storage import MediaStore


def submit_and_start(
    database: Database,
    store: MediaStore,
    runner: JobRunner,
    announcer: Announcer,
    principal: Principal,
    *,
    image: ValidatedImage,
    style: str | None,
    policy: AdmissionPolicy,
    idempotency_key: str | None,
    inline: bool,
) -> service.Submitted:
    """Create the generation and start its job: here when ``inline``, else on a worker.

    Inline (serverless hosts, no background workers) the job runs in this thread and has
    finished, succeeded or failed, when this returns. Raises what `service.submit` raises.
    """
    submitted = service.submit(
        database,
        store,
        principal,
        image=image,
        style=style,
        policy=policy,
        idempotency_key=idempotency_key,
        lease=runner.lease() if inline else None,
        announcer=None if inline else announcer,
    )
    if not submitted.created:  # an earlier submission with the same Idempotency-Key
        return submitted
    if inline:
        runner.run_claimed(service.started_job(submitted.generation))
    else:
        announcer.after_commit()
    return submitted
