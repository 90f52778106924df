"""Fixtures of the observability tests."""

from tests.support.monitored import monitored

__all__ = ["monitored"]
