"""Take the README's landing-page screenshot with headless Chromium.

Usage: .venv/bin/python scripts/screenshot.py [SITE_FOLDER] [OUTPUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.serving import serve  # noqa: E402


def main() -> None:
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "coloringbook"
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "images" / "landing.png"
    with tempfile.TemporaryDirectory() as tmp, serve(site, Path(tmp) / "var") as server:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/", wait_until="networkidle")
            page.screenshot(path=str(output), full_page=False)
            browser.close()
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
