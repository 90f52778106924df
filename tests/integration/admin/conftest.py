"""Admins for the admin console tests: users whose `is_admin` is set in the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from tests.factories import SignedUp, sign_up

from forkable.accounts.models import User
from forkable.admin.models import AuditEntry
from forkable.generations.verify import verify_all
from forkable.services import Services

OTHER_HOST = "pencilsketch.localhost"


def make_admin(services: Services, user_id: int) -> None:
    with services.database.transaction() as session:
        session.execute(update(User).where(User.id == user_id).values(is_admin=True))


def audit_rows(services: Services, **where: object) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    with services.database.session() as session:
        return list(session.scalars(query))


def audit_count(services: Services) -> int:
    with services.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def assert_ledger_clean(services: Services) -> None:
    with services.database.session() as session:
        assert verify_all(session) == []


@pytest.fixture
def admin(client: TestClient, services: Services) -> SignedUp:
    """An admin of coloringbook, signed in on `client`."""
    user = sign_up(client, "admin@example.com")
    make_admin(services, user.user_id)
    return user


@pytest.fixture
def visitor_client(app: FastAPI, client: TestClient) -> Iterator[TestClient]:
    """A second browser on coloringbook; ``client`` runs the app's lifespan (only one may)."""
    second = TestClient(app, base_url="http://coloringbook.localhost")
    yield second
    second.close()


@pytest.fixture
def other_site_client(app: FastAPI, client: TestClient) -> Iterator[TestClient]:
    """A browser on pencilsketch, another site of the same server."""
    other = TestClient(app, base_url=f"http://{OTHER_HOST}")
    yield other
    other.close()
