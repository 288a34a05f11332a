"""The Extend helper on the running factory, through the hub's own sudoers line: it
adds time to one's own running session within the limits and the budget, logs who
asked, and refuses another user's job, a job that is no session, more than the
partition allows, more than the budget pays for and hostile arguments. Nothing a user
typed reaches a shell, and the line lets the hub run nothing else as root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import run, user_jobs, wait_for

pytestmark = pytest.mark.integration
LOG = Path("/var/log/aiworkbench/extend.log")


@pytest.fixture
def helper(site):
    """Run the helper as the hub does: as the hub's user, through sudo -n."""
    python = f"{site.factory.hub_env}/bin/python3"

    def call(*args: str):
        return run(
            [
                "runuser",
                "-u",
                site.hub.user,
                "--",
                "sudo",
                "-n",
                python,
                "-I",
                "-m",
                "aiworkbench.sessions.extend",
                *args,
            ],
            check=False,
        )

    return call


@pytest.fixture
def jobs(cluster_up):
    """Submit jobs as a user (``name``: the job's name), cancelled afterwards."""
    made = []

    def submit(
        user: str, name: str, account: str, cpus: int = 1, minutes: int = 60, running: bool = True
    ):
        # --output: not /tmp/slurm-JOB.out, which an earlier install's job of the same
        # number may have left, owned by another user (the job could not start).
        job = run(
            [
                "sbatch",
                "--parsable",
                "--chdir=/tmp",
                "--output=/dev/null",
                f"--job-name={name}",
                f"--account={account}",
                "--partition=cpu",
                f"--cpus-per-task={cpus}",
                "--mem=500M",
                f"--time={minutes}",
                "--wrap",
                "sleep 900",
            ],
            user=user,
        ).stdout.strip()
        made.append(job)
        if running:
            wait_for(
                lambda: any(j["id"] == job and j["state"] == "RUNNING" for j in user_jobs(user)),
                120,
                what=f"job {job} to run",
            )
        return job

    yield submit
    for job in made:
        run(["scancel", job], check=False)


def limit(job: str) -> str:
    return run(["squeue", "--noheader", "--jobs", job, "--format=%l"]).stdout.strip()


def test_ones_own_session_is_extended_and_the_log_says_who_asked(helper, jobs):
    job = jobs("trainer", "jupyter-trainer", "edu-intro")
    done = helper("--user", "trainer", "--job", job, "--minutes", "30")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["time_limit_minutes"] == 90
    assert limit(job) == "1:30:00"
    last = json.loads(LOG.read_text().splitlines()[-1])
    assert (last["caller"], last["user"], last["job"], last["added_minutes"]) == (
        "jupyterhub",
        "trainer",
        job,
        30,
    )
    assert LOG.stat().st_uid == 0 and not LOG.stat().st_mode & 0o007  # closed to users


def test_another_users_job_a_batch_job_and_too_much_are_refused(helper, jobs):
    session = jobs("trainer", "jupyter-trainer", "edu-intro")
    # Refused for its name, before its state: it need not have started.
    batch = jobs("trainer", "training-run", "edu-intro", running=False)
    refusals = {
        "another user's": helper("--user", "student", "--job", session, "--minutes", "30"),
        "not a session": helper("--user", "trainer", "--job", batch, "--minutes", "30"),
        "beyond the partition": helper("--user", "trainer", "--job", session, "--minutes", "240"),
    }
    assert {why: (r.returncode, r.stderr.strip()) for why, r in refusals.items()} == {
        "another user's": (
            3,
            f"refused: job {session} is not yours: only your own sessions can be extended",
        ),
        "not a session": (
            3,
            f"refused: job {batch} is not a notebook session: only "
            f"sessions started from the workbench can be extended",
        ),
        "beyond the partition": (
            3,
            "refused: a session may run at most 4 h on partition cpu "
            "for project edu-intro; this one has 1 h already: you "
            "may add at most 3 h",
        ),
    }
    assert limit(session) == limit(batch) == "1:00:00"  # nothing changed


def test_more_than_the_budget_pays_for_is_refused(helper, jobs):
    # sme-trial has 600 core-minutes; this session holds 480 of them for its hour.
    job = jobs("sme", "jupyter-sme", "sme-trial", cpus=8)
    refused = helper("--user", "sme", "--job", job, "--minutes", "60")
    assert refused.returncode == 3
    assert refused.stderr.startswith(
        "refused: not enough budget: adding 1 h needs 8.0 core-h, project sme-trial has "
    ), refused.stderr
    assert limit(job) == "1:00:00"


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "trainer;id", "--job", "1", "--minutes", "30"],
        ["--user", "trainer", "--job", "$(id)", "--minutes", "30"],
        ["--user", "trainer", "--job", "1", "--minutes", "30 --site=/tmp/x"],
        ["--user", "trainer", "--job", "1", "--minutes", "30", "--site", "/tmp/x"],
        ["--user", "nobody-here", "--job", "1", "--minutes", "30"],
    ],
)
def test_hostile_arguments_are_refused(helper, args, tmp_path):
    done = helper(*args)
    assert done.returncode in (2, 3), (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""


def test_the_sudoers_line_lets_the_hub_run_nothing_else_as_root(site):
    python = f"{site.factory.hub_env}/bin/python3"
    for argv in (
        [python, "-c", "print(1)"],
        [python, "-m", "aiworkbench.sessions.extend"],
        [python, "-I", "-m", "aiworkbench.core.site", "check", "/etc/passwd"],
    ):
        done = run(["runuser", "-u", site.hub.user, "--", "sudo", "-n", *argv], check=False)
        assert done.returncode == 1 and "password is required" in done.stderr, (argv, done)
