"""Exercise progress routes of the workbench API.

A check in a student's notebook posts its result with the session's own token:
the progress is recorded for that token's user, whatever the body says, and a
body naming a user is refused. Students read their own progress; the trainers
of a class (and managers and admins) read its members'.
"""

from __future__ import annotations

from pathlib import Path

from aiworkbench.api.base import APIError, APIHandler
from aiworkbench.core import names
from aiworkbench.courses.api import exercises_of
from aiworkbench.courses.progress import ProgressStore
from aiworkbench.courses.shelf import published

RECORD = {
    "course": "the course (its folder's name)",
    "exercise": "the exercise's id",
    "passed": "true or false",
}


def _course(value) -> str:
    why = names.COURSE.problem(value)
    if why:
        raise APIError(400, why)
    return value


class ProgressHandler(APIHandler):
    @property
    def store(self) -> ProgressStore:
        return self.settings["progress"]()

    async def get(self):
        course = self.query({"course": "only this course"}).get("course")
        me = self.hub_user["name"]
        records = self.store.of([me], None if course is None else _course(course))
        self.write_json({"user": me, "records": records})

    async def post(self):
        data = self.body(RECORD)
        course = _course(data["course"])
        exercise, passed = data["exercise"], data["passed"]
        why = names.EXERCISE.problem(exercise)
        if why:
            raise APIError(400, why)
        if not isinstance(passed, bool):
            raise APIError(400, f"passed must be true or false, got {passed!r:.40}")
        me = self.hub_user["name"]
        if (course, exercise) not in exercises_of(self.site, me):
            raise APIError(
                400,
                f"course {course!r} has no exercise {exercise!r} published "
                f"to a class of yours; progress is kept for those only",
            )
        record = self.store.record(me, course, exercise, passed)
        self.set_status(201)
        self.write_json(record)


class ClassProgressHandler(ProgressHandler):
    async def get(self, name: str):
        course = self.query({"course": "only this course"}).get("course")
        if self.name_param(name, names.CLASS) not in self.site.classes:
            raise APIError(
                404, f"no class {name[:40]!r}; classes: {', '.join(self.site.classes) or 'none'}"
            )
        me, klass = self.hub_user["name"], self.site.classes[name]
        if me not in klass.trainers and not self.can_read_all():
            raise APIError(
                403,
                f"only the trainers of class {name!r} "
                f"({', '.join(klass.trainers)}), managers and admins may "
                f"read its progress",
            )
        members = self.site.class_members(name)
        courses = [c["course"] for c in published(Path(self.site.courses.root), name)]
        if course is not None and _course(course) not in courses:
            raise APIError(
                404,
                f"course {course!r} is not published to class {name!r}; its "
                f"courses: {', '.join(courses) or 'none'}",
            )
        records = [r for r in self.store.of(members, course) if r["course"] in courses]
        self.write_json(
            {
                "class": name,
                "trainers": list(klass.trainers),
                "members": members,
                "records": records,
            }
        )

    async def post(self, name: str):
        raise APIError(405, "a class's progress is read-only; students post their own to progress")


class ClassesHandler(APIHandler):
    async def get(self):
        """The classes whose progress the caller may read: those they train, or every
        class for holders of the read-all scope (managers, admins, the dashboards)."""
        self.query({})
        me, every = self.hub_user["name"], self.can_read_all()
        self.write_json(
            {
                "classes": [
                    {
                        "name": name,
                        "project": klass.project,
                        "trainers": list(klass.trainers),
                        "learners": len(self.site.class_members(name)),
                        "courses": [
                            c["course"] for c in published(Path(self.site.courses.root), name)
                        ],
                    }
                    for name, klass in self.site.classes.items()
                    if every or me in klass.trainers
                ]
            }
        )

    async def post(self):
        raise APIError(405, "classes are set in the site file; this route only lists them")


ROUTES = [
    (r"classes/?", ClassesHandler),
    (r"progress/?", ProgressHandler),
    (r"classes/([^/]+)/progress/?", ClassProgressHandler),
]
