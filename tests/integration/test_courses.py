"""Courses through the real hub and real Unix users: a trainer publishes to a class; each
student's copy is theirs (owner, modes); republishing after a student's edit keeps the
edit; only the class's trainers publish; broken courses are refused with file and field."""

import base64
import json
import os
import shutil
import stat
import textwrap
import uuid
from pathlib import Path

import pytest

from aiworkbench.courses.publish import publish_course

from ..conftest import run

pytestmark = pytest.mark.integration
API = "/services/workbench/api"
COURSE = textwrap.dedent("""\
    title = "Integration course"
    level = "beginner"
    goals = ["Pass the tests"]
    notebooks = ["01-intro.ipynb"]

    [session]
    partition = "cpu"
    gpus = 0
    hours = 1
    """)


def notebook(source: str) -> str:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "source": source,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
            ],
        }
    )


def poster(user):
    def post(path, payload):
        answer = user.session.post(f"{user.hub_url}{API}/{path}", json=payload, timeout=60)
        assert answer.status_code == 201, answer.text
        return answer.json()

    return post


SYNC = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from aiworkbench.courses.sync import sync
    report = sync(sys.argv[1], Path.home() / "courses" / sys.argv[2], sys.argv[3])
    print(json.dumps(report.__dict__))
    """)


def sync_as(user, site, record) -> dict:
    done = run(
        [
            "env",
            f"HOME=/home/{user}",
            f"{site.factory.prefix}/env/bin/python",
            "-c",
            SYNC,
            record["path"],
            record["course"],
            record["version"],
        ],
        user=user,
    )
    return json.loads(done.stdout)


@pytest.fixture
def course(tmp_path, site):
    name = f"test-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "course.toml").write_text(COURSE)
    (folder / "01-intro.ipynb").write_text(notebook('check("q1", 1, 1)'))
    yield folder
    (Path(site.courses.root) / "intro" / name).unlink(missing_ok=True)
    for version in (Path(site.courses.root) / "intro" / ".versions").glob(f"{name}-*"):
        shutil.rmtree(version)
    shutil.rmtree(f"/home/student/courses/{name}", ignore_errors=True)


def test_publish_then_republish_keeps_the_students_edits(site, hub_user, course):
    trainer, student = hub_user("trainer"), hub_user("student")
    first = publish_course(course, "intro", post=poster(trainer))
    assert first["previous_version"] is None and first["exercises"] == [["01-intro.ipynb", "q1"]]
    listed = student.session.get(f"{student.hub_url}{API}/courses", timeout=30).json()
    assert course.name in [c["course"] for c in listed["courses"]]
    sme = hub_user("sme")  # not in class intro
    theirs = sme.session.get(f"{sme.hub_url}{API}/courses", timeout=30).json()
    assert course.name not in [c["course"] for c in theirs["courses"]]

    report = sync_as("student", site, first)
    assert sorted(report["added"]) == ["01-intro.ipynb", "course.toml"]
    copy = Path(f"/home/student/courses/{course.name}")
    uid = int(run(["id", "-u", "student"]).stdout)
    for path in [copy, *copy.iterdir()]:
        info = os.stat(path)
        assert info.st_uid == uid and not info.st_mode & stat.S_IWOTH, path

    run(["sh", "-c", f"echo my-answer > {copy / '01-intro.ipynb'}"], user="student")
    (course / "01-intro.ipynb").write_text(notebook('check("q1", 2, 2)'))
    (course / "course.toml").write_text(COURSE.replace('"Pass the tests"', '"Pass", "Learn"'))
    second = publish_course(course, "intro", post=poster(trainer))
    assert second["previous_version"] == first["version"] != second["version"]
    report = sync_as("student", site, second)
    assert report["updated"] == ["course.toml"]
    aside = f"01-intro.trainer-{second['version']}.ipynb"
    assert report["set_aside"] == [["01-intro.ipynb", aside]]
    assert (copy / "01-intro.ipynb").read_text() == "my-answer\n"
    assert 'check(\\"q1\\", 2, 2)' in (copy / aside).read_text()
    assert os.stat(copy / aside).st_uid == uid


def test_only_trainers_publish_and_broken_courses_are_refused(site, hub_user, course):
    trainer, sme = hub_user("trainer"), hub_user("sme")
    url = f"{trainer.hub_url}{API}/classes/intro/courses/{course.name}"
    files = {
        "course.toml": base64.b64encode(COURSE.encode()).decode(),
        "01-intro.ipynb": base64.b64encode(notebook("x = 1").encode()).decode(),
    }
    refused = sme.session.post(url, json={"files": files}, timeout=30)
    assert (
        refused.status_code == 403
        and "only the trainers of class 'intro'" in refused.json()["message"]
    )
    for bad, words in [
        (
            {
                **files,
                "course.toml": base64.b64encode(
                    COURSE.replace("gpus = 0", "gpus = 1").encode()
                ).decode(),
            },
            "course.toml: session.gpus: 1 is more than partition 'cpu' allows",
        ),
        ({**files, "../escape.txt": "eA=="}, "has the part '..'"),
        ({**files, ".hidden": "eA=="}, "hidden files and folders are not published"),
        ({**files, "x.txt": "not base64!"}, "is not valid base64"),
    ]:
        answer = trainer.session.post(url, json={"files": bad}, timeout=30)
        assert answer.status_code == 400 and words in answer.json()["message"], answer.text
    assert not (Path(site.courses.root) / "intro" / course.name).exists()


def test_the_shipped_courses_are_published_to_the_demos_class(site, hub_user):
    """A newcomer's course list is not empty: make up published the four shipped courses
    to class intro, as its trainer; the student sees them through the API."""
    assert site.courses.shipped_to == "intro"
    student = hub_user("student")
    answer = student.session.get(f"{student.hub_url}{API}/courses", timeout=60)
    assert answer.status_code == 200, answer.text
    shipped = {c["course"]: c for c in answer.json()["courses"] if c["class"] == "intro"}
    assert {"first-steps", "dask-on-slurm", "notebook-to-batch", "torch-image-classifier"} <= set(
        shipped
    )
    assert shipped["first-steps"]["published_by"] == "trainer"
