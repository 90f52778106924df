"""The one error a bad environment raises."""

from __future__ import annotations


class SettingsError(Exception):
    """Raised when the environment cannot produce valid settings; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
