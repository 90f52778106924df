"""The dashboard's per-day numbers, from a scripted set of rows, on both engines."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from tests.factories import SignedUp

from forkable.accounts.models import User
from forkable.admin.charts import Series, bar_chart, nice_ceiling
from forkable.admin.dashboard import dashboard
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations.models import Generation
from forkable.payments.models import Purchase
from forkable.services import Services

DAY = date(2026, 3, 10)


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=UTC)


def script_rows(services: Services, today: date) -> None:
    """Rows on both sides of every boundary: days, the 30-day window, sites, statuses."""
    yesterday = today - timedelta(days=1)
    with services.database.transaction() as session:

        def user(site: str, created: datetime) -> int:
            row = User(
                site_id=site,
                email=f"{uuid.uuid4().hex[:10]}@example.com",
                password_hash="x",
                created_at=created,
            )
            session.add(row)
            session.flush()
            return row.id

        ada = user("coloringbook", at(today, 0, 0, 1))
        user("coloringbook", at(today, 23, 59, 59))
        user("coloringbook", at(yesterday, 23, 59, 59))
        user("coloringbook", at(today - timedelta(days=29)))
        user("coloringbook", at(today - timedelta(days=30), 23, 59, 59))  # outside the window
        bob = user("pencilsketch", at(today))  # another site

        def generation(
            site: str, owner: int, created: datetime, status: str, cost: float | None
        ) -> None:
            session.add(
                Generation(
                    id=uuid.uuid4().hex,
                    site_id=site,
                    user_id=owner,
                    status=status,
                    hold_state="captured" if status == "succeeded" else "voided",
                    cost=1,
                    provider="coloring_book",
                    cost_usd=cost,
                    created_at=created,
                )
            )

        for hour in (1, 2, 3):
            generation("coloringbook", ada, at(today, hour), "succeeded", 0.04)
        generation("coloringbook", ada, at(today, 4), "failed", None)
        generation("coloringbook", ada, at(yesterday, 0, 0, 0), "failed", 0.01)
        generation("coloringbook", ada, at(yesterday, 23, 59, 59), "failed", 0.01)
        generation("coloringbook", ada, at(today - timedelta(days=40)), "succeeded", 5.0)
        generation("pencilsketch", bob, at(today), "succeeded", 9.0)

        def purchase(
            site: str,
            owner: int,
            status: str,
            cents: int,
            paid: datetime | None,
            currency: str = "usd",
        ) -> None:
            session.add(
                Purchase(
                    id=uuid.uuid4().hex,
                    site_id=site,
                    user_id=owner,
                    pack_id="starter",
                    pack_name="Starter",
                    tokens=20,
                    amount_cents=cents,
                    currency=currency,
                    provider="demo",
                    status=status,
                    paid_at=paid,
                    created_at=paid or at(today),
                )
            )

        purchase("coloringbook", ada, "paid", 499, at(today, 9))
        purchase("coloringbook", ada, "paid", 1199, at(yesterday, 18))
        purchase("coloringbook", ada, "refunded", 499, at(yesterday, 19))  # not revenue
        purchase("coloringbook", ada, "pending", 499, None)
        purchase("coloringbook", ada, "paid", 999, at(today - timedelta(days=2)), "eur")
        purchase("pencilsketch", bob, "paid", 2999, at(today, 9))


EXPECTED_TODAY = (2, 4, 1, 499, 0.12)
EXPECTED_YESTERDAY = (1, 2, 2, 1199, 0.02)


def _numbers(board_day: object) -> tuple[int, int, int, int, float]:
    d = board_day
    return (
        d.signups,  # type: ignore[attr-defined]
        d.generations,  # type: ignore[attr-defined]
        d.failures,  # type: ignore[attr-defined]
        d.revenue_cents,  # type: ignore[attr-defined]
        round(d.cost_usd, 6),  # type: ignore[attr-defined]
    )


def test_per_day_numbers_of_a_scripted_month(client: TestClient, services: Services) -> None:
    script_rows(services, DAY)
    board = dashboard(services.database, "coloringbook", "usd", today=DAY)
    assert len(board.days) == 30
    assert board.days[0].day == DAY - timedelta(days=29)
    assert board.days[-1].day == DAY
    by_day = {d.day: _numbers(d) for d in board.days}
    assert by_day[DAY] == EXPECTED_TODAY
    assert by_day[DAY - timedelta(days=1)] == EXPECTED_YESTERDAY
    assert by_day[DAY - timedelta(days=29)] == (1, 0, 0, 0, 0.0)
    quiet = [
        d for d in board.days if d.day < DAY - timedelta(days=1) and d.day != board.days[0].day
    ]
    assert all(_numbers(d) == (0, 0, 0, 0, 0.0) for d in quiet)
    totals = board.totals
    assert (totals.signups, totals.generations, totals.failures) == (4, 6, 3)
    assert totals.revenue_cents == 1698
    assert round(totals.cost_usd, 6) == 0.14
    assert totals.margin_cents == 1698 - 14
    assert totals.failure_rate == 0.5
    assert (
        dashboard(services.database, "coloringbook", "eur", today=DAY).totals.margin_cents is None
    )


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_days_are_utc_days_whatever_the_database_session_zone(
    client: TestClient, services: Services, database_url: str
) -> None:
    """PostgreSQL groups in its session's time zone unless told otherwise; we tell it UTC."""
    script_rows(services, DAY)
    url = make_url(database_url).update_query_dict({"options": "-c timezone=Pacific/Kiritimati"})
    far_east = Database(url.render_as_string(hide_password=False))
    try:
        board = dashboard(far_east, "coloringbook", "usd", today=DAY)
    finally:
        far_east.dispose()
    by_day = {d.day: _numbers(d) for d in board.days}
    assert by_day[DAY] == EXPECTED_TODAY
    assert by_day[DAY - timedelta(days=1)] == EXPECTED_YESTERDAY


def test_the_dashboard_page_shows_the_numbers_and_charts(
    client: TestClient, services: Services, admin: SignedUp
) -> None:
    today = utcnow().date()
    script_rows(services, today)
    page = client.get("/admin", headers={"accept": "text/html"}).text

    def row(day: date) -> dict[str, str]:
        match = re.search(rf'<tr data-day="{day.isoformat()}">(.*?)</tr>', page, re.S)
        assert match, day
        cells = re.findall(r'data-col="(\w+)">([^<]*)<', match.group(1))
        return dict(cells)

    # The admin's own sign-up today counts too.
    assert row(today) == {
        "signups": "3",
        "generations": "4",
        "failures": "1",
        "revenue": "$4.99",
        "cost": "$0.120",
    }
    assert row(today - timedelta(days=1)) == {
        "signups": "1",
        "generations": "2",
        "failures": "2",
        "revenue": "$11.99",
        "cost": "$0.020",
    }
    assert 'data-testid="total-revenue">$16.98<' in page
    assert 'data-testid="margin">$16.84<' in page
    for chart in ("signups", "generations", "revenue", "cost"):
        assert f'data-testid="svg-{chart}"' in page
    assert page.count('class="chart-bar bar-fail"') == 2  # failures on two days
    api = client.get("/api/v1/admin/dashboard").json()
    assert api["days"][-1]["generations"] == 4 and api["margin_cents"] == 1684


def test_bars_are_to_scale() -> None:
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    chart = bar_chart(
        "t",
        "Test",
        days,
        [Series("ok", "bar-a", [0, 3, 6]), Series("failed", "bar-fail", [0, 1, 2])],
        str,
    )
    assert nice_ceiling(8) == 8 and nice_ceiling(9) == 10 and nice_ceiling(0.03, 0.01) == 0.04
    assert [r.css_class for r in chart.rects] == ["bar-a", "bar-fail", "bar-a", "bar-fail"]
    ok_small, fail_small, ok_big, fail_big = chart.rects
    assert ok_big.height == pytest.approx(2 * ok_small.height)
    assert fail_big.height == pytest.approx(2 * fail_small.height)
    # The tallest stack (8) reaches the top of the axis (8); stacks sit on each other.
    assert ok_big.y + ok_big.height == chart.baseline
    assert fail_big.y + fail_big.height == pytest.approx(ok_big.y)
    assert fail_big.y == pytest.approx(chart.ticks[-1].y)
    assert chart.total == "12"
    assert bar_chart("e", "Empty", days, [Series("x", "bar-a", [0, 0, 0])], str).empty
