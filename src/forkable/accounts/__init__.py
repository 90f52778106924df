"""Accounts: users, passwords, sessions, CSRF, API keys, login throttling."""
