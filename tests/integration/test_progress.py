"""Exercise progress through the real hub: recorded for the token's user only, never for
anyone else; read back by the student, and by the class's trainer, not by others."""

import uuid

import pytest

pytestmark = pytest.mark.integration
API = "/services/workbench/api"


def call(user, method, route, **kwargs):
    answer = user.session.request(method, f"{user.hub_url}{API}/{route}", timeout=30,
                                  **kwargs)
    return answer.status_code, answer.json()


def test_progress_is_the_token_users_own_and_the_trainer_sees_the_class(hub_user):
    student, sme, trainer = hub_user("student"), hub_user("sme"), hub_user("trainer")
    course = f"test-{uuid.uuid4().hex[:8]}"  # a course of this run only
    attempt = {"course": course, "exercise": "gpu-hours", "passed": False}
    status, first = call(student, "POST", "progress", json=attempt)
    assert status == 201 and (first["user"], first["attempts"], first["passed"]) == (
        "student", 1, False), first
    status, second = call(student, "POST", "progress", json={**attempt, "passed": True})
    assert (second["attempts"], second["passed"]) == (2, True)
    assert call(student, "POST", "progress", json=attempt)[1]["passed"]  # for good

    # Forging: a body naming another user is refused; another token writes its own.
    status, refusal = call(student, "POST", "progress", json={**attempt, "user": "sme"})
    assert status == 400 and "unknown 'user'" in refusal["message"], refusal
    call(sme, "POST", "progress", json={**attempt, "exercise": "other"})
    status, mine = call(student, "GET", "progress", params={"course": course})
    assert status == 200 and [(r["user"], r["exercise"], r["attempts"]) for r in
                              mine["records"]] == [("student", "gpu-hours", 3)]

    # The trainer of class intro (student is a member) sees it; sme may not look.
    status, table = call(trainer, "GET", "classes/intro/progress", params={"course": course})
    assert status == 200 and "student" in table["members"] and "intro-01" in table["members"]
    assert [(r["user"], r["passed"]) for r in table["records"]] == [("student", True)]
    status, refusal = call(sme, "GET", "classes/intro/progress")
    assert status == 403 and "trainers of class 'intro'" in refusal["message"]
    assert call(trainer, "GET", "classes/nope/progress")[0] == 404
    assert call(trainer, "POST", "classes/intro/progress", json=attempt)[0] == 405


@pytest.mark.parametrize("body, words", [
    ({"course": "../x", "exercise": "a", "passed": True}, "is not a course name"),
    ({"course": "c", "exercise": "a b", "passed": True}, "is not an exercise id"),
    ({"course": "c", "exercise": "a", "passed": "yes"}, "passed must be true or false"),
    ({"course": "c", "exercise": "a"}, "missing 'passed'"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_progress_is_refused_with_what_is_allowed(hub_user, body, words):
    status, refusal = call(hub_user("student"), "POST", "progress", json=body)
    assert status == 400 and words in refusal["message"], refusal
