"""Generation jobs on the shared queue (Procrastinate on PostgreSQL), and periodic maintenance."""
