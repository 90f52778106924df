"""The admin console and its audit log."""
