"""Grants reconciled into the real Slurm accounting: the site's projects already match
after setup; a new grant becomes an account with its budget and its members'
associations; a budget change reaches ``sshare`` and keeps the usage; a departed
member and an ended grant can start no job, and nothing is deleted; a dry run changes
nothing."""

from __future__ import annotations

import json

import pytest

from aiworkbench.allocations import cli, reconcile
from aiworkbench.core.slurm import parse_tres

from ..conftest import run, wait_for

ACCOUNT = "zz-reconcile-test"  # made by this test, deleted by it (the reconciler never deletes)
MEMBER = "student"


def shares(account: str) -> dict[str, str]:
    """The account's own row of ``sshare``: its budget and what it used (GrpTRESRaw, in
    TRES-minutes)."""
    lines = run(
        [
            "sshare",
            "--noheader",
            "--parsable2",
            f"--accounts={account}",
            "--format=Account,User,GrpTRESMins,GrpTRESRaw",
        ]
    ).stdout.splitlines()
    [row] = [line.split("|") for line in lines if line.split("|")[1] == ""]
    return {"budget": row[2], "used": row[3]}


def association(user: str, account: str) -> list[str]:
    return run(
        [
            "sacctmgr",
            "--noheader",
            "--parsable2",
            "show",
            "association",
            f"account={account}",
            f"user={user}",
            "format=user,maxsubmit",
        ]
    ).stdout.split()


def submit(user: str, account: str):
    return run(
        [
            "sbatch",
            "--parsable",
            "--account",
            account,
            "--partition=cpu",
            "--cpus-per-task=2",
            "--time=1",
            "--output=/dev/null",
            "--chdir=/tmp",
            "--wrap=sleep 35",
        ],
        user=user,
        check=False,
    )


@pytest.fixture
def site_grants(cluster_up, site):
    """The site's grants; the test's own account is deleted afterwards."""
    try:
        yield cli.grants_from_site(site)
    finally:
        run(["scancel", f"--account={ACCOUNT}"], check=False)
        wait_for(
            lambda: not run(["squeue", "--noheader", f"--account={ACCOUNT}"]).stdout.strip(),
            60,
            what="the test's jobs to end",
        )
        run(["sacctmgr", "--immediate", "delete", "account", ACCOUNT], check=False)


def test_after_setup_slurm_already_matches_the_site(cluster_up):
    shown = run(["/usr/local/sbin/aiworkbench-allocations", "reconcile", "--dry-run", "--json"])
    outcome = json.loads(shown.stdout)
    assert outcome["changes"] == [] and outcome["calls"] == 3, outcome


def test_a_grant_reaches_slurm_and_keeps_its_usage_through_every_change(site_grants, site):
    cluster, readers = site.slurm.cluster_name, (site.slurm.reader,)

    def reconciled(grant: reconcile.Grant, dry_run=False) -> reconcile.Result:
        result = reconcile.reconcile(
            [*site_grants, grant], cluster, readers=readers, dry_run=dry_run
        )
        assert result.refused == (), reconcile.describe(result)
        return result

    granted = reconcile.Grant(
        account=ACCOUNT,
        description="reconciler test",
        gpu_minutes=0,
        cpu_minutes=600,
        members=(MEMBER,),
    )
    planned = reconciled(granted, dry_run=True)
    assert [c.args[:2] for c in planned.changes] == [("add", "account"), ("add", "user")]
    assert run(["sacctmgr", "--noheader", "show", "account", ACCOUNT]).stdout.strip() == ""

    made = reconciled(granted)
    # 3 reads, the 2 changes as one command list, 3 reads of what they touched
    assert made.applied and len(made.changes) == 2 and made.calls == 7
    assert parse_tres(shares(ACCOUNT)["budget"]) == {"cpu": 600, "gres/gpu": 0}
    assert association(MEMBER, ACCOUNT) == [f"{MEMBER}|"]
    assert reconciled(granted).changes == ()  # a second pass finds nothing to do

    # Usage: 2 cores for 35 s, a whole core-minute, counted within PriorityCalcPeriod.
    job = submit(MEMBER, ACCOUNT)
    assert job.returncode == 0, job.stderr
    used = wait_for(
        lambda: parse_tres(shares(ACCOUNT)["used"]).get("cpu", 0) or None,
        150,
        interval=5,
        what="sshare to count the test job",
    )

    bigger = reconcile.Grant(**{**granted.__dict__, "cpu_minutes": 1200})
    [change] = reconciled(bigger).changes
    assert "600 -> 1200 CPU-min" in change.why, change.why
    after = shares(ACCOUNT)
    assert parse_tres(after["budget"])["cpu"] == 1200
    assert parse_tres(after["used"])["cpu"] >= used  # the budget moved, the usage stayed

    departed = reconcile.Grant(**{**bigger.__dict__, "members": ()})
    reconciled(departed)
    assert association(MEMBER, ACCOUNT) == [f"{MEMBER}|0"]  # blocked, not deleted
    refused = submit(MEMBER, ACCOUNT)
    assert refused.returncode != 0 and "limit" in refused.stderr.lower(), refused.stderr

    ended = reconcile.Grant(**{**bigger.__dict__, "active": False})
    reconciled(ended)
    assert association(MEMBER, ACCOUNT) == [f"{MEMBER}|"]  # back as a member ...
    refused = submit(MEMBER, ACCOUNT)  # ... of a grant that has ended
    assert refused.returncode != 0 and "limit" in refused.stderr.lower(), refused.stderr
    assert parse_tres(shares(ACCOUNT)["used"])["cpu"] >= used

    reconciled(bigger)  # renewed: jobs start again
    again = submit(MEMBER, ACCOUNT)
    assert again.returncode == 0, again.stderr
