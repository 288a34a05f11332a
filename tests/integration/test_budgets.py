"""Budgets against the real cluster and hub: the workbench API, the widget's model and the
CLI agree with Slurm's own accounting; requests above a budget are refused through REST
and the form; a user reads only their own projects; warnings reach the home page."""

import re

import pytest
import requests

from aiworkbench.budgets.widget import build_view, format_table
from aiworkbench.core.slurm import parse_tres

from ..conftest import REPO, run, user_jobs, wait_for

pytestmark = pytest.mark.integration
API = "/services/workbench/api"


def api(user, path, **kwargs):
    return user.session.get(f"{user.hub_url}{API}{path}", timeout=30, **kwargs)


def sacct_minutes(account: str, user: str | None = None) -> dict[str, float]:
    """GPU- and core-minutes of every job of ``account`` (or of ``user`` in it), from sacct:
    elapsed seconds times the allocated GPUs or cores."""
    argv = [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        "--starttime=2000-01-01",
        "--endtime=now",
        f"--accounts={account}",
        "--format=ElapsedRaw,AllocTRES",
    ]
    argv += [f"--user={user}"] if user else ["--allusers"]
    totals = {"gpu": 0.0, "cpu": 0.0}
    for line in run(argv).stdout.splitlines():
        elapsed, _, tres = line.partition("|")
        counts = parse_tres(tres)
        totals["gpu"] += int(elapsed or 0) * counts.get("gres/gpu", 0) / 60
        totals["cpu"] += int(elapsed or 0) * counts.get("cpu", 0) / 60
    return totals


def project(payload, name):
    [found] = [p for p in payload["projects"] if p["project"] == name]
    return found


def test_the_demos_trial_project_is_nearly_used_up_and_slurm_says_so(cluster_up, hub_user, site):
    """The install's one real job (projects.sme-trial.demo_gpu_usage) used most of it."""
    trial = site.projects["sme-trial"]
    [demo] = run(
        [
            "sacct",
            "--noheader",
            "--parsable2",
            "--allusers",
            "--allocations",
            "--starttime=2000-01-01",
            "--name=demo-usage",
            "--accounts=sme-trial",
            "--format=User,State",
        ]
    ).stdout.splitlines()
    assert demo.split("|") == ["sme", "COMPLETED"]  # it ended before make up did
    answer = api(hub_user("sme"), "/budgets")
    gpu = project(answer.json(), "sme-trial")["gpu"]
    # Slurm counts whole minutes: what it used and what its time limit still holds.
    assert gpu["used_minutes"] + gpu["held_minutes"] >= (
        trial.demo_gpu_usage * trial.gpu_minutes - 1
    ), gpu
    # A GPU job that the rest does not pay for pends with Slurm's budget reason.
    job = run(
        [
            "sbatch",
            "--parsable",
            "--account=sme-trial",
            "--partition=gpu",
            "--gres=gpu:1",
            "--time=5",
            "--output=/dev/null",
            "--chdir=/tmp",
            "--wrap=sleep 1",
        ],
        user="sme",
    ).stdout.strip()
    try:
        reason = wait_for(
            lambda: (lambda r: r if r.startswith("AssocGrp") else None)(
                run(["squeue", "--noheader", "--jobs", job, "--format=%r"]).stdout.strip()
            ),
            60,
            what="Slurm's reason for the trial's job",
        )
        assert reason in ("AssocGrpGRESMinutes", "AssocGrpGRESRunMinutes"), reason
    finally:
        run(["scancel", job], check=False)


def test_api_widget_and_cli_report_the_same_usage_as_slurm(cluster_up, hub_user):
    sme = hub_user("sme")
    jobs = [
        run(
            [
                "sbatch",
                "--parsable",
                "--account=sme-vision",
                "--time=2",
                "--output=/dev/null",
                "--chdir=/tmp",
                *argv,
                "--wrap=sleep 15",
            ],
            user="sme",
        ).stdout.strip()
        for argv in (
            ["--partition=gpu", "--gres=gpu:2", "--cpus-per-task=2"],
            ["--partition=cpu", "--cpus-per-task=4"],
        )
    ]  # at the same time: the GPU job on the gpu partition, the other on cpu
    wait_for(lambda: not {j["id"] for j in user_jobs("sme")} & set(jobs), 180, what=f"jobs {jobs}")
    slurm = sacct_minutes("sme-vision")
    mine = sacct_minutes("sme-vision", "sme")

    def agrees():
        answer = api(sme, "/budgets")
        assert answer.status_code == 200, answer.text
        vision = project(answer.json(), "sme-vision")
        ok = all(
            abs(vision[k]["used_minutes"] - slurm[k]) <= 1
            and abs(vision["users"]["sme"][f"{k}_minutes"] - mine[k]) <= 1
            for k in ("gpu", "cpu")
        )
        return answer.json() if ok else None

    # Slurm adds finished jobs to the usage within PriorityCalcPeriod (a minute); the API
    # reads it at most accounting_refresh later.
    payload = wait_for(agrees, 180, interval=5, what=f"the API to report sacct's {slurm}")
    vision = project(payload, "sme-vision")
    assert vision["gpu"]["limit_minutes"] == 30000 and vision["cpu"]["limit_minutes"] == 120000
    assert vision["gpu"]["left_minutes"] == 30000 - vision["gpu"]["used_minutes"]

    # The widget's model shows the API's numbers; the CLI prints the same table.
    view = build_view(payload)
    [gpu] = [b for b in view.budgets if b.project == "sme-vision" and b.kind == "gpu"]
    assert (gpu.used, gpu.limit, gpu.left) == (
        vision["gpu"]["used_minutes"],
        30000,
        vision["gpu"]["left_minutes"],
    )
    table = format_table(payload)
    cli = run([str(REPO / ".venv" / "bin" / "aiworkbench-budget"), "--slurm", "--user", "sme"])
    rows = lambda text: [line for line in text.splitlines() if line.startswith("sme-")]  # noqa: E731
    assert rows(cli.stdout) == rows(table), cli.stdout + "\n" + table
    assert re.search(r"^sme-vision\s+GPU-h\s+\d+\.\d\s+500\.0\s", cli.stdout, re.M), cli.stdout


def test_a_user_reads_only_their_own_projects_and_bad_parameters_are_400(cluster_up, hub_user):
    student, manager = hub_user("student"), hub_user("manager")
    mine = api(student, "/budgets")
    assert mine.status_code == 200, mine.text
    assert [p["project"] for p in mine.json()["projects"]] == ["edu-intro", "sme-trial"]
    assert all(set(p["users"]) <= {"student"} for p in mine.json()["projects"])
    refused = api(student, "/budgets/sme-vision")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "you are not a member of project 'sme-vision'; your projects: edu-intro, sme-trial"
    )
    assert api(student, "/budgets?all=true").status_code == 403
    assert api(student, "/budgets?user=sme").status_code == 403
    for path, words in [
        ("/budgets?all=maybe", "use true or false"),
        ("/budgets?colour=red", "unknown query parameter(s) colour"),
        ("/budgets?all=true&all=false", "given 2 times"),
        ("/budgets/..%2F..%2Fetc", "project name '../../etc': use 1-32 lower-case"),
        ("/budgets?user=%3Cscript%3E", "user name '<script>': use 1-32 lower-case"),
    ]:
        bad = api(student, path)
        assert bad.status_code == 400, (path, bad.text)
        assert words in bad.json()["message"], (path, bad.text)
    assert api(student, "/budgets/no-such-project").status_code == 404
    assert requests.get(f"{student.hub_url}{API}/budgets", timeout=30).status_code == 401
    every = api(manager, "/budgets?all=true")
    assert every.status_code == 200, every.text
    assert {p["project"] for p in every.json()["projects"]} == {
        "edu-intro",
        "sme-vision",
        "sme-trial",
        "factory-ops",
    }
    assert api(manager, "/budgets/sme-vision").status_code == 200


def sacctmgr_limit(account: str, gpu: int, cpu: int) -> None:
    run(
        [
            "sacctmgr",
            "--immediate",
            "modify",
            "account",
            account,
            "set",
            f"GrpTRESMins=cpu={cpu},gres/gpu={gpu}",
        ]
    )


def test_requests_above_the_budget_are_refused_and_warnings_reach_the_home_page(
    cluster_up, hub_user, site
):
    sme = hub_user("sme")
    trial = site.projects["sme-trial"]
    # Use some of sme-trial's budget (room for it first, whatever earlier runs used),
    # then shrink it: GPUs used up, cores at 80% or more.
    sacctmgr_limit("sme-trial", gpu=10**6, cpu=10**6)
    try:
        over_budget(sme, site)
    finally:
        sacctmgr_limit("sme-trial", gpu=trial.gpu_minutes, cpu=trial.cpu_minutes)


def over_budget(sme, site):
    def usage():
        shares = run(
            [
                "sshare",
                "--noheader",
                "--parsable2",
                "--accounts=sme-trial",
                "--format=Account,User,GrpTRESRaw",
            ]
        ).stdout.splitlines()
        [line] = [s for s in shares if s.split("|")[1] == ""]
        tres = parse_tres(line.split("|")[2])
        return tres.get("gres/gpu", 0), tres.get("cpu", 0)

    gpu_before, cpu_before = usage()
    run(
        [
            "sbatch",
            "--parsable",
            "--wait",
            "--account=sme-trial",
            "--partition=gpu",
            "--gres=gpu:2",
            "--cpus-per-task=8",
            "--time=1",
            "--output=/dev/null",
            "--chdir=/tmp",
            "--wrap=sleep 35",
        ],
        user="sme",
        timeout=180,
    )
    # 70 GPU-seconds and 280 core-seconds: at least 1 and 4 more whole minutes.
    gpu, cpu = wait_for(
        lambda: (lambda u: u if u[0] >= gpu_before + 1 and u[1] >= cpu_before + 4 else None)(
            usage()
        ),
        120,
        interval=5,
        what="sshare to count the job",
    )
    sacctmgr_limit("sme-trial", gpu=gpu, cpu=int(cpu / 0.8))  # 80% <= cpu used < 95%
    web = sme.web(site.users["sme"].password)

    def home_warns():
        text = re.sub(r"\s+", " ", web.get(f"{sme.hub_url}/hub/home", timeout=30).text)
        return text if "budget-warning" in text and "has used all of its GPU" in text else None

    text = wait_for(home_warns, 120, interval=5, what="the home page's budget warnings")
    assert re.search(
        r"Project sme-trial has used all of its GPU budget \(\d+\.\d GPU-h\); "
        r"new GPU sessions cannot start",
        text,
    ), text[-3000:]
    assert re.search(
        r"Project sme-trial has used (8\d|9\d)% of its CPU budget: "
        r"\d+\.\d of \d+\.\d core-h left",
        text,
    ), text[-3000:]

    # REST: refused with the numbers, nothing submitted.
    refused = sme.api(
        "POST", "/users/sme/server", json={"profile": "gpu-1", "project": "sme-trial"}
    )
    assert refused.status_code == 400, refused.text
    assert re.search(
        r"needs 1\.0 GPU-h, project sme-trial has 0\.0 GPU-h left", refused.json()["message"]
    ), refused.text
    assert not user_jobs("sme")

    # The form: the project's remaining budget is shown, and the same refusal.
    form = web.get(f"{sme.hub_url}/hub/spawn/sme", timeout=30).content.decode()
    assert re.search(r"sme-trial: .* — left: 0\.0 GPU-h, \d+\.\d core-h", form), form
    posted = web.post(
        f"{sme.hub_url}/hub/spawn/sme",
        timeout=60,
        data={
            "_xsrf": web.cookies.get("_xsrf", ""),
            "profile": "gpu-1",
            "project": "sme-trial",
            "partition": "gpu",
            "preset": "medium",
            "gpus": "1",
            "hours": "1",
        },
    )
    page = re.sub(r"\s+", " ", posted.content.decode())
    assert "needs 1.0 GPU-h, project sme-trial has 0.0 GPU-h left" in page, page[-3000:]
    assert not user_jobs("sme")
