"""Mail to users: composed per site, written to a durable outbox in the transaction of the
event that causes it, and delivered from there (SMTP, or `.eml` files in development)."""
