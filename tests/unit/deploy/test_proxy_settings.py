"""The generated deploy files say whose X-Forwarded-For to believe, and Vercel is not sent it."""

from __future__ import annotations

from pathlib import Path

import forkable
from forkable.deploy.bundle import render_bundle
from forkable.deploy.remote_bundle import SITE_SECRETS
from forkable.deploy.wheel import VendoredWheel
from forkable.manifest import load_site
from forkable.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "coloringbook"
WHEEL = VendoredWheel(f"forkable-{forkable.__version__}-py3-none-any.whl", b"not a real wheel")


def rendered() -> dict[str, str]:
    site = load_site(EXAMPLE)
    return {
        path: data.decode()
        for path, data in render_bundle(site.folder, site.manifest, WHEEL).items()
        if not path.endswith(".whl")
    }


def test_the_image_trusts_loopback_only_and_says_what_to_set_behind_a_proxy() -> None:
    dockerfile = rendered()["Dockerfile"]
    assert "FORKABLE_TRUSTED_PROXIES=127.0.0.1" in dockerfile
    assert "reverse proxy" in dockerfile
    # What the image declares is what the settings read.
    assert load_settings({"FORKABLE_TRUSTED_PROXIES": "127.0.0.1"}).trusted_proxies == (
        "127.0.0.1",
    )


def test_env_example_offers_it_blank_and_vercel_is_never_sent_it() -> None:
    lines = rendered()[".env.example"].splitlines()
    assert "FORKABLE_TRUSTED_PROXIES=" in lines
    comment = " ".join(lines[: lines.index("FORKABLE_TRUSTED_PROXIES=")][-5:])
    assert "Leave it unset on Vercel" in comment
    # A blank value (the .env.example as copied) means the default.
    assert load_settings({"FORKABLE_TRUSTED_PROXIES": ""}).trusted_proxies == ("127.0.0.1",)
    assert "FORKABLE_TRUSTED_PROXIES" not in SITE_SECRETS
