"""A session's whole life in a real hub, against a fake Slurm.

The hub is JupyterHub itself (``JupyterHub.initialize``, configured by the real
``apply_site``, served on loopback in the test's event loop) with the real
``WorkbenchSpawner``, the real shared ``SlurmPoller`` and the real port-callback and
idle-GPU handlers. Slurm is :class:`~spawner_doubles.FakeSlurm`: ``sbatch``, ``squeue``,
``scancel``, ``sacct``, ``sshare`` and the ``sudo`` in front of them, as executables
that the hub runs exactly as it runs Slurm's (argument lists, the script on standard
input), recording each call. A session's JupyterLab is a loopback HTTP server
(:class:`~spawner_doubles.Lab`); the job's port report is the POST
``aiworkbench-singleuser`` sends, with the server's own token.

Covered: submit (the script and sbatch's command line reflect the choices, nothing
through a shell), the queue (Slurm's reason, the position, the expected start, in the
progress the spawn page shows), running, the port report and its refusals, stop,
spawn timeout, a job Slurm ends on its own, a hub restart (nothing resubmitted), the
idle-GPU reports and the dashboards' session list. Intervals are tens of milliseconds.

Tests marked ``xfail(strict=True)`` with a reason starting "BUG" show defects found
here and not fixed yet; each fails for that reason alone (an XPASS fails the run: then
the mark goes).
"""

from __future__ import annotations

import asyncio
import email
import email.message
import hashlib
import html
import json
import re
import shlex
import shutil
import socket
import sys
import time
from datetime import UTC, datetime, timedelta

import batchspawner.batchspawner
import pytest
import requests
from aiosmtpd.controller import Controller
from batchspawner import JobStatus
from tornado.httpclient import HTTPRequest

from aiworkbench.budgets import accounting
from aiworkbench.core.site import load_site
from aiworkbench.core.slurm import squeue_argv
from aiworkbench.portal import support
from aiworkbench.sessions import spawner as spawner_module
from aiworkbench.sessions.poller import GONE, UNKNOWN

from . import api_doubles
from .spawner_doubles import TOKENS, Browser, FakePasswd, FakeSlurm, Hub, Lab, path_with

GPU = {
    "profile": "cpu-small",
    "project": "edu-intro",
    "partition": "gpu",
    "preset": "medium",
    "gpus": "1",
    "hours": "3",
}
CPU = {"profile": "cpu-small"}
PORT_BODY = 'the body must be exactly {"port": <integer>}'
PORT_RANGE = "port must be an integer from 1024 to 65535"
GPU_BODY = 'the body must be {"utilisation": [percent, ...]}: 1 to 64 numbers from 0 to 100'


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """The fake Slurm, first on PATH (the hub's read-only queries find it there)."""
    fake = FakeSlurm(tmp_path / "slurm")
    monkeypatch.setenv("PATH", path_with(fake.bin))
    assert shutil.which("squeue") == str(fake.bin / "squeue")
    return fake


@pytest.fixture
def site(small_site, tmp_path, monkeypatch):
    """The component site and its users known to batchspawner's ``pwd``. (Each
    :class:`Hub` makes the objects its spawners share: a hub restart has new ones.)"""
    monkeypatch.setattr(
        batchspawner.batchspawner, "pwd", FakePasswd(tmp_path / "home", small_site.users)
    )
    return small_site


@pytest.fixture
def hub(tmp_path, site, slurm):
    """Make a hub (not started yet): ``hub(**WorkbenchSpawner settings)``; the same
    database each time (a second one is a restart)."""
    root = tmp_path / "hub"
    root.mkdir()
    return lambda **settings: Hub(root, site, slurm, **settings)


# --- helpers -------------------------------------------------------------------------------


def server_path(user: str = "student", server: str = "") -> str:
    return f"users/{user}/servers/{server}" if server else f"users/{user}/server"


async def spawn(hub: Hub, options: dict, user: str = "student", server: str = ""):
    """Ask for a session through the REST API as the user (the answer comes once it is
    ready: in the background); its spawner once it has a job id."""
    answer = hub.ask("POST", server_path(user, server), hub.token(user), options)
    await hub.wait(lambda: job_of(hub, user, server) or answer.done(), what="the session's job id")
    assert job_of(hub, user, server), answer.result()
    return hub.spawner(user, server)


def job_of(hub: Hub, user: str = "student", server: str = "") -> str:
    """The job id of the user's session now ('' without one)."""
    spawner = hub.spawner(user, server)
    return spawner.job_id if spawner is not None else ""


async def report(hub: Hub, spawner, port: int, token: str | None = None, headers=None):
    """The job's port report, as aiworkbench-singleuser posts it."""
    request = HTTPRequest(
        f"{hub.url}/aiworkbench/session-port",
        method="POST",
        body=json.dumps({"port": port}),
        headers={"Authorization": f"token {token or spawner.api_token}", **(headers or {})},
    )
    response = await hub.http.fetch(request, raise_error=False)
    return response.code, json.loads(response.body)


async def running_session(
    hub: Hub, slurm: FakeSlurm, lab: Lab, options=CPU, user: str = "student", server: str = ""
):
    """A session that Slurm runs on gpu-node-3 and that reported its port: ready."""
    spawner = await spawn(hub, options, user, server)
    slurm.run_job(spawner.job_id)
    assert await report(hub, spawner, lab.port) == (
        201,
        {"message": f"session port {lab.port} on 127.0.0.1 recorded"},
    )
    await hub.wait(lambda: spawner.ready, what="the session to be ready")
    return spawner


async def fresh_snapshot(spawner) -> None:
    """Until the poller has queried Slurm after now (the query under way may be older)."""
    for _ in range(2):
        assert await spawner.poller.wait_update(2)


def sbatch_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def message(body) -> str:
    return body["message"] if isinstance(body, dict) else body


# --- submit --------------------------------------------------------------------------------


def test_a_spawn_submits_the_validated_choices_through_sudo_sbatch_without_a_shell(
    hub, slurm, tmp_path
):
    """sbatch runs as the user through sudo as an argument list, the batch script on its
    standard input holds exactly the request's values, the command inside it is quoted
    for bash, and the job id and token hash are in the hub's database while it pends."""
    awkward = "--ServerApp.notebook_dir=/home/has space/$HOME;`id`"

    async def scenario():
        async with hub(args=[awkward]) as h:
            spawner = await spawn(h, GPU)
            (sbatch,) = slurm.calls("sbatch")
            home = tmp_path / "home" / "student"
            in_db = h.state_in_db()
            script = await spawner.job_script()
            other = await spawner.job_script({"partition": "cpu", "hours": "2"})
            return spawner, sbatch, home, in_db, script, other

    spawner, sbatch, home, in_db, script, other = asyncio.run(scenario())

    assert sbatch["via"] == ["sudo", "-u", "student", "sbatch", "--parsable"]
    assert sbatch["user"] == "student" and sbatch["argv"] == ["--parsable"]
    lines = sbatch_lines(sbatch["stdin"])
    keepvars = lines.pop(3)
    assert lines == [
        "#SBATCH --job-name=jupyter-student",
        f"#SBATCH --output={home}/.jupyter-session-%j.log",
        f"#SBATCH --chdir={home}",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=edu-intro",
        "#SBATCH --time=3:00:00",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=4G",
        "#SBATCH --signal=B:USR1@300",
        "#SBATCH --gres=gpu:1",
    ]
    assert keepvars.startswith("#SBATCH --export=") and "JUPYTERHUB_API_TOKEN" in keepvars
    assert spawner.api_token not in sbatch["stdin"]  # the token goes by environment only
    (exec_line,) = (line for line in sbatch["stdin"].splitlines() if line.startswith("exec "))
    assert shlex.split(exec_line) == [
        "exec",
        "/opt/aiworkbench/env/bin/aiworkbench-singleuser",
        "/opt/aiworkbench/env/bin/jupyterhub-singleuser",
        awkward,
    ]
    assert sbatch["stdin"] == script  # job_script() shows what was submitted

    env = sbatch["env"]
    assert env["JUPYTERHUB_API_TOKEN"] == spawner.api_token
    assert env["AIWORKBENCH_GPU_METRICS"] == "simulated:/var/lib/aiworkbench-gpu-sim"
    assert env["AIWORKBENCH_GPU_REPORT_SECONDS"] == "60"
    assert env["AIWORKBENCH_API_URL"].endswith("/services/workbench/api")
    assert (env["USER"], env["HOME"]) == ("student", str(home))

    # Saved at submit, before the session started: a hub restart now finds the job, and
    # counts its time in the queue from its submission.
    assert in_db == {
        "job_id": "4711",
        "submitted_at": spawner.submitted_at,
        "last_job_id": "4711",
        "token_sha256": hashlib.sha256(spawner.api_token.encode()).hexdigest(),
    }
    assert abs(spawner.submitted_at - time.time()) < 60
    assert "#SBATCH --partition=cpu" in other and "--gres" not in other
    assert "#SBATCH --time=2:00:00" in other


@pytest.mark.parametrize(
    "options, refusal",
    [
        (
            {"profile": "cpu-small", "hours": "1; touch /tmp/pwned"},
            "hours must be a whole number from 1 to 4, got '1; touch /tmp/pwned'",
        ),
        (
            {"profile": "cpu-small", "partition": "gpu\n#SBATCH --uid=0"},
            "unknown partition 'gpu\\n#SBATCH --uid=0'; allowed: cpu, gpu (a partition name "
            "is 1-32 lower-case letters, digits, '-' or '_', starting with a letter)",
        ),
        (
            {"profile": "cpu-small", "script": "rm -rf ~"},
            "unknown option(s) 'script'; allowed: profile, project, partition, preset, gpus, hours",
        ),
        ({"project": "sme-vision"}, "project 'sme-vision' is not one of yours; allowed: edu-intro"),
        (
            {"partition": "gpu", "gpus": "2"},
            "gpus = 2 is not allowed on partition 'gpu' for project 'edu-intro'; allowed: 1",
        ),
    ],
)
def test_options_outside_the_policy_are_refused_before_anything_reaches_slurm(
    hub, slurm, options, refusal
):
    async def scenario():
        async with hub() as h:
            status, body = await h.post("users/student/server", h.token("student"), options)
            return status, body, h.spawner("student").active

    status, body, active = asyncio.run(scenario())
    assert (status, message(body)) == (400, refusal)
    assert not active
    assert slurm.calls("sbatch") == []


def test_the_form_shows_what_is_left_and_what_is_chosen_reaches_the_script(hub, slurm):
    """The spawn form (a logged-in browser) shows each project's remaining budget; a
    refused choice comes back with the reason and the choices kept; an accepted one is
    the script's."""
    slurm.set(sshare=slurm.read()["sshare"].replace("gres/gpu=5700", "gres/gpu=5880"))

    async def scenario():
        async with hub() as h, Lab() as lab:
            browser = await asyncio.to_thread(Browser, h, "student")
            form = await asyncio.to_thread(browser.get, "spawn/student")
            too_much = dict(GPU, hours="3")
            refused = await asyncio.to_thread(browser.submit, "spawn/student", too_much)
            sbatch_after_refusal = len(slurm.calls("sbatch"))
            accepted = asyncio.ensure_future(
                asyncio.to_thread(browser.submit, "spawn/student", dict(GPU, hours="2"))
            )
            await h.wait(lambda: job_of(h), what="the job")
            await report(h, h.spawner("student"), lab.port)
            return form, refused, sbatch_after_refusal, await accepted

    form, refused, sbatch_after_refusal, accepted = asyncio.run(scenario())

    assert form.status_code == 200
    assert "The course project — left: 2.0 GPU-h, 1950.0 core-h" in form.text
    assert refused.status_code == 400 and sbatch_after_refusal == 0
    assert (
        "Not enough budget: this session needs 3.0 GPU-h, project edu-intro has 2.0 "
        "GPU-h left. Ask for fewer GPUs, cores or hours, or another project."
        in refused.text.replace("\n", " ")
    )
    assert re.search(r'<option value="gpu" selected', refused.text)  # the choices kept
    assert "— needs 3.0 GPU-h, project edu-intro has 2.0 GPU-h left" in refused.text
    assert accepted.status_code == 302
    assert accepted.headers["Location"].startswith("/hub/spawn-pending/student?")
    lines = sbatch_lines(slurm.calls("sbatch")[0]["stdin"])
    assert "#SBATCH --time=2:00:00" in lines and "#SBATCH --gres=gpu:1" in lines


def test_a_request_above_the_budget_is_refused_with_the_numbers_before_sbatch(hub, slurm):
    slurm.set(sshare=slurm.read()["sshare"].replace("gres/gpu=5700", "gres/gpu=5880"))

    async def scenario():
        async with hub() as h:
            over = await h.post("users/student/server", h.token("student"), GPU)
            submitted_over = len(slurm.calls("sbatch"))
            within = await spawn(h, dict(GPU, hours="2"))
            return over, submitted_over, within.job_id

    (status, body), submitted_over, within = asyncio.run(scenario())
    assert (status, message(body)) == (
        400,
        (
            "Not enough budget: this session needs 3.0 GPU-h, project edu-intro has 2.0 GPU-h "
            "left. Ask for fewer GPUs, cores or hours, or another project."
        ),
    )
    assert submitted_over == 0 and within == "4711"


def test_when_accounting_does_not_answer_the_form_shows_no_budgets_and_slurm_decides(hub, slurm):
    slurm.fail("sshare", "sshare: error: Unable to contact slurm controller")

    async def scenario():
        async with hub() as h:
            browser = await asyncio.to_thread(Browser, h, "student")
            form = await asyncio.to_thread(browser.get, "spawn/student")
            spawner = await spawn(h, GPU)
            return form, spawner.job_id

    form, job_id = asyncio.run(scenario())
    assert form.status_code == 200 and "left:" not in form.text
    assert 'name="project"' in form.text
    assert job_id == "4711"  # the pre-check is skipped; Slurm enforces budgets itself


def test_a_user_runs_at_most_max_sessions_at_once(hub, slurm):
    async def scenario():
        async with hub(check_budget=False) as h:
            await spawn(h, CPU)
            await spawn(h, CPU, server="two")
            return await h.post("users/student/servers/three", h.token("student"), CPU)

    status, body = asyncio.run(scenario())
    assert (status, message(body)) == (
        400,
        ("you already run 2 session(s) ('default', 'two'), the most allowed is 2: stop one first"),
    )
    assert len(slurm.calls("sbatch")) == 2
    assert slurm.calls("sshare") == []  # check_budget off: Slurm alone enforces budgets


def test_sbatch_refusing_the_job_fails_the_spawn_with_slurms_words(hub, slurm):
    slurm.fail(
        "sbatch",
        "sbatch: error: Batch job submission failed: Invalid account or "
        "account/partition combination specified",
    )

    async def scenario():
        async with hub() as h:
            token = h.token("student")
            answer = await h.post("users/student/server", token, CPU)
            last = await h.progress(token).end()
            return answer, last, h.spawner("student").active, h.state_in_db()

    (status, body), last, active, in_db = asyncio.run(scenario())
    words = (
        "sbatch: error: Batch job submission failed: Invalid account or "
        "account/partition combination specified"
    )
    said = f"Slurm did not take the session's job: {words}"
    assert (status, message(body)) == (502, said)
    assert last == {"progress": 100, "failed": True, "message": f"Spawn failed: {said}"}
    assert not active and in_db == {}


# --- the queue, as the spawn page shows it ----------------------------------------------------


def test_a_queued_job_shows_slurms_reason_its_place_and_expected_start_then_runs(hub, slurm):
    slurm.set(pending_reason="Resources", expected_start="2026-12-02T16:30:00")
    slurm.add_job("4700", "sme", "gpu", priority=3000)  # ahead
    slurm.add_job("4701", "sme", "gpu", priority=500)  # behind
    slurm.add_job("4702", "trainer", "cpu", priority=9000)  # another partition's queue
    slurm.delay("sbatch", 0.3)

    async def scenario():
        async with hub() as h, Lab() as lab:
            token = h.token("student")
            h.ask("POST", "users/student/server", token, GPU)
            await h.wait(lambda: slurm.calls("sshare"), what="the budget check")
            spawner = h.spawner("student")
            progress = h.progress(token)
            seen = [await progress.wait_for("Submitting the session to Slurm (")]
            seen.append(await progress.wait_for("queued"))
            slurm.pend("4711", "AssocGrpGRESMinutes")
            seen.append(await progress.wait_for("budget"))
            slurm.set(down=True)
            seen.append(await progress.wait_for("not answering"))
            slurm.set(down=False)
            slurm.run_job("4711", node="gpu-node-3")
            seen.append(await progress.wait_for("running"))
            assert await report(h, spawner, lab.port) == (
                201,
                {"message": f"session port {lab.port} on 127.0.0.1 recorded"},
            )
            seen.append(await progress.end())
            return seen, progress.events, spawner.server.url, h.user_routes, lab.seen

    seen, events, url, routes, lab_seen = asyncio.run(scenario())

    assert events[0] == {"progress": 0, "message": "Server requested"}
    assert seen[:5] == [
        {
            "progress": 20,
            "message": "Submitting the session to Slurm (up to 3 GPU-hours and "
            "6 core-hours from edu-intro)",
        },
        {
            "progress": 20,
            "message": "Job 4711 queued on gpu: waiting for a free GPU; position "
            "2 of 3 in the queue; expected start 2026-12-02 16:30:00",
        },
        {
            "progress": 20,
            "message": "Job 4711 queued on gpu: project budget exhausted: not "
            "enough GPU-hours left for this request; position 2 of 3 "
            "in the queue",
        },
        {"progress": 20, "message": "Job 4711 submitted; Slurm's controller is not answering"},
        {"progress": 50, "message": "Job 4711 running on node gpu-node-3, starting JupyterLab"},
    ]
    assert seen[5]["ready"] is True and seen[5]["message"] == "Server ready at /user/student/"
    assert url.startswith(f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}/user/student/")
    assert routes == {"/user/student/": url.removesuffix("/user/student/")}
    assert lab_seen == ["/user/student/api"]  # the hub checked the reported address


# --- the port report -------------------------------------------------------------------------


def test_port_reports_are_accepted_only_as_exactly_a_port_from_the_starting_servers_token(
    hub, slurm
):
    """Every refusal, with its status and message, leaves the session waiting; the one
    good report routes it; once it runs, no report is taken any more."""

    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await spawn(h, CPU)
            own = spawner.api_token
            users_token = h.token("student")
            path = "aiworkbench/session-port"
            answers = {
                "user's token": await h.post(path, users_token, {"port": lab.port}),
                "another's": await h.post(path, h.token("sme"), {"port": lab.port}),
                "no token": await h.post(path, "", {"port": lab.port}),
                "with ip": await h.post(path, own, {"port": lab.port, "ip": "10.0.0.66"}),
                "a list": await h.post(path, own, [lab.port]),
                "a string": await h.post(path, own, {"port": str(lab.port)}),
                "true": await h.post(path, own, {"port": True}),
                "privileged": await h.post(path, own, {"port": 80}),
                "too high": await h.post(path, own, {"port": 70000}),
                "not json": await h.post(path, own, raw=b"port=8888"),
                # batchspawner's handler (it set any attribute named in the body)
                "batchspawner's": await h.post(
                    "batchspawner", own, {"port": lab.port, "ip": "10.0.0.66"}
                ),
            }
            waiting = (spawner.port, spawner.job_port, spawner.ready)
            slurm.run_job("4711", node="cpu-node-1")
            await fresh_snapshot(spawner)
            accepted = await report(h, spawner, lab.port)
            await h.wait(lambda: spawner.ready, what="ready")
            again = await h.post(path, own, {"port": lab.port + 1})
            progress = [event async for event in spawner.progress()]  # ends: it has a port
            return (
                answers,
                waiting,
                accepted,
                again,
                spawner.get_state(),
                lab.port,
                h.state_in_db(),
                progress,
            )

    answers, waiting, accepted, again, state, port, in_db, progress = asyncio.run(scenario())

    got = {case: (status, message(body)) for case, (status, body) in answers.items()}
    assert got == {
        "user's token": (403, "only a session's own server token may report its port"),
        "another's": (403, "only a session's own server token may report its port"),
        "no token": (403, None),  # JupyterHub's own refusal, without words
        "with ip": (400, PORT_BODY),
        "a list": (400, PORT_BODY),
        "a string": (400, PORT_RANGE),
        "true": (400, PORT_RANGE),
        "privileged": (400, PORT_RANGE),
        "too high": (400, PORT_RANGE),
        "not json": (400, "Invalid JSON in body of request"),
        "batchspawner's": (404, None),  # JupyterHub's API 404
    }
    assert waiting == (0, 0, False)
    assert accepted == (201, {"message": f"session port {port} on 127.0.0.1 recorded"})
    assert (again[0], message(again[1])) == (409, "this server is not starting")
    assert (state["job_ip"], state["job_port"]) == ("127.0.0.1", port)
    assert (in_db["job_ip"], in_db["job_port"]) == ("127.0.0.1", port)
    assert progress == [
        {"progress": 50, "message": "Job 4711 running on node cpu-node-1, starting JupyterLab"}
    ]


def test_the_reported_host_is_the_connections_not_one_a_header_names(hub, slurm):
    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await spawn(h, CPU)
            # Loopback's other address: where nothing listens, refused at once.
            answer = await report(h, spawner, lab.port, headers={"X-Real-Ip": "127.0.0.2"})
            return answer, spawner.job_ip, lab.port

    answer, job_ip, port = asyncio.run(scenario())
    assert answer == (201, {"message": f"session port {port} on 127.0.0.1 recorded"})
    assert job_ip == "127.0.0.1"


# --- stop, timeout, and jobs that end -----------------------------------------------------------


def test_stopping_a_session_cancels_its_job_waits_for_slurm_and_clears_its_state(hub, slurm):
    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab)
            calls_before = len(slurm.calls())
            status, _ = await h.request("DELETE", "users/student/server", h.token("student"))
            await spawner.stop()  # again: nothing left to cancel
            after = slurm.calls()[calls_before:]
            return (
                status,
                after,
                spawner.job_id,
                h.state_in_db(),
                h.user_routes,
                spawner.poller.status("4711"),
                spawner.poller._watched,
            )

    status, after, job_id, in_db, routes, seen, watched = asyncio.run(scenario())

    assert status == 204
    commands = [c["command"] for c in after]
    assert after[commands.index("scancel")]["via"] == ["sudo", "-u", "student", "scancel", "4711"]
    assert commands.count("scancel") == 1
    # The stop waited for a query that no longer lists the job (it showed COMPLETING).
    assert commands[commands.index("scancel") + 1 :].count("squeue") >= 2
    assert slurm.read()["ended"]["4711"]["state"] == "CANCELLED by 1004"
    assert job_id == "" and routes == {}
    assert in_db == {"last_job_id": "4711"}  # its log stays readable
    assert seen == UNKNOWN and "4711" not in watched  # no longer followed


def test_a_stop_looks_again_soon_not_at_the_long_tick_of_a_hub_with_no_start(hub, slurm):
    """While no session starts the shared poller asks Slurm rarely (here every 10
    minutes); a stop still ends as soon as Slurm no longer lists the job."""

    async def scenario():
        async with hub(slurm_steady_poll_interval=600.0) as h, Lab() as lab:
            await running_session(h, slurm, lab)
            started = time.monotonic()
            status, _ = await h.request("DELETE", "users/student/server", h.token("student"))
            return status, time.monotonic() - started, slurm.calls()

    status, took, calls = asyncio.run(scenario())
    assert status == 204  # stopped within the request (JupyterHub answers 202 after 10 s)
    assert took < spawner_module.STOP_WAIT_S / 3, took  # not the long tick
    after = [c["command"] for c in calls]
    after = after[after.index("scancel") :]
    assert after.count("squeue") >= 2  # it waited for a query without the job


def test_a_session_stopped_by_the_idle_culler_keeps_the_reason(hub, slurm):
    async def scenario():
        async with hub(cull_idle_timeout=1800.0) as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab)
            spawner.orm_spawner.last_activity = datetime.now(UTC).replace(tzinfo=None) - timedelta(
                hours=3, seconds=20
            )
            h.app.db.commit()
            status, _ = await h.request("DELETE", "users/student/server", TOKENS["idle-culler"])
            return status, h.state_in_db()

    status, in_db = asyncio.run(scenario())
    assert status == 204
    assert in_db == {
        "ended_reason": "it had no activity for 3 h 00 min (sessions without "
        "activity are stopped after 30 minutes)",
        "last_job_id": "4711",
    }


def test_a_spawn_that_times_out_says_so(hub, slurm):
    async def scenario():
        async with hub(queue_timeout=1) as h:
            token = h.token("student")
            h.ask("POST", "users/student/server", token, CPU)
            await h.wait(lambda: slurm.calls("sbatch"), what="sbatch")
            return await h.progress(token).end()

    last = asyncio.run(scenario())
    assert last["failed"] is True
    assert "1 second" in last["message"] and "cancel" in last["message"]


def test_a_spawn_that_times_out_cancels_its_queued_job(hub, slurm):
    async def scenario():
        async with hub(queue_timeout=1) as h:
            token = h.token("student")
            answer = h.ask("POST", "users/student/server", token, CPU)
            await h.wait(lambda: slurm.calls("sbatch"), what="sbatch")
            progress = h.progress(token)
            last = await progress.end()
            return (
                last,
                progress.messages,
                h.spawner("student").active,
                h.state_in_db(),
                await h.request("GET", "users/student", token),
                await answer,
            )

    last, messages, active, in_db, (_, model), (status, body) = asyncio.run(scenario())
    queued = (
        "Job 4711 queued on cpu: waiting behind jobs with higher priority; position 1 "
        "of 1 in the queue"
    )
    said = (
        "The session was still queued after 1 second (waiting behind jobs with higher "
        "priority), so job 4711 was cancelled. Try later."
    )
    assert (status, message(body)) == (504, said)
    assert queued in messages
    assert last == {"progress": 100, "failed": True, "message": f"Spawn failed: {said}"}
    assert [c["via"] for c in slurm.calls("scancel")] == [
        ["sudo", "-u", "student", "scancel", "4711"]
    ]
    assert (
        slurm.job("4711") is None and slurm.read()["ended"]["4711"]["state"] == "CANCELLED by 1004"
    )
    assert not active and model["servers"] == {}
    assert in_db == {
        "ended_reason": f"it {said.removeprefix('The session ').rstrip('.')}",
        "last_job_id": "4711",
    }


def test_a_spawn_that_times_out_during_sbatch_leaves_no_job_behind(hub, slurm):
    slurm.delay("sbatch", 1.5)

    async def scenario():
        async with hub(start_timeout=1) as h:  # JupyterHub's own limit, not the queue's
            token = h.token("student")
            answer = await h.post("users/student/server", token, CPU)
            await asyncio.sleep(1.5)  # sbatch answers meanwhile
            return answer, h.spawner("student").active

    (status, _), active = asyncio.run(scenario())
    assert status == 500 and not active
    assert slurm.started("sbatch") == 1 and not slurm.calls("sbatch")  # ended early
    assert slurm.job("4711") is None  # sbatch was ended with the spawn: no job


def test_a_job_that_ends_before_jupyterlab_starts_fails_the_spawn_with_how_it_ended(hub, slurm):
    async def scenario():
        async with hub() as h:
            token = h.token("student")
            spawner = await spawn(h, CPU)
            progress = h.progress(token)
            await progress.wait_for("queued")
            slurm.end("4711", state="FAILED", reason="NonZeroExitCode", exit_code="1:0")
            return await progress.end(), spawner.describe(GONE), h.state_in_db()

    last, gone, in_db = asyncio.run(scenario())
    assert last == {
        "progress": 100,
        "failed": True,
        "message": (
            "Spawn failed: The session's job ended before JupyterLab started: the session's job "
            "failed (exit code 1)"
        ),
    }
    assert slurm.calls("scancel") == []  # nothing left to cancel
    assert gone == "Job  has ended"  # the job id is cleared; how it ended is kept
    assert in_db == {
        "ended_reason": "the session's job failed (exit code 1)",
        "last_job_id": "4711",
    }


def test_a_session_that_slurm_ends_is_noticed_by_the_hub_and_its_reason_kept(hub, slurm):
    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab)
            slurm.end("4711", state="TIMEOUT", reason="TimeLimit")
            await h.wait(lambda: not spawner.active, timeout=5, what="the hub to notice")
            await h.wait(
                lambda: (
                    h.state_in_db()
                    == {"ended_reason": "the session reached its time limit", "last_job_id": "4711"}
                ),
                what="the state saved",
            )
            return h.user_routes

    routes = asyncio.run(scenario())
    assert routes == {}
    assert slurm.calls("scancel") == []
    assert slurm.calls("sacct")[-1]["argv"] == [
        "--noheader",
        "--parsable2",
        "--allocations",
        "--jobs=4711",
        "--format=JobID,State,Reason,ExitCode,NodeList",
    ]


@pytest.mark.parametrize(
    "state, reason, fails, words",
    [
        ("TIMEOUT", "TimeLimit", "", "the session reached its time limit"),
        ("NODE_FAIL", "NodeDown", "", "the node running the session failed"),
        ("CANCELLED by 0", "None", "", "the session's job was cancelled by an administrator"),
        ("CANCELLED by 4321", "None", "", "the session's job was cancelled by user 4321"),
        ("CANCELLED", "Preempted", "", "the session's job was cancelled (Preempted)"),
        ("OUT_OF_MEMORY", "OutOfMemory", "", "the session ran out of memory"),
        (
            "COMPLETED",
            "None",
            "sacct: error: slurmdbd not answering",
            "the session's job is no longer in Slurm",
        ),
    ],
)
def test_poll_gives_an_exit_status_once_slurm_ended_the_job_and_keeps_how(
    hub, slurm, state, reason, fails, words
):
    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab)
            spawner.stop_polling()  # this test polls, not the hub
            alive = await spawner.poll()
            slurm.end("4711", state=state, reason=reason)
            if fails:
                slurm.fail("sacct", fails)
            await fresh_snapshot(spawner)
            return alive, await spawner.poll(), spawner.ended_reason, spawner.get_state()

    alive, ended, reason_kept, state_after = asyncio.run(scenario())
    assert alive is None and ended == 1
    assert reason_kept == words and state_after == {"ended_reason": words, "last_job_id": "4711"}


def test_poll_never_ends_a_session_while_the_controller_does_not_answer(hub, slurm):
    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab)
            spawner.stop_polling()
            slurm.set(down=True)
            await spawner.poller.wait_update(1)
            started = asyncio.get_running_loop().time()
            during = await spawner.poll()
            waited = asyncio.get_running_loop().time() - started
            status = spawner.poller.status("4711"), spawner.poller.error
            slurm.set(down=False)
            return during, waited, status, await spawner.poll(), spawner.job_id

    during, waited, (status, error), after, job_id = asyncio.run(scenario())
    assert during is None and status == UNKNOWN
    assert error == "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
    assert 4.5 < waited < 7  # 2 ticks + 5 s for an answer, then: not ended on doubt
    assert after is None and job_id == "4711"


def test_batchspawners_own_hooks_answer_from_the_shared_snapshot(hub, slurm):
    """query_job_status and run_command, batchspawner's hooks, as the workbench keeps
    them: the poller's snapshot (no squeue of their own), argument lists."""

    async def scenario():
        async with hub() as h, Lab() as lab:
            spawner = await spawn(h, CPU)
            # The poller is the one the hub was handed where it started (its settings).
            assert spawner.shared is h.shared and spawner.poller is h.shared.poller
            await fresh_snapshot(spawner)
            pending = await spawner.query_job_status(), spawner.job_status
            slurm.run_job("4711", node="cpu-node-1")
            await fresh_snapshot(spawner)
            running = await spawner.query_job_status(), spawner.job_status
            await report(h, spawner, lab.port)
            await h.wait(lambda: spawner.ready, what="ready")
            spawner.stop_polling()  # the hub's own poll would notice the end first
            slurm.set(down=True)
            await fresh_snapshot(spawner)
            unknown = await spawner.query_job_status()
            slurm.set(down=False)
            slurm.end("4711")
            await fresh_snapshot(spawner)
            gone = await spawner.query_job_status()
            out = await spawner.run_command("sacct --noheader '--jobs=1; rm -rf ~'")
            spawner.job_id = ""
            return (pending, running, unknown, gone, await spawner.query_job_status(), out)

    pending, running, unknown, gone, no_job, out = asyncio.run(scenario())
    assert pending == (JobStatus.PENDING, "PENDING ")
    assert running == (JobStatus.RUNNING, "RUNNING cpu-node-1")
    assert (unknown, gone, no_job) == (JobStatus.UNKNOWN, JobStatus.NOTFOUND, JobStatus.NOTFOUND)
    # Every squeue was the poller's one query for all jobs or the budget reader's.
    assert {tuple(c["argv"]) for c in slurm.calls("squeue")} == {
        tuple(squeue_argv()[1:]),
        tuple(accounting.squeue_running_argv()[1:]),
    }
    assert out == "" and slurm.calls("sacct")[-1]["argv"] == ["--noheader", "--jobs=1; rm -rf ~"]


# --- a hub restart -----------------------------------------------------------------------------


def test_after_a_hub_restart_a_running_session_stays_at_its_address_without_a_resubmit(hub, slurm):
    async def before():
        async with hub() as h, Lab() as lab:
            await running_session(h, slurm, lab, GPU)
            return lab.port

    async def after(port):
        async with Lab(port) as lab, hub() as h:
            spawner = h.spawner("student")
            await h.wait(lambda: h.user_routes, what="the session's route")
            squeues = len(slurm.calls("squeue"))
            await spawner.poller.wait_update(1)
            rows = await h.request("GET", "aiworkbench/sessions", TOKENS["dashboards"])
            return (
                spawner.ready,
                spawner.server.url,
                h.user_routes,
                lab.seen,
                len(slurm.calls("squeue")) - squeues,
                rows,
            )

    port = asyncio.run(before())
    ready, url, routes, lab_seen, polled, (status, rows) = asyncio.run(after(port))

    assert len(slurm.calls("sbatch")) == 1  # resumed, not submitted again
    assert ready and url == f"http://127.0.0.1:{port}/user/student/"
    assert routes == {"/user/student/": f"http://127.0.0.1:{port}"}
    assert lab_seen == ["/user/student/api"]  # checked at the address the job reported
    assert polled >= 1  # the new hub follows the job
    assert status == 200
    (row,) = rows["sessions"]
    assert {
        k: row[k]
        for k in ("user", "server", "job_id", "project", "partition", "gpus", "gpu_idle_since")
    } == {
        "user": "student",
        "server": "",
        "job_id": "4711",
        "project": "edu-intro",
        "partition": "gpu",
        "gpus": 1,
        "gpu_idle_since": None,
    }  # from user_options again


def test_after_a_hub_restart_a_queued_session_is_awaited_and_routed_once_it_reports(hub, slurm):
    async def before():
        async with hub() as h:
            spawner = await spawn(h, CPU)
            return spawner.api_token  # the hub stops here, mid-spawn (killed)

    async def after(token):
        async with Lab() as lab, hub() as h:
            spawner = h.spawner("student")
            waiting = spawner.accepts_port_report(), spawner.ready
            slurm.run_job("4711")
            answer = await report(h, spawner, lab.port, token=token)
            await h.wait(lambda: h.user_routes, what="the resumed session's route")
            return waiting, answer, spawner.ready, h.user_routes, lab.port

    token = asyncio.run(before())
    waiting, answer, ready, routes, port = asyncio.run(after(token))

    assert len(slurm.calls("sbatch")) == 1  # resumed, not submitted again
    assert waiting == (True, False)  # resuming: the job's port report is awaited
    assert answer == (201, {"message": f"session port {port} on 127.0.0.1 recorded"})
    assert ready and routes == {"/user/student/": f"http://127.0.0.1:{port}"}


def test_after_a_hub_restart_each_resumed_session_is_routed_once_it_reports(hub, slurm):
    """JupyterHub routes resumed sessions only once every one has been checked; a
    session that reports is routed at once, and one whose route the proxy refused then
    is routed by the hub's own check once all are checked."""
    users = ("student", "sme", "trainer")  # jobs 4711, 4712, 4713

    async def before():
        async with hub() as h:
            return [(await spawn(h, CPU, user=user)).api_token for user in users]

    async def after(tokens):
        async with Lab() as lab, hub() as h:
            student, sme, trainer = (h.spawner(user) for user in users)
            checking = [s.pending for s in (student, sme, trainer)]
            h.app.proxy.refuse.add("/user/student/")
            slurm.run_job("4711")
            answers = [await report(h, student, lab.port, token=tokens[0])]
            await h.wait(lambda: not h.app.proxy.refuse, what="the refused route")
            refused = dict(h.user_routes)
            slurm.run_job("4712")
            answers.append(await report(h, sme, lab.port, token=tokens[1]))
            await h.wait(lambda: "/user/sme/" in h.user_routes, what="sme's route")
            meanwhile = trainer.pending, dict(h.user_routes)
            slurm.run_job("4713")
            answers.append(await report(h, trainer, lab.port, token=tokens[2]))
            await h.wait(lambda: len(h.user_routes) == 3, what="every route")
            return (
                checking,
                answers,
                refused,
                meanwhile,
                h.user_routes,
                f"http://127.0.0.1:{lab.port}",
            )

    tokens = asyncio.run(before())
    checking, answers, refused, meanwhile, routes, lab = asyncio.run(after(tokens))

    assert len(slurm.calls("sbatch")) == 3  # resumed, none submitted again
    assert checking == ["check", "check", "check"]
    assert [status for status, _ in answers] == [201, 201, 201]
    assert refused == {}
    assert meanwhile == ("check", {"/user/sme/": lab})  # routed before all are checked
    assert routes == {"/user/student/": lab, "/user/sme/": lab, "/user/trainer/": lab}


def test_after_a_hub_restart_with_a_stricter_site_a_session_runs_on_and_is_listed(
    hub, slurm, tmp_path
):
    """The site now allows edu-intro 2 hours, the running session asked for 3: it is
    resumed as it is, and the dashboards list it without the request it no longer
    makes."""

    async def before():
        async with hub() as h, Lab() as lab:
            await running_session(h, slurm, lab, GPU)
            return lab.port

    stricter = api_doubles.write_site(tmp_path / "stricter")
    stricter.write_text(stricter.read_text().replace("max_hours = 4", "max_hours = 2"))

    async def after(port):
        async with Lab(port), Hub(tmp_path / "hub", load_site(stricter), slurm) as h:
            await h.wait(lambda: h.user_routes, what="the route")
            return h.spawner("student").ready, await h.request(
                "GET", "aiworkbench/sessions", TOKENS["dashboards"]
            )

    port = asyncio.run(before())
    ready, (status, body) = asyncio.run(after(port))
    assert ready and status == 200
    (row,) = body["sessions"]
    assert (row["job_id"], row["project"], row["partition"], row["gpus"]) == ("4711", None, None, 0)


def resume_a_queued_job_that_ends(hub, slurm):
    """A queued session, the hub restarted, and Slurm ending the job instead of running
    it; (active, routes, the state in the database) once the hub gave up on it."""

    async def queued():
        async with hub() as h:
            await spawn(h, CPU)

    async def after():
        async with hub(http_timeout=1) as h:
            spawner = h.spawner("student")
            slurm.end("4711", state="CANCELLED", reason="None")
            await h.wait(lambda: not spawner.active, what="the hub to give up")
            return spawner.active, h.user_routes, h.state_in_db()

    asyncio.run(queued())
    return asyncio.run(after())


def test_after_a_hub_restart_a_queued_job_that_ends_is_cleaned_up(hub, slurm):
    active, routes, in_db = resume_a_queued_job_that_ends(hub, slurm)
    assert not active and routes == {} and "job_id" not in in_db
    assert len(slurm.calls("sbatch")) == 1 and slurm.calls("scancel") == []


def test_after_a_hub_restart_a_queued_job_that_ends_keeps_how_it_ended(hub, slurm):
    active, routes, in_db = resume_a_queued_job_that_ends(hub, slurm)
    assert in_db == {"ended_reason": "the session's job was cancelled", "last_job_id": "4711"}


def test_a_session_that_ended_while_the_hub_was_down_is_cleaned_up_with_its_reason(hub, slurm):
    async def before():
        async with hub() as h, Lab() as lab:
            await running_session(h, slurm, lab)

    async def after():
        async with hub() as h:
            await h.wait(
                lambda: not getattr(h.spawner("student"), "active", False),
                what="the hub to clean up",
            )
            return h.state_in_db(), h.user_routes

    asyncio.run(before())
    slurm.end("4711", state="NODE_FAIL", reason="NodeDown")
    in_db, routes = asyncio.run(after())
    assert routes == {}
    assert in_db == {"ended_reason": "the node running the session failed", "last_job_id": "4711"}
    assert len(slurm.calls("sbatch")) == 1 and slurm.calls("scancel") == []


# --- idle GPUs --------------------------------------------------------------------------------


def test_idle_gpus_are_warned_then_the_session_is_stopped_and_says_why(hub, slurm):
    async def scenario():
        async with hub(gpu_idle_warn=1.0, gpu_idle_stop=2.0) as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab, GPU)
            token, path = spawner.api_token, "aiworkbench/gpu-activity"
            answers = [await h.post(path, token, {"utilisation": [80, 60.5]})]
            answers.append(await h.post(path, token, {"utilisation": [1, 2.5]}))
            rows = await h.request("GET", "aiworkbench/sessions", TOKENS["dashboards"])
            await asyncio.sleep(1.1)
            answers.append(await h.post(path, token, {"utilisation": [0, 0]}))
            notice = spawner.gpu_notice
            await asyncio.sleep(1.0)
            answers.append(await h.post(path, token, {"utilisation": [3, 1]}))
            return answers, notice, rows, h.state_in_db(), spawner.active

    answers, notice, (_, rows), in_db, active = asyncio.run(scenario())

    assert answers[:2] == [
        (200, {"verdict": "busy", "notice": ""}),
        (200, {"verdict": "idle", "notice": ""}),
    ]
    status, warned = answers[2]
    assert status == 200 and warned["verdict"] == "warn" and warned["notice"] == notice
    assert re.fullmatch(
        r"its GPUs have been idle \(below 5% utilisation\) for [12] seconds?; it "
        r"will be stopped in [01] seconds? unless they are used \(stop it "
        r"yourself to free them sooner\)",
        notice,
    ), notice
    assert answers[3] == (200, {"verdict": "stop", "notice": ""})
    assert rows["sessions"][0]["gpu_idle_since"].endswith("Z")
    assert not active
    assert [c["argv"] for c in slurm.calls("scancel")] == [["4711"]]
    assert re.fullmatch(
        r"its GPUs were idle \(below 5% utilisation\) for [23] seconds, so it "
        r"was stopped to free them for others",
        in_db["ended_reason"],
    )


def test_gpu_reports_that_are_refused_say_why(hub, slurm):
    async def scenario():
        async with hub(cull_idle_timeout=0) as h, Lab() as lab:  # no culler: no idle reason
            spawner = await running_session(h, slurm, lab, GPU)
            own, path = spawner.api_token, "aiworkbench/gpu-activity"
            bodies = {
                "empty": {},
                "none": {"utilisation": []},
                "over": {"utilisation": [101]},
                "negative": {"utilisation": [-1]},
                "text": {"utilisation": ["50"]},
                "bool": {"utilisation": [True]},
                "65 GPUs": {"utilisation": [1] * 65},
                "extra": {"utilisation": [1], "job": "4712"},
                "a list": [50],
            }
            answers = {name: await h.post(path, own, body) for name, body in bodies.items()}
            answers["user's token"] = await h.post(path, h.token("student"), {"utilisation": [1]})
            tracker = spawner.gpu_tracker
            spawner.orm_spawner.last_activity -= timedelta(days=1)
            await h.request("DELETE", "users/student/server", h.token("student"))
            answers["stopped"] = await h.post(path, own, {"utilisation": [1]})
            return answers, tracker, h.state_in_db()

    answers, tracker, in_db = asyncio.run(scenario())
    # A day idle, but no culler: stopped by its user, no reason kept (its job is, for
    # its log).
    assert in_db == {"last_job_id": "4711"}
    got = {name: (status, message(body)) for name, (status, body) in answers.items()}
    running_only = "only a running session's own server token may report its GPU utilisation"
    assert got == {
        **{
            name: (400, GPU_BODY)
            for name in (
                "empty",
                "none",
                "over",
                "negative",
                "text",
                "bool",
                "65 GPUs",
                "extra",
                "a list",
            )
        },
        "user's token": (403, running_only),
        "stopped": (403, None),
    }  # token revoked
    assert tracker is None  # nothing refused was counted


def test_the_dashboards_list_running_sessions_and_nobody_else_may(hub, slurm):
    async def scenario():
        async with hub() as h, Lab() as lab:
            await running_session(h, slurm, lab, GPU)
            await spawn(h, CPU, user="sme")  # starting: listed too (active)
            listed = await h.request("GET", "aiworkbench/sessions", TOKENS["dashboards"])
            refused = await h.request("GET", "aiworkbench/sessions", h.token("manager"))
            api = await h.request("GET", "aiworkbench/sessions", TOKENS["workbench"])
            return listed, refused, api

    (status, body), refused, api = asyncio.run(scenario())
    assert status == 200
    rows = {row["user"]: row for row in body["sessions"]}
    assert set(rows) == {"student", "sme"}
    student = rows["student"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", student.pop("started"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", student.pop("last_activity"))
    assert student == {
        "user": "student",
        "server": "",
        "job_id": "4711",
        "project": "edu-intro",
        "partition": "gpu",
        "gpus": 1,
        "gpu_idle_since": None,
    }
    assert (rows["sme"]["job_id"], rows["sme"]["project"], rows["sme"]["gpus"]) == (
        "4712",
        "sme-vision",
        0,
    )
    scope = (
        "listing every session needs the scope read:servers for all users (the "
        "dashboards service has it)"
    )
    assert (refused[0], message(refused[1])) == (403, scope)
    assert (api[0], message(api[1])) == (403, scope)


# --- the queue's limit and the home page's cards --------------------------------------------


def test_a_gpu_session_queued_past_the_sites_wait_is_given_up_with_what_to_try(hub, slurm):
    """Slurm's reason, its expected start and what would start sooner, on the spawn page,
    in the REST answer and on the home page afterwards; the job is cancelled."""
    slurm.set(pending_reason="Resources", expected_start="2026-12-02T21:06:00")

    async def scenario():
        async with hub(queue_timeout=1) as h:
            token = h.token("student")
            answer = h.ask("POST", "users/student/server", token, GPU)
            await h.wait(lambda: slurm.calls("sbatch"), what="sbatch")
            last = await h.progress(token).end()
            browser = await asyncio.to_thread(Browser, h, "student")
            home = await asyncio.to_thread(browser.get, "home")
            return last, await answer, home

    last, (status, body), home = asyncio.run(scenario())
    said = (
        "The session was still queued after 1 second (waiting for a free GPU), so job "
        "4711 was cancelled; Slurm expected it to start at about 2 Dec 21:06. Try the "
        "cpu partition (no GPUs), a smaller preset, fewer hours, or later."
    )
    assert (status, message(body)) == (504, said)
    assert last == {"progress": 100, "failed": True, "message": f"Spawn failed: {said}"}
    assert slurm.job("4711") is None
    text = re.sub(r"\s+", " ", html.unescape(home.text))
    assert f"Your session stopped: it {said.removeprefix('The session ')}" in text
    assert 'data-state="ended"' in home.text and "Start again" in text


def test_jupyterlab_that_does_not_answer_once_the_job_runs_fails_the_spawn(hub, slurm):
    async def scenario():
        async with hub(lab_timeout=1) as h:
            token = h.token("student")
            answer = h.ask("POST", "users/student/server", token, CPU)
            await h.wait(lambda: slurm.calls("sbatch"), what="sbatch")
            slurm.run_job("4711")
            return await answer

    status, body = asyncio.run(scenario())
    assert (status, message(body)) == (
        504,
        (
            "The session started on node gpu-node-3, but JupyterLab did not answer within 1 "
            "second, so job 4711 was cancelled; its log is ~/.jupyter-session-4711.log."
        ),
    )
    assert slurm.job("4711") is None


def test_the_home_page_has_a_card_per_session_with_its_job_and_time_left(hub, slurm):
    slurm.set(pending_reason="Resources", expected_start="2030-01-01T09:30:00")

    async def scenario():
        async with hub() as h, Lab() as lab:
            running = await running_session(h, slurm, lab, options=GPU)
            queued = await spawn(h, CPU, server="second")
            await fresh_snapshot(queued)
            browser = await asyncio.to_thread(Browser, h, "student")
            return await asyncio.to_thread(browser.get, "home"), running

    home, running = asyncio.run(scenario())
    assert home.status_code == 200
    page = html.unescape(home.text)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    default, second = page.split('data-server-name="second"', 1)
    assert 'data-state="running"' in default and 'data-state="queued"' in second
    assert re.search(
        r"Job 4711 Node gpu-node-3 Project edu-intro Partition gpu Cores 2 "
        r"Memory 4 GB GPUs 1 \(simulated\) Walltime 3 h At most 3 GPU-h and 6 core-h "
        r"from edu-intro Cost \d+\.\d GPU-h and \d+\.\d core-h so far "
        r"Time left",
        text,
    ), text
    ends_at = float(re.search(r'data-ends-at="([0-9.]+)"', page)[1])
    assert 3 * 3600 - 120 < ends_at - time.time() <= 3 * 3600 - 5  # it ran 5 s ago
    assert re.search(
        r"Queued on cpu: waiting for free resources on the partition; position "
        r"1 of 1; expected start about 1 Jan 09:30; the hub waits until "
        r"(\d+ [A-Z][a-z]{2} )?\d\d:\d\d \((\d+ h \d\d min|11\d minutes) from now\), "
        r"then cancels it\.",
        text,
    ), text
    assert 'href="/user/student/"' in page  # Connect
    assert "Start My Server" not in page and "Component factory" in page


def test_the_portal_pages_bear_the_factorys_name_and_a_way_back(hub, slurm):
    async def scenario():
        async with hub() as h:
            browser = await asyncio.to_thread(Browser, h, "student")
            missing = await asyncio.to_thread(browser.get, "no-such-page")
            logo = await asyncio.to_thread(browser.get, "logo")
            anonymous = await asyncio.to_thread(
                lambda: requests.get(f"{browser.base}/login", timeout=15)
            )
            return missing, logo, anonymous

    missing, logo, login = asyncio.run(scenario())
    assert missing.status_code == 404
    assert "There is no such page" in missing.text and "Back to your sessions" in missing.text
    assert "<title>Component factory · AI Factory Workbench</title>" in missing.text
    assert 'href="/hub/home">Sessions</a>' in missing.text  # the navigation
    assert logo.status_code == 200 and logo.content.startswith(b"<svg")
    assert login.status_code == 200 and "Component factory" in login.text


# --- Extend -----------------------------------------------------------------------------

FAKE_EXTEND = """\
import json, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
with open(sys.argv[0] + ".calls", "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
if args["--minutes"] == "240":
    print("refused: a session may run at most 4 h on partition cpu for project edu-intro; "
          "this one has 2 h already: you may add at most 2 h", file=sys.stderr)
    sys.exit(3)
if args["--minutes"] == "999":
    sys.exit("Traceback: something broke")
print(json.dumps({"time_limit_minutes": 120 + int(args["--minutes"])}))
"""


def test_extend_asks_the_helper_for_ones_own_running_session_and_relays_its_words(
    hub, slurm, tmp_path
):
    helper = tmp_path / "extend.py"
    helper.write_text(FAKE_EXTEND)

    async def scenario():
        async with hub(extend_helper=[sys.executable, str(helper)]) as h, Lab() as lab:
            path = "aiworkbench/users/student/extend"
            before = await h.post(path, h.token("student"), {"minutes": 60})
            await running_session(h, slurm, lab)
            return [before] + [
                await h.post(path, h.token(who), body)
                for who, body in [
                    ("student", {"minutes": 60}),
                    ("student", {"minutes": 240}),
                    ("student", {"minutes": "60"}),
                    ("student", {"minutes": 60, "job": "1"}),
                    ("sme", {"minutes": 60}),
                    ("student", {"minutes": 999}),
                ]
            ]

    answers = asyncio.run(scenario())
    said = [(status, message(body)) for status, body in answers]
    assert said[0] == (404, "student has no running session (the default one)")
    assert said[1] == (200, "Added 1 h: the session may now run 3 h in all.")
    assert said[2] == (
        400,
        "The session was not extended: a session may run at most 4 h on "
        "partition cpu for project edu-intro; this one has 2 h already: "
        "you may add at most 2 h.",
    )
    body = 'the body must be exactly {"minutes": <whole minutes>}'
    assert said[3] == said[4] == (400, body)
    assert said[5][0] == 404  # another user's session: JupyterHub's servers scope hides it
    assert said[6] == (
        502,
        "The session was not extended: the workbench's helper failed; "
        "ask the factory's administrators.",
    )
    calls = [json.loads(line) for line in (tmp_path / "extend.py.calls").read_text().splitlines()]
    assert calls[0] == ["--user", "student", "--job", "4711", "--minutes", "60"]
    assert len(calls) == 3  # bad bodies and other users never reach the helper


def test_the_form_shows_what_each_partition_has_free_and_when_slurm_would_start_it(hub, slurm):
    """One sinfo and one sbatch --test-only (as the user, nothing submitted) serve every
    form of the interval."""
    slurm.set(expected_start="2030-01-01T21:06:00")

    async def scenario():
        async with hub() as h:
            student = await asyncio.to_thread(Browser, h, "student")
            trainer = await asyncio.to_thread(Browser, h, "trainer")
            forms = [
                await asyncio.to_thread(b.get, "spawn/student" if b is student else "spawn/trainer")
                for b in (student, trainer)
            ]
            return forms

    forms = asyncio.run(scenario())
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.unescape(forms[0].text)))
    assert "free now: 30 of 32 cores" in text
    assert "free now: 3 of 4 GPUs (simulated), 28 of 32 cores" in text
    assert (
        "Queue: For 1 core for 1 h on cpu: Slurm expects it to start at about 1 Jan "
        "21:06; gpu has room now."
    ) in text
    assert len(slurm.calls("sinfo")) == 1 and not slurm.calls("sbatch")
    tests = slurm.calls("sbatch-test-only")
    assert [c["user"] for c in tests] == ["student"]  # trainer's same shape: cached
    assert tests[0]["argv"] == [
        "--test-only",
        "--account=edu-intro",
        "--partition=cpu",
        "--cpus-per-task=1",
        "--mem=2G",
        "--time=1:00:00",
        "--wrap=true",
    ]


def test_a_sessions_log_is_read_as_its_user_for_itself_and_admins_only(hub, slurm, tmp_path):
    log = tmp_path / "home" / "student" / ".jupyter-session-4711.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {n}\n" for n in range(1, 61)))

    async def scenario():
        async with hub() as h, Lab() as lab:
            path = "aiworkbench/users/student/log"
            before = await h.request("GET", path, h.token("student"))
            await running_session(h, slurm, lab)
            return before, [
                await h.request("GET", path, token)
                for token in (
                    h.token("student"),
                    h.token("admin"),
                    h.token("trainer"),
                    TOKENS["dashboards"],
                )
            ]

    before, (own, admin, other, service) = asyncio.run(scenario())
    assert before[0] == 404
    assert own[0] == admin[0] == 200
    assert own[1] == {"job_id": "4711", "lines": [f"line {n}" for n in range(21, 61)]}
    assert other[0] == 404  # JupyterHub's servers scope: another user's session is unseen
    assert service[0] == 403  # the dashboards may list sessions, not read their logs
    [tail] = slurm.calls("tail")[-1:]
    assert tail["via"][:4] == ["sudo", "-u", "student", "tail"]
    assert tail["argv"] == ["-n", "40", "--", str(log)]


def test_after_a_hub_restart_the_home_page_shows_why_a_named_session_ended(hub, slurm):
    """The hub loads a stopped server only when it is asked for: the home page's cards
    load it, with the reason its state kept."""

    async def before():
        async with hub() as h, Lab() as lab:
            spawner = await running_session(h, slurm, lab, server="second")
            spawner.stop_polling()
            slurm.end("4711", state="TIMEOUT", reason="TimeLimit")
            await fresh_snapshot(spawner)
            assert await spawner.poll() == 1
            await h.app.proxy.delete_user(h.user("student"), "second")
            spawner.orm_spawner.server = None
            spawner.orm_spawner.state = spawner.get_state()
            h.app.db.commit()

    async def after():
        async with hub() as h:
            browser = await asyncio.to_thread(Browser, h, "student")
            return await asyncio.to_thread(browser.get, "home")

    asyncio.run(before())
    home = asyncio.run(after())
    assert home.status_code == 200, home.text[-2000:]
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", home.text)))
    assert "Your session “second” stopped: the session reached its time limit." in text
    # Its log is still offered: the state kept the job.
    assert re.search(r'session-log-button" data-server-name="second"', home.text)


# --- Get help -------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd's handler: the messages the SMTP server took, as (envelope, message)."""

    def __init__(self):
        self.received: list[tuple[object, email.message.Message]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope, email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def mailbox(monkeypatch):
    """A real SMTP server on loopback (aiosmtpd) in place of the login node's exim."""
    box = Mailbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its own by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(support, "relay", lambda site: ("127.0.0.1", port))
    box.controller = controller
    yield box
    if controller.loop.is_running():
        controller.stop()


def page_text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


def test_get_help_mails_the_helpdesk_the_sessions_context_and_keeps_a_copy(
    hub, slurm, tmp_path, mailbox
):
    log = tmp_path / "home" / "student" / ".jupyter-session-4711.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {n}\n" for n in range(1, 61)))
    request = {
        "subject": "My notebook\r\ncannot see the GPU",
        "session": "",
        "text": "I ran torch.cuda.is_available() and got False.",
        "shown": "Error 500: the kernel died",
    }

    async def scenario():
        async with hub() as h, Lab() as lab:
            await running_session(h, slurm, lab)
            student = await asyncio.to_thread(Browser, h, "student")
            trainer = await asyncio.to_thread(Browser, h, "trainer")
            form = await asyncio.to_thread(student.get, "help?server=&shown=Error+500")
            sent = await asyncio.to_thread(
                student.submit, "help", {**request, "_xsrf": student.xsrf}
            )
            copy = await asyncio.to_thread(student.get, "help?sent=1")
            refused = {
                why: await asyncio.to_thread(
                    student.submit, "help", {**request, **change, "_xsrf": student.xsrf}
                )
                for why, change in {
                    "empty": {"subject": " ", "text": ""},
                    "another's": {"session": "second"},
                    "too long": {"subject": "x" * 121},
                }.items()
            }
            others = await asyncio.to_thread(trainer.get, "help")
            mailbox.controller.stop(no_assert=True)  # the mail server goes away
            unsent = await asyncio.to_thread(
                student.submit, "help", {**request, "_xsrf": student.xsrf}
            )
            return form, sent, copy, refused, others, unsent

    form, sent, copy, refused, others, unsent = asyncio.run(scenario())

    assert form.status_code == 200 and 'id="help-form"' in form.text
    assert "The error the page showed (attached) Error 500" in page_text(form)
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/hub/help?sent=1")
    [(envelope, mail)] = mailbox.received
    assert envelope.rcpt_tos == ["helpdesk@factory.example"]
    assert mail["Subject"] == "[Component factory] My notebook cannot see the GPU (student)"
    body = mail.get_payload().replace("\r\n", "\n")
    assert body.startswith("I ran torch.cuda.is_available() and got False.\n")
    for line in (
        "User: student",
        "About: the default session",
        "Job: 4711",
        "Project: edu-intro",
        "Partition: cpu",
        "Error shown: Error 500: the kernel died",
        "-- The session's log, its last lines --",
        "line 21",
        "line 60",
    ):
        assert f"\n{line}\n" in body, line
    assert "line 20\n" not in body
    tail = slurm.calls("tail")[-1]
    assert tail["via"][:4] == ["sudo", "-u", "student", "tail"]  # read as its user

    shown = page_text(copy)
    assert "Sent to helpdesk@factory.example at" in shown
    assert "My notebook cannot see the GPU · sent" in shown and "line 60" in shown

    assert refused["empty"].status_code == 400
    assert (
        "Not sent: say in a few words what is wrong (the subject is empty); describe "
        "what you did and what happened (the description is empty)."
    ) in page_text(refused["empty"])
    assert refused["another's"].status_code == 400
    assert "you have no session 'second'; yours: the default session" in page_text(
        refused["another's"]
    )
    assert "I ran torch.cuda.is_available() and got False." in refused["another's"].text
    assert "the subject has 121 characters; at most 120" in page_text(refused["too long"])
    assert len(mailbox.received) == 1  # nothing refused was sent

    assert "None yet: what you send is kept here." in page_text(others)
    assert "cannot see the GPU" not in others.text

    assert unsent.status_code == 503
    words = page_text(unsent)
    assert (
        "Not sent: the mail server did not answer. Your request is kept below; send it "
        "again later, or write to helpdesk@factory.example."
    ) in words
    assert "not sent: the mail server did not answer" in words
    copies = tmp_path / "factory" / "hub" / "help" / "student.jsonl"
    assert len(copies.read_text().splitlines()) == 2
    assert copies.stat().st_mode & 0o777 == 0o600
