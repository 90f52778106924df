"""The work of one generation job, the same wherever it runs: make -> store -> finish.

A job reaches this already claimed (`jobs.claim_next`): its row is running and leased to
``owner``. Whoever claimed it (a thread of the embedded runner, a queue worker, or the
request itself on a serverless host) keeps the lease renewed meanwhile (`leases.LeaseKeeper`).
Every way out ends the row exactly once: succeeded with its hold captured, failed with its
hold voided, or back in the queue for another attempt with the hold still open. A worker that
lost its lease meanwhile changes nothing (the guarded UPDATEs in `jobs` match no row).
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass

from PIL import Image

from forkable.db import Database
from forkable.generations import jobs
from forkable.generations.announce import Announcer
from forkable.generations.jobs import ClaimedJob
from forkable.generations.result_png import encode_result_png
from forkable.providers.base import INTERNAL, Provider, ProviderError, TransformRequest, Usage
from forkable.providers.resolver import ProviderResolver
from forkable.sites import Site, SiteRegistry
from forkable.storage import MediaStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPolicy:
    max_attempts: int = 3
    deadline_seconds: float = 120.0


def output_key(job: ClaimedJob) -> str:
    # One key per attempt, so a worker that lost its lease never overwrites the winner's file.
    return f"{job.site_id}/{job.id[:2]}/{job.id}-result-{job.attempt}.png"


def build_prompt(site: Site, style_id: str | None) -> tuple[str, dict[str, object]]:
    """The site prompt plus the chosen style's, and the style's filter parameters."""
    transform = site.manifest.transform
    for style in transform.styles:
        if style.id == style_id:
            return f"{transform.prompt}\n\n{style.prompt}", dict(style.params)
    return transform.prompt, {}


class JobWork:
    """Runs claimed jobs to their end; thread-safe, shared by every worker of a process."""

    def __init__(
        self,
        *,
        database: Database,
        store: MediaStore,
        sites: SiteRegistry,
        resolver: ProviderResolver,
        announcer: Announcer,
        policy: JobPolicy,
    ) -> None:
        self.database = database
        self.store = store
        self.sites = sites
        self.resolver = resolver
        self.announcer = announcer
        self.policy = policy

    def run(self, job: ClaimedJob, *, owner: str) -> str:
        """Make, store and finish ``job``; what became of it: succeeded, failed, requeued or
        lost (the lease went to someone else meanwhile)."""
        started = time.monotonic()
        site = self.sites.get(job.site_id)
        if site is None:
            return self._fail(job, owner=owner, reason=INTERNAL, provider=None)
        provider = self.resolver.for_site(site).provider
        try:
            png, usage = self._make(
                job, site, provider, deadline=started + self.policy.deadline_seconds
            )
        except ProviderError as exc:
            logger.warning("generation %s failed: %s", job.id, exc)
            if exc.retryable and job.attempt < self.policy.max_attempts:
                requeued = jobs.requeue(
                    self.database, job.id, owner=owner, announcer=self.announcer
                )
                return "requeued" if requeued else "lost"
            return self._fail(
                job, owner=owner, reason=exc.reason, provider=provider.name, usage=exc.usage
            )
        except Exception:
            logger.exception("generation %s failed unexpectedly", job.id)
            return self._fail(job, owner=owner, reason=INTERNAL, provider=provider.name)
        key = output_key(job)
        try:
            self.store.put(key, png, "image/png")
        except Exception:
            # Never a charge without a result: the tokens go back.
            logger.exception("the result of generation %s could not be stored", job.id)
            return self._fail(job, owner=owner, reason=INTERNAL, provider=provider.name)
        done = jobs.complete(
            self.database,
            job.id,
            owner=owner,
            provider=provider.name,
            output_key=key,
            usage=usage,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        if not done:
            # Our lease expired and someone else owns the job now: keep only their result.
            self.store.delete(key)
            return "lost"
        return "succeeded"

    def _make(
        self, job: ClaimedJob, site: Site, provider: Provider, *, deadline: float
    ) -> tuple[bytes, Usage]:
        """The provider's result for the job's photo, encoded as PNG."""
        image = _load(self.store.get(job.input_key))
        prompt, params = build_prompt(site, job.style)
        result = provider.transform(
            TransformRequest(
                image=image,
                prompt=prompt,
                params=params,
                model=site.manifest.transform.model,
                deadline=deadline,
                consumable=True,  # decoded for this job alone
            )
        )
        del image  # 36 MB at 12 MP: gone before the result is encoded
        return encode_result_png(result.image), result.usage

    def _fail(
        self,
        job: ClaimedJob,
        *,
        owner: str,
        reason: str,
        provider: str | None,
        usage: Usage | None = None,
    ) -> str:
        failed = jobs.fail(
            self.database, job.id, owner=owner, reason=reason, provider=provider, usage=usage
        )
        return "failed" if failed else "lost"


def _load(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
