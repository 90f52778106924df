"""Environment settings: infrastructure and secrets, read in this module only."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field

Environment = Literal["development", "production"]
PaymentsMode = Literal["stripe", "demo"]
MediaMode = Literal["local", "database"]
LogFormat = Literal["json", "text"]
AlertsMode = Literal["auto", "on", "off"]

# Bearer tokens an operator sets (metrics scraper, cron) must be unguessable: 32 characters of
# `openssl rand -hex 16` already carry 128 random bits.
MIN_OPERATOR_TOKEN_LENGTH = 32


class SettingsError(Exception):
    """Raised when the environment cannot produce valid settings; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseModel):
    """Everything the process takes from its environment, resolved and typed."""

    model_config = ConfigDict(frozen=True)

    env: Environment = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None
    payments: PaymentsMode = "demo"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Per-site Stripe credentials, by `stripe_env_suffix(site id)`: STRIPE_SECRET_KEY__<SUFFIX>
    # and STRIPE_WEBHOOK_SECRET__<SUFFIX> win over the two above for that site.
    stripe_site_secret_keys: dict[str, str] = Field(default_factory=dict)
    stripe_site_webhook_secrets: dict[str, str] = Field(default_factory=dict)
    stripe_api_base: str | None = None
    sentry_dsn: str | None = None
    metrics_token: str | None = None
    serverless: bool = False
    sites_path: Path | None = None
    price_table: Path | None = None
    workers: int = Field(default=2, ge=1, le=64)
    job_lease_seconds: float = Field(default=30.0, gt=0)
    sites_poll_seconds: float = Field(default=1.0, ge=0)
    # Seconds a client has to send a request body (uploads: four times as long).
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    media: MediaMode = "local"
    cron_secret: str | None = None
    log_format: LogFormat | None = None  # None: json in production, text in development
    metrics_enabled: bool = True  # off only to measure what instrumentation costs
    access_log: bool = True  # one log line per request (off where the load balancer logs them)
    metrics_multiproc_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR, set by `serve`
    # Alerts: "auto" evaluates in the serving process when a channel is configured.
    alerts: AlertsMode = "auto"
    alert_interval_seconds: float = Field(default=60.0, gt=0)
    alert_rules: Path | None = None
    alert_slack_webhook_url: str | None = None
    alert_webhook_url: str | None = None
    alert_smtp_url: str | None = None
    alert_email_from: str | None = None
    alert_email_to: tuple[str, ...] = ()
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    alert_sms_to: tuple[str, ...] = ()
    twilio_api_base: str | None = None
    # Admins with these e-mails also see every site of the server (normalised: lowercase).
    operator_emails: frozenset[str] = frozenset()
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses and networks.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)

    @property
    def inline_jobs(self) -> bool:
        """Run each generation inside its submit request: no process outlives a request."""
        return self.serverless

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_log_format(self) -> LogFormat:
        """JSON lines for log collectors in production, readable lines in development."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.is_production else "text"

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, with the embedded SQLite file in the data dir as the default."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'forkable.sqlite3').resolve()}"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def alert_channels_configured(self) -> bool:
        return bool(
            self.alert_slack_webhook_url
            or self.alert_webhook_url
            or self.alert_smtp_url
            or self.alert_sms_to
        )

    @property
    def alerts_active(self) -> bool:
        """Evaluate alert rules in the serving process."""
        return self.alerts == "on" or (self.alerts == "auto" and self.alert_channels_configured)

    def stripe_secret_key_for(self, site_id: str) -> str | None:
        """The Stripe secret key of ``site_id``'s account: its own, else the shared one."""
        own = self.stripe_site_secret_keys.get(stripe_env_suffix(site_id))
        return own or self.stripe_secret_key

    def stripe_webhook_secret_for(self, site_id: str) -> str | None:
        """The signing secret of ``site_id``'s webhook endpoint: its own, else the shared one."""
        own = self.stripe_site_webhook_secrets.get(stripe_env_suffix(site_id))
        return own or self.stripe_webhook_secret

    def site_payment_problems(self, site_ids: Iterable[str]) -> list[str]:
        """Production: each site served needs a Stripe key and its endpoint's webhook secret."""
        if not self.is_production or self.payments != "stripe":
            return []
        ids = sorted(site_ids)
        problems: list[str] = []
        for site_id in ids:
            suffix = stripe_env_suffix(site_id)
            if not self.stripe_secret_key_for(site_id):
                problems.append(
                    f"site {site_id} has no Stripe secret key: set STRIPE_SECRET_KEY__{suffix} "
                    "(or STRIPE_SECRET_KEY for every site)"
                )
            if not self.stripe_webhook_secret_for(site_id):
                problems.append(
                    f"site {site_id} has no Stripe webhook secret: set "
                    f"STRIPE_WEBHOOK_SECRET__{suffix} to the signing secret of its endpoint"
                )
        known = {stripe_env_suffix(site_id) for site_id in ids}
        for prefix, overrides in (
            ("STRIPE_SECRET_KEY", self.stripe_site_secret_keys),
            ("STRIPE_WEBHOOK_SECRET", self.stripe_site_webhook_secrets),
        ):
            problems.extend(
                f"{prefix}__{suffix} names no site served here (sites: {', '.join(ids)})"
                for suffix in sorted(set(overrides) - known)
            )
        return problems

    def production_problems(self) -> list[str]:
        """Every reason this configuration must not serve real users, one line each."""
        if not self.is_production:
            return []
        problems: list[str] = []
        if self.payments == "demo":
            problems.append(
                "payments are in demo mode: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET "
                "(FORKABLE_PAYMENTS=demo is refused in production)"
            )
        elif not self.stripe_webhook_secret and not self.stripe_site_webhook_secrets:
            problems.append("STRIPE_WEBHOOK_SECRET is not set: webhooks could not be verified")
        if not self.metrics_token:
            problems.append("FORKABLE_METRICS_TOKEN is not set: /metrics would be open to everyone")
        elif len(self.metrics_token) < MIN_OPERATOR_TOKEN_LENGTH:
            problems.append(
                f"FORKABLE_METRICS_TOKEN is too short: use {MIN_OPERATOR_TOKEN_LENGTH} or more "
                "random characters (openssl rand -hex 32)"
            )
        if self.cron_secret and len(self.cron_secret) < MIN_OPERATOR_TOKEN_LENGTH:
            problems.append(
                f"CRON_SECRET is too short: use {MIN_OPERATOR_TOKEN_LENGTH} or more random "
                "characters (openssl rand -hex 32)"
            )
        if self.serverless and self.media == "local":
            problems.append(
                "a local media folder on a serverless host loses every photo: "
                "set FORKABLE_MEDIA=database"
            )
        if self.serverless and self.uses_sqlite:
            problems.append(
                "SQLite on a serverless host loses data: set FORKABLE_DATABASE_URL "
                "(or DATABASE_URL / POSTGRES_URL) to a PostgreSQL database"
            )
        return problems


def stripe_env_suffix(site_id: str) -> str:
    """How a site id appears in a per-site variable name: `pet-pix` -> `PET_PIX`."""
    return site_id.upper().replace("-", "_")


def _per_site(env_map: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``PREFIX__<SITE>`` variables with a value, by their upper-cased site suffix."""
    found: dict[str, str] = {}
    for name, value in env_map.items():
        suffix = name[len(prefix) + 2 :] if name.startswith(prefix + "__") else ""
        if suffix and value.strip():
            found[suffix.upper()] = value.strip()
    return found


def normalise_database_url(url: str) -> str:
    """Map the URLs hosting platforms hand out onto SQLAlchemy's psycopg 3 dialect."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _addresses(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _trusted_proxies(text: str | None, problems: list[str]) -> tuple[str, ...]:
    """FORKABLE_TRUSTED_PROXIES as normalised addresses and networks (`10.0.0.0/8`)."""
    entries: list[str] = []
    for entry in _addresses(text or "127.0.0.1"):
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            hint = (
                " (to trust every peer, which lets any client pick its address, "
                "write 0.0.0.0/0,::/0)"
                if entry == "*"
                else ""
            )
            problems.append(
                f"FORKABLE_TRUSTED_PROXIES: {entry!r} is not an IP address or network{hint}"
            )
            continue
        single = network.prefixlen == network.max_prefixlen
        entries.append(str(network.network_address) if single else str(network))
    return tuple(entries)


def _smtp_password_in_clear(url: str) -> bool:
    """An `smtp://` URL with credentials that turns STARTTLS off."""
    parts = urlsplit(url)
    starttls = parse_qs(parts.query).get("starttls", [""])[-1].lower()
    has_credentials = bool(parts.username or parts.password)
    return parts.scheme == "smtp" and has_credentials and starttls in ("0", "false", "no", "off")


def _alert_settings(env_map: Mapping[str, str], problems: list[str]) -> dict[str, object]:
    """The alert channels and evaluation settings; problems are appended, one line each."""
    mode = (_first(env_map, "FORKABLE_ALERTS") or "auto").lower()
    mode = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}.get(
        mode, mode
    )
    if mode not in ("auto", "on", "off"):
        problems.append(f"FORKABLE_ALERTS must be 'on', 'off' or 'auto', not {mode!r}")
        mode = "auto"

    interval_text = _first(env_map, "FORKABLE_ALERT_INTERVAL_SECONDS") or "60"
    try:
        interval = float(interval_text)
        if not 1 <= interval <= 86400:
            raise ValueError
    except ValueError:
        problems.append(
            "FORKABLE_ALERT_INTERVAL_SECONDS must be a number of seconds from 1 to 86400, "
            f"not {interval_text!r}"
        )
        interval = 60.0

    urls = {
        name: _first(env_map, name)
        for name in ("FORKABLE_ALERT_SLACK_WEBHOOK_URL", "FORKABLE_ALERT_WEBHOOK_URL")
    }
    for name, url in urls.items():
        if url and not url.startswith(("https://", "http://")):
            problems.append(f"{name} must be an http(s) URL")

    smtp_url = _first(env_map, "FORKABLE_ALERT_SMTP_URL")
    email_from = _first(env_map, "FORKABLE_ALERT_EMAIL_FROM")
    email_to = _addresses(_first(env_map, "FORKABLE_ALERT_EMAIL_TO"))
    if smtp_url:
        if not smtp_url.startswith(("smtp://", "smtps://")):
            problems.append(
                "FORKABLE_ALERT_SMTP_URL must look like smtp://user:pass@host:587 (STARTTLS), "
                "smtps://user:pass@host:465 (TLS), or smtp://host:25 for a local relay"
            )
        elif _smtp_password_in_clear(smtp_url):
            problems.append(
                "FORKABLE_ALERT_SMTP_URL: starttls=0 would send the SMTP password in clear; "
                "credentials go only over STARTTLS or smtps://"
            )
        if not email_from or not email_to:
            problems.append(
                "FORKABLE_ALERT_SMTP_URL needs FORKABLE_ALERT_EMAIL_FROM and "
                "FORKABLE_ALERT_EMAIL_TO (comma-separated)"
            )
    elif email_to:
        problems.append("FORKABLE_ALERT_EMAIL_TO is set but FORKABLE_ALERT_SMTP_URL is not")

    sms_to = _addresses(_first(env_map, "FORKABLE_ALERT_SMS_TO"))
    twilio = {
        name: _first(env_map, name)
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")
    }
    if sms_to:
        missing = [name for name, value in twilio.items() if not value]
        if missing:
            problems.append(f"FORKABLE_ALERT_SMS_TO needs {', '.join(missing)}")

    rules = _first(env_map, "FORKABLE_ALERT_RULES")
    return {
        "alerts": mode,
        "alert_interval_seconds": interval,
        "alert_rules": Path(rules) if rules else None,
        "alert_slack_webhook_url": urls["FORKABLE_ALERT_SLACK_WEBHOOK_URL"],
        "alert_webhook_url": urls["FORKABLE_ALERT_WEBHOOK_URL"],
        "alert_smtp_url": smtp_url,
        "alert_email_from": email_from,
        "alert_email_to": email_to,
        "twilio_account_sid": twilio["TWILIO_ACCOUNT_SID"],
        "twilio_auth_token": twilio["TWILIO_AUTH_TOKEN"],
        "twilio_from": twilio["TWILIO_FROM"],
        "alert_sms_to": sms_to,
        "twilio_api_base": _first(env_map, "FORKABLE_TWILIO_API_BASE"),
    }


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    env_map: Mapping[str, str] = os.environ if environ is None else environ
    problems: list[str] = []

    env = (_first(env_map, "FORKABLE_ENV") or "development").lower()
    if env not in ("development", "production"):
        problems.append(f"FORKABLE_ENV must be 'development' or 'production', not {env!r}")
        env = "development"

    stripe_key = _first(env_map, "STRIPE_SECRET_KEY")
    site_stripe_keys = _per_site(env_map, "STRIPE_SECRET_KEY")
    site_webhook_secrets = _per_site(env_map, "STRIPE_WEBHOOK_SECRET")
    any_stripe_key = bool(stripe_key or site_stripe_keys)
    payments = (
        _first(env_map, "FORKABLE_PAYMENTS") or ("stripe" if any_stripe_key else "demo")
    ).lower()
    if payments not in ("stripe", "demo"):
        problems.append(f"FORKABLE_PAYMENTS must be 'stripe' or 'demo', not {payments!r}")
        payments = "demo"
    elif payments == "stripe" and not any_stripe_key:
        problems.append("FORKABLE_PAYMENTS=stripe needs STRIPE_SECRET_KEY")

    lease_text = _first(env_map, "FORKABLE_JOB_LEASE_SECONDS") or "30"
    try:
        lease_seconds = float(lease_text)
        if not 1 <= lease_seconds <= 3600:
            raise ValueError
    except ValueError:
        problems.append(
            f"FORKABLE_JOB_LEASE_SECONDS must be a number of seconds from 1 to 3600, not {lease_text!r}"
        )
        lease_seconds = 30.0

    serverless = _first(env_map, "VERCEL") == "1"
    media = (_first(env_map, "FORKABLE_MEDIA") or ("database" if serverless else "local")).lower()
    if media not in ("local", "database"):
        problems.append(f"FORKABLE_MEDIA must be 'local' or 'database', not {media!r}")
        media = "local"

    poll_text = _first(env_map, "FORKABLE_SITES_POLL_SECONDS") or "1"
    try:
        poll_seconds = float(poll_text)
        if not 0 <= poll_seconds <= 3600:
            raise ValueError
    except ValueError:
        problems.append(
            f"FORKABLE_SITES_POLL_SECONDS must be 0 (off) to 3600 seconds, not {poll_text!r}"
        )
        poll_seconds = 1.0

    body_timeout_text = _first(env_map, "FORKABLE_BODY_TIMEOUT_SECONDS") or "30"
    try:
        body_timeout = float(body_timeout_text)
        if not 0.1 <= body_timeout <= 3600:
            raise ValueError
    except ValueError:
        problems.append(
            "FORKABLE_BODY_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 3600, "
            f"not {body_timeout_text!r}"
        )
        body_timeout = 30.0

    workers_text = _first(env_map, "FORKABLE_WORKERS") or "2"
    try:
        workers = int(workers_text)
        if not 1 <= workers <= 64:
            raise ValueError
    except ValueError:
        problems.append(
            f"FORKABLE_WORKERS must be a whole number from 1 to 64, not {workers_text!r}"
        )
        workers = 2

    operator_emails = frozenset(
        address.lower()
        for address in re.split(r"[,\s]+", _first(env_map, "FORKABLE_OPERATOR_EMAILS") or "")
        if address
    )
    problems.extend(
        f"FORKABLE_OPERATOR_EMAILS: {address!r} is not an e-mail address"
        for address in sorted(operator_emails)
        if "@" not in address
    )

    alert_values = _alert_settings(env_map, problems)
    trusted_proxies = _trusted_proxies(_first(env_map, "FORKABLE_TRUSTED_PROXIES"), problems)

    log_format = (_first(env_map, "FORKABLE_LOG_FORMAT") or "").lower() or None
    if log_format not in (None, "json", "text"):
        problems.append(f"FORKABLE_LOG_FORMAT must be 'json' or 'text', not {log_format!r}")
        log_format = None

    metrics_switch = (_first(env_map, "FORKABLE_METRICS") or "on").lower()
    if metrics_switch not in ("on", "off"):
        problems.append(f"FORKABLE_METRICS must be 'on' or 'off', not {metrics_switch!r}")
        metrics_switch = "on"

    access_log = (_first(env_map, "FORKABLE_ACCESS_LOG") or "on").lower()
    if access_log not in ("on", "off"):
        problems.append(f"FORKABLE_ACCESS_LOG must be 'on' or 'off', not {access_log!r}")
        access_log = "on"

    if problems:
        raise SettingsError(problems)

    multiproc = _first(env_map, "PROMETHEUS_MULTIPROC_DIR")
    return Settings(
        env=env,
        data_dir=Path(_first(env_map, "FORKABLE_DATA_DIR") or "var"),
        database_url=_first(env_map, "FORKABLE_DATABASE_URL", "DATABASE_URL", "POSTGRES_URL"),
        redis_url=_first(env_map, "FORKABLE_REDIS_URL", "REDIS_URL", "KV_URL"),
        gemini_api_key=_first(env_map, "GEMINI_API_KEY", "GOOGLE_API_KEY"),
        gemini_base_url=_first(env_map, "FORKABLE_GEMINI_BASE_URL"),
        payments=payments,
        stripe_secret_key=stripe_key,
        stripe_webhook_secret=_first(env_map, "STRIPE_WEBHOOK_SECRET"),
        stripe_site_secret_keys=site_stripe_keys,
        stripe_site_webhook_secrets=site_webhook_secrets,
        stripe_api_base=_first(env_map, "FORKABLE_STRIPE_API_BASE"),
        sentry_dsn=_first(env_map, "SENTRY_DSN"),
        metrics_token=_first(env_map, "FORKABLE_METRICS_TOKEN"),
        serverless=serverless,
        media=media,
        cron_secret=_first(env_map, "CRON_SECRET"),
        sites_path=Path(sites) if (sites := _first(env_map, "FORKABLE_SITES")) else None,
        price_table=Path(prices) if (prices := _first(env_map, "FORKABLE_PRICE_TABLE")) else None,
        workers=workers,
        job_lease_seconds=lease_seconds,
        sites_poll_seconds=poll_seconds,
        body_timeout_seconds=body_timeout,
        log_format=log_format,
        metrics_enabled=metrics_switch == "on",
        access_log=access_log == "on",
        metrics_multiproc_dir=Path(multiproc) if multiproc else None,
        operator_emails=operator_emails,
        trusted_proxies=trusted_proxies,
        **alert_values,
    )


def check_production(settings: Settings) -> None:
    """Refuse to start in production when a development default would be used."""
    problems = settings.production_problems()
    if problems:
        raise SettingsError(problems)
