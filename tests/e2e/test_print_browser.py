"""Print-ready output on /app in a real browser: a result as a PDF, and a coloring book."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect
from tests.support.pdf import page_size, read

if TYPE_CHECKING:
    from tests.e2e.conftest import BrowserLog, SignUp
    from tests.serving import Server

pytestmark = pytest.mark.browser


def _make_image(page: Page, photo: Path, made: int) -> None:
    page.get_by_test_id("file-input").set_input_files(photo)
    page.get_by_role("button", name="Make my image").click()
    expect(page.locator('[data-testid=history-item][data-status="succeeded"]')).to_have_count(
        made, timeout=30_000
    )


def test_download_a_pdf_and_make_a_book_of_two(
    page: Page,
    coloringbook_server: Server,
    sign_up: SignUp,
    browser_log: BrowserLog,
    photo: Path,
    tmp_path: Path,
) -> None:
    sign_up(coloringbook_server.url)
    expect(page.get_by_test_id("book-form")).to_be_hidden()  # nothing to print yet
    _make_image(page, photo, 1)
    _make_image(page, photo, 2)
    expect(page.get_by_test_id("progress-panel")).to_have_attribute("data-state", "succeeded")

    # The result's own PDF, on the paper picked on the page.
    page.get_by_test_id("book-paper").select_option("a4")
    with page.expect_download() as download_info:
        page.get_by_test_id("download-pdf").click()
    download = download_info.value
    assert download.suggested_filename.endswith("-a4.pdf")
    single = tmp_path / "single.pdf"
    download.save_as(single)
    reader = read(single.read_bytes())
    assert len(reader.pages) == 1
    assert tuple(round(v, 2) for v in page_size(reader.pages[0])) == (595.28, 841.89)

    # A book of both, on Letter.
    book = page.get_by_test_id("book-form")
    expect(book).to_be_visible()
    submit = page.get_by_test_id("book-submit")
    expect(submit).to_be_disabled()
    for item in page.get_by_test_id("history-item").all():
        item.get_by_test_id("history-pick").check()
    expect(page.get_by_test_id("book-count")).to_have_text(
        "2 images picked: the book will have 3 pages with its cover."
    )
    submit.click()
    expect(page.get_by_test_id("book-error")).to_have_text("Give your book a title.")

    page.get_by_test_id("book-title").fill("Our summer")
    page.get_by_test_id("book-paper").select_option("letter")
    with page.expect_download() as download_info:
        submit.click()
    download = download_info.value
    assert download.suggested_filename == "our-summer.pdf"
    saved = tmp_path / "book.pdf"
    download.save_as(saved)
    reader = read(saved.read_bytes())
    assert len(reader.pages) == 3  # the cover and two images
    assert "Our summer" in reader.pages[0].extract_text()
    assert tuple(round(v, 2) for v in page_size(reader.pages[0])) == (612.0, 792.0)
    expect(page.get_by_test_id("book-count")).to_have_text("Your book is ready: our-summer.pdf.")
    expect(page.get_by_test_id("book-error")).to_have_text("")

    # The history's PDF links follow the paper picked.
    href = page.get_by_test_id("history-pdf").first.get_attribute("href")
    assert href is not None and href.endswith("/result.pdf?paper=letter")

    assert browser_log.console_errors == []
    assert browser_log.failed_requests == []
    assert browser_log.bad_responses == []
