"""Browser tests drive Debian's Chromium through Playwright (no downloaded browsers)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request
from tests.conftest import CHROMIUM, missing_service
from tests.serving import Server, serve
from tests.support.mailbox import wait_for_link

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Once Playwright's sync API has started (a session fixture), its event loop counts as running
    in the main thread, so any later `asyncio.run()` in the same session fails. Browser tests
    last keep the rest of the suite independent of them.
    """
    uses_browser = [item for item in items if "page" in getattr(item, "fixturenames", ())]
    if uses_browser:
        others = [item for item in items if "page" not in getattr(item, "fixturenames", ())]
        items[:] = others + uses_browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.access(CHROMIUM, os.X_OK):
        missing_service(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def coloringbook_server(tmp_path: Path) -> Iterator[Server]:
    with serve(ROOT / "examples" / "coloringbook", tmp_path / "var") as server:
        yield server


@dataclass
class BrowserLog:
    """What went wrong in the page: console errors, failed requests, 4xx/5xx responses."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)


@pytest.fixture
def browser_log(page: Page) -> BrowserLog:
    log = BrowserLog()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            log.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: log.console_errors.append(f"uncaught: {error}"))

    def on_request_failed(request: Request) -> None:
        # net::ERR_ABORTED is the browser cancelling a request itself (the page navigated
        # away while a fetch was in flight), not the server failing it; a server that fails
        # shows up as a bad response or a connection error.
        if request.failure != "net::ERR_ABORTED":
            log.failed_requests.append(f"{request.url} {request.failure}")

    page.on("requestfailed", on_request_failed)
    page.on(
        "response",
        lambda response: (
            log.bad_responses.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    return log


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A real photo (scikit-image's astronaut) as a JPEG file."""
    from PIL import Image
    from skimage import data

    path = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, "JPEG", quality=90)
    return path


SignUp = Callable[[str], str]


def confirm_address(page: Page, data_dir: Path, email: str) -> None:
    """Open the verification link mailed to ``email`` (the `.eml` the development server
    wrote) and press its button, as a new user does."""
    page.goto(wait_for_link(data_dir, email, "/verify-email"))
    page.get_by_test_id("verify-submit").click()
    page.get_by_test_id("verify-result").wait_for()


@pytest.fixture
def sign_up(page: Page, coloringbook_server: Server) -> SignUp:
    """Create a fresh account through /signup on the given server URL (coloringbook_server's)
    and confirm its address through the mailed link; return its e-mail.

    The page ends signed in, on /app.
    """

    def run(base_url: str) -> str:
        email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
        page.goto(base_url + "/signup")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(base_url + "/app")
        # Let /app finish loading its gallery before leaving it: a fetch cut off by the next
        # navigation is reported as a failed request (net::ERR_ABORTED).
        page.wait_for_load_state("networkidle")
        assert coloringbook_server.data_dir is not None
        confirm_address(page, coloringbook_server.data_dir, email)
        page.goto(base_url + "/app")
        page.wait_for_load_state("networkidle")
        return email

    return run
