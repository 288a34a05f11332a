"""A course in JupyterLab: the trainer has published it to the student's class; the
student's session copies it into their home; the student opens the outline, updates
the copy, opens the first notebook, runs it (its exercises check themselves), and the
outline then shows the progress."""

import pwd
import re
import shutil
from pathlib import Path

import pytest

from aiworkbench.courses.course import read_course
from aiworkbench.courses.publish import publish_course

from ..conftest import REPO, HubUser, wait_for
from .conftest import SPAWN_TIMEOUT_MS, log_in, notebook_test, run_cell

pytestmark = pytest.mark.browser
API = "/services/workbench/api"
COURSE = REPO / "example_notebooks" / "courses" / "first-steps"


def test_a_student_opens_the_course_solves_exercises_and_sees_progress(
    cluster_up, hub_up, hub_url, site, hub_user, page, request
):
    # The trainer only publishes (a token, no session of theirs is stopped); the student
    # runs the session.
    trainer = HubUser(hub_url, "trainer", site.users["trainer"].password)
    student = hub_user("student")
    outline = read_course(COURSE, site)
    first = outline.notebooks[0]
    in_first = [e for notebook, e in outline.exercises if notebook == first]
    assert in_first, "the first notebook of first-steps has exercises"

    def post(path, payload):
        answer = trainer.session.post(f"{hub_url}{API}/{path}", json=payload, timeout=60)
        assert answer.status_code == 201, answer.text
        return answer.json()

    publish_course(COURSE, "intro", post=post)
    shutil.rmtree("/home/student/courses/first-steps", ignore_errors=True)  # a fresh copy

    response = student.api(
        "POST", "/users/student/server", json={"profile": "cpu-small", "project": "edu-intro"}
    )
    assert response.status_code in (201, 202), response.text
    student.wait_ready()
    # Each student gets their own copy when their session starts (the server extension).
    copy = Path(f"/home/student/courses/first-steps/{first}")
    wait_for(copy.is_file, 120, interval=1, what="the session to copy the course")
    assert copy.stat().st_uid == pwd.getpwnam("student").pw_uid
    with notebook_test(page, request, "student"):
        log_in(page, hub_url, "student", site.users["student"].password)
        cell = run_cell(
            page, hub_url, "student", 'import aiworkbench; aiworkbench.course("first-steps")'
        )
        widget = cell.locator(".aiwb-course")
        widget.wait_for(state="visible", timeout=SPAWN_TIMEOUT_MS)
        assert outline.title in widget.inner_text()
        sync = widget.locator(".aiwb-course-sync button, button.aiwb-course-sync").first
        assert "Update my copy" in sync.inner_text()
        sync.click()
        widget.locator(".aiwb-course-status").filter(has_text="first-steps").wait_for()

        # The first notebook, in a second tab, run top to bottom: its checks pass.
        lesson = page.context.new_page()
        lesson.goto(f"{hub_url}/user/student/lab/tree/courses/first-steps/{first}")
        lesson.locator(".jp-StatusBar-TextItem").filter(
            has_text=re.compile(r"^Python 3.*\| Idle$")
        ).first.wait_for(timeout=120_000)
        lesson.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        lesson.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(r"^Run All Cells$")).click()
        passed = lesson.locator('.aiwb-check[data-passed="true"]')
        wait_for(
            lambda: passed.count() == len(in_first),
            300,
            interval=2,
            what=f"{len(in_first)} passed checks in {first}",
        )
        assert lesson.locator('.aiwb-check[data-passed="false"]').count() == 0
        lesson.close()

        # Back in the outline's tab: refreshed, it shows them passed.
        widget.locator(".aiwb-course-refresh button, button.aiwb-course-refresh").first.click()
        wait_for(
            lambda: widget.locator(".aiwb-passed").count() >= len(in_first),
            60,
            interval=1,
            what="the outline to show the passed exercises",
        )
        progress = student.session.get(
            f"{hub_url}{API}/progress", params={"course": "first-steps"}, timeout=30
        ).json()
        assert {r["exercise"] for r in progress["records"] if r["passed"]} >= set(in_first)
