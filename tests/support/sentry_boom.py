"""An app with Sentry on and a route that raises, visited once by a signed-in user.

Run in its own process by tests/integration/observability/test_sentry.py, so that the SDK's global
state never reaches the test process. Usage: python tests/support/sentry_boom.py SITE_FOLDER
with SENTRY_DSN and FORKABLE_DATA_DIR in the environment; prints the status of /boom.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sentry_sdk
from fastapi.testclient import TestClient

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.settings import load_settings

EMAIL = "ada.lovelace@example.com"
PASSWORD = "correct horse battery staple"
API_KEY = "fk_" + "s" * 43


def main() -> None:
    settings = load_settings()
    registry = open_registry(Path(sys.argv[1]))
    services = build_services(registry, settings, passwords=fast_passwords())
    app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)

    @app.post("/boom")
    def boom() -> None:
        raise RuntimeError(f"boom while serving {EMAIL} with key {API_KEY}")

    with TestClient(
        app, base_url="http://coloringbook.localhost", raise_server_exceptions=False
    ) as client:
        signup = client.post("/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        csrf = signup.json()["csrf_token"]
        response = client.post(
            "/boom",
            json={"email": EMAIL, "password": PASSWORD},
            headers={
                "x-csrf-token": csrf,
                "authorization": f"Bearer {API_KEY}",
                "x-request-id": "boom-1",
            },
        )
        sys.stdout.write(f"{response.status_code} {response.headers.get('x-request-id')}\n")
        sys.stdout.write(f"cookie {client.cookies['forkable_session']}\n")
        sys.stdout.write(f"csrf {csrf}\n")
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
