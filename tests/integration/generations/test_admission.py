"""Admission under concurrency: the per-minute limit and the spend cap hold for a burst.

Submits race through a real server on loopback. On SQLite the writers of one process take
turns by design, so the PostgreSQL run is where the account lock is what keeps the count.
"""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update
from tests.factories import PASSWORD, photo_bytes, verify_by_mail_async
from tests.integration.generations.conftest import MakeUser
from tests.serving import run_async, serve_app_in_thread

from forkable.accounts.service import Principal
from forkable.db.types import utcnow
from forkable.generations import jobs, service
from forkable.generations.admission import (
    MICRO_USD,
    AdmissionPolicy,
    SpendCapReached,
    TooFast,
)
from forkable.generations.models import Generation, SpendDay
from forkable.generations.uploads import ValidatedImage, validate_image
from forkable.generations.verify import verify_all
from forkable.ledger.book import credit, get_balance
from forkable.ledger.models import EntryKind
from forkable.providers.base import Usage
from forkable.providers.prices import PriceTable
from forkable.services import Services

HOST = {"host": "coloringbook.localhost"}
SITE = "coloringbook"
# One coloring page on the reference site's model, as admission estimates it before it is made.
ESTIMATE = PriceTable.load().for_model("gemini-2.5-flash-image").estimate()


def _set_limits(sites_dir: Path, *, per_minute: int, cap_usd: float) -> None:
    manifest = sites_dir / SITE / "site.toml"
    text = manifest.read_text()
    text = re.sub(r"generations_per_minute = \d+", f"generations_per_minute = {per_minute}", text)
    text = re.sub(r"daily_spend_cap_usd = [\d.]+", f"daily_spend_cap_usd = {cap_usd}", text)
    manifest.write_text(text)


def _grant(services: Services, user_id: int, amount: int) -> None:
    with services.database.transaction() as session:
        credit(
            session,
            site_id=SITE,
            user_id=user_id,
            amount=amount,
            kind=EntryKind.ADMIN_GRANT,
            ref=f"grant:test-{user_id}",
        )


async def _signed_in(
    base: str, email: str, services: Services
) -> tuple[httpx.AsyncClient, str, int]:
    client = httpx.AsyncClient(base_url=base, headers=HOST, timeout=60)
    response = await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    await verify_by_mail_async(client, services, body["user"]["id"])
    return client, body["csrf_token"], body["user"]["id"]


async def _burst(client: httpx.AsyncClient, csrf: str, count: int) -> list[httpx.Response]:
    photo = photo_bytes(size=64)
    # Every request is ready before any is sent: gather starts them together.
    requests = [
        client.post(
            "/api/v1/generations",
            files={"image": ("p.jpg", photo, "image/jpeg")},
            headers={"x-csrf-token": csrf},
        )
        for _ in range(count)
    ]
    return list(await asyncio.gather(*requests))


async def _wait_idle(client: httpx.AsyncClient, timeout: float = 60) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        me = (await client.get("/api/v1/me")).json()
        if me["held"] == 0:
            return me  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise TimeoutError("generations did not finish")


def _spend_today(services: Services) -> tuple[int, int]:
    with services.database.session() as session:
        row = session.execute(
            select(SpendDay.reserved_micro_usd, SpendDay.spent_micro_usd).where(
                SpendDay.site_id == SITE, SpendDay.day == utcnow().date()
            )
        ).one()
    return row.reserved_micro_usd, row.spent_micro_usd


class TestPerMinuteLimit:
    @pytest.fixture
    def sites_dir(self, sites_dir: Path) -> Path:
        _set_limits(sites_dir, per_minute=6, cap_usd=1000)
        return sites_dir

    def test_a_burst_of_12_starts_exactly_6(self, app: FastAPI, services: Services) -> None:
        async def scenario(base: str) -> None:
            client, csrf, user_id = await _signed_in(base, "burst@example.com", services)
            _grant(services, user_id, 20)
            responses = await _burst(client, csrf, 12)
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [202] * 6 + [429] * 6, statuses
            for refused in (r for r in responses if r.status_code == 429):
                assert refused.json()["error"]["code"] == "rate_limited"
                assert 1 <= int(refused.headers["retry-after"]) <= 60
            me = await _wait_idle(client)
            assert me["balance"] == 23 - 6  # only the admitted six were paid for
            await client.aclose()

        with serve_app_in_thread(app) as base:
            run_async(scenario(base))
        with services.database.session() as session:
            assert verify_all(session) == []

    def test_the_wait_ends_when_the_oldest_start_leaves_the_minute(
        self, app: FastAPI, services: Services
    ) -> None:
        async def scenario(base: str) -> None:
            client, csrf, user_id = await _signed_in(base, "later@example.com", services)
            _grant(services, user_id, 20)
            assert [r.status_code for r in await _burst(client, csrf, 6)] == [202] * 6
            await _wait_idle(client)
            # Move the starts back in time: the oldest 50 s ago, the rest 10 s ago.
            with services.database.transaction() as session:
                ids = session.scalars(
                    select(Generation.id).where(Generation.user_id == user_id)
                ).all()
                now = utcnow()
                for index, generation_id in enumerate(sorted(ids)):
                    seconds = 50 if index == 0 else 10
                    session.execute(
                        update(Generation)
                        .where(Generation.id == generation_id)
                        .values(created_at=now - timedelta(seconds=seconds))
                    )
            refused = (await _burst(client, csrf, 1))[0]
            assert refused.status_code == 429
            assert 9 <= int(refused.headers["retry-after"]) <= 11
            with services.database.transaction() as session:
                session.execute(
                    update(Generation)
                    .where(Generation.id == sorted(ids)[0])
                    .values(created_at=utcnow() - timedelta(seconds=61))
                )
            assert (await _burst(client, csrf, 1))[0].status_code == 202
            await _wait_idle(client)
            await client.aclose()

        with serve_app_in_thread(app) as base:
            run_async(scenario(base))

    def test_a_repeated_idempotency_key_is_answered_at_the_limit(
        self, app: FastAPI, services: Services
    ) -> None:
        async def scenario(base: str) -> None:
            client, csrf, user_id = await _signed_in(base, "again@example.com", services)
            _grant(services, user_id, 20)
            photo = photo_bytes(size=64)

            async def submit(key: str) -> httpx.Response:
                return await client.post(
                    "/api/v1/generations",
                    files={"image": ("p.jpg", photo, "image/jpeg")},
                    headers={"x-csrf-token": csrf, "idempotency-key": key},
                )

            first = [await submit(f"click-{n}") for n in range(6)]
            assert {r.status_code for r in first} == {202}
            repeat = await submit("click-0")
            assert repeat.status_code == 202
            assert repeat.json()["id"] == first[0].json()["id"]
            assert (await submit("click-new")).status_code == 429
            await _wait_idle(client)
            await client.aclose()

        with serve_app_in_thread(app) as base:
            run_async(scenario(base))


def _submit_one(
    services: Services, policy: AdmissionPolicy, principal: Principal, image: ValidatedImage
) -> str:
    """One submit straight on the service; the new generation's id."""
    return service.submit(
        services.database,
        services.store,
        principal,
        image=image,
        style=None,
        policy=policy,
        idempotency_key=None,
    ).generation.id


def _submit_at_once(
    services: Services, policy: AdmissionPolicy, principals: list[Principal]
) -> list[str | Exception]:
    """One submit per principal, each in its own thread, all let go at the same moment."""
    image = validate_image(photo_bytes(size=64), max_bytes=10_000_000)
    start = threading.Barrier(len(principals))

    def submit(principal: Principal) -> str | Exception:
        start.wait()
        try:
            return _submit_one(services, policy, principal, image)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(principals)) as pool:
        return list(pool.map(submit, principals))


class TestDailySpendCap:
    """Straight on the service, with no worker running: nothing ends while the burst lasts."""

    def test_a_burst_reserves_up_to_the_cap_and_no_further(
        self, services: Services, make_user: MakeUser
    ) -> None:
        estimate = round(ESTIMATE * MICRO_USD)
        # Room for five estimated images and most of a sixth, across twelve users.
        policy = AdmissionPolicy(
            per_minute=6, daily_cap_usd=ESTIMATE * 5.9, cost_tokens=1, estimated_cost_usd=ESTIMATE
        )
        users = [make_user(3) for _ in range(12)]
        outcomes = _submit_at_once(services, policy, users)
        admitted = [o for o in outcomes if isinstance(o, str)]
        refused = [o for o in outcomes if not isinstance(o, str)]
        assert len(admitted) == 5, outcomes
        assert all(isinstance(o, SpendCapReached) for o in refused), refused
        assert _spend_today(services) == (5 * estimate, 0)
        with services.database.session() as session:
            assert session.scalars(select(Generation.reserved_micro_usd)).all() == [estimate] * 5

        # Ends move each reservation to what the provider reported: a success at its cost,
        # a failure that cost nothing, a failure the provider still charged for.
        paid, free, charged = admitted[:3]
        for generation_id in (paid, free, charged):
            assert jobs.claim_next(
                services.database, owner="w", lease_seconds=30, generation_id=generation_id
            )
        assert jobs.complete(
            services.database,
            paid,
            owner="w",
            provider="gemini",
            output_key="k",
            usage=Usage(cost_usd=0.05),
            duration_ms=1,
        )
        assert jobs.fail(services.database, free, owner="w", reason="down")
        assert jobs.fail(
            services.database, charged, owner="w", reason="no_image", usage=Usage(cost_usd=0.01)
        )
        assert _spend_today(services) == (2 * estimate, 60_000)
        # 5.9 estimates, less 2 still reserved and $0.06 spent (1.5 estimates): two more fit.
        more = _submit_at_once(services, policy, users[5:11])
        assert sum(isinstance(o, str) for o in more) == 2, more
        with services.database.session() as session:
            assert verify_all(session) == []

    @pytest.mark.postgres
    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_a_day_begun_by_another_submit_mid_look_is_reserved_from(
        self, services: Services, make_user: MakeUser
    ) -> None:
        """The day's first two submits: the second's UPDATE finds no row, the first commits
        the row, then the second looks. It must reserve, not call a near-empty day full."""
        policy = AdmissionPolicy(
            per_minute=6, daily_cap_usd=100.0, cost_tokens=1, estimated_cost_usd=ESTIMATE
        )
        first, second = make_user(3), make_user(3)
        image = validate_image(photo_bytes(size=64), max_bytes=10_000_000)

        def submit(principal: Principal) -> str:
            return _submit_one(services, policy, principal, image)

        first_done: list[str] = []

        def first_submit_commits_now(*args: object) -> None:
            statement = str(args[2])
            looks = statement.lstrip().startswith("SELECT") and "spend_days" in statement
            if looks and not first_done:
                first_done.append("running")
                with ThreadPoolExecutor(1) as pool:
                    first_done.append(pool.submit(submit, first).result())

        event.listen(services.database.engine, "before_cursor_execute", first_submit_commits_now)
        try:
            second_id = submit(second)
        finally:
            event.remove(
                services.database.engine, "before_cursor_execute", first_submit_commits_now
            )
        assert len(first_done) == 2 and second_id != first_done[1]
        assert _spend_today(services) == (2 * round(ESTIMATE * MICRO_USD), 0)

    def test_a_free_filter_site_reserves_nothing(
        self, services: Services, make_user: MakeUser
    ) -> None:
        policy = AdmissionPolicy(
            per_minute=6, daily_cap_usd=0.0, cost_tokens=1, estimated_cost_usd=0.0
        )
        outcomes = _submit_at_once(services, policy, [make_user(3)])
        assert all(isinstance(o, str) for o in outcomes), outcomes
        with services.database.session() as session:
            assert session.scalar(select(SpendDay)) is None


def test_twelve_submits_of_one_user_at_once_start_exactly_six(
    services: Services, make_user: MakeUser
) -> None:
    policy = AdmissionPolicy(
        per_minute=6, daily_cap_usd=100.0, cost_tokens=1, estimated_cost_usd=ESTIMATE
    )
    user = make_user(20)
    outcomes = _submit_at_once(services, policy, [user] * 12)
    assert sum(isinstance(o, str) for o in outcomes) == 6, outcomes
    assert all(isinstance(o, TooFast) for o in outcomes if not isinstance(o, str))
    with services.database.session() as session:
        assert get_balance(session, user.user_id).held == 6
        assert verify_all(session) == []
