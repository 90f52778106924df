"""The real processes deliver: the embedded server's thread, `forkable worker`'s periodic task
and the serverless cron endpoint, each with the transport its settings choose."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.integration.mail.conftest import Mailbox, Queue, mail_server, outbox
from tests.support.smtp import free_port
from tests.support.waiting import wait_until

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, build_worker, create_app
from forkable.db import Database
from forkable.mail.compose import MailKind
from forkable.mail.transports import FileTransport, SmtpTransport
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.workers.process import QueueWorker


def test_the_embedded_server_delivers_through_smtp(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    database: Database,
    queue: Queue,
) -> None:
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        settings = settings_factory(database_url=database_url, smtp_url=url)
        services = build_services(registry, settings, passwords=fast_passwords())
        assert services.maintenance.mail is not None
        assert isinstance(services.maintenance.mail.transport, SmtpTransport)
        app = create_app(registry, settings, services=services, migrate=True)
        with TestClient(app, base_url="http://coloringbook.localhost"):
            mail_id = queue(MailKind.VERIFY_EMAIL, to="ann@example.com")
            wait_until(lambda: len(mailbox.received) == 1, timeout=15)
        services.database.dispose()
    [received] = mailbox.received
    assert received.message["Message-ID"] == f"<{mail_id}@coloringbook.example.com>"
    assert outbox(database)[mail_id].sent_at is not None


def test_without_smtp_the_embedded_server_writes_eml_files(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    queue: Queue,
    tmp_path: Path,
) -> None:
    settings = settings_factory(database_url=database_url)
    services = build_services(registry, settings, passwords=fast_passwords())
    assert services.maintenance.mail is not None
    transport = services.maintenance.mail.transport
    assert isinstance(transport, FileTransport)
    assert transport.folder == settings.data_dir / "mail"
    app = create_app(registry, settings, services=services, migrate=True)
    with TestClient(app, base_url="http://coloringbook.localhost"):
        mail_id = queue(MailKind.PASSWORD_RESET, to="ann@example.com")
        wait_until(lambda: any((settings.data_dir / "mail").glob(f"*-{mail_id}.eml")), timeout=15)
    services.database.dispose()


def test_the_cron_endpoint_delivers(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    database: Database,
    queue: Queue,
) -> None:
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        settings = settings_factory(
            database_url=database_url, smtp_url=url, cron_secret="c" * 32, inline_jobs=True
        )
        app = create_app(registry, settings, migrate=True)
        with TestClient(app, base_url="http://coloringbook.localhost") as client:
            mail_id = queue(MailKind.PASSWORD_CHANGED, to="ann@example.com")
            answer = client.get(
                "/api/v1/internal/maintenance", headers={"authorization": f"Bearer {'c' * 32}"}
            )
            again = client.get(
                "/api/v1/internal/maintenance", headers={"authorization": f"Bearer {'c' * 32}"}
            )
        app.state.services.database.dispose()
    assert answer.status_code == 200
    assert answer.json()["mail_sent"] == 1
    assert again.json()["mail_sent"] == 0
    assert len(mailbox.received) == 1
    assert outbox(database)[mail_id].sent_at is not None


@contextmanager
def _running(worker: QueueWorker) -> Iterator[None]:
    """The worker's whole loop (periodic tasks included) in a thread, cancelled at the end."""
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] | None = None
    started = threading.Event()

    def run() -> None:
        nonlocal task
        asyncio.set_event_loop(loop)
        task = loop.create_task(worker.run_async())
        started.set()
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield
    finally:
        assert task is not None
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        assert not thread.is_alive()


@pytest.mark.postgres
def test_a_queue_worker_delivers_on_its_maintenance_queue(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    postgres_url: str,
    queue: Queue,
    database: Database,
) -> None:
    if database.is_sqlite:
        pytest.skip("forkable worker runs on PostgreSQL")
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        settings = settings_factory(database_url=postgres_url, smtp_url=url, no_jobs=True)
        worker_database = Database(postgres_url)
        worker = build_worker(registry, settings, database=worker_database, concurrency=1)
        mail_id = queue(MailKind.VERIFY_EMAIL, to="ann@example.com")
        try:
            with _running(worker):
                wait_until(lambda: len(mailbox.received) == 1, timeout=30)
        finally:
            worker.close()
    [received] = mailbox.received
    assert received.message["Message-ID"] == f"<{mail_id}@coloringbook.example.com>"
    assert outbox(database)[mail_id].sent_at is not None


def test_with_smtp_down_the_app_goes_on_and_the_mail_waits(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    database: Database,
    queue: Queue,
) -> None:
    port = free_port()  # nothing listens: the SMTP server is down
    settings = settings_factory(
        database_url=database_url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        cron_secret="c" * 32,
        inline_jobs=True,
    )
    app = create_app(registry, settings, migrate=True)
    with TestClient(app, base_url="http://coloringbook.localhost") as client:
        mail_id = queue(MailKind.VERIFY_EMAIL, to="ann@example.com")
        answer = client.get(
            "/api/v1/internal/maintenance", headers={"authorization": f"Bearer {'c' * 32}"}
        )
        assert answer.status_code == 200
        assert answer.json()["mail_sent"] == 0
        assert client.get("/healthz").status_code == 200
    app.state.services.database.dispose()
    row = outbox(database)[mail_id]
    assert (row.attempts, row.sent_at, row.failed_at) == (1, None, None)
    assert row.last_error == f"127.0.0.1:{port}: connection refused"
    assert row.body_text is not None
