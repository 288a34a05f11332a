"""Test doubles for the workbench API's component tests: everything around the real app.

* :data:`SITE` is a small site file (two partitions, three projects, two classes, one
  person of every role, a second trainer) whose folders are under a test's tmp_path.
* :class:`HubTokens` answers the one question the API asks the hub,
  ``GET /hub/api/user`` with the caller's token (``HubAuth._api_request``, under the
  token cache and the scope check, both real): a known token gets its user model, any
  other the hub's 403 (no user).
* :class:`AccountingSlurm` is the ``run`` of a real
  :class:`~aiworkbench.budgets.accounting.AccountingReader`: ``sshare`` and ``squeue``
  printed from scripted numbers; it can fail like a controller that does not answer.
* :class:`ServedAPI` runs ``make_app`` in a real tornado HTTPServer on a free loopback
  port, in a thread of its own, exactly as ``aiworkbench-api`` serves it (the upload
  limit included); :class:`APIClient` talks to it over HTTP as a given user.

No daemon runs: no hub, no Slurm, no supervisor.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import threading
from pathlib import Path

import requests
from tornado import netutil
from tornado.httpserver import HTTPServer
from tornado.web import HTTPError

from aiworkbench.budgets.accounting import READ_ALL
from aiworkbench.core import slurm
from aiworkbench.hub.services import API_SERVICE

from ..fakes import COURSE_TOML

PREFIX = f"/services/{API_SERVICE}/"
ACCESS = f"access:services!service={API_SERVICE}"

SITE = """
[factory]
name = "Component factory"
helpdesk = "helpdesk@factory.example"

[hub]
data_dir = "{root}/hub"

[catalog]
root = "{root}/datasets"
index = "{root}/catalog/index.sqlite"

[courses]
root = "{root}/courses"
max_mb = 1

[partitions.cpu]
description = "CPU nodes"
default = true
max_hours = 12
max_cpus = 8

[partitions.gpu]
description = "GPU nodes"
gpus = true
max_hours = 8
max_cpus = 8
max_gpus = 2

[presets.small]
cpus = 1
memory_gb = 2

[presets.medium]
cpus = 2
memory_gb = 4

[profiles.cpu-small]
description = "1 core"
partition = "cpu"
preset = "small"

[projects.edu-intro]
description = "The course project"
gpu_minutes = 6000
cpu_minutes = 120000
members = ["student", "trainer"]
max_gpus = 1
max_hours = 4

[projects.sme-vision]
description = "An SME's pilot"
gpu_minutes = 30000
cpu_minutes = 120000
members = ["sme", "coach"]

[projects.factory-ops]
description = "Operations"
gpu_minutes = 0
cpu_minutes = 60000
members = ["manager", "admin"]
partitions = ["cpu"]

[users.student]
role = "student"

[users.sme]
role = "sme"

[users.trainer]
role = "trainer"

[users.coach]
role = "trainer"

[users.manager]
role = "manager"

[users.admin]
role = "admin"

[classes.intro]
description = "Introduction, autumn class"
project = "edu-intro"
trainers = ["trainer"]
members = ["student"]
learners = 2

[classes.vision]
description = "Vision inspection workshop"
project = "sme-vision"
trainers = ["coach"]
members = ["sme"]
"""


def write_site(root: Path) -> Path:
    """The site file, its folders made (the hub's data folder, where progress is kept)."""
    for folder in ("hub", "datasets", "catalog", "courses"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    path = root / "site.toml"
    path.write_text(SITE.replace("{root}", str(root)))
    return path


# --- the hub ----------------------------------------------------------------------------


def token_of(name: str) -> str:
    return f"token-of-{name}"


class HubTokens:
    """The hub's ``GET /hub/api/user``: token -> user (or service) model, with the
    scopes the site's roles give (``hub.config.apply_api``: every user may access the
    API; the managers and admins groups also read every budget)."""

    def __init__(self, site, api_url: str):
        self.user_url = api_url.rstrip("/") + "/user"
        self.models: dict[str, dict] = {}
        self.asked: list[str] = []  # the tokens the API asked about, in order
        groups = site.hub_groups()
        for name, user in site.users.items():
            scopes = [ACCESS, f"read:users:name!user={name}"]
            if user.role in ("manager", "admin"):
                scopes.append(READ_ALL)
            self.add(
                token_of(name),
                {
                    "kind": "user",
                    "name": name,
                    "admin": user.role == "admin",
                    "groups": sorted(g for g, members in groups.items() if name in members),
                    "scopes": scopes,
                },
            )
        # The dashboards' ingestion (hub.config.apply_dashboards' role).
        self.add(
            token_of("dashboards"),
            {"kind": "service", "name": "dashboards", "scopes": ["read:servers", READ_ALL, ACCESS]},
        )

    def add(self, token: str, model: dict) -> None:
        self.models[token] = model

    async def api_request(self, method, url, /, **kwargs):
        """``HubAuth._api_request`` as the hub answers it."""
        if (method, url) != ("GET", self.user_url):
            raise HTTPError(500, f"the API asked the hub {method} {url}")
        token = kwargs["headers"]["Authorization"].removeprefix("token ")
        self.asked.append(token)
        model = self.models.get(token)
        if model is None:  # the hub: 403, which HubAuth (allow_403) reads as no user
            assert kwargs.get("allow_403"), "the API would fail on an unknown token"
            return None
        return copy.deepcopy(model)


# --- Slurm accounting -------------------------------------------------------------------

# Account|User|GrpTRESMins|GrpTRESRaw|TRESRunMins (accounting.SSHARE_FIELDS)
SSHARE = """\
root|||cpu=4860,gres/gpu=4920|
 root|root|||
edu-intro||cpu=120000,gres/gpu=6000|cpu=3000,gres/gpu=4920,mem=0|cpu=120,gres/gpu=50
edu-intro|student||cpu=1200,gres/gpu=120|
edu-intro|trainer||cpu=1800,gres/gpu=4800|
sme-vision||cpu=120000,gres/gpu=30000|cpu=1800,gres/gpu=0|cpu=20,gres/gpu=20
sme-vision|sme||cpu=1800,gres/gpu=0|
factory-ops||cpu=60000,gres/gpu=0|cpu=60|
factory-ops|manager||cpu=60|
"""
# JobID|UserName|Account|Partition|tres-alloc|TimeUsed|TimeLeft (accounting.SQUEUE_FIELDS)
SQUEUE = """\
481|student|edu-intro|gpu|cpu=2,mem=4G,node=1,billing=2,gres/gpu=1|10:00|50:00|
482|trainer|edu-intro|cpu|cpu=4,mem=8G,node=1|1:00:00|3:00:00|
490|sme|sme-vision|gpu|cpu=2,mem=4G,node=1,gres/gpu=2|5:00|UNLIMITED|
"""


class AccountingSlurm:
    """``sshare`` and ``squeue`` for an AccountingReader, from :data:`SSHARE` and
    :data:`SQUEUE`; ``fail``: the message of a Slurm that does not answer."""

    def __init__(self):
        self.outputs = {"sshare": SSHARE, "squeue": SQUEUE}
        self.calls: list[list[str]] = []
        self.fail = ""

    async def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        if self.fail:
            raise slurm.SlurmError(self.fail)
        return self.outputs[argv[0]]


class Clock:
    """``time.time`` moved by ``offset`` seconds: the reader's clock in tests."""

    def __init__(self, now):
        self.now, self.offset = now, 0.0

    def __call__(self) -> float:
        return self.now() + self.offset


# --- serving ----------------------------------------------------------------------------


class ServedAPI:
    """``app`` in a real HTTPServer on 127.0.0.1 (a free port), in its own thread and
    event loop, with ``aiworkbench-api``'s server settings."""

    def __init__(self, app, max_body_size: int):
        self.app, self.max_body_size = app, max_body_size
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="workbench-api", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._failed:
            raise RuntimeError(f"the API did not start: {self._failed!r}")

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            sockets = netutil.bind_sockets(0, "127.0.0.1")
            server = HTTPServer(self.app, xheaders=True, max_body_size=self.max_body_size)
            server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
        except BaseException as err:  # reported to the test by __init__
            self._failed = err
            self._ready.set()
            return
        self.loop = loop
        self._ready.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        for task in asyncio.all_tasks(loop):  # a reader's refresh still running
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class APIClient:
    """HTTP to the served API: ``get("budgets", user="student", params=...)``. ``user``:
    whose hub token to send (None: none); ``token``: send this one instead."""

    def __init__(self, served: ServedAPI, hub: HubTokens, app):
        self.served, self.hub, self.app = served, hub, app
        self.http = requests.Session()

    @property
    def url(self) -> str:
        """The API's base (what sessions get as AIWORKBENCH_API_URL)."""
        return f"{self.served.base}{PREFIX}api"

    def environ(self, user: str) -> dict[str, str]:
        """A session's environment for ``aiworkbench.widgets.api_client`` as ``user``."""
        return {"AIWORKBENCH_API_URL": self.url, "JUPYTERHUB_API_TOKEN": token_of(user)}

    def request(
        self, method: str, path: str, user: str | None = None, *, token: str | None = None, **kwargs
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        token = token if token is not None else (token_of(user) if user else None)
        if token:
            headers["Authorization"] = f"token {token}"
        return self.http.request(
            method, f"{self.url}/{path}", headers=headers, timeout=15, **kwargs
        )

    def get(self, path: str, user: str | None = None, **kwargs) -> requests.Response:
        return self.request("GET", path, user, **kwargs)

    def post(self, path: str, user: str | None = None, **kwargs) -> requests.Response:
        return self.request("POST", path, user, **kwargs)


# --- what the API serves: a catalog, courses ------------------------------------------

DATACARD = """\
name = "{name}"
title = "{title}"
description = "{description}"
owner = "factory-ops"
licence = "{licence}"
citation = "Somebody (2026)"
modality = "{modality}"
format = "{format}"
access = {access}
tags = {tags}
"""

DATASETS = {
    "iris": dict(
        title="Iris flowers",
        description="Flowers measured by hand.",
        licence="CC0-1.0",
        modality="tabular",
        format="csv",
        access='"public"',
        tags='["botany", "classification"]',
        files={
            "data.csv": "sepal,petal\n1,2\n",
            "images/01.png": "png",
            "images/02.png": "png",
            "a/b/deep.txt": "deep",
        },
    ),
    "intro-notes": dict(
        title="Course notes",
        description="Notes of the intro class.",
        licence="CC-BY-4.0",
        modality="text",
        format="txt",
        access='["edu-intro"]',
        tags='["course"]',
        files={"notes.txt": "read me"},
    ),
    "vision-defects": dict(
        title="Defect photographs",
        description="A factory's parts.",
        licence="proprietary",
        modality="image",
        format="png",
        access='["sme-vision"]',
        tags='["inspection"]',
        files={"img/x.png": "png", "img/y.png": "png"},
    ),
}


def write_catalog(site) -> Path:
    """:data:`DATASETS` under the site's catalog root, indexed as ``aiworkbench-catalog
    index`` does (the index the API opens read-only)."""
    from aiworkbench.catalog.index import Index

    root = Path(site.catalog.root)
    for name, spec in DATASETS.items():
        folder = root / name
        for relative, text in spec["files"].items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        fields = {k: v for k, v in spec.items() if k != "files"}
        (folder / "datacard.toml").write_text(DATACARD.format(name=name, **fields))
    index = Index(site.catalog.index)
    report = index.update(root, projects=list(site.projects))
    assert sorted(report.added) == sorted(DATASETS) and not report.problems, report
    index.db.close()
    return root


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


def course_files(
    marker: str = "v1",
    exercises=("gpu-hours", "budget-left"),
    toml: str = COURSE_TOML,
    **extra: bytes | str,
) -> dict[str, str]:
    """A course folder as ``publish_course`` sends it: path -> base64 content."""
    files = {
        "course.toml": toml,
        "01-sessions.ipynb": notebook(f"# {marker}", f'check("{exercises[0]}", 8, 8)'),
        "02-budgets.ipynb": notebook(f'check("{exercises[1]}", 1, 1)'),
        "data/x.csv": "a\n1\n",
        **extra,
    }
    return {
        name: base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()
        for name, text in files.items()
    }
