"""Fixtures of the monitoring tests."""

from tests.support.monitored import monitored

__all__ = ["monitored"]
