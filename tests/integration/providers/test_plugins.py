"""A provider plugin installed from examples/plugins is found through its entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.factories import sign_up, upload, wait_for

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.generations.runner import RunnerConfig
from forkable.manifest import load_site
from forkable.providers.catalog import build_catalog
from forkable.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "examples" / "plugins" / "forkable-duotone"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip-install the example plugin into a folder put on sys.path (the venv stays clean)."""
    target = tmp_path / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.syspath_prepend(str(target))
    return target


@pytest.fixture
def duotone_site(sites_dir: Path) -> Path:
    folder = sites_dir / "coloringbook"
    manifest = folder / "site.toml"
    text = manifest.read_text().replace('provider = "gemini"', 'provider = "duotone"')
    text = text.replace(
        "max_upload_mb = 10", 'max_upload_mb = 10\nparams = { dark = "#000080", light = "#ffff00" }'
    )
    # the coloring-book styles carry filter parameters the duotone plugin does not take
    text = text[: text.index("[[transform.styles]]")] + text[text.index("[pricing]") :]
    manifest.write_text(text)
    return folder


def test_unknown_provider_without_the_plugin(duotone_site: Path) -> None:
    from forkable.manifest import ManifestError

    with pytest.raises(ManifestError) as caught:
        load_site(duotone_site, build_catalog())
    assert "unknown provider 'duotone'" in caught.value.problems[0].message


def test_plugin_provider_makes_the_images(
    installed_plugin: Path, duotone_site: Path, settings: Settings
) -> None:
    assert "duotone" in build_catalog().providers
    registry = open_registry(duotone_site)
    services = build_services(
        registry, settings, passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=1, lease_seconds=5, poll_seconds=0.05),
    )  # fmt: skip
    app = create_app(registry, settings, services=services, migrate=True)
    with TestClient(app) as client:
        user = sign_up(client)
        done = wait_for(client, upload(client, user).json()["id"])  # type: ignore[attr-defined]
        assert done["status"] == "succeeded", done
        import io

        image = Image.open(io.BytesIO(client.get(str(done["result_url"])).content)).convert("RGB")
    colors = {
        image.getpixel((x, y)) for x in range(0, image.width, 7) for y in range(0, image.height, 7)
    }
    # every pixel lies on the ramp from navy (0, 0, 128) to yellow (255, 255, 0): R == G
    assert all(abs(r - g) <= 2 for r, g, _b in colors)  # type: ignore[misc]
    services.database.dispose()
