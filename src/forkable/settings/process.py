"""How the process runs: environment, sites, workers, time limits, the peers it trusts."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic_settings import NoDecode

from forkable.settings.fields import address_list, comma_list, lowered, problem, variable

Environment = Literal["development", "production"]


def _serverless(value: Any) -> Any:
    """Vercel sets VERCEL=1; any other value is not a serverless host."""
    return value == "1" if isinstance(value, str) else value


def _operator_email(address: str) -> str:
    if "@" not in address:
        raise problem(f": {address!r} is not an e-mail address")
    return address


def _trusted_proxy(entry: str) -> str:
    """An address or network, normalised (`192.168.1.7/24` -> `192.168.1.0/24`)."""
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        hint = (
            " (to trust every peer, which lets any client pick its address, write 0.0.0.0/0,::/0)"
            if entry == "*"
            else ""
        )
        raise problem(f": {entry!r} is not an IP address or network{hint}") from None
    single = network.prefixlen == network.max_prefixlen
    return str(network.network_address) if single else str(network)


class ProcessSettings(BaseModel):
    """How the process runs: environment, sites, workers, time limits, the peers it trusts."""

    env: Annotated[Environment, BeforeValidator(lowered)] = variable(
        "FORKABLE_ENV", meaning="`development` or `production`", default="development"
    )
    sites_path: Path | None = variable(
        "FORKABLE_SITES",
        meaning="the site folder or folder of sites to serve when no PATH is given",
    )
    sites_poll_seconds: float = variable(
        "FORKABLE_SITES_POLL_SECONDS",
        meaning="how often a multi-site server looks for new, changed and removed site folders; "
        "`0` turns it off",
        default=1.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
    )
    workers: int = variable(
        "FORKABLE_WORKERS",
        meaning="generation worker threads per process",
        default=2,
        ge=1,
        le=64,
    )
    job_lease_seconds: float = variable(
        "FORKABLE_JOB_LEASE_SECONDS",
        meaning="how long a worker's claim on a generation lasts without renewal "
        "(renewed every third of it)",
        default=30.0,
        ge=1,
        le=3600,
        allow_inf_nan=False,
    )
    no_jobs: bool = variable(
        "FORKABLE_NO_JOBS",
        meaning="`1`: serve HTTP only and put generations on the shared queue for "
        "`forkable worker` processes (PostgreSQL only; what `forkable serve --no-jobs` sets); "
        "see [scaling](scaling.md)",
        default=False,
        shown_default="unset: jobs run in the serving process",
    )
    schema_wait_seconds: float = variable(
        "FORKABLE_SCHEMA_WAIT_SECONDS",
        meaning="how long `serve` and `worker` wait at start-up for `forkable db upgrade` to "
        "bring a PostgreSQL schema up to date (processes started beside it), before they fail",
        default=60.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
    )
    body_timeout_seconds: float = variable(
        "FORKABLE_BODY_TIMEOUT_SECONDS",
        meaning="seconds a client has to send a request body, from its headers to its last "
        "byte; later it gets 408 and the connection is closed (photo uploads get four times as "
        "long); see [Request limits](#request-limits)",
        default=30.0,
        ge=0.1,
        le=3600,
        allow_inf_nan=False,
    )
    serverless: Annotated[bool, BeforeValidator(_serverless)] = variable(
        "VERCEL",
        meaning="set to `1` by Vercel; enables the serverless checks and in-request generations",
        default=False,
        shown_default="unset",
    )
    cron_secret: str | None = variable(
        "CRON_SECRET",
        meaning="enables `GET /api/v1/internal/maintenance` for a cron (Vercel sends it as "
        "`Authorization: Bearer`); 32+ characters in production",
        shown_default="unset: the endpoint is off",
    )
    # Admins with these e-mails also see every site of the server (normalised: lowercase).
    operator_emails: Annotated[
        frozenset[Annotated[str, AfterValidator(_operator_email)]],
        NoDecode,
        BeforeValidator(address_list),
    ] = variable(
        "FORKABLE_OPERATOR_EMAILS",
        meaning="admins with these e-mails (comma-separated) are operators: in `/admin` they "
        "also see every site of the server (see [admin](admin.md))",
        default=frozenset(),
        shown_default="none",
    )
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses and networks.
    trusted_proxies: Annotated[
        tuple[Annotated[str, AfterValidator(_trusted_proxy)], ...],
        NoDecode,
        BeforeValidator(comma_list),
    ] = variable(
        "FORKABLE_TRUSTED_PROXIES",
        meaning="comma-separated addresses and networks (`10.0.0.2`, `172.16.0.0/12`, `::1`) "
        "whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; see "
        "[Behind a proxy](#behind-a-proxy)",
        default=("127.0.0.1",),
        shown_default="`127.0.0.1`",
    )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def inline_jobs(self) -> bool:
        """Run each generation inside its submit request: no process outlives a request."""
        return self.serverless
