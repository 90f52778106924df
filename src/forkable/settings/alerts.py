"""Alerting: when rules are evaluated and the channels alerts go out on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic_settings import NoDecode

from forkable.settings.fields import comma_list, problem, variable
from forkable.settings.mail import SmtpUrl

# The order the choices are named in when a value is refused.
AlertsMode = Literal["on", "off", "auto"]

_SWITCH_WORDS = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}


def _alerts_mode(value: Any) -> Any:
    """`on`/`off`/`auto`, with the usual yes/no spellings of on and off."""
    if not isinstance(value, str):
        return value
    mode = value.lower()
    return _SWITCH_WORDS.get(mode, mode)


def _http_url(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise problem("must be an http(s) URL")
    return url


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Recipients = Annotated[tuple[str, ...], NoDecode, BeforeValidator(comma_list)]


class AlertSettings(BaseModel):
    """Alerting: when rules are evaluated and the channels alerts go out on."""

    # "auto" evaluates in the serving process when a channel is configured.
    alerts: Annotated[AlertsMode, BeforeValidator(_alerts_mode)] = variable(
        "FORKABLE_ALERTS",
        meaning="`on`, `off`, or `auto`: evaluate alert rules in the serving process when a "
        "channel is configured (see [Alerts](#alerts))",
        default="auto",
    )
    alert_interval_seconds: float = variable(
        "FORKABLE_ALERT_INTERVAL_SECONDS",
        meaning="seconds between two evaluations of the alert rules in the serving process",
        default=60.0,
        ge=1,
        le=86400,
        allow_inf_nan=False,
    )
    alert_rules: Path | None = variable(
        "FORKABLE_ALERT_RULES",
        meaning="a TOML file that changes, turns off or adds alert rules",
        shown_default="the shipped rules",
    )
    alert_slack_webhook_url: HttpUrl | None = variable(
        "FORKABLE_ALERT_SLACK_WEBHOOK_URL", meaning="Slack incoming webhook"
    )
    alert_webhook_url: HttpUrl | None = variable(
        "FORKABLE_ALERT_WEBHOOK_URL", meaning="generic JSON webhook"
    )
    alert_smtp_url: SmtpUrl | None = variable(
        "FORKABLE_ALERT_SMTP_URL",
        meaning="alert e-mail: `smtp://user:pass@host:587` (STARTTLS), "
        "`smtps://user:pass@host:465` (TLS), or `smtp://host:25` without credentials for a "
        "local relay",
    )
    alert_email_from: str | None = variable(
        "FORKABLE_ALERT_EMAIL_FROM", meaning="sender of alert e-mail"
    )
    alert_email_to: Recipients = variable(
        "FORKABLE_ALERT_EMAIL_TO",
        meaning="recipients of alert e-mail (comma-separated)",
        default=(),
        shown_default="none",
    )
    twilio_account_sid: str | None = variable(
        "TWILIO_ACCOUNT_SID", meaning="Twilio account for alert SMS"
    )
    twilio_auth_token: str | None = variable(
        "TWILIO_AUTH_TOKEN", meaning="Twilio auth token for alert SMS"
    )
    twilio_from: str | None = variable("TWILIO_FROM", meaning="Twilio number alert SMS come from")
    alert_sms_to: Recipients = variable(
        "FORKABLE_ALERT_SMS_TO",
        meaning="recipients of alert SMS through Twilio (comma-separated)",
        default=(),
        shown_default="none",
    )
    twilio_api_base: str | None = variable(
        "FORKABLE_TWILIO_API_BASE",
        meaning="point the Twilio client elsewhere (tests)",
        shown_default="Twilio's",
    )

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


def alert_combination_problems(values: dict[str, Any]) -> list[str]:
    """Channels configured half-way, from the variables found (blank ones left out)."""
    problems: list[str] = []
    email_to = comma_list(values.get("FORKABLE_ALERT_EMAIL_TO", ""))
    if values.get("FORKABLE_ALERT_SMTP_URL"):
        if not values.get("FORKABLE_ALERT_EMAIL_FROM") or not email_to:
            problems.append(
                "FORKABLE_ALERT_SMTP_URL needs FORKABLE_ALERT_EMAIL_FROM and "
                "FORKABLE_ALERT_EMAIL_TO (comma-separated)"
            )
    elif email_to:
        problems.append("FORKABLE_ALERT_EMAIL_TO is set but FORKABLE_ALERT_SMTP_URL is not")
    if comma_list(values.get("FORKABLE_ALERT_SMS_TO", "")):
        twilio = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")
        missing = [name for name in twilio if not values.get(name)]
        if missing:
            problems.append(f"FORKABLE_ALERT_SMS_TO needs {', '.join(missing)}")
    return problems
