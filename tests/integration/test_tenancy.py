"""Tenants are kept apart on the running factory: a user of one project learns nothing
of another project's user, and cannot reach their session.

The owner is the SME ``sme`` (projects sme-vision and sme-trial), with a running
notebook session and a batch job; the other side is the learner ``intro-01`` (project
edu-intro only, no project in common). Whatever intro-01 tries (Slurm's commands under
PrivateData, sme's server through the proxy and straight at its node's port, the
workbench API's budgets, catalog and class progress, the dashboards, sme's processes,
job and logs for the session's secret token) is refused or shows nothing, never an
HTTP 500; each check has a control (sme or root sees it) so that it can fail.
"""

from __future__ import annotations

import hashlib
import pwd
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from ..conftest import HubUser, run, user_jobs, wait_for

pytestmark = pytest.mark.integration
OWNER, OWNER_PROJECTS, OTHER = "sme", ("sme-vision", "sme-trial"), "intro-01"
API = "/services/workbench/api"
RESTRICTED = "breast-cancer-wisconsin"  # the demo catalog's, for sme-vision only
HUB_LOG = Path("/var/log/aiworkbench/jupyterhub.log")
# The daemons' logs (they name users, jobs and requests: closed to users), and the
# supervisor's own (programs started and stopped: searched for the token too).
LOG_DIRS = (Path("/var/log/aiworkbench"), Path("/var/log/slurm"))
SUPERVISOR_LOGS = Path("/var/log/supervisor")


@dataclass
class Tenancy:
    sme: HubUser
    other: HubUser
    session_job: str
    batch_job: str
    state: dict  # the spawner's state, as an admin reads it (job_ip, job_port, ...)


@pytest.fixture(scope="module")
def tenancy(site, hub_url, hub_up, cluster_up):
    """sme runs a CPU session (started through the hub API) and a batch job of its own;
    both are ended afterwards."""
    sme = HubUser(hub_url, OWNER, site.users[OWNER].password)
    if sme.server() is not None:  # left over from an earlier run
        sme.stop_server()
    sme.remove_named_servers()
    batch = ""
    try:
        started = sme.api(
            "POST", f"/users/{OWNER}/server", json={"profile": "cpu-small", "project": "sme-vision"}
        )
        assert started.status_code in (201, 202), started.text
        sme.wait_ready()
        batch = (
            run(
                [
                    "sbatch",
                    "--parsable",
                    "--account=sme-vision",
                    "--time=10",
                    "--mem=100M",
                    "--chdir=/tmp",
                    "--output=/dev/null",
                    "--wrap",
                    "sleep 600",
                ],
                user=OWNER,
            )
            .stdout.strip()
            .split(";")[0]
        )
        wait_for(
            lambda: any(j["id"] == batch and j["state"] == "RUNNING" for j in user_jobs(OWNER)),
            60,
            what=f"sme's job {batch} to run",
        )
        admin = HubUser(hub_url, "admin", site.users["admin"].password)
        server = admin.api("GET", f"/users/{OWNER}").json()["servers"][""]
        assert "state" in server, f"the admin's token may not read server state: {server}"
        yield Tenancy(
            sme,
            HubUser(hub_url, OTHER, site.users[OTHER].password),
            str(server["state"]["job_id"]),
            batch,
            server["state"],
        )
    finally:
        if batch:
            run(["scancel", batch], check=False)
        sme.stop_server()


def shows_owner(text: str, jobs=()) -> list[str]:
    """The lines of ``text`` that show sme, its projects, its home or one of ``jobs``."""
    marks = {OWNER, *OWNER_PROJECTS, *jobs}
    return [
        line
        for line in text.splitlines()
        if marks & set(re.split(r"[|\s=(),.:]+", line)) or f"/home/{OWNER}" in line
    ]


def output(argv, user=None) -> str:
    done = run(argv, user=user, check=False, timeout=60)
    return done.stdout + done.stderr


def refused(response, what: str) -> None:
    """401, 403 or 404, or a redirect into the hub (to log in): never 200, never 500."""
    if response.is_redirect:
        where = urlparse(response.headers.get("Location", "")).path
        assert where.startswith("/hub/"), f"{what}: redirected to {where!r}, not to the hub"
        return
    assert response.status_code in (401, 403, 404), (
        f"{what}: HTTP {response.status_code}, expected a refusal: {response.text[:300]}"
    )


def api(caller, route, params=None):
    """GET a workbench API route as ``caller``: the status and the JSON (or the raw text)."""
    answer = caller.session.get(f"{caller.hub_url}{API}/{route}", params=params, timeout=30)
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"raw": answer.text[:300]}


def test_slurm_shows_another_projects_user_none_of_smes_jobs_usage_or_records(tenancy, site):
    jobs = (tenancy.session_job, tenancy.batch_job)
    queries = [
        ["squeue", "--all", "--noheader", "--format=%i|%u|%a"],
        ["squeue", "--noheader", f"--user={OWNER}", "--format=%i|%u|%a"],
        [
            "sacct",
            "--allusers",
            "--starttime=now-1hours",
            "--noheader",
            "--parsable2",
            "--format=JobID,User,Account,WorkDir",
        ],
        [
            "sacct",
            f"--user={OWNER}",
            "--starttime=now-1hours",
            "--noheader",
            "--parsable2",
            "--format=JobID,User,Account,WorkDir",
        ],
        ["sshare", "--all", "--noheader", "--parsable2", "--format=Account,User"],
        ["sacctmgr", "--noheader", "--parsable2", "show", "associations", "format=account,user"],
        ["sacctmgr", "--noheader", "--parsable2", "show", "users"],
    ]
    for argv in queries:
        assert shows_owner(output(argv), jobs), f"control: root sees nothing of sme: {argv}"
        leaked = shows_owner(output(argv, user=OTHER), jobs)
        assert not leaked, f"{OTHER} sees sme through {argv}: {leaked}"
    records = run(queries[-1], user=OTHER, check=False).stdout.split()
    assert {line.split("|")[0] for line in records} <= {OTHER}, f"sacctmgr users: {records}"
    mine = output(["squeue", "--noheader", "--format=%i|%u"], user=OWNER)
    assert all(job in mine.split() for job in (f"{j}|{OWNER}" for j in jobs)), mine
    # Nor may intro-01 borrow the Slurm reader's sight (the services' sudo rule).
    borrowed = run(
        [
            "sudo",
            "--non-interactive",
            "--user",
            site.slurm.reader,
            "/usr/bin/squeue",
            "--all",
            "--noheader",
            "--format=%i|%u",
        ],
        user=OTHER,
        check=False,
    )
    assert borrowed.returncode != 0 and not shows_owner(borrowed.stdout, jobs), borrowed


def test_scontrol_tells_another_user_nothing_about_smes_jobs(tenancy):
    marks = ("sme-vision", f"UserId={OWNER}", f"/home/{OWNER}", f"jupyter-{OWNER}", "sleep 600")
    for job in (tenancy.session_job, tenancy.batch_job):
        assert f"UserId={OWNER}(" in output(["scontrol", "show", "job", job])  # control
        for argv in (
            ["scontrol", "show", "job", job],
            ["scontrol", "show", "job"],
            ["scontrol", "write", "batch_script", job, "-"],
        ):
            seen = output(argv, user=OTHER)
            assert not [m for m in marks if m in seen], f"{argv} as {OTHER}: {seen[:500]}"


def test_smes_server_refuses_another_user_through_the_hub_proxy(tenancy, site, hub_url):
    own = tenancy.sme.session.get(f"{hub_url}/user/{OWNER}/api/status", timeout=30)
    assert own.status_code == 200, f"control: sme's own server does not answer: {own.text}"
    web = tenancy.other.web(site.users[OTHER].password)
    for path in ("api/status", "api/contents", "lab"):
        url = f"{hub_url}/user/{OWNER}/{path}"
        refused(web.get(url, timeout=30, allow_redirects=False), f"{OTHER}'s login: {url}")
        refused(
            tenancy.other.session.get(url, timeout=30, allow_redirects=False),
            f"{OTHER}'s token: {url}",
        )
        followed = web.get(url, timeout=60)
        assert all(r.status_code != 500 for r in [*followed.history, followed]), url
        assert not (followed.status_code == 200 and "jupyter-config-data" in followed.text), (
            f"{OTHER} was shown sme's JupyterLab at {followed.url}"
        )


def test_smes_server_on_its_node_refuses_requests_without_smes_credentials(tenancy):
    ip, port = tenancy.state.get("job_ip"), tenancy.state.get("job_port")
    assert ip and port, f"the spawner's state has no job_ip/job_port: {tenancy.state}"
    base = f"http://{ip}:{port}/user/{OWNER}"
    own = requests.get(f"{base}/api/status", timeout=30, headers=tenancy.sme.session.headers)
    assert own.status_code == 200, f"control: sme's token at {base}: {own.status_code}"
    for path in ("api/status", "api/contents", "lab"):
        refused(
            requests.get(f"{base}/{path}", timeout=30, allow_redirects=False),
            f"no credentials at {base}/{path}",
        )
        refused(
            requests.get(
                f"{base}/{path}",
                timeout=30,
                allow_redirects=False,
                headers=tenancy.other.session.headers,
            ),
            f"{OTHER}'s token at {base}/{path}",
        )


def test_the_hub_api_neither_shows_nor_stops_nor_reroutes_smes_server_for_another(tenancy):
    other = tenancy.other
    for method, path in (
        ("GET", f"/users/{OWNER}"),
        ("DELETE", f"/users/{OWNER}/server"),
        ("POST", f"/users/{OWNER}/server"),
        ("GET", f"/users/{OWNER}/tokens"),
    ):
        answer = other.api(method, path)
        assert answer.status_code in (403, 404), (method, path, answer.status_code)
    listing = other.api("GET", "/users")
    assert listing.status_code != 500 and OWNER not in {
        u.get("name") for u in (listing.json() if listing.status_code == 200 else [])
    }
    report = other.api("POST", "/aiworkbench/session-port", json={"port": 40000})
    assert report.status_code == 403, report.text
    assert tenancy.sme.server()["ready"], "sme's server did not survive the attempts"


def test_budgets_of_another_user_or_project_are_refused_with_a_message(tenancy):
    other = tenancy.other
    status, mine = api(other, "budgets")
    assert status == 200 and [p["project"] for p in mine["projects"]] == ["edu-intro"], mine
    assert all(
        set(p["users"]) <= {OTHER} and all(j["user"] == OTHER for j in p["jobs"])
        for p in mine["projects"]
    ), mine
    for route, params, expected in [
        ("budgets", {"user": OWNER}, 403),
        ("budgets/sme-vision", {}, 403),
        ("budgets", {"all": "true"}, 403),
        ("budgets", {"project": "sme-vision"}, 400),
    ]:
        status, answer = api(other, route, params)
        assert status == expected and answer.get("message") and "projects" not in answer, (
            route,
            params,
            status,
            answer,
        )
    assert api(tenancy.sme, "budgets/sme-vision")[0] == 200  # control


def test_a_restricted_dataset_is_neither_served_nor_readable_for_another_project(tenancy, site):
    for route in (f"datasets/{RESTRICTED}", f"datasets/{RESTRICTED}/files"):
        status, answer = api(tenancy.other, route)
        assert status == 404 and "no dataset" in answer.get("message", ""), (route, answer)
        assert api(tenancy.sme, route)[0] == 200, f"control: sme may not read {route}"
    assert api(tenancy.other, "datasets", {"q": "breast cancer"})[1]["total"] == 0
    folder = Path(site.catalog.root) / RESTRICTED
    data = next(p for p in folder.iterdir() if p.name != "datacard.toml")
    for argv in (["cat", str(data)], ["ls", str(folder)]):
        denied = run(argv, user=OTHER, check=False)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, (argv, denied)
    assert run(["head", "-c", "4", str(data)], user=OWNER, check=False).returncode == 0


def test_class_progress_is_for_its_trainers_only(tenancy):
    for user in (tenancy.sme, tenancy.other):
        status, answer = api(user, "classes/intro/progress")
        assert status == 403 and "trainers of class 'intro'" in answer.get("message", ""), (
            user.name,
            status,
            answer,
        )
    status, own = api(tenancy.other, "progress")
    assert status == 200 and all(r["user"] == OTHER for r in own["records"]), own


def test_the_dashboards_refuse_a_learner(tenancy, site, hub_url):
    web = tenancy.other.web(site.users[OTHER].password)
    for path in ("", "voila/render/usage.ipynb"):
        page = web.get(f"{hub_url}/services/dashboards/{path}", timeout=60)
        assert all(r.status_code != 500 for r in [*page.history, page]), path
        assert page.status_code == 403, (path, page.status_code, page.url)
        assert "aiwb-dashboard" not in page.text


def session_processes(job: str) -> dict[int, dict[bytes, bytes]]:
    """sme's single-user server processes of ``job`` (read as root): pid -> environment."""
    uid, found = pwd.getpwnam(OWNER).pw_uid, {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            status, cmdline = (proc / "status").read_text(), (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile
            continue
        env = dict(v.split(b"=", 1) for v in environ.split(b"\0") if b"=" in v)
        if (
            re.search(r"^Uid:\s+(\d+)", status, re.M).group(1) == str(uid)
            and b"singleuser" in cmdline
            and env.get(b"SLURM_JOB_ID") == job.encode()
        ):
            found[int(proc.name)] = env
    return found


@pytest.fixture(scope="module")
def server_token(tenancy) -> tuple[str, list[int]]:
    """The session's JUPYTERHUB_API_TOKEN, read as root from its processes, and their pids."""
    processes = session_processes(tenancy.session_job)
    tokens = {env.get(b"JUPYTERHUB_API_TOKEN", b"").decode() for env in processes.values()}
    assert len(tokens) == 1 and "" not in tokens, f"no one token in {sorted(processes)}"
    [token] = tokens
    assert hashlib.sha256(token.encode()).hexdigest() == tenancy.state["token_sha256"]
    return token, sorted(processes)


def test_the_session_token_is_in_no_process_argument_job_record_or_session_log(
    tenancy, server_token
):
    token, pids = server_token
    job = tenancy.session_job
    for pid in pids:
        denied = run(["cat", f"/proc/{pid}/environ"], user=OTHER, check=False)
        assert denied.returncode != 0 and token not in denied.stdout, f"/proc/{pid}/environ"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert token.encode() not in cmdline.read_bytes(), f"the token is in {cmdline}"
        except OSError:
            continue
    script = run(["scontrol", "write", "batch_script", job, "-"]).stdout
    assert "#SBATCH" in script and token not in script, "the token is in the batch script"
    submit = run(["sacct", "-j", job, "--noheader", "--parsable2", "--format=SubmitLine"])
    assert token not in submit.stdout, "the token is in the job's SubmitLine"
    for flag in ("--batch-script", "--env-vars"):
        assert token not in output(["sacct", "-j", job, flag], user=OTHER), flag
    log = Path(pwd.getpwnam(OWNER).pw_dir) / f".jupyter-session-{job}.log"
    assert log.exists(), f"no session log {log}"
    assert token not in log.read_text(errors="replace"), f"the token is in {log}"
    denied = run(["cat", str(log)], user=OTHER, check=False)
    assert denied.returncode != 0 and not denied.stdout, f"{OTHER} reads {log}"


def test_the_session_token_is_in_no_log_and_the_logs_are_closed_to_users(server_token):
    token = server_token[0].encode()
    files = sorted(p for d in LOG_DIRS if d.is_dir() for p in d.rglob("*") if p.is_file())
    assert HUB_LOG in files, f"the hub's log {HUB_LOG} was not found among {files}"
    searched = [*files, *(p for p in SUPERVISOR_LOGS.rglob("*") if p.is_file())]
    leaked = [str(p) for p in searched if token in p.read_bytes()]
    assert not leaked, f"the session's token is in {leaked}"
    readable = run(
        ["sh", "-c", 'for f; do [ -r "$f" ] && echo "$f"; done; true', "sh", *map(str, files)],
        user=OTHER,
    ).stdout.split()
    assert not readable, f"{OTHER} may read these logs: {readable}"
