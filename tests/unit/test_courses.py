"""Course folders are checked with file, field and reason; a student's copy is brought up
to date without ever losing the student's edits."""

import json
import os
import shutil
import sqlite3

import pytest

from aiworkbench.core.site import load_site
from aiworkbench.courses.course import CourseError, read_course
from aiworkbench.courses.sync import MANIFEST, sync

from ..fakes import COURSE_TOML as COURSE
from .test_catalog_cli import SITE  # the demo site file's text


def notebook(*sources):
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


def make_course(root, name="first-steps", text=COURSE, exercises=("q1", "q2")):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "course.toml").write_text(text)
    (folder / "01-sessions.ipynb").write_text(notebook(f'check("{exercises[0]}", answer)'))
    (folder / "02-budgets.ipynb").write_text(notebook("x = 1", f"check('{exercises[1]}', x)"))
    return folder


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    return load_site(path)


def test_a_good_course_reads_with_its_exercises_in_order(tmp_path, site):
    course = read_course(make_course(tmp_path), site)
    assert course.notebooks == ("01-sessions.ipynb", "02-budgets.ipynb")
    assert course.exercises == (("01-sessions.ipynb", "q1"), ("02-budgets.ipynb", "q2"))
    assert (course.session.partition, course.session.gpus, course.session.hours) == ("cpu", 0, 1)


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            ('level = "beginner"', 'level = "expert"'),
            "course.toml: level: 'expert' is not allowed; allowed: beginner, intermediate",
        ),
        (('title = "First steps"\n', ""), "course.toml: title: missing (required)"),
        (('"02-budgets.ipynb"]', '"../secret.ipynb"]'), "course.toml: notebooks: path "),
        (
            ('"02-budgets.ipynb"]', '"03-gone.ipynb"]'),
            "course.toml: notebooks: '03-gone.ipynb' is not a file in the course folder",
        ),
        (
            ('"02-budgets.ipynb"]', '"01-sessions.ipynb"]'),
            "course.toml: notebooks: '01-sessions.ipynb' is listed twice",
        ),
        (("gpus = 0", "gpus = 1"), "course.toml: session.gpus: 1 is more than partition 'cpu'"),
        (
            ('partition = "cpu"', 'partition = "tpu"'),
            "course.toml: session.partition: 'tpu' is not a partition of this factory",
        ),
        (("hours = 1", "hours = 99"), "course.toml: session.hours: 99 is not allowed; a whole"),
        (("[session]", "colour = 1\n[session]"), "course.toml: colour: unknown field"),
        (("goals = [", "goals = [1, "), "course.toml: goals: must be a non-empty list of text"),
        (("level", "level = ["), "course.toml: not valid TOML"),
    ],
)
def test_invalid_courses_name_file_field_and_reason(tmp_path, site, change, problem):
    folder = make_course(tmp_path, text=COURSE.replace(*change, 1))
    with pytest.raises(CourseError) as err:
        read_course(folder, site)
    assert any(problem in p and p.startswith(str(folder)) for p in err.value.problems), (
        err.value.problems
    )


def test_exercise_ids_are_unique_and_notebooks_are_notebooks(tmp_path, site):
    folder = make_course(tmp_path, exercises=("q1", "q1"))
    (folder / "02-budgets.ipynb").write_text(
        notebook("check('q1', x)").replace('"nbformat": 4', '"nbformat": 3')
    )
    with pytest.raises(CourseError) as err:
        read_course(folder, site)
    assert err.value.problems == [
        f"{folder}/02-budgets.ipynb: not an nbformat 4 notebook (no cells)"
    ]
    (folder / "02-budgets.ipynb").write_text(notebook("check('q1', x)"))
    with pytest.raises(CourseError, match="exercise 'q1' is also in 01-sessions.ipynb"):
        read_course(folder, site)


def test_republishing_never_loses_a_students_edits(tmp_path):
    published, copy = make_course(tmp_path / "published"), tmp_path / "home" / "first-steps"
    first = sync(published, copy, "v1")
    assert sorted(first.added) == ["01-sessions.ipynb", "02-budgets.ipynb", "course.toml"]
    assert json.loads((copy / MANIFEST).read_text())["version"] == "v1"

    (copy / "01-sessions.ipynb").write_text("my answers")  # the student works
    (copy / "notes.txt").write_text("mine")
    (published / "02-budgets.ipynb").write_text(notebook("y = 2"))  # the trainer updates
    (published / "03-more.ipynb").write_text(notebook("z = 3"))
    second = sync(published, copy, "v2")
    assert second.updated == ["02-budgets.ipynb"] and second.added == ["03-more.ipynb"]
    assert second.kept == ["01-sessions.ipynb"]
    assert (copy / "01-sessions.ipynb").read_text() == "my answers"
    assert (copy / "notes.txt").read_text() == "mine"

    (published / "01-sessions.ipynb").write_text(notebook("fixed = True"))  # both changed
    (published / "03-more.ipynb").unlink()
    third = sync(published, copy, "v3")
    assert third.set_aside == [("01-sessions.ipynb", "01-sessions.trainer-v3.ipynb")]
    assert (copy / "01-sessions.ipynb").read_text() == "my answers"
    assert "fixed = True" in (copy / "01-sessions.trainer-v3.ipynb").read_text()
    assert third.removed_upstream == ["03-more.ipynb"] and (copy / "03-more.ipynb").exists()
    assert "changed by both" in third.text()

    again = sync(published, copy, "v3")  # nothing new: nothing moves
    assert again.added == again.updated == again.set_aside == [] and again.kept == [
        "01-sessions.ipynb"
    ]


def test_a_link_in_the_copy_is_never_written_through(tmp_path):
    published, copy = make_course(tmp_path / "published"), tmp_path / "copy"
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    copy.mkdir()
    (copy / "course.toml").symlink_to(outside)
    report = sync(published, copy, "v1")
    assert outside.read_text() == "precious"
    assert report.set_aside == [("course.toml", "course.trainer-v1.toml")]


# --- exercises ---------------------------------------------------------------------------

from aiworkbench.courses.exercise import compare, evaluate, find_course  # noqa: E402
from aiworkbench.courses.progress import ProgressStore  # noqa: E402
from aiworkbench.widgets.api_client import WorkbenchAPIError  # noqa: E402


@pytest.mark.parametrize(
    "answer, expected, feedback",
    [
        (8, 8, ""),
        (8.0000001, 8, ""),
        ("8", 8, "should be a number, got text ('8')"),
        (7, 8, "your answer, 7, is too small"),
        (9.5, 8, "is too large"),
        (float("nan"), 8, "NaN"),
        (True, 1, "should be a number, got True/False"),
        ("GPU", "gpu", "almost right: check upper and lower case"),
        ("cpu", "gpu", "'cpu', is not the text expected"),
        ([1, 2], [1, 2, 3], "has 2 items; it should have 3"),
        ([1, 5, 3], [1, 2, 3], "item 1, 5, is too large"),
        ({"a": 1}, {"a": 1, "b": 2}, "lacks the key 'b'"),
        ({"a": 1, "c": 3}, {"a": 1}, "a key that should not be there: 'c'"),
        ({"a": "x"}, {"a": 1}, "the value of 'a' should be a number"),
        (False, True, "think again about True or False"),
    ],
)
def test_feedback_says_what_is_wrong_without_the_answer(answer, expected, feedback):
    said = compare(answer, expected)
    assert (feedback in said) if feedback else said == "", said
    if feedback and not isinstance(expected, bool):  # "True or False" names both
        assert repr(expected) not in said.replace(repr(answer), "")


def test_arrays_are_compared_by_shape_then_values():
    import numpy as np

    assert "has shape (2,); it should be (3,)" in compare(np.zeros(2), np.zeros(3))
    assert "some values differ" in compare(np.ones(3), np.zeros(3))
    assert compare(np.arange(3) * 1.0, np.arange(3)) == ""
    assert "should be an array of shape (3,)" in compare([0, 1, 2], np.arange(3))


def test_a_check_is_recorded_for_the_course_the_notebook_is_in(tmp_path, monkeypatch):
    store, posted = ProgressStore(), []

    def post(path, payload):  # the API does this for the token's user
        posted.append((path, payload))
        return store.record(
            "student", payload["course"], payload["exercise"], payload["passed"], now=len(posted)
        )

    copy = make_course(tmp_path, "first-steps")
    (copy / ".aiworkbench-course.json").write_text("{}")
    (copy / "sub").mkdir()
    monkeypatch.chdir(copy / "sub")
    assert find_course() == "first-steps"
    wrong = evaluate("q1", 7, 8, hint="GPUs times hours", post=post)
    assert not wrong.passed and "too small" in wrong.feedback
    assert (
        "Hint: GPUs times hours" in wrong.text() and "attempt 1, not passed yet" in wrong.recorded
    )
    right = evaluate("q1", 8, 8, post=post)
    assert right.passed and "attempt 2, passed" in right.recorded
    assert 'data-passed="true"' in right._repr_html_()
    again = evaluate("q1", 0, 8, post=post)  # passing once is for good
    assert "attempt 3, passed" in again.recorded
    assert posted[0] == ("progress", {"course": "first-steps", "exercise": "q1", "passed": False})
    [row] = store.of(["student"], "first-steps")
    assert (row["attempts"], row["passed"], row["first_passed_at"]) == (3, True, 2)


def test_checks_work_without_the_api_and_tests_can_be_functions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIWORKBENCH_API_URL", raising=False)
    result = evaluate("q2", [3, 1], test=lambda v: None if sorted(v) == v else "not sorted")
    assert result.feedback == "not sorted" and "not in a workbench session" in result.recorded

    def refused(path, payload):
        raise WorkbenchAPIError("the API refused (HTTP 400)", 400)

    broken = evaluate("q3", None, test=lambda v: v + 1, course="first-steps", post=refused)
    assert "checking your answer failed: TypeError" in broken.feedback
    assert broken.recorded == "Progress not recorded: the API refused (HTTP 400)"
    with pytest.raises(ValueError, match="either expected or test="):
        evaluate("q4", 1)
    with pytest.raises(ValueError, match="exercise id"):
        evaluate("no spaces", 1, 1)


def test_publishing_sends_the_checked_course_files_and_nothing_hidden(tmp_path):
    import base64

    from aiworkbench.courses.publish import publish_course

    folder = make_course(tmp_path)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("a\n1\n")
    (folder / "link.csv").symlink_to(folder / "data" / "x.csv")
    sent = []
    publish_course(
        folder, "intro", post=lambda path, payload: sent.append((path, payload)) or {"version": "v"}
    )
    [(path, payload)] = sent
    assert path == "classes/intro/courses/first-steps"
    assert sorted(payload["files"]) == [
        "01-sessions.ipynb",
        "02-budgets.ipynb",
        "course.toml",
        "data/x.csv",
    ]
    assert base64.b64decode(payload["files"]["data/x.csv"]) == b"a\n1\n"
    (folder / "course.toml").write_text("title = 1\n")
    with pytest.raises(CourseError):
        publish_course(folder, "intro", post=lambda *a: pytest.fail("sent a broken course"))


def test_numpy_scalars_odd_answers_and_boolean_tests_are_handled():
    import numpy as np

    assert compare(8, np.float64(8.0)) == "" and compare(np.int64(8), 8) == ""
    assert "too small" in compare(7.0, np.mean([8.0, 8.0]))
    assert "should be a list, got text" in compare("ab", ["a", "b"])
    assert "should be a list, got a dict" in compare({"a": 1}, ["a"])
    assert "is an array of shape (2,)" in compare(np.zeros(2), True)
    assert "is an array of shape (2,)" in compare(np.zeros(2), None)
    assert compare(np.array(3.0), 3) == ""
    assert "some values differ" in compare(np.array(["a", "b"]), np.array(["a", "c"]))
    assert compare(np.array(["a", "b"]), np.array(["a", "b"])) == ""
    assert evaluate("t1", 5, test=lambda a: a > 3, course="c", post=lambda *a: {}).passed
    failed = evaluate("t2", 1, test=lambda a: a > 3, course="c", post=lambda *a: {})
    assert failed.feedback == "your answer is not right yet"


def test_the_store_opens_a_restored_file_put_in_its_place(tmp_path):
    path = tmp_path / "progress.sqlite"
    store = ProgressStore(path)
    store.record("student", "first-steps", "q1", False, now=1)
    backup = tmp_path / "backup.sqlite"
    with sqlite3.connect(path) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    store.record("student", "first-steps", "q1", True, now=2)
    restoring = tmp_path / ".progress.sqlite.restoring"
    shutil.copyfile(backup, restoring)
    os.replace(restoring, path)  # what aiworkbench-backup restore does
    # Still open on the old file, SQLite would refuse: "attempt to write a readonly
    # database". The store writes to the restored one instead.
    after = store.record("student", "first-steps", "q1", False, now=3)
    assert (after["attempts"], after["passed"]) == (2, False)
    assert sqlite3.connect(path).execute("SELECT attempts FROM progress").fetchall() == [(2,)]
