"""The monitoring settings: log format, the instrumentation switch, the multiprocess folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.settings import SettingsError, load_settings


def test_defaults_follow_the_environment() -> None:
    development = load_settings({})
    assert development.resolved_log_format == "text"
    assert development.metrics_enabled is True
    assert development.metrics_multiproc_dir is None
    assert development.access_log is True
    production = load_settings({"FORKABLE_ENV": "production"})
    assert production.resolved_log_format == "json"


def test_explicit_values() -> None:
    settings = load_settings(
        {
            "FORKABLE_LOG_FORMAT": "JSON",
            "FORKABLE_METRICS": "off",
            "FORKABLE_ACCESS_LOG": "off",
            "PROMETHEUS_MULTIPROC_DIR": "/srv/forkable/metrics",
        }
    )
    assert settings.access_log is False
    assert settings.resolved_log_format == "json"
    assert settings.metrics_enabled is False
    assert settings.metrics_multiproc_dir == Path("/srv/forkable/metrics")
    assert (
        load_settings(
            {"FORKABLE_ENV": "production", "FORKABLE_LOG_FORMAT": "text"}
        ).resolved_log_format
        == "text"
    )


def test_bad_values_are_one_line_each() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {"FORKABLE_LOG_FORMAT": "xml", "FORKABLE_METRICS": "maybe", "FORKABLE_ACCESS_LOG": "1"}
        )
    assert caught.value.problems == [
        "FORKABLE_LOG_FORMAT must be 'json' or 'text', not 'xml'",
        "FORKABLE_METRICS must be 'on' or 'off', not 'maybe'",
        "FORKABLE_ACCESS_LOG must be 'on' or 'off', not '1'",
    ]
