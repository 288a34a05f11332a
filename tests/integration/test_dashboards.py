"""The managers' dashboards against the real hub, cluster and service.

The service runs as its own system user, behind the hub's OAuth: managers get the
dashboards, everyone else logged in gets 403. Its ingestion reads the real
cluster: a job run here shows up in the store with the GPU- and core-hours sacct
gives, every project's budget equals sshare's, the hub's sessions and the classes'
progress are read without error, and the store is the service's only.
"""

import json
import os
import pwd
import stat

import pytest
import requests

from ..conftest import KERNEL_PYTHON, run, wait_for

pytestmark = pytest.mark.integration
DASH = "/services/dashboards/"
# Read the store as the service's user (retrying while an ingestion holds it).
READ = """
import json, sys
from aiworkbench.dashboards.store import open_store
from aiworkbench.dashboards import queries
with open_store(sys.argv[1]) as store:
    out = {"jobs": store.sql("SELECT job_id, account, state, gpus, cpus, elapsed_s, gpu_hours, "
                             "cpu_hours FROM jobs"),
           "budgets": store.sql("SELECT project, gpu_limit_min, gpu_used_min, cpu_limit_min, "
                                "cpu_used_min FROM budgets"),
           "totals": queries.project_totals(store, queries.Filters()).rows,
           "fresh": queries.freshness(store).dicts()}
print(json.dumps(out, default=str))
"""


def read_store(site) -> dict:
    result = run(
        [KERNEL_PYTHON, "-c", READ, site.dashboards.store], user=site.dashboards.user, timeout=60
    )
    return json.loads(result.stdout)


def test_only_managers_may_open_the_dashboards(site, hub_url, hub_up, hub_user):
    for name in ("student", "sme", "trainer"):
        web = hub_user(name).web(site.users[name].password)
        response = web.get(f"{hub_url}{DASH}", timeout=60)
        assert response.status_code == 403, (name, response.status_code, response.url)
    anonymous = requests.get(f"{hub_url}{DASH}voila/render/usage.ipynb", timeout=60)
    assert "/hub/login" in anonymous.url  # sent to log in, shown nothing
    assert "aiwb-dashboard" not in anonymous.text
    manager = hub_user("manager").web(site.users["manager"].password)
    page = manager.get(f"{hub_url}{DASH}", timeout=120)
    assert page.status_code == 200, page.text[-2000:]
    assert page.url.endswith("/voila/render/usage.ipynb"), page.url
    assert "application/vnd.jupyter.widget-view+json" in page.text
    assert "Traceback" not in page.text
    # Voila only: no JupyterLab, no terminals; the notebooks cannot be changed.
    for path in ("lab", "api/terminals"):
        response = manager.get(f"{hub_url}{DASH}{path}", timeout=60)
        assert response.status_code == 404, (path, response.status_code)
    xsrf = {"X-XSRFToken": manager.cookies.get("_xsrf", path="/services/dashboards/") or ""}
    changed = manager.put(
        f"{hub_url}{DASH}api/contents/usage.ipynb",
        timeout=60,
        headers=xsrf,
        json={"type": "file", "format": "text", "content": "replaced"},
    )
    assert changed.status_code >= 400, changed.status_code


def test_the_service_runs_as_its_own_user_and_keeps_its_store_to_itself(site, hub_up):
    user = site.dashboards.user
    processes = run(["ps", "-eww", "-o", "user:32=,args="]).stdout
    serving = [
        line.split(None, 1)[0]
        for line in processes.splitlines()
        if "aiworkbench-dashboards" in line and "sudo" not in line
    ]
    assert serving and set(serving) == {user}, processes
    store = wait_for(
        lambda: os.path.exists(site.dashboards.store) and site.dashboards.store,
        120,
        what="the first ingestion",
    )
    info = os.stat(store)
    assert pwd.getpwuid(info.st_uid).pw_name == user
    folder = os.stat(os.path.dirname(store))
    assert stat.S_IMODE(folder.st_mode) == 0o700
    denied = run(["cat", store], user="student", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_ingestion_reads_the_real_cluster_and_numbers_equal_sacct_and_sshare(
    site, hub_up, cluster_up
):
    # A job of known size as a workshop account: 2 cores for a few seconds.
    job = (
        run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "--account=edu-intro",
                "--partition=cpu",
                "--cpus-per-task=2",
                "--time=2",
                "--chdir=/tmp",
                "--output=/dev/null",
                "--wrap=sleep 3",
            ],
            user="intro-07",
            timeout=180,
        )
        .stdout.strip()
        .split(";")[0]
    )

    def ingested():
        data = read_store(site)
        rows = [r for r in data["jobs"] if str(r[0]) == job]
        return data if rows and rows[0][2] == "COMPLETED" else None

    data = wait_for(
        ingested,
        site.dashboards.ingest_seconds * 3 + 60,
        interval=5,
        what=f"job {job} to reach the dashboards' store",
    )
    [row] = [r for r in data["jobs"] if str(r[0]) == job]
    sacct = run(
        ["sacct", "-X", "-n", "-P", "-j", job, "--format=Account,AllocCPUS,ElapsedRaw,AllocTRES"]
    ).stdout.split("\n")[0]
    account, cpus, elapsed, tres = sacct.split("|")
    assert (row[1], row[4], row[5]) == (account, int(cpus), int(elapsed))
    assert row[7] == pytest.approx(int(elapsed) * int(cpus) / 3600)
    assert "gres/gpu" not in tres and row[3] == 0

    # Totals per project equal an independent sum over sacct's records, read now.
    # (Jobs may finish between the two readings: compare jobs the store already has.)
    stored = {str(r[0]) for r in data["jobs"]}
    out = run(
        [
            "sacct",
            "--allusers",
            "-X",
            "-n",
            "-P",
            "--starttime=2020-01-01",
            "--format=JobIDRaw,Account,ElapsedRaw,AllocTRES,State",
        ]
    ).stdout
    expected: dict[str, float] = {}
    for line in out.splitlines():
        jid, account, elapsed, tres, state = line.split("|")
        if jid not in stored or state.startswith(("RUNNING", "PENDING")):
            continue
        values = dict(p.split("=", 1) for p in tres.split(",") if "=" in p)
        gpus = int(next((v for k, v in values.items() if k.startswith("gres/gpu")), 0))
        expected[account] = expected.get(account, 0) + int(elapsed or 0) * gpus / 3600
    done = {str(r[0]) for r in data["jobs"] if r[2] not in ("RUNNING", "PENDING")}
    assert done <= {line.split("|")[0] for line in out.splitlines()}
    totals = {project: gpu_hours for project, gpu_hours, *_ in data["totals"]}
    for project, hours in expected.items():
        assert totals.get(project, 0) == pytest.approx(hours, abs=0.01), project

    # Budgets equal sshare's reading; every site project is there (managers see all).
    share = run(
        [
            "sshare",
            "--all",
            "--long",
            "--noheader",
            "--parsable2",
            "--format=Account,User,GrpTRESMins",
        ]
    ).stdout
    limits = {
        f[0].strip(): f[2]
        for f in (line.split("|") for line in share.splitlines())
        if f[0].strip() and not f[1] and f[0].strip() != "root"
    }
    budgets = {b[0]: b for b in data["budgets"]}
    assert set(budgets) == set(site.projects) == set(limits)
    for project, grp in limits.items():
        values = dict(p.split("=") for p in grp.split(",") if p)
        assert budgets[project][1] == int(values["gres/gpu"]), project
        assert budgets[project][3] == int(values["cpu"]), project

    # Every source was read, none with an error: sacct, sshare, squeue, the hub's
    # sessions (the service's read:servers scope) and the classes' progress (read-all).
    fresh = {r["source"]: r for r in data["fresh"]}
    assert set(fresh) == {"jobs", "budgets", "pending", "sessions", "progress"}
    assert {s: r["error"] for s, r in fresh.items() if r["error"]} == {}


def test_the_hub_lists_sessions_only_for_holders_of_read_servers(site, hub_url, hub_up, hub_user):
    student = hub_user("student")
    response = student.api("GET", "/aiworkbench/sessions")
    assert response.status_code == 403
    assert "read:servers" in response.json()["message"]
    admin = hub_user("admin")
    response = admin.api("GET", "/aiworkbench/sessions")
    assert response.status_code == 200 and isinstance(response.json()["sessions"], list)


def test_the_classes_route_lists_what_the_caller_may_read(site, hub_url, hub_up, hub_user):
    api = f"{hub_url}/services/workbench/api/classes"
    trainer = hub_user("trainer").session.get(api, timeout=30).json()
    assert [c["name"] for c in trainer["classes"]] == ["intro"]
    assert hub_user("student").session.get(api, timeout=30).json() == {"classes": []}
    assert hub_user("student").session.get(api + "?x=1", timeout=30).status_code == 400
