"""The courses' shelf: what is published to each class, on disk.

``courses.root/CLASS/COURSE`` is a link to ``CLASS/.versions/COURSE-VERSION``, a
folder holding the course's files and its ``.published.json`` (version, who,
when, outline). :func:`publish` checks a course (:func:`~.course.read_course`,
against the site's partitions), writes the new version and switches the link in
one rename: readers see the old course or the new one, never a mix or nothing.
The version before stays (a copy in progress may still be reading it); older
ones are removed. The workbench API publishes through it for trainers
(:mod:`.api`); ``python -m aiworkbench.courses.shelf publish`` publishes course
folders as a class's trainer at install time (the demo's shipped courses),
leaving a course whose files have not changed as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiworkbench.core import names
from aiworkbench.core.problems import Refused
from aiworkbench.core.site import default_site_file, load_site
from aiworkbench.courses.course import CourseError, read_course
from aiworkbench.courses.sync import PUBLISHED, published_files

VERSIONS = ".versions"  # CLASS/.versions/COURSE-VERSION: the published versions


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
        found.append({"class": klass, "course": course.name, **record, "path": str(course)})
    return found


def digest(contents: dict[str, bytes]) -> str:
    """The course's files' fingerprint: the last part of its version."""
    sha = hashlib.sha256()
    for relative in sorted(contents):
        sha.update(relative.encode() + b"\0" + contents[relative] + b"\0")
    return sha.hexdigest()[:6]


def record(outline, contents: dict[str, bytes], who: str) -> dict:
    """The course's ``.published.json``: its version (time and fingerprint), who
    published it when, and its outline."""
    now = datetime.now(UTC)
    return {
        "version": f"{now:%Y%m%dT%H%M%SZ}-{digest(contents)}",
        "published_at": f"{now:%Y-%m-%dT%H:%M:%SZ}",
        "published_by": who,
        "title": outline.title,
        "level": outline.level,
        "summary": outline.summary,
        "goals": list(outline.goals),
        "notebooks": list(outline.notebooks),
        "session": {
            "partition": outline.session.partition,
            "gpus": outline.session.gpus,
            "hours": outline.session.hours,
        },
        "exercises": [list(e) for e in outline.exercises],
    }


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
        raise Refused(409, f"{link} exists and is not a published course; an admin removes it")
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


def publish(site, klass: str, course: str, contents: dict[str, bytes], who: str) -> dict:
    """Put ``contents`` (relative path -> bytes) in place as ``course`` of ``klass``;
    the published record with class, course, path and the version it replaced. Raises
    CourseError when the files are not a course (problems named by relative path)."""
    root = Path(site.courses.root)
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
            outline = read_course(folder, site)
        except CourseError as err:
            raise CourseError([p.replace(str(incoming) + "/", "") for p in err.problems]) from None
        published = record(outline, contents, who)
        (folder / PUBLISHED).write_text(json.dumps(published, indent=1))
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        previous = put_in_place(
            folder, root / klass / course, versions / f"{course}-{published['version']}"
        )
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return {
        "class": klass,
        "course": course,
        **published,
        "path": str(root / klass / course),
        "previous_version": previous,
    }


def publish_folder(site, klass: str, folder: Path, who: str) -> str:
    """Publish the course in ``folder`` unless the class has exactly these files
    already; what was done, in one line ("published: ..." or "unchanged: ...")."""
    course = read_course(folder, site)
    contents = {relative: (folder / relative).read_bytes() for relative in published_files(folder)}
    now = {c["course"]: c for c in published(Path(site.courses.root), klass)}
    if now.get(course.name, {}).get("version", "").endswith(f"-{digest(contents)}"):
        return f"unchanged: {klass}/{course.name} {now[course.name]['version']}"
    done = publish(site, klass, course.name, contents, who)
    return f"published: {klass}/{course.name} {done['version']}"


def course_folders(folders: list[Path]) -> list[Path]:
    """Each folder that is a course (it has course.toml), or the courses inside it."""
    found = []
    for folder in folders:
        if (folder / "course.toml").is_file() or not folder.is_dir():
            found.append(folder)
        else:
            found += sorted(f for f in folder.iterdir() if (f / "course.toml").is_file())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aiworkbench.courses.shelf",
        description="Publish course folders to a class, as one of its trainers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("publish", help="publish course folders (unchanged ones are left)")
    put.add_argument("--site", default=default_site_file(), help="the site file")
    put.add_argument(
        "--class", dest="klass", type=names.CLASS.argument(), required=True, help="the class"
    )
    put.add_argument(
        "folders", nargs="+", type=Path, help="course folders, or folders of course folders"
    )
    args = parser.parse_args(argv)
    site = load_site(args.site)
    if args.klass not in site.classes:
        print(
            f"error: no class {args.klass!r}; classes: {', '.join(site.classes) or 'none'}",
            file=sys.stderr,
        )
        return 2
    trainer = site.classes[args.klass].trainers[0]
    failed = 0
    for folder in course_folders(args.folders):
        try:
            print(publish_folder(site, args.klass, folder, trainer))
        except (CourseError, Refused, OSError) as err:
            print(f"error: {folder}: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
