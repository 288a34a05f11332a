"""aiworkbench.course() and aiworkbench.class_progress(): the models and widgets against a
fake workbench API, and "Get my copy" through the real sync() into a temporary home."""

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aiworkbench
from aiworkbench.courses.sync import MANIFEST
from aiworkbench.courses.widget import (
    GET_COPY,
    UPDATE_COPY,
    ClassProgress,
    ClassWidget,
    CourseOutline,
    CourseWidget,
    Exercise,
    session_text,
)
from aiworkbench.widgets.api_client import WorkbenchAPIError, WorkbenchAPIUnreachable

from ..fakes import EXERCISES, NOTEBOOKS, VERSION_1, course_entry, rec
from ..fakes import FakeCourseAPI as FakeAPI

VERSION_2 = "20261124T090000Z-ef34ab"


# --- test doubles -----------------------------------------------------------------------


def notebook(*sources: str) -> str:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "source": s,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for s in sources
            ],
        }
    )


def publish(folder: Path, marker: str = "v1") -> Path:
    """A published course folder like the API writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "course.toml").write_text(f'title = "First steps"  # {marker}\n')
    (folder / "01-sessions.ipynb").write_text(
        notebook(f"# {marker}", 'check("gpu-hours", 8, 8)', 'check("partition", "gpu", "gpu")')
    )
    (folder / "02-budgets.ipynb").write_text(notebook('check("budget-left", 1, 1)'))
    (folder / "03-further.ipynb").write_text(notebook("# reading"))
    (folder / ".published.json").write_text(json.dumps({"version": VERSION_1}))
    return folder


RECORDS = [
    rec("alice", "gpu-hours", 2, True),
    rec("alice", "partition", 1, False),
    rec("bob", "gpu-hours", 1, True),
    rec("bob", "partition", 4, False),
    rec("carol", "gpu-hours", 1, True),
    rec("carol", "partition", 3, True),
    rec("carol", "budget-left", 1, True),
    rec("alice", "other-ex", 9, False, course="deep-learning"),
]


@pytest.fixture
def published(tmp_path):
    return publish(tmp_path / "srv" / "intro" / "first-steps")


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "home" / "alice"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def api(published):
    return FakeAPI([course_entry(published)], list(RECORDS))


def said(value: str) -> str:
    """What HTML says, as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def outline(api, home, name=None, **kwargs) -> CourseOutline:
    model = CourseOutline(name, fetch=api, home=home, **kwargs)
    model.load()
    return model


# --- words ------------------------------------------------------------------------------


def test_sessions_and_marks_in_words():
    assert session_text({"partition": "gpu", "gpus": 1, "hours": 2}) == "1 GPU, 2 hours on gpu"
    assert session_text({"partition": "gpu", "gpus": 4, "hours": 1}) == "4 GPUs, 1 hour on gpu"
    assert session_text({"partition": "cpu", "gpus": 0, "hours": 3}) == "no GPU, 3 hours on cpu"
    assert [
        Exercise("a", "x", 0, False).text(),
        Exercise("a", "x", 1, False).text(),
        Exercise("a", "x", 2, False).text(),
        Exercise("a", "x", 2, True).text(),
    ] == ["not tried ·", "tried (1 attempt) ✗", "tried (2 attempts) ✗", "passed ✓"]
    assert [
        Exercise("a", "x", 0, False).mark,
        Exercise("a", "x", 3, False).mark,
        Exercise("a", "x", 5, True).mark,
    ] == ["·", "✗3", "✓"]
    assert Exercise("a", "x", 3, False).stuck and not Exercise("a", "x", 2, False).stuck
    assert not Exercise("a", "x", 7, True).stuck


# --- the student's outline --------------------------------------------------------------


def test_outline_marks_each_exercise_and_points_to_the_next_step(api, home):
    model = outline(api, home)
    assert api.calls == [("courses", None), ("progress", None)]
    assert [c["course"] for c in model.courses] == ["first-steps"]
    notebooks = model.notebooks("first-steps")
    assert [nb for nb, _ in notebooks] == NOTEBOOKS
    assert [[s.text() for s in states] for _, states in notebooks] == [
        ["passed ✓", "tried (1 attempt) ✗"],
        ["not tried ·"],
        [],
    ]
    assert model.counts("first-steps") == (1, 3)
    step = model.next_step("first-steps")
    assert (step.notebook, step.exercise) == ("01-sessions.ipynb", "partition")
    assert (
        model.next_step_text("first-steps") == "Next step: exercise partition in 01-sessions.ipynb."
    )
    text = said(model.notebooks_html("first-steps"))
    for words in (
        "gpu-hours passed ✓",
        "partition tried (1 attempt) ✗",
        "budget-left not tried ·",
        "03-further.ipynb",
        "no checked exercises",
    ):
        assert words in text
    header = said(model.header_html("first-steps"))
    for words in (
        "First steps on the AI factory",
        "(beginner)",
        "Read your budget",
        "Session: 1 GPU, 2 hours on gpu",
        f"version {VERSION_1}",
        "by trainer",
        "you have no copy yet",
    ):
        assert words in header
    assert "1 of 3 exercises passed" in said(model.progress_html("first-steps"))
    assert "width:33.3%" in model.progress_html("first-steps")
    assert "Progress of alice, read at" in model.status


def test_a_complete_course(api, home):
    api.records += [rec("alice", "partition", 1, True), rec("alice", "budget-left", 1, True)]
    api.records.remove(rec("alice", "partition", 1, False))
    model = outline(api, home)
    assert model.counts("first-steps") == (3, 3)
    assert model.next_step("first-steps") is None
    assert model.next_step_text("first-steps") == "Course complete: all 3 exercises passed."
    assert "width:100.0%" in model.progress_html("first-steps")
    assert "Course complete" in said(model.next_html("first-steps"))


def test_a_course_without_exercises_starts_at_its_first_notebook(published, home):
    api = FakeAPI([course_entry(published, exercises=[])], [])
    model = outline(api, home)
    assert model.counts("first-steps") == (0, 0)
    assert model.next_step_text("first-steps") == (
        "No checked exercises in this course: work through it, starting with 01-sessions.ipynb."
    )
    assert "no checked exercises" in said(model.progress_html("first-steps"))


def test_one_course_by_name(published, home):
    api = FakeAPI(
        [
            course_entry(published),
            course_entry(published, name="deep-learning", title="Deep learning"),
        ],
        RECORDS,
    )
    model = outline(api, home, "deep-learning")
    assert [c["course"] for c in model.courses] == ["deep-learning"]
    assert api.calls[-1] == ("progress", {"course": "deep-learning"})
    assert model.counts("deep-learning") == (0, 3)  # other-ex is not an exercise of it
    missing = outline(api, home, "nope")
    assert missing.status_kind == "error"
    assert missing.status == (
        "Course 'nope' is not published to any of your classes; your "
        "courses: first-steps, deep-learning."
    )
    with pytest.raises(ValueError, match="course name '../etc': use 1-48 lower-case letters"):
        CourseOutline("../etc", fetch=api)


def test_no_course_published_yet(home):
    model = outline(FakeAPI([], []), home)
    assert model.courses == [] and "No course is published to your classes yet" in model.status


def test_the_same_course_in_two_classes_is_shown_once_newest_first(published, home):
    api = FakeAPI(
        [
            course_entry(published),
            course_entry(
                published, klass="intro-2", version=VERSION_2, published_at="2026-11-24T09:00:00Z"
            ),
        ],
        [],
    )
    model = outline(api, home)
    assert len(model.courses) == 1
    assert model.courses[0]["version"] == VERSION_2
    assert "class intro, intro-2" in said(model.header_html("first-steps"))


def test_get_my_copy_through_the_real_sync(api, home, published):
    model = outline(api, home)
    assert model.sync_label("first-steps") == GET_COPY
    assert "Get your copy first" in said(model.next_html("first-steps"))
    assert model.sync_copy("first-steps")
    mine = home / "courses" / "first-steps"
    assert sorted(p.name for p in mine.iterdir()) == sorted([MANIFEST, "course.toml", *NOTEBOOKS])
    assert model.status_kind == "ok"
    assert model.status == (
        f"Got your copy in ~/courses/first-steps (version {VERSION_1}): 4 new, 0 updated."
    )
    assert model.sync_label("first-steps") == UPDATE_COPY
    assert f"your copy in ~/courses/first-steps is at version {VERSION_1}" in said(
        model.header_html("first-steps")
    )
    # Nothing new: an update says so and changes nothing.
    assert model.sync_copy("first-steps")
    assert model.status.startswith("Updated your copy") and "0 new, 0 updated" in model.status


def test_update_puts_the_trainers_version_beside_the_students_edits(api, home, published):
    model = outline(api, home)
    model.sync_copy("first-steps")
    mine = home / "courses" / "first-steps"
    (mine / "01-sessions.ipynb").write_text(notebook("# my answers"))
    publish(published, marker="v2")  # the trainer changed 01-sessions and course.toml
    api.courses[0]["version"] = VERSION_2
    model.load()
    assert model.sync_copy("first-steps")
    aside = f"01-sessions.trainer-{VERSION_2}.ipynb"
    assert (mine / "01-sessions.ipynb").read_text() == notebook("# my answers")
    assert "v2" in (mine / aside).read_text()
    assert "v2" in (mine / "course.toml").read_text()  # unchanged by the student: updated
    assert model.status_kind == "warning"
    assert "0 new, 1 updated, 1 changed by both" in model.status
    assert (
        f"the trainer's new version was put beside yours: 01-sessions.ipynb (yours, "
        f"untouched) and {aside} (the trainer's)"
    ) in model.status


def test_the_copy_goes_to_the_real_home_by_default(api, home, monkeypatch):
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    model = CourseOutline(fetch=api)
    model.load()
    assert model.copy_folder("first-steps") == home / "courses" / "first-steps"
    assert model.sync_copy("first-steps")
    assert (home / "courses" / "first-steps" / "01-sessions.ipynb").is_file()


def test_sync_refuses_a_published_folder_it_cannot_see(published, home, tmp_path):
    api = FakeAPI([course_entry(tmp_path / "not-mounted")], [])
    model = outline(api, home)
    assert not model.sync_copy("first-steps")
    assert model.status_kind == "error"
    assert "is not visible from this session" in model.status
    assert not (home / "courses").exists()
    api.courses = [course_entry("relative/path")]
    model.load()
    assert not model.sync_copy("first-steps") and "gave no folder" in model.status
    api.courses = [course_entry(published, version="../../x")]
    model.load()
    assert not model.sync_copy("first-steps") and "odd version" in model.status
    assert not (home / "courses").exists()


def test_sync_that_cannot_write_says_so(api, home):
    def refuse(published, copy, version, course=None):
        raise PermissionError(13, "Permission denied", str(copy))

    model = outline(api, home, syncer=refuse)
    assert not model.sync_copy("first-steps")
    assert model.status.startswith("Could not write your copy: permission denied on ")
    assert "Nothing of yours was overwritten" in model.status


def test_links_open_the_students_copy_in_jupyterlab(api, home):
    model = outline(api, home, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"})
    assert (
        model.notebook_link("first-steps", "01-sessions.ipynb")
        == "/user/alice/lab/tree/courses/first-steps/01-sessions.ipynb"
    )
    assert (
        '<a href="/user/alice/lab/tree/courses/first-steps/01-sessions.ipynb" '
        'target="_blank">01-sessions.ipynb</a>'
    ) in model.notebooks_html("first-steps")
    assert 'href="/user/alice/lab/tree/courses/first-steps/01-sessions.ipynb"' in model.next_html(
        "first-steps"
    )
    odd = outline(api, home, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/has@x y"})
    assert (
        odd.notebook_link("first-steps", "a b.ipynb")
        == "/user/has@x y/lab/tree/courses/first-steps/a%20b.ipynb"
    )
    plain = outline(api, home, environ={})
    assert plain.notebook_link("first-steps", "01-sessions.ipynb") is None
    assert "<code>~/courses/first-steps/01-sessions.ipynb</code>" in plain.notebooks_html(
        "first-steps"
    )
    assert "<a " not in plain.notebooks_html("first-steps")


def test_api_errors_are_shown_and_the_last_data_kept(api, home):
    model = outline(api, home)
    before = (list(model.courses), dict(model.records))
    api.fail = [WorkbenchAPIUnreachable("HTTP 502: Bad Gateway", 502)]
    assert not model.load()
    assert model.status_kind == "unreachable"
    assert model.status.startswith(
        "The workbench API did not answer the request for your "
        "courses (HTTP 502: Bad Gateway); what is shown is from "
        "before."
    )
    assert (model.courses, model.records) == before
    real = api.__call__  # the courses answer; the progress is refused

    def progress_refused(path, params=None):
        if path == "progress":
            raise WorkbenchAPIError("course 'x' is not a course name (HTTP 400)", 400)
        return real(path, params)

    model.fetch = progress_refused
    assert not model.load()
    assert model.status == (
        "The workbench API refused the request for your progress: "
        "course 'x' is not a course name (HTTP 400)"
    )
    assert model.counts("first-steps") == (1, 3)
    model.fetch = lambda path, params=None: {"nothing": "here"}
    assert not model.load()
    assert "without 'courses' (is AIWORKBENCH_API_URL right?)" in model.status
    assert model.courses == before[0]


def test_outside_a_session_the_status_line_says_why(monkeypatch):
    monkeypatch.delenv("AIWORKBENCH_API_URL", raising=False)
    widget = aiworkbench.course()
    assert (
        "Could not send the request for your courses to the workbench API: "
        "AIWORKBENCH_API_URL is not set" in said(widget.status.value)
    )
    assert widget.model.courses == []


def test_widget_draws_the_outline_and_the_button_gets_the_copy(api, home):
    widget = CourseWidget(
        fetch=api, home=home, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}
    )
    parts = widget.parts["first-steps"]
    assert parts["sync"].description == GET_COPY
    assert "Next step: exercise partition in 01-sessions.ipynb." in said(parts["next"].value)
    assert "aiwb-passed" in parts["notebooks"].value
    parts["sync"].click()
    assert (home / "courses" / "first-steps" / "02-budgets.ipynb").is_file()
    assert parts["sync"].description == UPDATE_COPY and not parts["sync"].disabled
    assert "Got your copy in ~/courses/first-steps" in said(widget.status.value)
    # Refresh re-reads the progress: a new pass shows at once, the button stays.
    api.records.append(rec("alice", "partition", 2, True))
    api.records.remove(rec("alice", "partition", 1, False))
    widget.refresh_button.click()
    assert "Next step: exercise budget-left in 02-budgets.ipynb." in said(parts["next"].value)
    assert "2 of 3 exercises passed" in said(parts["progress"].value)
    api.fail = [WorkbenchAPIUnreachable("timed out")]
    widget.refresh_button.click()
    assert "did not answer" in said(widget.status.value)
    assert widget.courses_box.children == (parts["box"],)
    assert "2 of 3 exercises passed" in said(parts["progress"].value)
    assert "First steps on the AI factory" in repr(widget)
    widget.sync()  # the only course shown
    assert "Updated your copy" in said(widget.status.value)


def test_outline_dom_hooks_for_browser_tests(api, home):
    widget = CourseWidget(fetch=api, home=home)
    parts = widget.parts["first-steps"]
    hooks = {
        "aiwb-course": widget.widget,
        "aiwb-course-status": widget.status,
        "aiwb-course-sync": parts["sync"],
        "aiwb-course-next": parts["next"],
        "aiwb-course-progress": parts["progress"],
    }
    for css, element in hooks.items():
        assert css in element._dom_classes, css
    assert 'class="aiwb-ex aiwb-passed"' in parts["notebooks"].value
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Next step" in bundle["text/plain"]
    widget.close()
    assert widget.widget.comm is None


def test_outline_escapes_what_the_api_sends(published, home):
    hostile = "<script>alert(1)</script>"
    api = FakeAPI(
        [
            course_entry(
                published,
                title=hostile,
                summary=hostile,
                goals=[hostile],
                level=hostile,
                published_by=hostile,
                notebooks=["<b>nb</b>.ipynb"],
                session={"partition": hostile, "gpus": 1, "hours": 1},
                exercises=[["<b>nb</b>.ipynb", "<i>x</i>"]],
            )
        ],
        [rec("alice", "<i>x</i>", 1, False)],
    )
    widget = CourseWidget(
        fetch=api, home=home, environ={"JUPYTERHUB_SERVICE_PREFIX": '/user/a"><script>/'}
    )
    parts = widget.parts["first-steps"]
    page = "".join(parts[k].value for k in ("header", "progress", "notebooks", "next"))
    assert "<script>" not in page and "<b>nb" not in page and "<i>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="/user/a&quot;&gt;&lt;script&gt;/lab/tree/' in page
    assert "<i>x</i> tried (1 attempt) ✗" in said(parts["notebooks"].value)


def test_names_are_checked_and_importing_stays_light():
    with pytest.raises(ValueError, match="course name 'First Steps': use 1-48"):
        aiworkbench.course("First Steps")
    with pytest.raises(ValueError, match="class name '../intro': use 1-20"):
        aiworkbench.class_progress("../intro")
    with pytest.raises(ValueError, match="course name 'x/y': use 1-48"):
        aiworkbench.class_progress("intro", "x/y")
    assert aiworkbench.course.__module__ == "aiworkbench.courses.widget"
    assert {"course", "class_progress"} <= set(aiworkbench.__all__)
    code = (
        "import sys, aiworkbench, aiworkbench.courses.widget; "
        "print(sorted(m for m in ('ipywidgets', 'ipylab', 'pandas', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the trainer's class table ----------------------------------------------------------


@pytest.fixture
def trainer_api(published):
    return FakeAPI([course_entry(published)], list(RECORDS), user="trainer")


def test_class_table_cells_where_and_stuck(trainer_api):
    model = ClassProgress("intro", fetch=trainer_api)
    assert model.load()
    assert trainer_api.calls == [
        ("courses", None),
        ("classes/intro/progress", {"course": "first-steps"}),
    ]
    assert model.columns() == [tuple(e) for e in EXERCISES]
    rows = {r.user: r for r in model.rows()}
    assert list(rows) == ["alice", "bob", "carol", "dave"]
    assert [c.mark for c in rows["alice"].cells] == ["✓", "✗1", "·"]
    assert [c.mark for c in rows["bob"].cells] == ["✓", "✗4", "·"]
    assert [c.mark for c in rows["carol"].cells] == ["✓", "✓", "✓"]
    assert [c.mark for c in rows["dave"].cells] == ["·", "·", "·"]
    assert {u: r.where for u, r in rows.items()} == {
        "alice": "01-sessions.ipynb",
        "bob": "01-sessions.ipynb",
        "carol": "complete",
        "dave": "01-sessions.ipynb (not started)",
    }
    assert [s.exercise for s in rows["bob"].stuck] == ["partition"]
    assert not rows["alice"].stuck and not rows["carol"].stuck  # carol passed after 3
    assert model.passed_counts() == [3, 1, 1]
    assert model.status.startswith("Class intro, course first-steps: 4 students, 1 stuck; read at ")
    page = model.table_html()
    assert page.count('class="aiwb-passed') == 5
    stuck = re.findall(r'<td class="aiwb-tried aiwb-stuck" data-exercise="partition"', page)
    assert len(stuck) == 1
    bob = re.search(r'<tr data-user="bob">(.*?)</tr>', page)[1]
    assert "aiwb-stuck" in bob and ">✗4<" in bob
    assert said(bob).endswith("01-sessions.ipynbpartition")
    assert '<th colspan="2"' in page and "01-sessions.ipynb" in page  # grouped by notebook
    assert ">3/4<" in page and ">1/4<" in page
    text = "\n".join(model.text_lines())
    assert "bob: ✓ ✗4 · | 01-sessions.ipynb | partition" in text
    assert "passed: 3/4 1/4 1/4" in text


def test_the_course_is_chosen_from_those_published_to_the_class(published, trainer_api):
    trainer_api.courses += [
        course_entry(
            published, name="deep-learning", title="Deep", exercises=[["a.ipynb", "other-ex"]]
        ),
        course_entry(published, name="elsewhere", klass="other"),
    ]
    trainer_api.records.append(rec("alice", "other-ex", 2, True, course="deep-learning"))
    widget = ClassWidget("intro", fetch=trainer_api)
    assert widget.model.choices == ["first-steps", "deep-learning"]  # not class other's
    assert widget.courses.layout.display == "flex"
    assert widget.courses.value == "first-steps"
    widget.courses.value = "deep-learning"
    assert trainer_api.calls[-1] == ("classes/intro/progress", {"course": "deep-learning"})
    assert [c.mark for c in widget.model.rows()[0].cells] == ["✓"]
    assert "Class intro: Deep (deep-learning)" in said(widget.header.value)
    # a course that cannot be read leaves the one shown chosen
    trainer_api.fail = [WorkbenchAPIUnreachable("timed out")]
    assert not widget.choose("first-steps")
    assert widget.model.course == widget.model.shown == "deep-learning"
    assert widget.courses.value == "deep-learning"
    assert "did not answer" in said(widget.status.value)
    assert "aiwb-passed" in widget.table.value  # the last table stays
    only = ClassWidget("intro", "deep-learning", fetch=trainer_api)
    assert only.model.shown == "deep-learning"


def test_one_course_means_no_dropdown(trainer_api):
    widget = ClassWidget("intro", fetch=trainer_api)
    assert widget.courses.layout.display == "none"
    hooks = {
        "aiwb-class": widget.widget,
        "aiwb-class-table": widget.table,
        "aiwb-class-status": widget.status,
    }
    for css, element in hooks.items():
        assert css in element._dom_classes, css
    assert "bob" in repr(widget)
    widget.close()
    assert widget.widget.comm is None


def test_students_are_refused_in_plain_words(api):
    model = ClassProgress("intro", fetch=api)  # alice is a member, not a trainer
    assert not model.load()
    assert model.status_kind == "error"
    assert model.status.startswith("Refused: only the trainers of class intro may see its progress")
    widget = ClassWidget("intro", fetch=api)
    assert "only the trainers of class intro may see its progress" in said(widget.status.value)
    assert widget.table.value == ""


def test_unknown_class_and_errors_keep_the_table(trainer_api):
    model = ClassProgress("nope", fetch=trainer_api)
    assert not model.load()
    assert "no class 'nope'; classes: intro (HTTP 404)" in model.status
    model = ClassProgress("intro", fetch=trainer_api)
    model.load()
    page = model.table_html()
    trainer_api.fail = [WorkbenchAPIError("not JSON")]
    assert not model.load()
    assert model.status.startswith("Could not send the request for the courses")
    assert model.table_html() == page


def test_a_class_nobody_published_to_and_an_empty_class(published):
    api = FakeAPI([], list(RECORDS), user="trainer")
    model = ClassProgress("intro", fetch=api)
    assert model.load()  # a manager who takes no class: columns from what was tried
    assert api.calls[-1] == ("classes/intro/progress", None)
    assert model.shown == "deep-learning"
    assert model.columns() == [("", "other-ex")]
    assert "(notebook unknown)" in model.table_html()
    assert model.status_kind == "warning" and "not among the courses published" in model.status
    empty = FakeAPI(
        [course_entry(published)],
        [],
        user="trainer",
        classes={"intro": {"trainers": ["trainer"], "members": []}},
    )
    model = ClassProgress("intro", fetch=empty)
    assert model.load()
    assert model.status == "Class intro has no members yet."
    nothing = FakeAPI([], [], user="trainer")
    model = ClassProgress("intro", fetch=nothing)
    assert model.load() and model.table_html() == ""
    assert model.status == (
        "No course is published to class intro yet, and its members have no progress."
    )


def test_class_table_escapes_names(published):
    hostile = '<img src=x onerror="alert(1)">'
    api = FakeAPI(
        [course_entry(published, title=hostile, exercises=[[hostile, hostile]])],
        [rec(hostile, hostile, 3, False)],
        user="trainer",
        classes={"intro": {"trainers": ["trainer", hostile], "members": [hostile]}},
    )
    widget = ClassWidget("intro", fetch=api)
    page = widget.header.value + widget.table.value + widget.status.value
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert 'class="aiwb-tried aiwb-stuck"' in widget.table.value
