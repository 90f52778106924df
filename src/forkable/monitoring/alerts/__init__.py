"""Alerts: declarative rules, their signals, state in the database, and notice channels."""
