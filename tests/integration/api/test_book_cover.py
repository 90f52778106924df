"""A book's cover carries the site's brand: its raster logo when it has one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.factories import sign_up, upload, wait_for
from tests.support.pdf import drawn_images, read


@pytest.fixture
def sites_dir(sites_dir: Path) -> Path:
    """The example sites, the coloring book's logo a PNG instead of its SVG."""
    site = sites_dir / "coloringbook"
    logo = io.BytesIO()
    Image.new("RGBA", (128, 128), (26, 83, 92, 255)).save(logo, format="PNG")
    (site / "assets" / "logo.png").write_bytes(logo.getvalue())
    manifest = site / "site.toml"
    text = manifest.read_text(encoding="utf-8")
    assert 'logo = "assets/logo.svg"' in text
    manifest.write_text(text.replace("assets/logo.svg", "assets/logo.png"), encoding="utf-8")
    return sites_dir


def test_the_cover_draws_a_raster_logo(client: TestClient) -> None:
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"

    response = client.post(
        "/api/v1/books",
        json={"title": "With a logo", "generation_ids": [generation_id]},
        headers=user.headers(),
    )

    assert response.status_code == 200, response.text
    reader = read(response.content)
    (logo,) = drawn_images(reader, reader.pages[0])
    assert logo.pixels == (128, 128)
    assert "With a logo" in reader.pages[0].extract_text()
