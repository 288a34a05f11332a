"""Exercise progress: per student, course and exercise, kept by the workbench API.

One row per (user, course, exercise): attempts, whether it was ever passed,
when it was first passed and when last tried. Written only by the API, for the
user whose token sent the check (a student cannot write anyone else's
progress); read by the student (their own) and by the trainers of their class.
The store is a SQLite file in the hub's data folder, readable by the hub user
only.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

EXERCISE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (
    user TEXT, course TEXT, exercise TEXT, attempts INTEGER, passed INTEGER,
    first_passed_at REAL, last_attempt_at REAL, PRIMARY KEY (user, course, exercise));
CREATE INDEX IF NOT EXISTS progress_by_course ON progress (course, user);
"""
FIELDS = ("user", "course", "exercise", "attempts", "passed", "first_passed_at",
          "last_attempt_at")


def _row(row) -> dict:
    item = dict(zip(FIELDS, row))
    item["passed"] = bool(item["passed"])
    return item


class ProgressStore:
    def __init__(self, path: str | Path = ":memory:"):
        self.db = sqlite3.connect(str(path))
        self.db.executescript(SCHEMA)

    def record(self, user: str, course: str, exercise: str, passed: bool,
               now: float | None = None) -> dict:
        """One more attempt of ``user`` at ``exercise``; passing once is for good."""
        now = time.time() if now is None else now
        self.db.execute(
            "INSERT INTO progress VALUES (?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (user, course, exercise) DO UPDATE SET "
            "attempts = attempts + 1, passed = max(passed, excluded.passed), "
            "first_passed_at = coalesce(first_passed_at, excluded.first_passed_at), "
            "last_attempt_at = excluded.last_attempt_at",
            (user, course, exercise, int(passed), now if passed else None, now))
        self.db.commit()
        return self.of([user], course, exercise)[0]

    def of(self, users, course: str | None = None, exercise: str | None = None
           ) -> list[dict]:
        """The rows of ``users`` (in ``course``, for ``exercise``), by user, course and
        exercise."""
        users = list(users)
        where, args = [f"user IN ({','.join('?' * len(users))})"], users
        for key, value in (("course", course), ("exercise", exercise)):
            if value is not None:
                where.append(f"{key} = ?")
                args.append(value)
        rows = self.db.execute(f"SELECT {', '.join(FIELDS)} FROM progress WHERE "
                               f"{' AND '.join(where)} ORDER BY user, course, exercise",
                               args).fetchall()
        return [_row(row) for row in rows]
