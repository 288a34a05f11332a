"""Exercise progress: per student, course and exercise, kept by the workbench API.

One row per (user, course, exercise): attempts, whether it was ever passed,
when it was first passed and when last tried. Written only by the API, for the
user whose token sent the check (a student cannot write anyone else's
progress); read by the student (their own) and by the trainers of their class.
The store is a SQLite file in the hub's data folder, readable by the hub user
only. A restore (``aiworkbench-backup restore``) puts a new file in its place while
the API runs: the store notices and opens the new file before its next query, and
checks its schema version again (:mod:`aiworkbench.core.store_schema`): a file from an older
workbench is migrated, one from a newer workbench refused.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from aiworkbench.core.store_schema import Schema, prepare

# Version 1: the layout from before versions, unchanged (a file of then keeps its rows).
V1 = """
CREATE TABLE IF NOT EXISTS progress (
    user TEXT, course TEXT, exercise TEXT, attempts INTEGER, passed INTEGER,
    first_passed_at REAL, last_attempt_at REAL, PRIMARY KEY (user, course, exercise));
CREATE INDEX IF NOT EXISTS progress_by_course ON progress (course, user);
"""
SCHEMA = Schema("the course progress store", migrations=(V1,), writer="the workbench API")
FIELDS = ("user", "course", "exercise", "attempts", "passed", "first_passed_at", "last_attempt_at")


def _row(row) -> dict:
    item = dict(zip(FIELDS, row))
    item["passed"] = bool(item["passed"])
    return item


class ProgressStore:
    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        self._db, self._file = None, None

    def _identity(self):
        """Which file is at the store's path now (device, inode), None for memory."""
        if self.path == ":memory:":
            return None
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return "missing"
        return status.st_dev, status.st_ino

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, to the file at the store's path now: one replaced since
        (a restore) is opened again. SQLite refuses to write to a file no longer at its
        path ("attempt to write a readonly database"). Every opening checks the file's
        schema version and migrates an older one (``SchemaError`` for a newer one:
        the store stays closed and the next query tries again)."""
        if self._db is not None and self._file != self._identity():
            self._db.close()
            self._db = None
        if self._db is None:
            db = sqlite3.connect(self.path)
            try:
                file = self._identity()
                prepare(db, SCHEMA, self.path)
            except BaseException:
                db.close()
                raise
            self._db, self._file = db, file
        return self._db

    def record(
        self, user: str, course: str, exercise: str, passed: bool, now: float | None = None
    ) -> dict:
        """One more attempt of ``user`` at ``exercise``; passing once is for good."""
        now = time.time() if now is None else now
        db = self.db
        db.execute(
            "INSERT INTO progress VALUES (?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (user, course, exercise) DO UPDATE SET "
            "attempts = attempts + 1, passed = max(passed, excluded.passed), "
            "first_passed_at = coalesce(first_passed_at, excluded.first_passed_at), "
            "last_attempt_at = excluded.last_attempt_at",
            (user, course, exercise, int(passed), now if passed else None, now),
        )
        db.commit()
        return self.of([user], course, exercise)[0]

    def of(self, users, course: str | None = None, exercise: str | None = None) -> list[dict]:
        """The rows of ``users`` (in ``course``, for ``exercise``), by user, course and
        exercise."""
        users = list(users)
        where, args = [f"user IN ({','.join('?' * len(users))})"], users
        for key, value in (("course", course), ("exercise", exercise)):
            if value is not None:
                where.append(f"{key} = ?")
                args.append(value)
        rows = self.db.execute(
            f"SELECT {', '.join(FIELDS)} FROM progress WHERE "
            f"{' AND '.join(where)} ORDER BY user, course, exercise",
            args,
        ).fetchall()
        return [_row(row) for row in rows]
