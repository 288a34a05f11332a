"""The workbench's Jupyter server extension: at the start of a session, bring the
student's copies of their courses up to date (``~/courses/COURSE``); and serve the
session's status to its JupyterLab status bar (:mod:`.status`).

It runs in the session's server, as the student, in a background thread (the
server does not wait for it), only in workbench sessions (``AIWORKBENCH_API_URL``
set). Courses of classes the user only teaches are not copied. The copy never
loses the student's edits (:mod:`aiworkbench.courses.sync`); what happened goes
to the session's log. Enabled for every session by the kernel environment's
Jupyter server configuration (ansible role ``kernel_env``).
"""

from __future__ import annotations

import os
import threading

from aiworkbench.jobserver.status import load_status


def sync_courses(log) -> None:
    """Copy or update the caller's courses; each outcome to ``log`` (a logger)."""
    from aiworkbench.courses.widget import CourseOutline

    outline = CourseOutline()
    if not outline.load_courses():
        log.info("aiworkbench: courses not copied: %s", outline.status or "none published")
        return
    for course in outline.courses:
        if not set(course.get("classes") or [course["class"]]) - set(outline.teaching):
            continue  # the trainer's own course: they have the source
        outline.sync_copy(course)
        log.info("aiworkbench: course %s: %s", course["course"], outline.status)


def _jupyter_server_extension_points():
    return [{"module": "aiworkbench.jobserver.extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    if not os.environ.get("AIWORKBENCH_API_URL"):
        return
    threading.Thread(
        target=sync_courses, args=(serverapp.log,), name="aiworkbench-courses", daemon=True
    ).start()
    load_status(serverapp)
