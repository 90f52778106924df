"""The `forkable` command."""
