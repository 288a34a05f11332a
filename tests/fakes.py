"""Fakes of the workbench API's answers, shared by the widgets' unit tests and the
component tier.

The unit tests of the budget, scale-out, dataset and course widgets talk to these
instead of the API. The component tier's contract tests
(``tests/component/test_api_routes.py``) send the same requests to the real handlers
and hold every fake answer to the real one's shape (the same keys at every level, the
same JSON types), so a fake cannot drift from the API it stands for.
"""

from __future__ import annotations

import copy
import re
import urllib.parse
from pathlib import Path

from aiworkbench.widgets.api_client import WorkbenchAPIError


def refusal(status: int, message: str) -> dict:
    """An error body as the API writes it (``APIHandler.write_error``)."""
    return {"status": status, "message": message}


# --- budgets (GET budgets, budgets/PROJECT) ----------------------------------------------


def budget_usage(limit, used, held=0, in_use=0) -> dict:
    """One budget of a project (``Usage.to_json`` plus ``in_use``)."""
    left = None if limit is None else max(limit - used, 0)
    level = (
        "unlimited"
        if limit is None
        else "none"
        if limit == 0
        else "exhausted"
        if used >= limit
        else "critical"
        if used >= 0.95 * limit
        else "warning"
        if used >= 0.8 * limit
        else "ok"
    )
    return {
        "limit_minutes": limit,
        "used_minutes": used,
        "held_minutes": held,
        "left_minutes": left,
        "available_minutes": None if left is None else left - held,
        "used_fraction": None if not limit else used / limit,
        "level": level,
        "in_use": in_use,
    }


BUDGETS = {
    "user": "student",
    "as_of": "2026-11-23T16:53:07Z",
    "age_s": 30,
    "refresh_interval_s": 30,
    "stale": False,
    "error": "",
    "projects": [
        {
            "project": "edu-intro",
            "level": "warning",
            "gpu": budget_usage(600, 492, held=10, in_use=3),
            "cpu": budget_usage(None, 1500, in_use=6),
            "users": {"student": {"gpu_minutes": 120, "cpu_minutes": 240}},
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
        },
        {
            "project": "ml-research",
            "level": "critical",
            "gpu": budget_usage(0, 0),
            "cpu": budget_usage(1000, 960),
            "users": {"student": {"gpu_minutes": 0, "cpu_minutes": 30}},
            "jobs": [],
        },
        {
            "project": "old-course",
            "level": "exhausted",
            "gpu": budget_usage(120, 126),
            "cpu": budget_usage(600, 60),
            "users": {},
            "jobs": [],
        },
    ],
}


# --- scale-out (GET projects/PROJECT/partitions, budgets/PROJECT) ------------------------

POLICY = {
    "project": "edu-intro",
    "partitions": {
        "cpu": {
            "description": "",
            "gpus": False,
            "max_cpus": 8,
            "min_gpus": 0,
            "max_gpus": 0,
            "max_hours": 4,
        },
        "gpu": {
            "description": "",
            "gpus": True,
            "max_cpus": 8,
            "min_gpus": 1,
            "max_gpus": 1,
            "max_hours": 4,
        },
    },
}


def budget_answer(cpu_available=6000, gpu_available=600) -> dict:
    """``budgets/edu-intro`` with a limit of 10000 and 100 used of each kind, and the
    minutes ``available`` to a new job given."""

    def usage(available):
        return {**budget_usage(10000, 100), "available_minutes": available}

    return {
        **BUDGETS,
        "projects": [
            {
                "project": "edu-intro",
                "level": "ok",
                "gpu": usage(gpu_available),
                "cpu": usage(cpu_available),
                "users": {},
                "jobs": [],
            }
        ],
    }


def fake_scale_api(answer=None):
    """``fetch`` for :func:`aiworkbench.scaleout.slurm_work.affordable`: POLICY, then ``answer``."""

    def fetch(path, params=None):
        if path.endswith("/partitions"):
            return POLICY
        return answer or budget_answer()

    return fetch


# --- the dataset catalog (GET catalog, datasets, datasets/NAME, datasets/NAME/files) -----


def card(name, title, path="", access="public", files=3, size=4200, **extra) -> dict:
    """A dataset as the search answers it (with ``path``: as its detail does)."""
    item = {
        "name": name,
        "title": title,
        "description": f"About {title}.\nTwo lines.",
        "owner": "factory-ops",
        "licence": "CC0-1.0",
        "citation": "Fisher (1936)",
        "modality": "tabular",
        "format": "csv",
        "access": access,
        "tags": ["botany", "classification"],
        "files": files,
        "bytes": size,
    }
    item.update(extra)
    if path:
        item["path"] = str(path)
    return item


class RecordedCalls:
    """What the API fakes share: the calls made (path, params), and failures to raise
    at the next calls, in order (``fail``)."""

    def __init__(self):
        self.calls = []
        self.fail = []  # exceptions raised by the next calls, in order

    def _record(self, path, params) -> None:
        self.calls.append((path, dict(params) if params is not None else None))
        if self.fail:
            raise self.fail.pop(0)


class FakeCatalogAPI(RecordedCalls):
    """The workbench API's catalog routes over a list of datasets and their folders."""

    def __init__(self, items, folders=None):
        self.items = items
        self.folders = folders or {}  # name: real folder (for datasets/NAME/files)
        super().__init__()

    def __call__(self, path, params=None):
        self._record(path, params)
        parts = path.split("/")
        if path == "catalog":
            return {
                "datasets": len(self.items),
                "projects": ["edu-intro"],
                "facets": {
                    "modality": {"tabular": 3, "image": 1},
                    "format": {"csv": 3, "png": 1},
                    "licence": {"CC0-1.0": 4},
                    "tag": {"botany": 2},
                    "project": {"sme-vision": 1},
                },
                "indexed_at": "2026-11-23T16:00:00Z",
            }
        if path == "datasets":
            page, per_page = int(params["page"]), int(params["per_page"])
            total = len(self.items)
            pages = max(1, -(-total // per_page))
            return {
                "total": total,
                "page": page,
                "per_page": per_page,
                "pages": pages,
                "items": self.items[(page - 1) * per_page : page * per_page],
            }
        item = next((i for i in self.items if i["name"] == parts[1]), None)
        if item is None:
            raise WorkbenchAPIError(
                f"no dataset {parts[1]!r} (or it is restricted to "
                f"projects you are not in) (HTTP 404)",
                404,
            )
        if len(parts) == 2:
            return dict(item, path=str(self.folders.get(item["name"], "/nowhere")))
        folder = Path(self.folders[item["name"]]) / params["path"]
        entries = sorted(
            (
                {
                    "name": p.name,
                    "kind": "dir" if p.is_dir() else "file",
                    "size": 0 if p.is_dir() else p.stat().st_size,
                }
                for p in folder.iterdir()
                if not p.is_symlink() or p.exists()
            ),
            key=lambda e: (e["kind"] != "dir", e["name"]),
        )
        page, per_page = int(params["page"]), int(params["per_page"])
        return {
            "dataset": item["name"],
            "path": params["path"],
            "total": len(entries),
            "page": page,
            "per_page": per_page,
            "pages": max(1, -(-len(entries) // per_page)),
            "entries": entries[(page - 1) * per_page : page * per_page],
        }


# --- courses and progress (GET courses, progress, classes/CLASS/progress) ----------------

VERSION_1 = "20261123T205000Z-ab12cd"
NOTEBOOKS = ["01-sessions.ipynb", "02-budgets.ipynb", "03-further.ipynb"]
EXERCISES = [
    ["01-sessions.ipynb", "gpu-hours"],
    ["01-sessions.ipynb", "partition"],
    ["02-budgets.ipynb", "budget-left"],
]


def course_entry(path, name="first-steps", klass="intro", **extra) -> dict:
    """A course of ``GET courses`` (its ``.published.json`` with class and path)."""
    entry = {
        "class": klass,
        "course": name,
        "title": "First steps on the AI factory",
        "level": "beginner",
        "summary": "Sessions, partitions and budgets.",
        "goals": ["Start a session on the right partition", "Read your budget"],
        "notebooks": list(NOTEBOOKS),
        "session": {"partition": "gpu", "gpus": 1, "hours": 2},
        "exercises": copy.deepcopy(EXERCISES),
        "version": VERSION_1,
        "published_at": "2026-11-23T20:50:00Z",
        "published_by": "trainer",
        "path": str(path),
    }
    entry.update(extra)
    return entry


def rec(user, exercise, attempts, passed, course="first-steps") -> dict:
    """A progress record (``ProgressStore`` row)."""
    return {
        "user": user,
        "course": course,
        "exercise": exercise,
        "attempts": attempts,
        "passed": passed,
        "first_passed_at": 1.0 if passed else None,
        "last_attempt_at": 2.0,
    }


class FakeCourseAPI(RecordedCalls):
    """The workbench API's course routes: ``courses``, ``progress``,
    ``classes/CLASS/progress``, as the API answers them for user ``user``."""

    def __init__(self, courses, records, user="alice", classes=None):
        self.courses, self.records, self.user = courses, records, user
        self.classes = (
            classes
            if classes is not None
            else {"intro": {"trainers": ["trainer"], "members": ["alice", "bob", "carol", "dave"]}}
        )
        super().__init__()

    def __call__(self, path, params=None):
        self._record(path, params)
        course = (params or {}).get("course")
        if path == "courses":
            return {"user": self.user, "teaching": [], "courses": copy.deepcopy(self.courses)}
        if path == "progress":
            return {
                "user": self.user,
                "records": [
                    dict(r)
                    for r in self.records
                    if r["user"] == self.user and course in (None, r["course"])
                ],
            }
        match = re.fullmatch(r"classes/([^/]+)/progress", path)
        assert match, path
        name = urllib.parse.unquote(match[1])
        if name not in self.classes:
            raise WorkbenchAPIError(
                f"no class {name!r}; classes: {', '.join(self.classes) or 'none'} (HTTP 404)", 404
            )
        klass = self.classes[name]
        if self.user not in klass["trainers"]:
            raise WorkbenchAPIError(
                f"only the trainers of class {name!r} "
                f"({', '.join(klass['trainers'])}), managers and admins "
                f"may read its progress (HTTP 403)",
                403,
            )
        return {
            "class": name,
            "trainers": klass["trainers"],
            "members": klass["members"],
            "records": [
                dict(r)
                for r in self.records
                if r["user"] in klass["members"] and course in (None, r["course"])
            ],
        }


# A course folder's course.toml (courses.course.read_course), valid as it is.
COURSE_TOML = """\
title = "First steps"
level = "beginner"
summary = "Sessions and budgets."
goals = ["Start a session", "Read a budget"]
notebooks = ["01-sessions.ipynb", "02-budgets.ipynb"]

[session]
partition = "cpu"
gpus = 0
hours = 1
"""
