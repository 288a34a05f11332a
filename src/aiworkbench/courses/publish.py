"""Publishing a course to a class, from the trainer's notebook or terminal.

    import aiworkbench
    aiworkbench.publish_course("~/my-course", "intro")

The course folder is checked here first (:func:`~.course.read_course`), then its
files (not hidden ones, not links) go to the workbench API, which checks it again
against the site's partitions and puts it in place for the class. The students'
sessions bring it into their homes; republishing never overwrites their edits
(:mod:`.sync`).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from aiworkbench.core import names
from aiworkbench.courses.course import read_course
from aiworkbench.courses.sync import published_files
from aiworkbench.widgets.api_client import api_post


def _post(path: str, payload: dict) -> dict:
    return api_post(path, payload, timeout=300)  # a large course takes a while


def publish_course(
    folder: str | Path, klass: str, post: Callable[[str, dict], dict] = _post
) -> dict:
    """Publish the course in ``folder`` to class ``klass``; the API's record of it
    (version, outline, ``previous_version``). Raises NameRefused (a ValueError) for a
    class name no class can have, CourseError for a folder that is not a course,
    WorkbenchAPIError when the API refuses (its message says why)."""
    names.CLASS.check(klass)
    folder = Path(folder).expanduser()
    course = read_course(folder)
    files = {
        relative: base64.b64encode((folder / relative).read_bytes()).decode("ascii")
        for relative in published_files(folder)
    }
    path = (
        f"classes/{urllib.parse.quote(klass, safe='')}/courses/"
        f"{urllib.parse.quote(course.name, safe='')}"
    )
    return post(path, {"files": files})
