"""`python -m forkable` runs the CLI."""

from forkable.cli.main import main

main()
