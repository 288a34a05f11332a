"""The workbench API's access rules, route by route, against the real tornado app.

``make_app`` is served on loopback as ``aiworkbench-api`` serves it; the hub's token
lookup is the only double (a token maps to a user model with the site's scopes), the
budgets come from a real AccountingReader over scripted ``sshare``/``squeue``, the
catalog from a real index, courses and progress from real files in tmp_path. Every
refusal is checked with its status and its message.

The contract tests at the end send the requests the widgets send to the fakes of
``tests/fakes.py`` (which the widgets' unit tests use) to the real handlers too, and
hold each fake answer to the real one's shape.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import http.client
import json
import os
import re
import socket
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from tornado.web import create_signed_value

from aiworkbench.api import app as api_app
from aiworkbench.api.app import PROGRESS_FILE
from aiworkbench.budgets import accounting
from aiworkbench.budgets.widget import fetch_budgets
from aiworkbench.catalog.paths import ALLOWED
from aiworkbench.catalog.widget import CatalogModel
from aiworkbench.courses import api as courses_api
from aiworkbench.courses import shelf
from aiworkbench.courses.progress import ProgressStore
from aiworkbench.courses.widget import ClassProgress, CourseOutline
from aiworkbench.scaleout.slurm_work import WorkRequest, affordable
from aiworkbench.widgets.api_client import WorkbenchAPIError, api_get

from ..fakes import (
    BUDGETS,
    POLICY,
    FakeCatalogAPI,
    FakeCourseAPI,
    budget_answer,
    card,
    course_entry,
    fake_scale_api,
    rec,
    refusal,
)
from . import api_doubles
from .api_doubles import COURSE_TOML, PREFIX, course_files, token_of

API = f"{PREFIX}api"
VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}\Z")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
LOGIN = "log in to the hub, or send a hub token (Authorization: token ...)"
NO_ACCESS = "this token may not use the workbench API (it lacks access:services!service=workbench)"
# The name rules' words (aiworkbench.core.names), as refusals give them.
PROJECT_RULE = "use 1-32 lower-case letters, digits, '-' or '_', starting with a letter"
COURSE_RULE = "use 1-48 lower-case letters, digits or '-', starting with a letter or digit"
EXERCISE_RULE = "use 1-64 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'"
RECORD_KEYS = (
    "course (the course (its folder's name)); exercise (the exercise's id); passed (true or false)"
)
UPLOAD_KEYS = f"files ({courses_api.UPLOAD['files']})"


def refused(response, status: int, message: str, *, exact: bool = True) -> None:
    """``response`` is the API's refusal: ``status``, JSON ``{"status", "message"}``
    with ``message`` (the whole message, or a part of it with ``exact=False``)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "message"} and body["status"] == status, body
    if exact:
        assert body["message"] == message
    else:
        assert message in body["message"], body["message"]


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


# --- authentication: every route ----------------------------------------------------------

ROUTES = [
    ("GET", "budgets"),
    ("GET", "budgets/edu-intro"),
    ("GET", "status"),
    ("GET", "projects/edu-intro/partitions"),
    ("GET", "catalog"),
    ("GET", "datasets"),
    ("GET", "datasets/iris"),
    ("GET", "datasets/iris/files"),
    ("GET", "courses"),
    ("GET", "progress"),
    ("GET", "classes"),
    ("GET", "classes/intro/progress"),
    ("GET", "no/such/path"),
    ("POST", "progress"),
    ("POST", "classes"),
    ("POST", "classes/intro/courses/first-steps"),
    ("POST", "classes/intro/progress"),
    ("DELETE", "budgets"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_needs_a_hub_token_with_access_to_the_api(workbench_api, method, path):
    api = workbench_api
    body = {"json": {}} if method == "POST" else {}
    refused(api.request(method, path, None, **body), 401, LOGIN)
    refused(api.request(method, path, token="revoked-or-made-up", **body), 401, LOGIN)
    assert api.hub.asked == ["revoked-or-made-up"]  # the hub was asked, and said no
    api.hub.add(
        "no-access",
        {
            "kind": "user",
            "name": "student",
            "groups": [],
            "scopes": ["read:users:name!user=student", "access:services!service=dashboards"],
        },
    )
    refused(api.request(method, path, token="no-access", **body), 403, NO_ACCESS)


def test_the_hub_answers_once_a_minute_per_token_and_any_api_access_scope_will_do(
    workbench_api, catalog_index
):
    api = workbench_api
    for _ in range(3):
        ok(api.get("datasets", "student"))
    assert api.hub.asked == [token_of("student")]  # then cached, re-checked after 60 s
    from jupyterhub.services.auth import HubOAuth

    assert HubOAuth.instance().cache_max_age == api_app.TOKEN_CACHE_S == 60
    api.hub.add(
        "all-services", {"kind": "user", "name": "sme", "groups": [], "scopes": ["access:services"]}
    )
    assert ok(api.get("catalog", token="all-services"))["projects"] == ["sme-vision"]
    bearer = api.http.get(
        f"{api.url}/catalog", timeout=15, headers={"Authorization": f"Bearer {token_of('student')}"}
    )
    assert ok(bearer)["projects"] == ["edu-intro"]


def test_a_token_in_the_url_is_not_accepted(workbench_api):
    refused(workbench_api.get("courses", params={"token": token_of("student")}), 401, LOGIN)


def test_a_browsers_oauth_cookie_reads_but_does_not_write_without_xsrf(workbench_api, published):
    """The hub's OAuth cookie (what a browser holds after login) identifies its user for
    reading; a write with it alone (no XSRF token: what another site could make a
    browser send) finds no user."""
    api = workbench_api
    cookie = create_signed_value(
        api.app.settings["cookie_secret"], "service-workbench", token_of("student")
    ).decode()
    jar = {"service-workbench": cookie}
    assert ok(api.get("courses", cookies=jar))["user"] == "student"
    refused(
        api.post(
            "progress",
            cookies=jar,
            json={"course": "first-steps", "exercise": "gpu-hours", "passed": True},
        ),
        401,
        LOGIN,
    )
    assert ok(api.get("progress", "student"))["records"] == []


def test_unknown_paths_and_methods(workbench_api):
    api = workbench_api
    for path in ("no/such/path", "budgets/edu-intro/extra", "datasets/iris/files/x"):
        refused(api.get(path, "student"), 404, f"no such API path '{API}/{path}'")
    refused(api.request("DELETE", "budgets", "student"), 405, "Method Not Allowed")
    refused(api.request("PUT", "progress", "student", json={}), 405, "Method Not Allowed")


# --- budgets ------------------------------------------------------------------------------


def test_a_user_sees_only_their_projects_and_only_their_own_usage_and_jobs(workbench_api):
    answer = ok(workbench_api.get("budgets", "student"))
    assert (answer["user"], answer["refresh_interval_s"], answer["stale"], answer["error"]) == (
        "student",
        30,
        False,
        "",
    )
    assert STAMP.match(answer["as_of"]) and 0 <= answer["age_s"] < 5
    [project] = answer["projects"]
    assert project == {
        "project": "edu-intro",
        "level": "warning",
        "gpu": {
            "limit_minutes": 6000,
            "used_minutes": 4920,
            "held_minutes": 50,
            "left_minutes": 1080,
            "available_minutes": 1030,
            "used_fraction": 0.82,
            "level": "warning",
            "in_use": 1,
        },
        "cpu": {
            "limit_minutes": 120000,
            "used_minutes": 3000,
            "held_minutes": 120,
            "left_minutes": 117000,
            "available_minutes": 116880,
            "used_fraction": 0.025,
            "level": "ok",
            "in_use": 6,
        },
        "users": {"student": {"gpu_minutes": 120, "cpu_minutes": 1200}},
        "jobs": [
            {
                "job_id": "481",
                "user": "student",
                "project": "edu-intro",
                "partition": "gpu",
                "cpus": 2,
                "gpus": 1,
                "elapsed_s": 600,
                "time_left_s": 3000,
                "gpu_minutes": 10.0,
                "cpu_minutes": 20.0,
            }
        ],
    }
    sme = ok(workbench_api.get("budgets", "sme", params={"user": "sme"}))
    assert [p["project"] for p in sme["projects"]] == ["sme-vision"]
    assert list(sme["projects"][0]["users"]) == ["sme"]
    assert [j["job_id"] for j in sme["projects"][0]["jobs"]] == ["490"]


def test_managers_and_admins_read_every_project_and_every_user(workbench_api):
    api = workbench_api
    for user, flag in (("manager", "true"), ("admin", "1"), ("admin", "TRUE")):
        answer = ok(api.get("budgets", user, params={"all": flag}))
        assert [p["project"] for p in answer["projects"]] == [
            "edu-intro",
            "sme-vision",
            "factory-ops",
        ]
        edu = answer["projects"][0]
        assert list(edu["users"]) == ["student", "trainer"]
        assert [j["job_id"] for j in edu["jobs"]] == ["481", "482"]
        assert answer["projects"][2]["gpu"]["level"] == "none"  # no GPU budget at all
    own = ok(api.get("budgets", "manager", params={"all": "false"}))
    assert [p["project"] for p in own["projects"]] == ["factory-ops"]
    assert list(own["projects"][0]["users"]) == ["manager"]
    theirs = ok(api.get("budgets", "manager", params={"user": "sme"}))
    assert theirs["user"] == "manager"
    assert [(p["project"], list(p["users"])) for p in theirs["projects"]] == [
        ("sme-vision", ["sme"])
    ]
    one = ok(api.get("budgets/edu-intro", "manager"))  # not a member: everyone's usage
    assert list(one["projects"][0]["users"]) == ["student", "trainer"]
    service = ok(api.get("budgets", token=token_of("dashboards"), params={"all": "true"}))
    assert len(service["projects"]) == 3


def test_one_project_for_its_members(workbench_api):
    api = workbench_api
    mine = ok(api.get("budgets/edu-intro", "student"))
    assert [(p["project"], list(p["users"]), len(p["jobs"])) for p in mine["projects"]] == [
        ("edu-intro", ["student"], 1)
    ]
    assert ok(api.get("budgets/edu-intro/", "trainer"))["projects"][0]["jobs"][0]["job_id"] == "482"
    refused(
        api.get("budgets/edu-intro", "sme"),
        403,
        "you are not a member of project 'edu-intro'; your projects: sme-vision",
    )
    refused(
        api.get("budgets/factory-ops", "student"),
        403,
        "you are not a member of project 'factory-ops'; your projects: edu-intro",
    )
    refused(api.get("budgets/nope", "student"), 404, "no project 'nope'")
    refused(api.get("budgets/nope", "manager"), 404, "no project 'nope'")


@pytest.mark.parametrize(
    "user, params, status, message",
    [
        (
            "student",
            {"all": "true"},
            403,
            "only managers and admins may read every project's "
            "budget; leave out all=true for your own projects",
        ),
        ("student", {"user": "sme"}, 403, "you may read only your own budgets"),
        ("student", {"user": "nobody"}, 403, "you may read only your own budgets"),
        ("manager", {"user": "nobody"}, 404, "no user 'nobody'"),
        ("manager", {"user": "_svc"}, 404, "no user '_svc'"),  # a user name, not a project's
        (
            "manager",
            {"all": "true", "user": "sme"},
            400,
            "give either all=true or user=NAME, not both",
        ),
        ("student", {"all": "yes"}, 400, "all='yes' is not allowed; use true or false"),
        (
            "manager",
            {"user": "has@x"},
            400,
            "user name 'has@x': use 1-32 lower-case letters, digits, '-' or '_', "
            "starting with a letter or '_'",
        ),
        (
            "student",
            {"colour": "red"},
            400,
            "unknown query parameter(s) colour; allowed: all "
            "(true or false: every project (managers and admins)); user (a user name: that "
            "user's projects (managers and admins; anyone for themselves))",
        ),
        (
            "student",
            [("all", "true"), ("all", "false")],
            400,
            "query parameter all given 2 times; once at most",
        ),
    ],
)
def test_budget_queries_that_are_refused(workbench_api, user, params, status, message):
    refused(workbench_api.get("budgets", user, params=params), status, message)
    assert workbench_api.app.settings["reader"].refreshes == 0  # Slurm not even asked


@pytest.mark.parametrize(
    "path, message",
    [
        ("budgets/Edu-Intro", "project name 'Edu-Intro': use 1-32 lower-case letters"),
        ("budgets/a%2Fb", "project name 'a/b': use 1-32 lower-case letters"),
        ("budgets/has@x", "project name 'has@x': use 1-32 lower-case letters"),
        ("budgets/" + "p" * 33, "project name 'ppp"),  # a Unix group's limit, 32
        ("budgets/edu-intro?all=true", "unknown query parameter(s) all; allowed: none"),
    ],
)
def test_odd_project_names_and_parameters(workbench_api, path, message):
    refused(workbench_api.get(path, "student"), 400, message, exact=False)


def test_one_accounting_read_serves_everybody_within_an_interval(workbench_api, accounting_slurm):
    for user in ("student", "sme", "trainer", "manager", "admin", "intro-01"):
        ok(workbench_api.get("budgets", user))
    assert accounting_slurm.calls == [accounting.sshare_argv(), accounting.squeue_running_argv()]


def test_slurm_that_never_answered_is_a_503_and_later_failures_mark_numbers_stale(
    workbench_api, accounting_slurm, reader_clock
):
    api = workbench_api
    accounting_slurm.fail = "sshare: error: slurmctld not responding"
    refused(
        api.get("budgets", "student"),
        503,
        "Slurm accounting cannot be read: sshare: error: slurmctld not responding",
    )
    accounting_slurm.fail, reader_clock.offset = "", 31
    assert not ok(api.get("budgets", "student"))["stale"]
    accounting_slurm.fail, reader_clock.offset = "squeue: timed out", 62
    stale = ok(api.get("budgets", "student"))
    assert (stale["stale"], stale["error"]) == (True, "squeue: timed out")
    assert stale["projects"][0]["gpu"]["used_minutes"] == 4920  # the last good numbers


def test_numbers_older_than_two_intervals_are_stale(workbench_api, reader_clock):
    reader_clock.offset = -100  # the read that answers now was taken 100 s ago
    answer = ok(workbench_api.get("budgets", "student"))
    assert answer["stale"] and answer["error"] == "" and answer["age_s"] >= 100


def test_status_reports_the_readers_state_and_starts_a_read(workbench_api, accounting_slurm):
    api = workbench_api
    first = ok(api.get("status", "student"))
    assert first == {"refresh_interval_s": 30, "refreshes": 0, "age_s": None, "error": ""}
    deadline = time.monotonic() + 5
    while (now := ok(api.get("status", "student")))["age_s"] is None:
        assert time.monotonic() < deadline, "the reader never read"
        time.sleep(0.02)
    assert now["refreshes"] == 1 and now["error"] == "" and now["age_s"] < 5
    refused(
        api.get("status", "student", params={"x": "1"}),
        400,
        "unknown query parameter(s) x; allowed: none",
    )


# --- partitions ---------------------------------------------------------------------------


def test_a_projects_partitions_are_the_stricter_limits_for_its_members(workbench_api):
    api = workbench_api
    assert ok(api.get("projects/edu-intro/partitions", "student")) == {
        "project": "edu-intro",
        "partitions": {
            "cpu": {
                "description": "CPU nodes",
                "gpus": False,
                "max_cpus": 8,
                "min_gpus": 0,
                "max_gpus": 0,
                "max_hours": 4,
            },
            "gpu": {
                "description": "GPU nodes",
                "gpus": True,
                "max_cpus": 8,
                "min_gpus": 1,
                "max_gpus": 1,
                "max_hours": 4,
            },
        },
    }
    assert list(ok(api.get("projects/factory-ops/partitions", "admin"))["partitions"]) == ["cpu"]
    assert (
        ok(api.get("projects/sme-vision/partitions", "manager"))["partitions"]["gpu"]["max_gpus"]
        == 2
    )  # read-all: any project
    refused(
        api.get("projects/edu-intro/partitions", "sme"),
        403,
        "you are not a member of project 'edu-intro'; your projects: sme-vision",
    )
    refused(api.get("projects/nope/partitions", "student"), 404, "no project 'nope'")
    refused(
        api.get("projects/Nope/partitions", "student"),
        400,
        "project name 'Nope': use 1-32 lower-case letters",
        exact=False,
    )
    refused(
        api.get("projects/edu-intro/partitions", "student", params={"gpus": "1"}),
        400,
        "unknown query parameter(s) gpus; allowed: none",
    )


# --- the catalog --------------------------------------------------------------------------


def test_the_catalog_before_it_is_indexed_is_a_503(workbench_api, small_site):
    refused(
        workbench_api.get("datasets", "student"),
        503,
        f"the dataset catalog is not indexed yet ({small_site.catalog.index} does not "
        f"exist: run aiworkbench-catalog index); an admin runs aiworkbench-catalog index",
    )


def test_the_catalog_counts_only_what_the_caller_may_see(workbench_api, catalog_index):
    info = ok(workbench_api.get("catalog", "student"))
    assert STAMP.match(info.pop("indexed_at"))
    assert info == {
        "datasets": 2,
        "projects": ["edu-intro"],
        "facets": {
            "modality": {"tabular": 1, "text": 1},
            "format": {"csv": 1, "txt": 1},
            "licence": {"CC-BY-4.0": 1, "CC0-1.0": 1},
            "tag": {"botany": 1, "classification": 1, "course": 1},
            "project": {"edu-intro": 1},
        },
    }
    assert ok(workbench_api.get("catalog", "sme"))["facets"]["project"] == {"sme-vision": 1}
    refused(
        workbench_api.get("catalog", "sme", params={"q": "x"}),
        400,
        "unknown query parameter(s) q; allowed: none",
    )


@pytest.mark.parametrize(
    "user, visible",
    [
        ("student", ["intro-notes", "iris"]),
        ("intro-01", ["intro-notes", "iris"]),
        ("sme", ["iris", "vision-defects"]),
        ("coach", ["iris", "vision-defects"]),
        # Reading every budget is no key to other projects' data.
        ("manager", ["iris"]),
        ("admin", ["iris"]),
    ],
)
def test_restricted_datasets_exist_only_for_their_projects(
    workbench_api, catalog_index, user, visible
):
    api = workbench_api
    answer = ok(api.get("datasets", user))
    assert [i["name"] for i in answer["items"]] == visible
    assert (answer["total"], answer["page"], answer["per_page"], answer["pages"]) == (
        len(visible),
        1,
        20,
        1,
    )
    for name in ("intro-notes", "vision-defects"):
        if name in visible:
            detail = ok(api.get(f"datasets/{name}", user))
            assert detail["path"] == f"{catalog_index}/{name}"
            assert detail["access"] == [
                {"intro-notes": "edu-intro", "vision-defects": "sme-vision"}[name]
            ]
            continue
        hidden = f"no dataset {name!r} (or it is restricted to projects you are not in)"
        refused(api.get(f"datasets/{name}", user), 404, hidden)
        refused(api.get(f"datasets/{name}/files", user), 404, hidden)
        refused(
            api.get(f"datasets/{name}/files", user, params={"path": "../../etc"}), 404, hidden
        )  # nothing about the dataset is checked before its visibility
        project = {"intro-notes": "edu-intro", "vision-defects": "sme-vision"}[name]
        assert ok(api.get("datasets", user, params={"project": project}))["items"] == []
    refused(
        api.get("datasets/no-such-set", user),
        404,
        "no dataset 'no-such-set' (or it is restricted to projects you are not in)",
    )


def test_search_filters_and_pages(workbench_api, catalog_index):
    api = workbench_api

    def names(user="sme", **params):
        return [i["name"] for i in ok(api.get("datasets", user, params=params))["items"]]

    assert names(q="flowers") == ["iris"] and names(q="photo") == ["vision-defects"]
    assert names(modality="image") == ["vision-defects"] and names(format="csv") == ["iris"]
    assert names(licence="CC0-1.0") == ["iris"] and names(tag="inspection") == ["vision-defects"]
    assert names(project="sme-vision") == ["vision-defects"] and names(q="nothing") == []
    page = ok(api.get("datasets", "sme", params={"per_page": "1", "page": "2"}))
    assert (page["total"], page["pages"], [i["name"] for i in page["items"]]) == (
        2,
        2,
        ["vision-defects"],
    )
    assert ok(api.get("datasets", "sme", params={"page": "9"}))["items"] == []
    item = ok(api.get("datasets", "student", params={"q": "iris"}))["items"][0]
    assert item == {
        "name": "iris",
        "title": "Iris flowers",
        "description": "Flowers measured by hand.",
        "owner": "factory-ops",
        "licence": "CC0-1.0",
        "citation": "Somebody (2026)",
        "modality": "tabular",
        "format": "csv",
        "access": "public",
        "tags": ["botany", "classification"],
        "files": 4,
        "bytes": 16 + 3 + 3 + 4,
    }


@pytest.mark.parametrize(
    "params, message",
    [
        ({"q": "x" * 201}, "q has 201 characters; at most 200"),
        (
            {"modality": "pics"},
            "modality='pics' is not allowed; one of tabular, image, text, "
            "audio, video, timeseries, other",
        ),
        (
            {"format": "exe"},
            "format='exe' is not allowed; one of csv, parquet, jsonl, txt, png, "
            "jpeg, npy, wav, other",
        ),
        ({"licence": "MIT; DROP"}, "licence='MIT; DROP' is not allowed; a licence, e.g. CC-BY-4.0"),
        (
            {"tag": "Botany"},
            "tag 'Botany': use 1-40 lower-case letters, digits, '+', '.', '-' or '_', "
            "starting with a letter or digit",
        ),
        ({"project": "../x"}, f"project name '../x': {PROJECT_RULE}"),
        ({"page": "0"}, "page='0' is not allowed; a whole number from 1 to 100000"),
        ({"page": "100001"}, "page='100001' is not allowed; a whole number from 1 to 100000"),
        ({"page": "\u0663"}, "page='\u0663' is not allowed; a whole number from 1 to 100000"),
        ({"per_page": "101"}, "per_page='101' is not allowed; a whole number from 1 to 100"),
        ({"per_page": "-1"}, "per_page='-1' is not allowed; a whole number from 1 to 100"),
        (
            {"sort": "name"},
            "unknown query parameter(s) sort; allowed: q (",
        ),
    ],
)
def test_search_parameters_that_are_refused(workbench_api, catalog_index, params, message):
    refused(
        workbench_api.get("datasets", "student", params=params),
        400,
        message,
        exact=not message.endswith("("),
    )


def test_folders_of_a_dataset(workbench_api, catalog_index):
    api = workbench_api
    top = ok(api.get("datasets/iris/files", "student"))
    assert top == {
        "dataset": "iris",
        "path": "",
        "total": 3,
        "page": 1,
        "per_page": 100,
        "pages": 1,
        "entries": [
            {"name": "a", "kind": "dir", "size": 0},
            {"name": "images", "kind": "dir", "size": 0},
            {"name": "data.csv", "kind": "file", "size": 16},
        ],
    }
    images = ok(
        api.get(
            "datasets/iris/files",
            "student",
            params={"path": "images/", "per_page": "1", "page": "2"},
        )
    )
    assert (images["path"], images["total"], images["pages"], images["entries"]) == (
        "images",
        2,
        2,
        [{"name": "02.png", "kind": "file", "size": 3}],
    )
    assert ok(api.get("datasets/iris/files", "student", params={"path": "a/b"}))["entries"] == [
        {"name": "deep.txt", "kind": "file", "size": 4}
    ]
    refused(
        api.get("datasets/iris/files", "student", params={"path": "data.csv"}),
        404,
        "no folder 'data.csv' in dataset 'iris'",
    )
    refused(
        api.get("datasets/iris/files", "student", params={"path": "nope"}),
        404,
        "no folder 'nope' in dataset 'iris'",
    )
    refused(
        api.get("datasets/iris/files", "student", params={"path": "../secrets"}),
        400,
        f"path '../secrets' has the part '..'; {ALLOWED}",
    )
    refused(
        api.get("datasets/iris/files", "student", params={"path": "/etc"}),
        400,
        f"path '/etc' is absolute; {ALLOWED}",
    )
    refused(
        api.get("datasets/iris/files", "student", params={"per_page": "1001"}),
        400,
        "per_page='1001' is not allowed; a whole number from 1 to 1000",
    )
    refused(
        api.get("datasets/iris/files", "student", params={"depth": "2"}),
        400,
        "unknown query parameter(s) depth; allowed: path (",
        exact=False,
    )
    refused(
        api.get("datasets/Iris", "student"),
        400,
        "dataset name 'Iris': use 1-64 lower-case letters, digits, '.', '-' or '_', starting "
        "with a letter or digit",
    )
    refused(
        api.get("datasets/iris", "student", params={"path": ""}),
        400,
        "unknown query parameter(s) path; allowed: none",
    )


# --- courses ------------------------------------------------------------------------------


def publish(api, klass="intro", course="first-steps", user="trainer", **kwargs):
    return api.post(
        f"classes/{klass}/courses/{course}", user, json={"files": course_files(**kwargs)}
    )


@pytest.fixture
def published(workbench_api):
    """first-steps published to class intro by its trainer: the API's answer."""
    return ok(publish(workbench_api), 201)


def versions_of(site, klass="intro") -> list[str]:
    return sorted(p.name for p in (Path(site.courses.root) / klass / ".versions").iterdir())


def test_a_trainer_publishes_a_course_to_their_class(workbench_api, small_site):
    answer = ok(publish(workbench_api), 201)
    root = Path(small_site.courses.root)
    link = root / "intro" / "first-steps"
    assert VERSION.match(answer["version"]) and STAMP.match(answer["published_at"])
    assert {
        k: answer[k]
        for k in ("class", "course", "published_by", "title", "level", "path", "previous_version")
    } == {
        "class": "intro",
        "course": "first-steps",
        "published_by": "trainer",
        "title": "First steps",
        "level": "beginner",
        "path": str(link),
        "previous_version": None,
    }
    assert answer["exercises"] == [
        ["01-sessions.ipynb", "gpu-hours"],
        ["02-budgets.ipynb", "budget-left"],
    ]
    assert answer["session"] == {"partition": "cpu", "gpus": 0, "hours": 1}
    assert os.readlink(link) == f".versions/first-steps-{answer['version']}"
    assert json.loads((link / ".published.json").read_text())["version"] == answer["version"]
    assert (link / "data" / "x.csv").read_text() == "a\n1\n"
    assert (link / "course.toml").stat().st_mode & 0o777 == 0o644
    assert (link / "data").stat().st_mode & 0o777 == 0o755
    assert versions_of(small_site) == [f"first-steps-{answer['version']}"]


def test_republishing_keeps_the_version_before_and_removes_older_ones(workbench_api, small_site):
    first = ok(publish(workbench_api, marker="v1"), 201)
    second = ok(publish(workbench_api, marker="v2"), 201)
    assert second["previous_version"] == first["version"] != second["version"]
    third = ok(publish(workbench_api, marker="v3"), 201)
    assert third["previous_version"] == second["version"]
    assert versions_of(small_site) == sorted(f"first-steps-{a['version']}" for a in (second, third))


def test_the_same_files_published_twice_in_one_second(workbench_api, small_site, monkeypatch):
    """A second click on "publish": the same files in the same second are the same
    version (this was a 500: the version's folder existed)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)

    monkeypatch.setattr(shelf, "datetime", Frozen)
    first = ok(publish(workbench_api), 201)
    again = ok(publish(workbench_api), 201)
    assert again["version"] == first["version"] == again["previous_version"]
    link = Path(small_site.courses.root) / "intro" / "first-steps"
    assert os.readlink(link) == f".versions/first-steps-{first['version']}"
    assert "First steps" in (link / "course.toml").read_text()
    assert versions_of(small_site) == [f"first-steps-{first['version']}"]


@pytest.mark.parametrize(
    "user, klass, status, message",
    [
        (
            "student",
            "intro",
            403,
            "only the trainers of class 'intro' (trainer) may publish courses to it",
        ),
        (
            "coach",
            "intro",
            403,
            "only the trainers of class 'intro' (trainer) may publish courses to it",
        ),  # a trainer, but of another class
        (
            "admin",
            "intro",
            403,
            "only the trainers of class 'intro' (trainer) may publish courses to it",
        ),
        (
            "trainer",
            "vision",
            403,
            "only the trainers of class 'vision' (coach) may publish courses to it",
        ),
        ("trainer", "nope", 404, "no class 'nope'; classes: intro, vision"),
        (
            "trainer",
            "Intro",
            400,
            "class name 'Intro': use 1-20 lower-case letters, digits or '-', starting with a "
            "letter",
        ),
    ],
)
def test_only_a_classs_trainers_publish_to_it(
    workbench_api, small_site, user, klass, status, message
):
    refused(publish(workbench_api, klass=klass, user=user), status, message)
    assert not (Path(small_site.courses.root) / klass / "first-steps").exists()


def test_a_course_name_is_checked(workbench_api):
    refused(
        publish(workbench_api, course="First_Steps"),
        400,
        f"course name 'First_Steps': {COURSE_RULE}",
    )
    refused(
        publish(workbench_api, course="x" * 49),
        400,
        f"course name '{'x' * 36}...: {COURSE_RULE}",
        exact=False,
    )


B64 = base64.b64encode(b"x").decode()


@pytest.mark.parametrize(
    "body, message",
    [
        ("this is not JSON", f"the body must be a JSON object with {UPLOAD_KEYS}"),
        ("[1, 2]", f"the body must be a JSON object with {UPLOAD_KEYS}"),
        ("[" * 30000, f"the body must be a JSON object with {UPLOAD_KEYS}"),
        (b"\xff\xfe{", f"the body must be a JSON object with {UPLOAD_KEYS}"),
        ({}, f"missing 'files'; the body takes exactly: {UPLOAD_KEYS}"),
        (
            {"files": {"a": B64}, "class": "x"},
            f"unknown 'class'; the body takes exactly: {UPLOAD_KEYS}",
        ),
        ({"files": {}}, f"files must be a non-empty object: {courses_api.UPLOAD['files']}"),
        (
            {"files": "course.toml"},
            f"files must be a non-empty object: {courses_api.UPLOAD['files']}",
        ),
        (
            {"files": [["course.toml", B64]]},
            f"files must be a non-empty object: {courses_api.UPLOAD['files']}",
        ),
        ({"files": {"course.toml": 5}}, "files: 'course.toml': the content must be base64 text"),
        (
            {"files": {"course.toml": "not base64!"}},
            "files: 'course.toml': the content is not valid base64",
        ),
        ({"files": {"../x": B64}}, f"files: path '../x' has the part '..'; {ALLOWED}"),
        ({"files": {"/etc/passwd": B64}}, f"files: path '/etc/passwd' is absolute; {ALLOWED}"),
        ({"files": {"a\\b": B64}}, f"files: path 'a\\\\b' contains a backslash; {ALLOWED}"),
        (
            {"files": {".git/HEAD": B64}},
            "files: '.git/HEAD': hidden files and folders are not published",
        ),
        (
            {"files": {"data/.env": B64}},
            "files: 'data/.env': hidden files and folders are not published",
        ),
        ({"files": {"": B64}}, "files: '': hidden files and folders are not published"),
        ({"files": {"a" * 256: B64}}, f"files: {'a' * 80!r}: a name is longer than 255 bytes"),
        ('{"files": {"\\udc80": "eA=="}}', "files: '\\udc80': not a valid UTF-8 name"),
        ({"files": {"data": B64, "data/x.csv": B64}}, "files: 'data' is both a file and a folder"),
        (
            {"files": {f"f{i}.txt": B64 for i in range(2001)}},
            "2001 files; a course may have at most 2000",
        ),
    ],
)
def test_an_upload_that_is_not_a_set_of_files_is_refused(workbench_api, small_site, body, message):
    kwargs = {"data": body} if isinstance(body, (str, bytes)) else {"json": body}
    response = workbench_api.post("classes/intro/courses/first-steps", "trainer", **kwargs)
    refused(response, 400, message)
    assert not (Path(small_site.courses.root) / "intro").exists()  # nothing written


def test_a_course_larger_than_courses_max_mb_is_refused(workbench_api, small_site):
    big = {"files": course_files(**{"data/big.bin": b"\0" * 1_000_001})}
    refused(
        workbench_api.post("classes/intro/courses/first-steps", "trainer", json=big),
        400,
        "the course is larger than courses.max_mb = 1 MB",
    )


def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(workbench_api, small_site):
    """HTTPServer's max_body_size (``courses.upload_limit``) answers from the headers,
    before any handler: the bare 400 of tornado, with no message."""
    connection = http.client.HTTPConnection("127.0.0.1", workbench_api.served.port, timeout=10)
    connection.putrequest("POST", f"{API}/classes/intro/courses/first-steps")
    connection.putheader("Authorization", f"token {token_of('trainer')}")
    connection.putheader("Content-Length", str(courses_api.upload_limit(small_site) + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert (response.status, response.read()) == (400, b"")
    connection.close()
    assert workbench_api.hub.asked == []  # no handler ran


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            ('level = "beginner"', 'level = "expert"'),
            "first-steps/course.toml: level: 'expert' "
            "is not allowed; allowed: beginner, intermediate, advanced",
        ),
        (
            ('partition = "cpu"', 'partition = "tpu"'),
            "first-steps/course.toml: "
            "session.partition: 'tpu' is not a partition of this factory; partitions: cpu, gpu",
        ),
        (
            ("gpus = 0", "gpus = 2"),
            "first-steps/course.toml: session.gpus: 2 is more than partition 'cpu' allows (0)",
        ),
        (
            ('"02-budgets.ipynb"]', '"02-budgets.ipynb", "03-missing.ipynb"]'),
            "first-steps/course.toml: notebooks: '03-missing.ipynb' is not a file in the course "
            "folder",
        ),
    ],
)
def test_an_upload_that_is_not_a_course_is_refused_with_its_problems(
    workbench_api, small_site, change, problem
):
    toml = COURSE_TOML.replace(*change)
    response = publish(workbench_api, toml=toml)
    refused(response, 400, f"not a course: {problem}")
    assert ".incoming-" not in response.json()["message"]
    assert versions_of(small_site) == []  # the upload was not kept


def test_duplicate_exercise_ids_are_not_a_course(workbench_api):
    refused(
        publish(workbench_api, exercises=("q1", "q1")),
        400,
        "exercise 'q1' is also in 01-sessions.ipynb; exercise ids must be unique in a course",
        exact=False,
    )


def test_a_folder_that_is_not_a_published_course_is_never_replaced(workbench_api, small_site):
    folder = Path(small_site.courses.root) / "intro" / "first-steps"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("an admin's")
    refused(
        publish(workbench_api),
        409,
        f"{folder} exists and is not a published course; an admin removes it",
    )
    assert (folder / "notes.txt").read_text() == "an admin's" and versions_of(small_site) == []


def test_the_courses_of_the_classes_one_takes_or_teaches(workbench_api, small_site, published):
    api = workbench_api
    entry = {k: v for k, v in published.items() if k != "previous_version"}
    assert ok(api.get("courses", "student")) == {
        "user": "student",
        "teaching": [],
        "courses": [entry],
    }
    assert ok(api.get("courses", "intro-02"))["courses"] == [entry]
    assert ok(api.get("courses", "trainer")) == {
        "user": "trainer",
        "teaching": ["intro"],
        "courses": [entry],
    }
    for user, teaching in (("sme", []), ("coach", ["vision"]), ("manager", [])):
        assert ok(api.get("courses", user)) == {"user": user, "teaching": teaching, "courses": []}
    ok(publish(api, klass="vision", course="vision-basics", user="coach"), 201)
    assert [c["course"] for c in ok(api.get("courses", "sme"))["courses"]] == ["vision-basics"]
    assert [c["course"] for c in ok(api.get("courses", "student"))["courses"]] == ["first-steps"]
    refused(
        api.get("courses", "student", params={"class": "vision"}),
        400,
        "unknown query parameter(s) class; allowed: none",
    )


# --- progress -----------------------------------------------------------------------------


def check(api, user, exercise="gpu-hours", passed=True, course="first-steps"):
    return api.post(
        "progress", user, json={"course": course, "exercise": exercise, "passed": passed}
    )


def test_a_check_is_recorded_for_the_tokens_user_and_passing_is_for_good(workbench_api, published):
    api = workbench_api
    first = ok(check(api, "student", passed=False), 201)
    assert first["first_passed_at"] is None and isinstance(first["last_attempt_at"], float)
    assert {k: first[k] for k in ("user", "course", "exercise", "attempts", "passed")} == {
        "user": "student",
        "course": "first-steps",
        "exercise": "gpu-hours",
        "attempts": 1,
        "passed": False,
    }
    passed = ok(check(api, "student", passed=True), 201)
    assert (passed["attempts"], passed["passed"]) == (2, True) and passed["first_passed_at"]
    again = ok(check(api, "student", passed=False), 201)
    assert (again["attempts"], again["passed"], again["first_passed_at"]) == (
        3,
        True,
        passed["first_passed_at"],
    )
    ok(check(api, "intro-01", "budget-left"), 201)
    mine = ok(api.get("progress", "student"))
    assert mine["user"] == "student" and [(r["user"], r["exercise"]) for r in mine["records"]] == [
        ("student", "gpu-hours")
    ]
    assert (
        ok(api.get("progress", "student", params={"course": "first-steps"}))["records"]
        == mine["records"]
    )
    assert ok(api.get("progress", "student", params={"course": "other"}))["records"] == []


def test_progress_of_someone_else_can_be_neither_written_nor_read(workbench_api, published):
    api = workbench_api
    refused(
        api.post(
            "progress",
            "sme",
            json={
                "course": "first-steps",
                "exercise": "gpu-hours",
                "passed": True,
                "user": "student",
            },
        ),
        400,
        f"unknown 'user'; the body takes exactly: {RECORD_KEYS}",
    )
    refused(
        api.get("progress", "sme", params={"user": "student"}),
        400,
        "unknown query parameter(s) user; allowed: course (only this course)",
    )
    # Another class's course: not the caller's to record.
    refused(
        check(api, "sme"),
        400,
        "course 'first-steps' has no exercise 'gpu-hours' "
        "published to a class of yours; progress is kept for those only",
    )
    refused(
        check(api, "manager"),
        400,
        "course 'first-steps' has no exercise 'gpu-hours' "
        "published to a class of yours; progress is kept for those only",
    )
    refused(
        check(api, "student", "not-in-the-course"),
        400,
        "course 'first-steps' has no "
        "exercise 'not-in-the-course' published to a class of yours; progress is kept "
        "for those only",
    )
    assert ok(api.get("progress", "sme"))["records"] == []
    assert ok(api.get("progress", "student"))["records"] == []


def test_a_progress_file_from_a_newer_workbench_is_a_503_and_stays_as_it_was(
    workbench_api, published, small_site
):
    path = Path(small_site.hub.data_dir) / PROGRESS_FILE
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    refused(
        check(workbench_api, "student"),
        503,
        f"{path}: the course progress store has schema version 99, newer than this "
        f"workbench's 1: a newer workbench wrote it. Upgrade the workbench to a version "
        f"that knows it (or put back a file this version wrote); the file was left "
        f"unchanged.",
    )
    refused(workbench_api.get("progress", "student"), 503, "schema version 99", exact=False)
    assert path.read_bytes() == before


def test_an_index_from_a_newer_workbench_is_a_503(workbench_api, catalog_index, small_site):
    with sqlite3.connect(small_site.catalog.index) as db:
        db.execute("PRAGMA user_version = 7")
    refused(
        workbench_api.get("datasets", "student"),
        503,
        f"{small_site.catalog.index}: the dataset catalog's index has schema version 7, "
        f"newer than this workbench's 1",
        exact=False,
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ("{not json", f"the body must be a JSON object with {RECORD_KEYS}"),
        ("null", f"the body must be a JSON object with {RECORD_KEYS}"),
        ("[" * 30000, f"the body must be a JSON object with {RECORD_KEYS}"),
        (" " * 70000, "the body has 70000 bytes; at most 65536"),
        (
            {"course": "first-steps", "exercise": "gpu-hours"},
            f"missing 'passed'; the body takes exactly: {RECORD_KEYS}",
        ),
        (
            {"course": "first-steps", "exercise": "gpu-hours", "passed": "yes"},
            "passed must be true or false, got 'yes'",
        ),
        (
            {"course": "first-steps", "exercise": "gpu-hours", "passed": 1},
            "passed must be true or false, got 1",
        ),
        (
            {"course": "first-steps", "exercise": "gpu-hours", "passed": None},
            "passed must be true or false, got None",
        ),
        (
            {"course": "first-steps", "exercise": 5, "passed": True},
            f"exercise id 5 (int): {EXERCISE_RULE}",
        ),
        (
            {"course": "first-steps", "exercise": "has space", "passed": True},
            f"exercise id 'has space': {EXERCISE_RULE}",
        ),
        (
            {"course": "First Steps", "exercise": "gpu-hours", "passed": True},
            f"course name 'First Steps': {COURSE_RULE}",
        ),
        (
            {"course": ["first-steps"], "exercise": "gpu-hours", "passed": True},
            f"course name ['first-steps'] (list): {COURSE_RULE}",
        ),
    ],
)
def test_a_malformed_check_is_refused(workbench_api, published, body, message):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    refused(workbench_api.post("progress", "student", **kwargs), 400, message)
    assert ok(workbench_api.get("progress", "student"))["records"] == []


def test_progress_query_parameters_are_checked(workbench_api):
    refused(
        workbench_api.get("progress", "student", params={"course": "Bad!"}),
        400,
        f"course name 'Bad!': {COURSE_RULE}",
    )
    refused(
        workbench_api.get("progress", "student", params=[("course", "a"), ("course", "b")]),
        400,
        "query parameter course given 2 times; once at most",
    )


@pytest.fixture
def class_progress(workbench_api, small_site, published):
    """Progress in intro's course (student, intro-01) and vision's (sme), and a record
    of the student's in a course not published to intro (as if from an older class)."""
    api = workbench_api
    ok(
        publish(api, klass="vision", course="vision-basics", user="coach", exercises=("v1", "v2")),
        201,
    )
    ok(check(api, "student"), 201)
    ok(check(api, "intro-01", "budget-left", passed=False), 201)
    ok(check(api, "sme", "v1", course="vision-basics"), 201)
    store = ProgressStore(f"{small_site.hub.data_dir}/{api_app.PROGRESS_FILE}")
    store.record("student", "vision-basics", "v2", True)
    store.db.close()
    return api


def test_a_classs_trainers_managers_and_admins_read_its_progress(class_progress):
    api = class_progress
    intro = ok(api.get("classes/intro/progress", "trainer"))
    assert (intro["class"], intro["trainers"], intro["members"]) == (
        "intro",
        ["trainer"],
        ["student", "intro-01", "intro-02"],
    )
    assert [(r["user"], r["course"], r["exercise"], r["passed"]) for r in intro["records"]] == [
        ("intro-01", "first-steps", "budget-left", False),
        ("student", "first-steps", "gpu-hours", True),
    ]
    for reader in ("manager", "admin"):
        assert ok(api.get("classes/intro/progress", reader)) == intro
    assert ok(api.get("classes/intro/progress", token=token_of("dashboards"))) == intro
    vision = ok(api.get("classes/vision/progress", "coach"))
    assert [(r["user"], r["exercise"]) for r in vision["records"]] == [("sme", "v1")]
    only = ok(api.get("classes/intro/progress/", "trainer", params={"course": "first-steps"}))
    assert only["records"] == intro["records"]


@pytest.mark.parametrize(
    "user, path, params, status, message",
    [
        (
            "coach",
            "classes/intro/progress",
            {},
            403,
            "only the trainers of class 'intro' "
            "(trainer), managers and admins may read its progress",
        ),
        (
            "trainer",
            "classes/vision/progress",
            {},
            403,
            "only the trainers of class 'vision' "
            "(coach), managers and admins may read its progress",
        ),
        (
            "student",
            "classes/intro/progress",
            {},
            403,
            "only the trainers of class 'intro' "
            "(trainer), managers and admins may read its progress",
        ),
        (
            "sme",
            "classes/vision/progress",
            {},
            403,
            "only the trainers of class 'vision' "
            "(coach), managers and admins may read its progress",
        ),
        ("trainer", "classes/nope/progress", {}, 404, "no class 'nope'; classes: intro, vision"),
        (
            "trainer",
            "classes/intro/progress",
            {"course": "vision-basics"},
            404,
            "course 'vision-basics' is not published to class 'intro'; its courses: first-steps",
        ),
        (
            "trainer",
            "classes/intro/progress",
            {"course": "Bad!"},
            400,
            f"course name 'Bad!': {COURSE_RULE}",
        ),
        (
            "trainer",
            "classes/intro/progress",
            {"user": "student"},
            400,
            "unknown query parameter(s) user; allowed: course (only this course)",
        ),
    ],
)
def test_class_progress_refusals(class_progress, user, path, params, status, message):
    refused(class_progress.get(path, user, params=params), status, message)


def test_class_progress_and_classes_are_read_only(class_progress):
    refused(
        class_progress.post("classes/intro/progress", "trainer", json={}),
        405,
        "a class's progress is read-only; students post their own to progress",
    )
    refused(
        class_progress.post("classes", "admin", json={}),
        405,
        "classes are set in the site file; this route only lists them",
    )


def test_the_classes_one_may_read_the_progress_of(class_progress):
    api = class_progress
    intro = {
        "name": "intro",
        "project": "edu-intro",
        "trainers": ["trainer"],
        "learners": 3,
        "courses": ["first-steps"],
    }
    vision = {
        "name": "vision",
        "project": "sme-vision",
        "trainers": ["coach"],
        "learners": 1,
        "courses": ["vision-basics"],
    }
    assert ok(api.get("classes", "trainer")) == {"classes": [intro]}
    assert ok(api.get("classes", "coach")) == {"classes": [vision]}
    for user in ("student", "sme", "intro-01"):
        assert ok(api.get("classes", user)) == {"classes": []}
    assert ok(api.get("classes", "manager")) == {"classes": [intro, vision]}
    assert ok(api.get("classes", token=token_of("dashboards"))) == {"classes": [intro, vision]}
    refused(
        api.get("classes", "manager", params={"all": "true"}),
        400,
        "unknown query parameter(s) all; allowed: none",
    )


# --- contracts: the unit tests' fakes answer as the API does -------------------------------


def kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), type(value).__name__)


def shape_problems(
    fake,
    real,
    where: str = "answer",
    maps: tuple[str, ...] = (),
    unions: dict[str, set[str]] | None = None,
) -> list:
    """Where ``fake`` differs in shape from ``real``: keys missing or extra, JSON types
    apart. Objects at a path matching one of ``maps`` are keyed by names (users,
    partitions, facet values): only their values' shapes count. Each item of a list must
    have the shape of one of the real list's items; null stands in for any type (no
    limit, not passed). ``unions``: paths (patterns) whose value may be of any of the
    kinds given (a dataset's access: "public" or a list of projects)."""
    if fake is None or real is None:
        return []
    either = next((k for m, k in (unions or {}).items() if fnmatch.fnmatchcase(where, m)), set())
    if {kind(fake), kind(real)} <= either:
        return []
    if kind(fake) != kind(real):
        return [f"{where}: the fake has {kind(fake)} {fake!r:.60}, the API {kind(real)}"]
    problems = []
    if isinstance(real, dict):
        if any(fnmatch.fnmatchcase(where, m) for m in maps):
            sample = next(iter(real.values()), None)
            for key, value in fake.items():
                problems += shape_problems(value, sample, f"{where}[{key!r}]", maps, unions)
            return problems
        for key in sorted(set(real) - set(fake)):
            problems.append(f"{where}: the fake lacks {key!r}")
        for key in sorted(set(fake) - set(real)):
            problems.append(f"{where}: the fake has {key!r}, which the API does not")
        for key in sorted(set(fake) & set(real)):
            problems += shape_problems(fake[key], real[key], f"{where}.{key}", maps, unions)
    elif isinstance(real, list) and real:
        for item in fake:  # like one of the real items (a field may be "public" or a list)
            found = [shape_problems(item, other, f"{where}[]", maps, unions) for other in real]
            problems += [] if [] in found else min(found, key=len)
    return problems


def test_the_shape_check_finds_drift():
    real = {"a": 1, "b": {"c": "x"}, "users": {"ada": {"n": 1}}, "items": [{"k": True}]}
    assert shape_problems(real, real, maps=("answer.users",)) == []
    drifted = {"a": "1", "b": {"c": "x", "d": 2}, "users": {"bob": {"m": 1}}, "items": [{"k": 1}]}
    assert shape_problems(drifted, real, maps=("answer.users",)) == [
        "answer.a: the fake has string '1', the API number",
        "answer.b: the fake has 'd', which the API does not",
        "answer.items[].k: the fake has number 1, the API boolean",
        "answer.users['bob']: the fake lacks 'n'",
        "answer.users['bob']: the fake has 'm', which the API does not",
    ]


def refusal_of(fetch, *args, **kwargs) -> tuple[str, int | None]:
    """What ``fetch(*args, **kwargs)`` (a fake, or the real client) raised."""
    with pytest.raises(WorkbenchAPIError) as err:
        fetch(*args, **kwargs)
    return str(err.value), err.value.status


BUDGET_MAPS = ("answer.projects[].users",)


def test_the_budget_widgets_fake_answers_as_the_api(workbench_api):
    api = workbench_api
    mine = fetch_budgets(environ=api.environ("student"))  # the widget's own client
    assert shape_problems(BUDGETS, mine, maps=BUDGET_MAPS) == []
    every = fetch_budgets(all_projects=True, environ=api.environ("manager"))
    assert shape_problems(BUDGETS, every, maps=BUDGET_MAPS) == []
    answer = api.get("budgets/secret", "student")  # what the fake server refuses with
    assert (
        shape_problems(refusal(403, "you are not a member of project secret"), answer.json()) == []
        and answer.status_code == 404
    )


def test_the_scale_out_fake_answers_as_the_api(workbench_api):
    api = workbench_api
    asked = []

    def real(path, params=None):
        asked.append(path)
        return api_get(path, params, environ=api.environ("student"))

    request = WorkRequest("edu-intro", "cpu", cpus=2, gpus=0, minutes=60, jobs=100)
    assert affordable(request, fetch=real) == 100  # 116880 core-minutes available
    assert asked == ["projects/edu-intro/partitions", "budgets/edu-intro"]
    fake = fake_scale_api()
    for path in list(asked):
        assert (
            shape_problems(fake(path), real(path), maps=("answer.partitions", *BUDGET_MAPS)) == []
        ), path
    assert shape_problems(POLICY, real(asked[0]), maps=("answer.partitions",)) == []
    assert shape_problems(budget_answer(), real(asked[1]), maps=BUDGET_MAPS) == []


ACCESS_KINDS = {"answer.access": {"string", "array"}, "answer.items[].access": {"string", "array"}}


def test_the_dataset_widgets_fake_answers_as_the_api(workbench_api, catalog_index):
    api = workbench_api
    fake = FakeCatalogAPI(
        [
            card("iris", "Iris flowers", files=4, size=26),
            card(
                "intro-notes",
                "Course notes",
                access=["edu-intro"],
                modality="text",
                format="txt",
                tags=["course"],
            ),
        ],
        {"iris": catalog_index / "iris"},
    )
    model = CatalogModel(fetch=fake, per_page=5)
    assert model.load_catalog() and model.search("") and model.search("iris", tag="botany")
    assert model.open("iris") and model.browse("images")
    requests = list(fake.calls)  # what the widget asked, in its own words
    assert [path for path, _ in requests] == [
        "catalog",
        "datasets",
        "datasets",
        "datasets/iris",
        "datasets/iris/files",
        "datasets/iris/files",
    ]
    env = api.environ("student")
    for path, params in requests:
        problems = shape_problems(
            fake(path, params),
            api_get(path, params, environ=env),
            maps=("answer.facets.*",),
            unions=ACCESS_KINDS,
        )
        assert problems == [], (path, params)
    for name in ("vision-defects", "no-such-set"):
        assert refusal_of(fake, f"datasets/{name}") == refusal_of(
            api_get, f"datasets/{name}", environ=env
        )


def test_the_course_widgets_fake_answers_as_the_api(workbench_api, small_site, published, tmp_path):
    api = workbench_api
    ok(check(api, "student"), 201)
    classes = {
        name: {"trainers": list(k.trainers), "members": small_site.class_members(name)}
        for name, k in small_site.classes.items()
    }
    entry = course_entry(
        published["path"], exercises=published["exercises"], notebooks=published["notebooks"]
    )
    records = [rec("student", "gpu-hours", 1, True)]
    home = tmp_path / "home"
    home.mkdir()
    for user, model in (
        ("student", lambda fetch: CourseOutline(fetch=fetch, home=home)),
        ("trainer", lambda fetch: ClassProgress("intro", fetch=fetch)),
    ):
        fake = FakeCourseAPI([entry], records, user=user, classes=classes)
        assert model(fake).load(), user
        env = api.environ(user)
        for path, params in list(fake.calls):
            assert shape_problems(fake(path, params), api_get(path, params, environ=env)) == [], (
                user,
                path,
                params,
            )
    for user, klass in (("coach", "intro"), ("trainer", "nope")):
        fake = FakeCourseAPI([entry], records, user=user, classes=classes)
        path = f"classes/{klass}/progress"
        assert refusal_of(fake, path) == refusal_of(api_get, path, environ=api.environ(user))


# --- the service itself -------------------------------------------------------------------


def test_courses_whose_record_cannot_be_read_are_left_out(workbench_api, small_site, published):
    api = workbench_api
    broken = Path(small_site.courses.root) / "intro" / "half-written"
    broken.mkdir()
    (broken / ".published.json").write_text("{")
    (Path(small_site.courses.root) / "intro" / "not-a-course").mkdir()
    assert [c["course"] for c in ok(api.get("courses", "student"))["courses"]] == ["first-steps"]
    link = Path(small_site.courses.root) / "intro" / "first-steps"
    (link / ".published.json").unlink()  # a version without its record: none to name
    assert ok(publish(api, marker="v2"), 201)["previous_version"] is None


def test_the_service_refuses_to_start_without_its_site_or_address(tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as missing:
        api_app.main(["--site", str(tmp_path / "nowhere.toml")])
    assert str(missing.value) == (
        f"aiworkbench-api: {tmp_path / 'nowhere.toml'}: invalid "
        f"site file:\n  - cannot read the file: No such file or "
        f"directory"
    )
    monkeypatch.delenv("JUPYTERHUB_SERVICE_URL", raising=False)
    with pytest.raises(SystemExit) as unset:
        api_app.main(["--site", str(api_doubles.write_site(tmp_path / "factory"))])
    assert str(unset.value).startswith("aiworkbench-api: JUPYTERHUB_SERVICE_URL is not set")


def test_the_service_starts_as_aiworkbench_service_runs_it(small_site, monkeypatch):
    """``main`` with the environment ``aiworkbench-service workbench`` sets: it listens at
    JUPYTERHUB_SERVICE_URL, under the service prefix, behind the hub's authentication,
    with the upload limit on its server."""
    from jupyterhub.services.auth import HubOAuth

    from aiworkbench.hub import services

    site_file = Path(small_site.hub.data_dir).parent / "site.toml"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = services.service_environment(
        small_site, services.API_SERVICE, "the-api-token", str(site_file)
    )
    for name, value in {**env, "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(name, value)
    HubOAuth.clear_instance()
    loop = asyncio.new_event_loop()

    def serve():
        asyncio.set_event_loop(loop)
        api_app.main([])  # the site file from AIWORKBENCH_SITE, as the service gets it

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}{API}/budgets"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                response = requests.get(url, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the service did not listen"
                time.sleep(0.05)
        refused(response, 401, LOGIN)
        too_big = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        too_big.putrequest("POST", f"{API}/progress")
        too_big.putheader("Content-Length", str(courses_api.upload_limit(small_site) + 1))
        too_big.endheaders()
        assert too_big.getresponse().status == 400
        too_big.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        HubOAuth.clear_instance()
        loop.close()
