"""What the generation benchmarks share: camera-like photos, a served copy of the example site,
and a signed-in API user that submits photos and waits for their results."""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from common import ROOT
from PIL import Image
from tests.serving import Server, serve

EXAMPLE_SITE = ROOT / "examples" / "coloringbook"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")

# Blank values count as unset in forkable.settings: whatever the calling shell exports, the
# server runs offline (local filter), on its own SQLite file and with in-process rate limits.
_UNSET = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "FORKABLE_DATABASE_URL",
    "DATABASE_URL",
    "POSTGRES_URL",
    "FORKABLE_REDIS_URL",
    "REDIS_URL",
    "KV_URL",
    "FORKABLE_ENV",
    "FORKABLE_SITES",
    "VERCEL",
)


def photo(name: str, long_side: int) -> Image.Image:
    """A real photo from scikit-image, resized (Lanczos) to ``long_side`` px on its long side."""
    from skimage import data

    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    scale = long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def camera_like(image: Image.Image, size: tuple[int, int], noise: float, seed: int) -> Image.Image:
    """Crop to the aspect of ``size``, upscale, and add sensor-like noise (a camera's file
    has fine grain everywhere, which is what makes its JPEG large and its decoding slow)."""
    width, height = image.size
    aspect = size[0] / size[1]
    if width / height > aspect:
        crop_width = round(height * aspect)
        left = (width - crop_width) // 2
        image = image.crop((left, 0, left + crop_width, height))
    else:
        crop_height = round(width / aspect)
        top = (height - crop_height) // 2
        image = image.crop((0, top, width, top + crop_height))
    pixels = np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    grain = np.random.default_rng(seed).normal(0.0, noise, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, all its threads (10 ms resolution)."""
    # Fields after the parenthesised command name start at field 3 (state); utime is 14.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_env(workers: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**dict.fromkeys(_UNSET, ""), "FORKABLE_WORKERS": str(workers), **(extra or {})}


def site_copy(folder: Path, settings: Mapping[str, str]) -> Path:
    """A copy of the example site with top-level ``key = value`` lines of site.toml replaced."""
    target = folder / "site"
    shutil.copytree(EXAMPLE_SITE, target)
    manifest = target / "site.toml"
    text = manifest.read_text()
    for key, value in settings.items():
        text, count = re.subn(rf"^{re.escape(key)} = \S+", f"{key} = {value}", text, flags=re.M)
        if count != 1:
            raise ValueError(f"{key} is not a line of {manifest}")
    manifest.write_text(text)
    return target


@contextmanager
def served_site(
    folder: Path,
    *,
    workers: int,
    settings: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[Server, Path]]:
    """`forkable serve` on a copy of the example site; yields the server and its data dir."""
    site = site_copy(folder, settings)
    data_dir = folder / "var"
    with serve(site, data_dir, env=server_env(workers, env), timeout=60) as server:
        yield server, data_dir


def grant(data_dir: Path, email: str, amount: int, env: Mapping[str, str] | None = None) -> None:
    """Give a user tokens the way an operator would: `forkable tokens grant`."""
    command = [sys.executable, "-m", "forkable", "tokens", "grant", email, str(amount)]
    subprocess.run(
        [*command, "--reason", "benchmark"],
        env={**os.environ, **server_env(1, env), "FORKABLE_DATA_DIR": str(data_dir)},
        check=True,
        capture_output=True,
    )


@dataclass(frozen=True)
class Finished:
    """A generation as the client saw it end."""

    id: str
    submitted: datetime  # when the upload started
    seen_done: datetime  # when a poll first answered "succeeded"
    created_at: datetime  # the row was inserted (the upload already validated)
    finished_at: datetime  # the runner stamped the result, just before its commit

    @property
    def latency(self) -> float:
        """Seconds from upload to result, on the one clock client and server share here;
        unlike `observed`, it does not depend on how often the client polls."""
        return (self.finished_at - self.submitted).total_seconds()

    @property
    def observed(self) -> float:
        return (self.seen_done - self.submitted).total_seconds()


class ApiUser:
    """A user signed up over the API, with the session cookie and CSRF token it got."""

    def __init__(self, url: str, email: str, pool: int = 8) -> None:
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self.client = httpx.Client(base_url=url, timeout=120, limits=limits)
        self.email = email
        self.polls = 0  # GETs sent by wait(), whose server CPU is not the flow's own
        response = self.client.post(
            "/api/v1/auth/signup", json={"email": email, "password": secrets.token_urlsafe(16)}
        )
        response.raise_for_status()
        self.csrf = response.json()["csrf_token"]

    def close(self) -> None:
        self.client.close()

    def submit(self, data: bytes) -> tuple[str, datetime]:
        """Upload a photo; the generation id and when the upload started."""
        started = datetime.now(UTC)
        response = self.client.post(
            "/api/v1/generations",
            files={"image": ("photo.jpg", data, "image/jpeg")},
            headers={"x-csrf-token": self.csrf},
        )
        if response.status_code != 202:
            raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
        return response.json()["id"], started

    def wait(
        self,
        generation_id: str,
        submitted: datetime,
        *,
        poll: float,
        quiet: float = 0.0,
        timeout: float = 300,
    ) -> Finished:
        """Poll until the generation succeeded; raise if it failed or time ran out.

        ``quiet``: seconds to wait before the first poll, so that polls answered while the
        job runs do not compete with it for the server's CPU.
        """
        deadline = time.monotonic() + timeout
        time.sleep(quiet)
        while time.monotonic() < deadline:
            body = self.client.get(f"/api/v1/generations/{generation_id}").json()
            self.polls += 1
            if body["status"] == "succeeded":
                return Finished(
                    id=generation_id,
                    submitted=submitted,
                    seen_done=datetime.now(UTC),
                    created_at=datetime.fromisoformat(body["created_at"]),
                    finished_at=datetime.fromisoformat(body["finished_at"]),
                )
            if body["status"] == "failed":
                raise RuntimeError(f"generation {generation_id} failed: {body['error']}")
            time.sleep(poll)
        raise TimeoutError(f"generation {generation_id} did not finish in {timeout} s")
