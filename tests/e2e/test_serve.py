"""`forkable serve` as a real process: single site, multi-site, first request."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.serving import serve

ROOT = Path(__file__).resolve().parents[2]


def test_serve_one_site_answers_any_host(tmp_path: Path) -> None:
    with serve(ROOT / "examples" / "coloringbook", tmp_path / "var") as server:
        response = httpx.get(server.url + "/", headers={"host": "anything.test"})
        assert response.status_code == 200
        assert "<h1>ColoringBook AI</h1>" in response.text
    assert (tmp_path / "var" / "forkable.sqlite3").is_file()  # migrated on start


def test_serve_a_folder_of_sites_routes_by_host(tmp_path: Path) -> None:
    with serve(ROOT / "examples", tmp_path / "var", args=("--workers", "2")) as server:
        for host, name in [
            ("pencilsketch.localhost", "SketchMe"),
            ("toonyou.example.com", "ToonYou"),
        ]:
            response = httpx.get(server.url + "/", headers={"host": host})
            assert f"<h1>{name}</h1>" in response.text
        assert httpx.get(server.url + "/", headers={"host": "x.test"}).status_code == 404
