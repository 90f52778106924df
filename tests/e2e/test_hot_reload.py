"""A running multi-site server picks up new, changed and removed site folders."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
from tests.serving import serve

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(check: object, timeout: float = 10) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError("the server did not pick up the change")


def test_hot_add_change_and_remove(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    shutil.copytree(ROOT / "examples" / "coloringbook", sites / "coloringbook")
    with serve(sites, tmp_path / "var", env={"FORKABLE_SITES_POLL_SECONDS": "0.2"}) as server:

        def page(host: str) -> httpx.Response:
            return httpx.get(server.url + "/", headers={"host": host})

        assert page("petpix.localhost").status_code == 404
        folder = sites / "petpix"
        shutil.copytree(ROOT / "examples" / "coloringbook", folder)
        manifest = folder / "site.toml"
        text = manifest.read_text().replace('id = "coloringbook"', 'id = "petpix"')
        manifest.write_text(text.replace("coloringbook.example.com", "petpix.example.com"))
        _wait_for(lambda: page("petpix.localhost").status_code == 200)
        assert "<h1>ColoringBook AI</h1>" in page("petpix.localhost").text

        manifest.write_text(
            manifest.read_text().replace('name = "ColoringBook AI"', 'name = "Pet Pix"')
        )
        _wait_for(lambda: "<h1>Pet Pix</h1>" in page("petpix.localhost").text)

        manifest.write_text(manifest.read_text().replace("[legal]", "[legal]\nnonsense = 1"))
        # Once the server has read the broken manifest (and said so), it keeps the last good one.
        _wait_for(lambda: "site folder petpix not loaded" in server.log.read_text())
        assert "<h1>Pet Pix</h1>" in page("petpix.localhost").text  # last good version
        assert page("coloringbook.localhost").status_code == 200

        shutil.rmtree(folder)
        _wait_for(lambda: page("petpix.localhost").status_code == 404)
        assert page("coloringbook.localhost").status_code == 200
