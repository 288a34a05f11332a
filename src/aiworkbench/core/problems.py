"""The error of a file users write (a datacard, a course description): every problem
found, each a "FILE: FIELD: reason" line, reported at once."""

from __future__ import annotations


class ProblemsError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class Refused(Exception):
    """A request refused, as the API answers it (``status``, an HTTP status) and as a CLI
    prints it (``message``: what was wrong and what is allowed)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message
