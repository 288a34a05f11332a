"""Test doubles for the session lifecycle's component tests: everything around a real hub.

* :class:`FakeSlurm`: ``sbatch``, ``squeue``, ``scancel``, ``sacct``, ``sshare`` and the
  ``sudo`` in front of them as executables on ``PATH`` (:mod:`fake_slurm`), so that the
  spawner's and the poller's real ``slurm.run`` run them as they run Slurm's: argument
  lists, the script on standard input. The test moves jobs along and reads every call.
* :class:`FakePasswd`: the user database batchspawner reads (``pwd``) for the site's
  users, their homes under the test's tmp_path.
* :class:`MemoryProxy`: a JupyterHub proxy that keeps its routes in memory (the
  documented ``Proxy`` API), instead of configurable-http-proxy.
* :class:`Lab`: what a session's JupyterLab is to the hub, an HTTP server on loopback
  that answers the hub's "are you up?"; the job's side of the port report is
  :meth:`Hub.post` with the server's own token, as ``aiworkbench-singleuser`` posts it.
* :class:`Hub`: a real JupyterHub (``JupyterHub.initialize``, configured by the real
  ``apply_site``) served on loopback in the test's event loop, with the workbench's
  spawner and routes; a second one on the same database is a hub restart. It makes
  the objects its spawners share (the Slurm poller, the budget and capacity readers,
  the form's last choices) and hands them to ``apply_site``, as a hub process does
  where it starts, so that each hub, a restarted one too, has its own. Its
  ``exec_prefix`` names the fake sudo by its path: the hub runs sbatch with the job's
  environment, which has no PATH, so that a plain ``sudo`` would be this machine's.

No daemon runs: no Slurm, no proxy, no supervisor, no sudo.
"""

from __future__ import annotations

import asyncio
import copy
import fcntl
import html
import json
import logging
import os
import re
import sqlite3
import sys
import time
import urllib.parse
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import jupyterhub
import requests
from jupyterhub.app import JupyterHub
from jupyterhub.auth import DummyAuthenticator
from jupyterhub.proxy import Proxy
from tornado import netutil, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict, Set
from traitlets.config import Config

from aiworkbench.budgets.accounting import AccountingReader
from aiworkbench.core import slurm as slurm_commands
from aiworkbench.hub.config import apply_site
from aiworkbench.hub.services import API_SERVICE, CULLER_SERVICE, DASHBOARDS_SERVICE
from aiworkbench.hub.shared import HubShared
from aiworkbench.sessions.capacity import CapacityReader
from aiworkbench.sessions.poller import SlurmPoller
from aiworkbench.sessions.request import FormChoices

HERE = Path(__file__).resolve().parent
COMMANDS = ("sbatch", "squeue", "scancel", "sacct", "sshare", "sinfo", "sudo")
# Two partitions as sinfo shows them (node, partition, cores A/I/O/T, GRES, in use, state).
SINFO = (
    "cpu-node-1|cpu*|2/30/0/32|(null)|gpu:0|mix|\n"
    "gpu-node-3|gpu|4/28/0/32|gpu:simulated:4|gpu:simulated:1(IDX:0)|mix|\n"
)
# The services' tokens (what apply_site reads from their token files).
TOKENS = {
    API_SERVICE: "api-service-token-0123456789",
    DASHBOARDS_SERVICE: "dashboards-token-0123456789",
    CULLER_SERVICE: "culler-token-0123456789",
}
# Account|User|GrpTRESMins|GrpTRESRaw|TRESRunMins: edu-intro has 100 GPU-hours, 95 used.
SSHARE = """\
root|||cpu=0,gres/gpu=0|
edu-intro||cpu=120000,gres/gpu=6000|cpu=3000,gres/gpu=5700|cpu=0,gres/gpu=0
edu-intro|student||cpu=1200,gres/gpu=300|
sme-vision||cpu=120000,gres/gpu=30000|cpu=0,gres/gpu=0|
factory-ops||cpu=60000,gres/gpu=0|cpu=60|
"""


# --- Slurm -------------------------------------------------------------------------------


class FakeSlurm:
    """Slurm's commands in ``root/bin`` (put it first on PATH) over one state file:
    active ``jobs`` as squeue shows them, ``ended`` ones as sacct tells them, and every
    ``call``. New jobs are numbered from 4711 and pend for ``pending_reason``."""

    def __init__(self, root: Path):
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        script = self.bin / "fake-slurm"
        script.write_text(f"#!{sys.executable} -IS\n" + (HERE / "fake_slurm.py").read_text())
        script.chmod(0o755)
        for name in COMMANDS:
            (self.bin / name).symlink_to(script.name)
        self.state_file = self.bin / "slurm-state.json"
        self.state_file.write_text(
            json.dumps(
                {
                    "next_id": 4711,
                    "jobs": {},
                    "ended": {},
                    "calls": [],
                    "started": [],
                    "fail": {},
                    "delay": {},
                    "down": False,
                    "pending_reason": "Priority",
                    "expected_start": "N/A",
                    "sshare": SSHARE,
                    "sinfo": SINFO,
                }
            )
        )

    @contextmanager
    def edit(self):
        """The state, locked against the commands, written back afterwards."""
        with open(self.state_file, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            data = json.load(f)
            yield data
            f.seek(0)
            f.truncate()
            json.dump(data, f, indent=1)

    def read(self) -> dict:
        with self.edit() as data:
            return copy.deepcopy(data)

    def calls(self, command: str | None = None) -> list[dict]:
        """The commands run so far (``command``: only those), oldest first: each with its
        ``argv``, the ``user`` sudo ran it as, the whole command line (``via``), its
        ``stdin`` and its ``env``."""
        return [c for c in self.read()["calls"] if command in (None, c["command"])]

    def started(self, command: str) -> int:
        """How many times ``command`` was started (a call is recorded once it answers)."""
        return self.read()["started"].count(command)

    def job(self, job_id: str) -> dict | None:
        return self.read()["jobs"].get(job_id)

    def set(self, **settings) -> None:
        """``pending_reason``, ``expected_start``, ``down`` (the controller does not
        answer), ``sshare`` (its output)."""
        with self.edit() as data:
            data.update(settings)

    def delay(self, command: str, seconds: float) -> None:
        """``command`` answers ``seconds`` late from now on."""
        with self.edit() as data:
            data["delay"][command] = seconds

    def fail(self, command: str, message: str) -> None:
        """``command`` fails with ``message`` from now on (empty: works again)."""
        with self.edit() as data:
            data["fail"][command] = message

    def add_job(
        self,
        job_id: str,
        user: str,
        partition: str,
        state: str = "PENDING",
        reason: str = "Priority",
        priority: int = 1000,
        nodes: str = "",
    ) -> None:
        """Somebody else's job (to queue behind)."""
        with self.edit() as data:
            data["jobs"][job_id] = {
                "job_id": job_id,
                "user": user,
                "partition": partition,
                "state": state,
                "reason": reason,
                "nodes": nodes,
                "start": "N/A",
                "priority": priority,
                "account": "sme-vision",
                "tres": "cpu=1,mem=2G,node=1",
                "used": "0:00",
                "left": "1:00:00",
                "time_limit": "1:00:00",
            }

    def pend(self, job_id: str, reason: str, start: str = "N/A") -> None:
        with self.edit() as data:
            data["jobs"][job_id].update(state="PENDING", reason=reason, start=start)

    def run_job(self, job_id: str, node: str = "gpu-node-3") -> None:
        """The job runs from 5 seconds ago (squeue's start is then when it started)."""
        started = datetime.fromtimestamp(time.time() - 5).strftime("%Y-%m-%dT%H:%M:%S")
        with self.edit() as data:
            data["jobs"][job_id].update(
                state="RUNNING", reason="None", nodes=node, used="0:05", start=started
            )

    def end(
        self, job_id: str, state: str = "TIMEOUT", reason: str = "TimeLimit", exit_code: str = "0:0"
    ) -> None:
        """The job ends on Slurm's side (squeue no longer lists it, sacct tells how)."""
        with self.edit() as data:
            job = data["jobs"].pop(job_id)
            data["ended"][job_id] = {
                "state": state,
                "reason": reason,
                "exit_code": exit_code,
                "nodes": job["nodes"],
            }


# --- the machine -------------------------------------------------------------------------


class FakePasswd:
    """``pwd`` as batchspawner reads it (homes and shells of the site's users, which
    this machine does not have): homes under ``homes``."""

    def __init__(self, homes: Path, users):
        self.homes, self.users = homes, set(users)

    def getpwnam(self, name: str):
        if name not in self.users:
            raise KeyError(f"getpwnam(): name not found: {name!r}")
        return SimpleNamespace(pw_name=name, pw_dir=str(self.homes / name), pw_shell="/bin/bash")


class MemoryProxy(Proxy):
    """A proxy whose routing table is a dict (JupyterHub's documented Proxy API);
    ``refuse``: routespecs whose next addition fails (then they work again)."""

    should_start = Bool(False)
    routes = Dict()
    refuse = Set()

    async def add_route(self, routespec, target, data):
        if routespec in self.refuse:
            self.refuse.discard(routespec)
            raise RuntimeError(f"the proxy refused {routespec}")
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)

    async def get_all_routes(self):
        return copy.deepcopy(self.routes)


class _Answer(web.RequestHandler):
    def get(self, path):
        self.set_header("X-JupyterHub-Version", jupyterhub.__version__)
        self.application.settings["seen"].append(self.request.path)
        self.finish({"version": "fake-lab"})


class Lab:
    """A session's JupyterLab as the hub sees it: an HTTP server on 127.0.0.1 (``port``:
    this one, as after a hub restart) that answers every path (``seen``: those asked)."""

    def __init__(self, port: int = 0):
        self.seen: list[str] = []
        (socket,) = netutil.bind_sockets(port, "127.0.0.1")
        self.port = socket.getsockname()[1]
        self.server = HTTPServer(web.Application([(r"(.*)", _Answer)], seen=self.seen))
        self.server.add_sockets([socket])

    async def close(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


# --- the hub -----------------------------------------------------------------------------


class Hub:
    """A real JupyterHub in this event loop: configured by ``apply_site`` (then pointed
    at a database in ``root``, a free loopback port, :class:`MemoryProxy` and
    JupyterHub's DummyAuthenticator), initialised (a hub restart resumes the sessions
    of the database here), and served. ``spawner``: WorkbenchSpawner settings, and the
    ticks of the hub's poller (``slurm_poll_interval``, ``slurm_steady_poll_interval``:
    tens of milliseconds unless given). ``shared``: what its spawners share, made here
    and handed to ``apply_site``."""

    def __init__(
        self,
        root: Path,
        site,
        slurm: FakeSlurm,
        slurm_poll_interval: float = 0.05,
        slurm_steady_poll_interval: float = 0.2,
        **spawner,
    ):
        self.root, self.site, self.slurm, self.spawner_settings = root, site, slurm, spawner
        # The hub's own sight (no reader, no sudo): the fake Slurm first on PATH.
        self.shared = HubShared(
            poller=SlurmPoller(
                slurm_poll_interval, slurm_commands.reader_run(""), slurm_steady_poll_interval
            ),
            budgets=AccountingReader(float(site.hub.accounting_refresh)),
            capacity=CapacityReader(float(site.hub.accounting_refresh)),
            form_choices=FormChoices(),
        )
        self.app: JupyterHub | None = None
        self.http = AsyncHTTPClient(force_instance=True)

    def config(self, port: int) -> Config:
        c = Config()
        apply_site(c, self.site, gpu_kind="simulated", tokens=TOKENS, shared=self.shared)
        c.JupyterHub.db_url = f"sqlite:///{self.root}/jupyterhub.sqlite"
        c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{port}"
        c.JupyterHub.bind_url = "http://127.0.0.1:1"  # the proxy's: never contacted
        c.JupyterHub.pid_file = ""
        c.JupyterHub.cookie_secret = b"component-tests-cookie-secret-32"
        c.JupyterHub.proxy_class = MemoryProxy
        c.JupyterHub.authenticator_class = DummyAuthenticator
        c.JupyterHub.init_spawners_timeout = 1
        c.JupyterHub.log_level = logging.INFO
        c.Spawner.start_timeout = 10
        c.Spawner.http_timeout = 5
        c.Spawner.poll_interval = 1
        # sbatch and scancel through the fake sudo, found by its path: the job's
        # environment has no PATH, so that a plain "sudo" would be this machine's.
        c.WorkbenchSpawner.exec_prefix = f"{self.slurm.bin}/sudo -u {{username}}"
        c.WorkbenchSpawner.slurm_reader = ""  # the hub's own sight (no reader, no sudo)
        for name, value in self.spawner_settings.items():
            setattr(c.WorkbenchSpawner, name, value)
        return c

    async def start(self) -> Hub:
        (socket,) = netutil.bind_sockets(0, "127.0.0.1")
        self.port = socket.getsockname()[1]
        self.app = JupyterHub(config=self.config(self.port))
        await self.app.initialize([])
        self.server = HTTPServer(self.app.tornado_application, xheaders=True)
        self.server.add_sockets([socket])
        # What JupyterHub.start does once it listens (its proxy, signals and services
        # left out): route the running sessions, then say it has started.
        await self.app.proxy.check_routes(self.app.users, self.app._service_map)
        self.app._start_future.set_result(None)
        return self

    async def close(self) -> None:
        """The hub goes away; sessions (Slurm jobs) are left as they are. Its poller
        stops after the query under way, and its budget reader's refresh under way ends
        (as the process would end), so that no Slurm command outlives the test's event
        loop."""
        self.server.stop()
        await self.server.close_all_connections()
        await self.app.cleanup()
        self.app.db.close()
        self.http.close()
        poller = self.shared.poller
        for job_id in list(poller._watched):
            poller.unwatch(job_id)
        poller.poke()
        if poller._task is not None:
            await asyncio.wait([poller._task], timeout=5)
        await asyncio.wait_for(self.shared.budgets.wait_refresh(), 5)

    async def __aenter__(self) -> Hub:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    def user(self, name: str):
        return self.app.users[name]

    @property
    def user_routes(self) -> dict[str, str]:
        """The proxy's routes to sessions: routespec -> target."""
        return {
            spec: route["target"]
            for spec, route in self.app.proxy.routes.items()
            if spec.startswith("/user/")
        }

    def spawner(self, user: str, server: str = ""):
        """The user's spawner of ``server`` now (None before the first spawn; a failed
        spawn's is replaced by the next spawn)."""
        return self.app.users[user].spawners.get(server)

    def token(self, user: str) -> str:
        """A new API token of ``user`` (not a server's)."""
        return self.app.users[user].new_api_token(note="component test")

    async def request(
        self, method: str, path: str, token: str, body=None, raw: bytes | None = None
    ) -> tuple[int, dict | str]:
        """``method path`` of the hub's REST API with ``token``: (status, JSON answer)."""
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if raw is None and method in ("POST", "PATCH", "PUT"):
            raw = b""
        try:
            response = await self.http.fetch(
                HTTPRequest(
                    f"{self.url}/{path}",
                    method=method,
                    body=raw,
                    request_timeout=15,
                    headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
                ),
                raise_error=False,
            )
        except HTTPClientError as err:  # 599: the hub went away before answering
            return err.code, str(err)
        text = response.body.decode() if response.body else ""
        try:
            return response.code, json.loads(text) if text else {}
        except ValueError:
            return response.code, text

    async def post(self, path: str, token: str, body=None, raw: bytes | None = None):
        return await self.request("POST", path, token, body, raw)

    def ask(self, method: str, path: str, token: str, body=None) -> asyncio.Task:
        """:meth:`request` in the background: a spawn's answer waits until the session
        is ready (or for JupyterHub's slow_spawn_timeout, 10 s)."""
        return asyncio.ensure_future(self.request(method, path, token, body))

    def progress(self, token: str, user: str = "student", server: str = "") -> Progress:
        """The spawn's progress events as the spawn page reads them (server-sent events
        of ``GET users/USER/server/progress``), read in the background."""
        path = (
            f"users/{user}/servers/{server}/progress" if server else f"users/{user}/server/progress"
        )
        return Progress(self.http, f"{self.url}/{path}", token)

    def state_in_db(self, user: str = "student", server: str = "") -> dict | None:
        """The spawner's state as the hub's database holds it (read with a connection
        of its own, as a restarted hub reads it); None without a spawner row."""
        with sqlite3.connect(self.root / "jupyterhub.sqlite") as db:
            row = db.execute(
                "SELECT spawners.state FROM spawners JOIN users ON "
                "users.id = spawners.user_id WHERE users.name = ? AND "
                "spawners.name = ?",
                (user, server),
            ).fetchone()
        return None if row is None else json.loads(row[0] or "{}")

    async def wait(self, predicate, timeout: float = 10.0, what: str = "it"):
        """Wait until ``predicate()`` is true (checked every 20 ms); its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (value := predicate()):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.02)
        return value


class Progress:
    """A spawn page's event stream: ``events`` as they come; :meth:`wait_for` one."""

    def __init__(self, http: AsyncHTTPClient, url: str, token: str):
        self.events: list[dict] = []
        self._buffer = ""
        self.done = asyncio.ensure_future(
            http.fetch(
                HTTPRequest(
                    url,
                    headers={"Authorization": f"token {token}"},
                    request_timeout=30,
                    streaming_callback=self._chunk,
                ),
                raise_error=False,
            )
        )

    def _chunk(self, data: bytes) -> None:
        self._buffer += data.decode()
        while "\n\n" in self._buffer:
            event, self._buffer = self._buffer.split("\n\n", 1)
            if event.startswith("data: "):
                self.events.append(json.loads(event[len("data: ") :]))

    @property
    def messages(self) -> list[str]:
        return [event["message"] for event in self.events]

    async def wait_for(self, text: str, timeout: float = 10.0) -> dict:
        """The first event whose message contains ``text``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.events:
                if text in event["message"]:
                    return event
            if self.done.done() or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no progress message with {text!r}: {self.messages}")
            await asyncio.sleep(0.02)

    async def end(self) -> dict:
        """The last event, once the stream ends (the spawn is ready or failed)."""
        await asyncio.wait_for(self.done, 15)
        return self.events[-1]


class Browser:
    """A person's browser on the hub's pages: logged in through the login form
    (DummyAuthenticator takes any password), cookies kept, the forms' XSRF token sent.
    Blocking (requests): call it through ``asyncio.to_thread``."""

    def __init__(self, hub: Hub, user: str):
        self.base = f"http://127.0.0.1:{hub.port}/hub"
        self.session = requests.Session()
        self.session.trust_env = False  # loopback, never through a proxy of the environment
        self.session.get(f"{self.base}/login", timeout=15)
        response = self.session.post(
            f"{self.base}/login",
            allow_redirects=False,
            timeout=15,
            data={"username": user, "password": "x", "_xsrf": self.xsrf},
        )
        assert response.status_code == 302, (response.status_code, response.text)

    @property
    def xsrf(self) -> str:
        return self.session.cookies.get("_xsrf", "")

    def get(self, path: str) -> requests.Response:
        response = self.session.get(f"{self.base}/{path}", timeout=15)
        response.encoding = "utf-8"  # as the page's <meta charset> says
        return response

    def submit(self, path: str, fields: dict) -> requests.Response:
        """Fill in and send the form of the page at ``path`` as the page sends it (to its
        ``action``, which carries the XSRF token); the answer, redirects not followed."""
        page = self.get(path)
        action = re.search(r'<form[^>]*\baction="([^"]*)"', page.text, re.S)
        assert action, f"no form on {path}: {page.status_code}"
        url = urllib.parse.urljoin(page.url, html.unescape(action[1]))
        response = self.session.post(url, data=fields, allow_redirects=False, timeout=30)
        response.encoding = "utf-8"
        return response


def path_with(folder: Path) -> str:
    """``PATH`` with ``folder`` first."""
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
