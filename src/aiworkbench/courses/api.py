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
import hashlib
import json
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiworkbench.catalog.paths import PathError, clean_relative
from aiworkbench.courses.course import NAME as COURSE, CourseError, read_course
from aiworkbench.courses.sync import PUBLISHED

from aiworkbench.api.base import APIError, APIHandler

MAX_FILES = 2000
VERSIONS = ".versions"  # CLASS/.versions/COURSE-VERSION: the published versions
UPLOAD = {"files": "an object: each file's path in the course folder -> its content in "
                   "base64"}


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
    return {(c["course"], exercise) for klass in {*taking, *teaching}
            for c in published(root, klass) for _, exercise in c.get("exercises", [])}


def published(root: Path, klass: str) -> list[dict]:
    """The courses published to ``klass``: their .published.json, with class and path."""
    found = []
    folder = root / klass
    if not folder.is_dir():
        return found
    for course in sorted(folder.iterdir()):
        if course.name.startswith(".") or not (course / PUBLISHED).is_file():
            continue
        try:
            record = json.loads((course / PUBLISHED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append({"class": klass, "course": course.name, **record,
                      "path": str(course)})
    return found


def upload_limit(site) -> int:
    """The largest publish request, in bytes: the course in base64, and some JSON."""
    return site.courses.max_mb * 1_000_000 * 4 // 3 + 64 * 1024


class CoursesHandler(APIHandler):
    async def get(self):
        self.query({})
        me = self.hub_user["name"]
        taking, teaching = classes_of(self.site, me)
        root = Path(self.site.courses.root)
        courses = [c for klass in dict.fromkeys([*taking, *teaching])
                   for c in published(root, klass)]
        self.write_json({"user": me, "teaching": teaching, "courses": courses})


class PublishHandler(APIHandler):
    async def post(self, klass: str, course: str):
        me = self.hub_user["name"]
        if klass not in self.site.classes:
            raise APIError(404, f"no class {klass[:40]!r}; classes: "
                                f"{', '.join(self.site.classes) or 'none'}")
        trainers = self.site.classes[klass].trainers
        if me not in trainers:
            raise APIError(403, f"only the trainers of class {klass!r} ({', '.join(trainers)})"
                                f" may publish courses to it")
        if not COURSE.match(course):
            raise APIError(400, f"course {course[:60]!r} is not a course name (lower-case "
                                f"letters, digits and '-', at most 48 characters)")
        limit = self.site.courses.max_mb * 1_000_000
        files = self.body(UPLOAD, limit=upload_limit(self.site))["files"]
        contents = self.decode(files, limit)
        root = Path(self.site.courses.root)
        versions = root / klass / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        for path in (root / klass, versions):
            path.chmod(0o755)
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=versions))
        try:
            folder = incoming / course
            for relative, data in contents.items():
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                (folder / relative).write_bytes(data)
            try:
                outline = read_course(folder, self.site)
            except CourseError as err:
                raise APIError(400, "not a course: " + "; ".join(
                    p.replace(str(incoming) + "/", "") for p in err.problems)) from None
            record = self.record(outline, contents, me)
            (folder / PUBLISHED).write_text(json.dumps(record, indent=1))
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            previous = self.put_in_place(folder, root / klass / course,
                                         versions / f"{course}-{record['version']}")
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        self.set_status(201)
        self.write_json({"class": klass, "course": course, **record,
                         "path": str(root / klass / course), "previous_version": previous})

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
                raise APIError(400, f"files: {name[:80]!r}: hidden files and folders are not "
                                    f"published")
            if any(len(part.encode()) > 255 for part in parts):
                raise APIError(400, f"files: {name[:80]!r}: a name is longer than 255 bytes")
            if not isinstance(text, str):
                raise APIError(400, f"files: {relative!r}: the content must be base64 text")
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise APIError(400, f"files: {relative!r}: the content is not valid "
                                    f"base64") from None
            total += len(data)
            if total > limit:
                raise APIError(400, f"the course is larger than courses.max_mb = "
                                    f"{limit // 1_000_000} MB")
            contents[relative] = data
        folders = {"/".join(p.split("/")[:i]) for p in contents for i in range(1, p.count("/") + 1)}
        clash = sorted(folders & set(contents))
        if clash:
            raise APIError(400, f"files: {clash[0]!r} is both a file and a folder")
        return contents

    @staticmethod
    def record(outline, contents: dict[str, bytes], who: str) -> dict:
        digest = hashlib.sha256()
        for relative in sorted(contents):
            digest.update(relative.encode() + b"\0" + contents[relative] + b"\0")
        now = datetime.now(UTC)
        return {
            "version": f"{now:%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:6]}",
            "published_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "published_by": who,
            "title": outline.title, "level": outline.level, "summary": outline.summary,
            "goals": list(outline.goals), "notebooks": list(outline.notebooks),
            "session": {"partition": outline.session.partition,
                        "gpus": outline.session.gpus, "hours": outline.session.hours},
            "exercises": [list(e) for e in outline.exercises],
        }

    @staticmethod
    def put_in_place(folder: Path, link: Path, version: Path) -> str | None:
        """Move ``folder`` to ``version`` and switch ``link`` to it in one rename; keep
        the version before, remove older ones. The version replaced, if any."""
        previous, before = None, None
        if link.is_symlink():
            before = Path(os.path.realpath(link))
            try:
                previous = json.loads((before / PUBLISHED).read_text()).get("version")
            except (OSError, ValueError):
                previous = None
        elif link.exists():  # not ours: never replaced
            raise APIError(409, f"{link} exists and is not a published course; an admin "
                                f"removes it")
        if not version.exists():  # else: these files, published within this second
            os.rename(folder, version)
        staged = link.with_name(f".{link.name}.{os.getpid()}")
        staged.unlink(missing_ok=True)
        staged.symlink_to(os.path.relpath(version, link.parent))
        os.replace(staged, link)
        mine = re.compile(re.escape(link.name) + r"-\d{8}T\d{6}Z-[0-9a-f]{6}")
        for old in version.parent.iterdir():
            if mine.fullmatch(old.name) and old not in (version, before):
                shutil.rmtree(old, ignore_errors=True)
        return previous


ROUTES = [
    (r"courses/?", CoursesHandler),
    (r"classes/([^/]+)/courses/([^/]+)/?", PublishHandler),
]
