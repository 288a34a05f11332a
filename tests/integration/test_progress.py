"""Exercise progress through the real hub: recorded for the token's user only, never for
anyone else, and only for exercises published to their classes; read back by the
student, and by the class's trainer (for the class's courses), not by others."""

import base64
import json
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
API = "/services/workbench/api"
COURSE = textwrap.dedent("""\
    title = "Progress test"
    level = "beginner"
    goals = ["Count"]
    notebooks = ["01.ipynb"]
    [session]
    partition = "cpu"
    """)
NOTEBOOK = json.dumps(
    {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": 'check("gpu-hours", 8, 8)\ncheck("other", 1, 1)',
            }
        ],
    }
)


def call(user, method, route, **kwargs):
    answer = user.session.request(method, f"{user.hub_url}{API}/{route}", timeout=30, **kwargs)
    return answer.status_code, answer.json()


@pytest.fixture
def course(site, hub_user):
    """A course of this run only, published to class intro by its trainer."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    files = {"course.toml": COURSE, "01.ipynb": NOTEBOOK}
    status, answer = call(
        hub_user("trainer"),
        "POST",
        f"classes/intro/courses/{name}",
        json={"files": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()}},
    )
    assert status == 201, answer
    yield name
    root = Path(site.courses.root) / "intro"
    (root / name).unlink()
    for version in (root / ".versions").glob(f"{name}-*"):
        shutil.rmtree(version)


def test_progress_is_the_token_users_own_and_the_trainer_sees_the_class(hub_user, course):
    student, sme, trainer = hub_user("student"), hub_user("sme"), hub_user("trainer")
    attempt = {"course": course, "exercise": "gpu-hours", "passed": False}
    status, first = call(student, "POST", "progress", json=attempt)
    assert status == 201 and (first["user"], first["attempts"], first["passed"]) == (
        "student",
        1,
        False,
    ), first
    status, second = call(student, "POST", "progress", json={**attempt, "passed": True})
    assert (second["attempts"], second["passed"]) == (2, True)
    assert call(student, "POST", "progress", json=attempt)[1]["passed"]  # for good

    # Forging: a body naming another user is refused; sme, not in class intro, may not
    # record progress in its course; made-up exercises are refused.
    status, refusal = call(student, "POST", "progress", json={**attempt, "user": "sme"})
    assert status == 400 and "unknown 'user'" in refusal["message"], refusal
    status, refusal = call(sme, "POST", "progress", json=attempt)
    assert status == 400 and "published to a class of yours" in refusal["message"]
    status, refusal = call(student, "POST", "progress", json={**attempt, "exercise": "made-up"})
    assert status == 400 and "has no exercise 'made-up'" in refusal["message"]
    status, mine = call(student, "GET", "progress", params={"course": course})
    assert status == 200 and [
        (r["user"], r["exercise"], r["attempts"]) for r in mine["records"]
    ] == [("student", "gpu-hours", 3)]

    # The trainer of class intro (student is a member) sees it; sme may not look.
    status, table = call(trainer, "GET", "classes/intro/progress", params={"course": course})
    assert status == 200 and "student" in table["members"] and "intro-01" in table["members"]
    assert [(r["user"], r["passed"]) for r in table["records"]] == [("student", True)]
    status, refusal = call(
        trainer, "GET", "classes/intro/progress", params={"course": "not-published-here"}
    )
    assert status == 404 and "not published to class 'intro'" in refusal["message"]
    status, refusal = call(sme, "GET", "classes/intro/progress")
    assert status == 403 and "trainers of class 'intro'" in refusal["message"]
    assert call(trainer, "GET", "classes/nope/progress")[0] == 404
    assert call(trainer, "POST", "classes/intro/progress", json=attempt)[0] == 405


@pytest.mark.parametrize(
    "body, words",
    [
        ({"course": "../x", "exercise": "a", "passed": True}, "course name '../x': use"),
        ({"course": "c\n", "exercise": "a", "passed": True}, "course name 'c\\n': use"),
        ({"course": "c", "exercise": "a b", "passed": True}, "exercise id 'a b': use"),
        ({"course": "c", "exercise": "a", "passed": "yes"}, "passed must be true or false"),
        ({"course": "c", "exercise": "a"}, "missing 'passed'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_progress_is_refused_with_what_is_allowed(hub_user, body, words):
    status, refusal = call(hub_user("student"), "POST", "progress", json=body)
    assert status == 400 and words in refusal["message"], refusal
