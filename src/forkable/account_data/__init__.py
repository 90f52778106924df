"""A user's own data: the export of everything forkable holds about them, and its erasure."""
