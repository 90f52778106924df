"""Audit the installed Python packages for known vulnerabilities with pip-audit; never pass silently.

Usage: python scripts/audit_dependencies.py [--service osv|pypi] [--osv-url URL]
                                            [--allow-unreachable] [-r REQUIREMENTS ...]

Exit status: 0 when every package was checked and none has a known vulnerability; 1 when some
have (each is listed); 2 when the audit could not be made: the vulnerability service could not
be reached, or it could not say anything about some packages. pip-audit itself reports the
latter as "No known vulnerabilities found" with status 0 (a package it could not look up is
only "skipped"), which is why this script reads its JSON instead of trusting its status.

With --allow-unreachable (`make lint AUDIT_ALLOW_UNREACHABLE=1`), an audit that could not be
made prints one line saying so and exits 0: for machines without a way to the service. Known
vulnerabilities fail whatever the flag says.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

# What pip-audit's stderr says when it could not reach its service (requests, urllib3, its own).
_UNREACHABLE_SIGNS = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Could not connect",
    "Read timed out",
    "ServiceError",
    "Temporary failure in name resolution",
)


@dataclass
class Audit:
    """What one pip-audit run found."""

    packages: int = 0
    findings: list[str] = field(default_factory=list)
    not_audited: list[str] = field(default_factory=list)  # "name: why"
    failure: str | None = None  # pip-audit did not finish


def pip_audit_command(args: argparse.Namespace) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--vulnerability-service",
        args.service,
        "--timeout",
        str(args.timeout),
    ]
    if args.osv_url:
        command += ["--osv-url", args.osv_url]
    for requirements in args.requirement or []:
        command += ["--requirement", requirements]
    if not args.requirement:
        command.append("--skip-editable")  # the project itself is not on any index
    return command


def read_report(stdout: str, stderr: str, status: int) -> Audit:
    """Turn pip-audit's JSON (or its failure) into an Audit."""
    try:
        report: dict[str, Any] = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        report = {}
    dependencies = report.get("dependencies")
    if not isinstance(dependencies, list):
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        unreachable = any(sign in stderr for sign in _UNREACHABLE_SIGNS)
        last = lines[-1] if lines else f"pip-audit exited with {status}"
        reason = "vulnerability service unreachable" if unreachable else "pip-audit failed"
        return Audit(failure=f"{reason}: {last[:300]}")
    audit = Audit(packages=len(dependencies))
    for dependency in dependencies:
        name = f"{dependency.get('name')} {dependency.get('version', '')}".strip()
        skipped = str(dependency.get("skip_reason") or "")
        if skipped and "marked as editable" not in skipped:  # the project itself, as asked
            audit.not_audited.append(f"{name}: {skipped}")
        for vuln in dependency.get("vulns") or []:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            ids = ", ".join([vuln.get("id", "?"), *(vuln.get("aliases") or [])])
            audit.findings.append(f"{name}: {ids} (fixed in: {fixes})")
    return audit


def verdict(audit: Audit, *, allow_unreachable: bool) -> tuple[int, list[str]]:
    """The exit status and the lines to print."""
    if audit.findings:
        lines = [f"pip-audit: {len(audit.findings)} known vulnerabilities:"]
        lines += [f"  {finding}" for finding in audit.findings]
        if audit.not_audited:
            lines.append(f"pip-audit: and {len(audit.not_audited)} packages were not audited")
        return 1, lines
    if audit.failure is not None:
        problem = audit.failure
    elif audit.not_audited:
        problem = (
            f"{len(audit.not_audited)} of {audit.packages} packages could not be audited "
            f"(first: {audit.not_audited[0]})"
        )
    else:
        return 0, [f"pip-audit: {audit.packages} packages, no known vulnerabilities"]
    if allow_unreachable:
        return 0, [f"pip-audit: NOT AUDITED, allowed by AUDIT_ALLOW_UNREACHABLE: {problem}"]
    return 2, [
        f"pip-audit: NOT AUDITED: {problem}",
        "pip-audit: (set AUDIT_ALLOW_UNREACHABLE=1 where the service cannot be reached)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=("osv", "pypi"), default="osv")
    parser.add_argument("--osv-url", help="another OSV API (a mirror, or a test server)")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request")
    parser.add_argument("-r", "--requirement", action="append", help="audit this file instead")
    parser.add_argument(
        "--allow-unreachable",
        action="store_true",
        help="exit 0 (saying so) when the audit could not be made; findings still fail",
    )
    args = parser.parse_args(argv)
    result = subprocess.run(  # noqa: S603  # pip-audit of this Python, arguments built above
        pip_audit_command(args), capture_output=True, text=True, check=False, timeout=1800
    )
    status, lines = verdict(
        read_report(result.stdout, result.stderr, result.returncode),
        allow_unreachable=args.allow_unreachable,
    )
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
