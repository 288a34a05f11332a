"""Course routes of the workbench API: publishing to a class, listing one's courses.

A trainer publishes a course folder to a class they teach (``POST
classes/CLASS/courses/COURSE`` with the folder's files): the API checks it as a
course (:func:`~aiworkbench.courses.course.read_course`, against the site's
partitions), writes it to ``courses.root/CLASS/.versions/COURSE-VERSION`` with a
``.published.json`` (version, who, when, outline), and switches the link
``CLASS/COURSE`` to it in one step: readers see the old course or the new one,
never a mix or nothing. The version before stays (a copy in progress may still be
reading it); older ones are removed. Students' sessions
copy it into their own homes (:mod:`aiworkbench.courses.sync`), as themselves.
``GET courses`` lists the courses of the classes the caller takes or teaches.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from aiworkbench.api.base import APIError, APIHandler
from aiworkbench.catalog.paths import PathError, clean_relative
from aiworkbench.core import names
from aiworkbench.courses import shelf
from aiworkbench.courses.course import CourseError

MAX_FILES = 2000
UPLOAD = {"files": "an object: each file's path in the course folder -> its content in base64"}


def classes_of(site, user: str) -> tuple[list[str], list[str]]:
    """(classes ``user`` takes, classes ``user`` teaches)."""
    taking = [name for name in site.classes if user in site.class_members(name)]
    teaching = [name for name, klass in site.classes.items() if user in klass.trainers]
    return taking, teaching


def exercises_of(site, user: str) -> set[tuple[str, str]]:
    """(course, exercise) of every course published to a class ``user`` takes or
    teaches: the only progress they may record."""
    taking, teaching = classes_of(site, user)
    root = Path(site.courses.root)
    return {
        (c["course"], exercise)
        for klass in {*taking, *teaching}
        for c in shelf.published(root, klass)
        for _, exercise in c.get("exercises", [])
    }


def upload_limit(site) -> int:
    """The largest publish request, in bytes: the course in base64, and some JSON."""
    return site.courses.max_mb * 1_000_000 * 4 // 3 + 64 * 1024


class CoursesHandler(APIHandler):
    async def get(self):
        self.query({})
        me = self.hub_user["name"]
        taking, teaching = classes_of(self.site, me)
        root = Path(self.site.courses.root)
        courses = [
            c for klass in dict.fromkeys([*taking, *teaching]) for c in shelf.published(root, klass)
        ]
        self.write_json({"user": me, "teaching": teaching, "courses": courses})


class PublishHandler(APIHandler):
    async def post(self, klass: str, course: str):
        me = self.hub_user["name"]
        if self.name_param(klass, names.CLASS) not in self.site.classes:
            raise APIError(
                404, f"no class {klass[:40]!r}; classes: {', '.join(self.site.classes) or 'none'}"
            )
        trainers = self.site.classes[klass].trainers
        if me not in trainers:
            raise APIError(
                403,
                f"only the trainers of class {klass!r} ({', '.join(trainers)})"
                f" may publish courses to it",
            )
        self.name_param(course, names.COURSE)
        limit = self.site.courses.max_mb * 1_000_000
        files = self.body(UPLOAD, limit=upload_limit(self.site))["files"]
        try:
            record = shelf.publish(self.site, klass, course, self.decode(files, limit), me)
        except CourseError as err:
            raise APIError(400, "not a course: " + "; ".join(err.problems)) from None
        self.set_status(201)
        self.write_json(record)

    def decode(self, files, limit: int) -> dict[str, bytes]:
        if not isinstance(files, dict) or not files:
            raise APIError(400, f"files must be a non-empty object: {UPLOAD['files']}")
        if len(files) > MAX_FILES:
            raise APIError(400, f"{len(files)} files; a course may have at most {MAX_FILES}")
        contents, total = {}, 0
        for name, text in files.items():
            try:
                relative = clean_relative(name)
                relative.encode("utf-8")
            except PathError as err:
                raise APIError(400, f"files: {err}") from None
            except UnicodeEncodeError:
                raise APIError(400, f"files: {name[:80]!r}: not a valid UTF-8 name") from None
            parts = relative.split("/")
            if not relative or any(part.startswith(".") for part in parts):
                raise APIError(
                    400, f"files: {name[:80]!r}: hidden files and folders are not published"
                )
            if any(len(part.encode()) > 255 for part in parts):
                raise APIError(400, f"files: {name[:80]!r}: a name is longer than 255 bytes")
            if not isinstance(text, str):
                raise APIError(400, f"files: {relative!r}: the content must be base64 text")
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise APIError(
                    400, f"files: {relative!r}: the content is not valid base64"
                ) from None
            total += len(data)
            if total > limit:
                raise APIError(
                    400, f"the course is larger than courses.max_mb = {limit // 1_000_000} MB"
                )
            contents[relative] = data
        folders = {"/".join(p.split("/")[:i]) for p in contents for i in range(1, p.count("/") + 1)}
        clash = sorted(folders & set(contents))
        if clash:
            raise APIError(400, f"files: {clash[0]!r} is both a file and a folder")
        return contents


ROUTES = [
    (r"courses/?", CoursesHandler),
    (r"classes/([^/]+)/courses/([^/]+)/?", PublishHandler),
]
