"""Test data: real photos as upload bodies, signed-up users, waiting for jobs."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import lru_cache

import httpx
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from forkable.generations.admission import AdmissionPolicy
from forkable.mail.models import OutboxMail
from forkable.services import Services

PASSWORD = "correct horse battery staple"


@lru_cache(maxsize=8)
def photo_bytes(name: str = "astronaut", fmt: str = "JPEG", size: int = 320) -> bytes:
    """A real photo from scikit-image, scaled to ``size`` px on its long side."""
    from skimage import data

    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@dataclass
class SignedUp:
    email: str
    csrf_token: str
    user_id: int

    def headers(self) -> dict[str, str]:
        return {"x-csrf-token": self.csrf_token}


def sign_up(
    client: TestClient, email: str = "ada@example.com", host: str | None = None
) -> SignedUp:
    headers = {"host": host} if host else {}
    response = client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    services = client.app.state.services  # type: ignore[attr-defined]
    verify_by_mail(client, services, body["user"]["id"], host=host)
    return SignedUp(email=email, csrf_token=body["csrf_token"], user_id=body["user"]["id"])


def mailed_token(services: Services, user_id: int, kind: str = "verify_email") -> str | None:
    """The token of the newest link of ``kind`` mailed to ``user_id``, read from the mail's text
    as the user would; None when no such mail was queued. A mail the app already delivered has
    its body cleared from the outbox: then it is read from the `.eml` file it became."""
    with services.database.session() as session:
        row = session.execute(
            select(OutboxMail.id, OutboxMail.body_text)
            .where(OutboxMail.user_id == user_id, OutboxMail.kind == kind)
            .order_by(OutboxMail.created_at.desc())
            .limit(1)
        ).one_or_none()
    if row is None:
        return None
    outbox_id, text = row
    if text is None:
        (eml,) = (services.settings.data_dir / "mail").glob(f"*-{outbox_id}.eml")
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""
    found = re.search(r"[?&]token=([A-Za-z0-9_-]+)", text)
    return found.group(1) if found else None


def verify_by_mail(
    client: httpx.Client, services: Services, user_id: int, host: str | None = None
) -> None:
    """Use the verification link mailed at sign-up, as a new user does (nothing to do when the
    site verifies nothing and mailed none)."""
    token = mailed_token(services, user_id)
    if token is None:
        return
    headers = {"host": host} if host else {}
    response = client.post("/api/v1/auth/verify-email", json={"token": token}, headers=headers)
    assert response.status_code == 200, response.text


def upload(
    client: TestClient,
    user: SignedUp,
    data: bytes | None = None,
    *,
    style: str | None = None,
    headers: dict[str, str] | None = None,
    filename: str = "photo.jpg",
) -> object:
    files = {"image": (filename, data if data is not None else photo_bytes(), "image/jpeg")}
    form = {"style": style} if style else None
    return client.post(
        "/api/v1/generations",
        files=files,
        data=form,
        headers={**user.headers(), **(headers or {})},
    )


def wait_for(client: TestClient, generation_id: str, timeout: float = 20) -> dict[str, object]:
    """Poll until the generation has finished; return its JSON."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/api/v1/generations/{generation_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise TimeoutError(f"generation {generation_id} did not finish")


def open_policy(cost: int = 1) -> AdmissionPolicy:
    """Admission for tests that submit directly: ``cost`` tokens, no rate or spend cap in reach."""
    return AdmissionPolicy(
        per_minute=10_000, daily_cap_usd=1_000_000.0, cost_tokens=cost, estimated_cost_usd=0.0
    )


async def verify_by_mail_async(client: httpx.AsyncClient, services: Services, user_id: int) -> None:
    """`verify_by_mail` for an asynchronous client."""
    token = mailed_token(services, user_id)
    if token is None:
        return
    response = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
