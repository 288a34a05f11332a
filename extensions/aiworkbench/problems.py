"""The error of a file users write (a datacard, a course description): every problem
found, each a "FILE: FIELD: reason" line, reported at once."""

from __future__ import annotations


class ProblemsError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
