"""Submitting a validated upload and getting its job going in this process.

`service.submit` is the transaction (row + hold). Around it, this module does what lets a job
start without delay when it can: the decoded pixels are kept for the worker, and when a worker
is idle the new row is created already leased to this process, so the worker starts at once
instead of claiming the job from the queue in a transaction of its own.
"""

from __future__ import annotations

from forkable.accounts.service import Principal
from forkable.db import Database
from forkable.generations import service
from forkable.generations.admission import AdmissionPolicy
from forkable.generations.runner import JobRunner
from forkable.generations.uploads import ValidatedImage
from forkable.storage import MediaStore


def submit_and_start(
    database: Database,
    store: MediaStore,
    runner: JobRunner,
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
    generation_id = service.new_generation_id()
    runner.keep_decoded(generation_id, image.image)
    lease = runner.lease() if inline else runner.reserve_idle_worker()
    reserved = lease is not None and not inline
    try:
        submitted = service.submit(
            database,
            store,
            principal,
            image=image,
            style=style,
            policy=policy,
            idempotency_key=idempotency_key,
            generation_id=generation_id,
            lease=lease,
        )
    except BaseException:
        _abandon(runner, generation_id, reserved)
        raise
    if not submitted.created:  # an earlier submission with the same Idempotency-Key
        _abandon(runner, generation_id, reserved)
        return submitted
    if lease is None:
        runner.notify()  # queued: the first free worker claims it
    elif inline:
        runner.run_leased(service.started_job(submitted.generation))
    else:
        runner.start_leased(service.started_job(submitted.generation))
    return submitted


def _abandon(runner: JobRunner, generation_id: str, reserved: bool) -> None:
    runner.drop_decoded(generation_id)
    if reserved:
        runner.release()
