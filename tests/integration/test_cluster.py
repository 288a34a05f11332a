"""The real dev cluster: partitions, GPUs, accounting and budgets."""

import math
import os
import re
import tempfile

import pytest

from ..conftest import run, user_jobs, wait_for

pytestmark = pytest.mark.integration


def used_minutes(account, tres="gres/gpu"):
    """Minutes of ``tres`` charged to ``account`` so far (Slurm's association manager)."""
    out = run(["scontrol", "show", "assoc_mgr", "flags=assoc", f"accounts={account}"]).stdout
    for block in out.split("ClusterName=")[1:]:
        if "UserName= " in block:  # the account's own association, not a user's
            line = re.search(r"GrpTRESMins=(\S+)", block).group(1)
            match = re.search(rf"{re.escape(tres)}=(?:N|\d+)\((\d+)\)", line)
            return int(match.group(1))
    raise AssertionError(f"no association for {account} in:\n{out}")


def test_both_partitions_are_up(cluster_up, site):
    out = run(["sinfo", "--noheader", "--format", "%R|%a|%G|%t"]).stdout
    rows = {line.split("|")[0]: line.split("|") for line in out.splitlines()}
    assert set(site.partitions) <= set(rows)
    for name in site.partitions:
        assert rows[name][1] == "up", rows[name]
        assert rows[name][3] in ("idle", "mix", "alloc"), rows[name]
    assert re.search(r"gpu:(simulated|nvidia):\d+", rows["gpu"][2]), rows["gpu"]


@pytest.fixture
def job_dir():
    path = tempfile.mkdtemp(prefix="aiwb-job-", dir="/tmp")
    os.chmod(path, 0o1777)
    return path


def test_gpu_job_gets_its_gpus_and_is_charged_to_the_project(cluster_up, job_dir):
    account, user, gpus = "sme-vision", "sme", 2
    before = used_minutes(account)
    script = '#!/bin/bash\necho "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"\nsleep 65\n'
    out_file = f"{job_dir}/gpu-%j.out"
    job = (
        run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "--partition=gpu",
                f"--account={account}",
                f"--gres=gpu:{gpus}",
                "--time=5",
                f"--output={out_file}",
            ],
            user=user,
            input=script,
            timeout=300,
        )
        .stdout.strip()
        .split(";")[0]
    )
    output = open(out_file.replace("%j", job)).read()
    assert re.fullmatch(r"CUDA_VISIBLE_DEVICES=\d+,\d+\n", output), output

    fields = run(
        [
            "sacct",
            "--noheader",
            "--parsable2",
            "-X",
            "-j",
            job,
            "--format=JobID,User,Account,Partition,State,ElapsedRaw,AllocTRES",
        ]
    ).stdout
    job_id, job_user, job_account, partition, state, elapsed, tres = fields.strip().split("|")
    assert (job_id, job_user, job_account, partition, state) == (
        job,
        user,
        account,
        "gpu",
        "COMPLETED",
    )
    assert f"gres/gpu={gpus}" in tres
    expected = int(elapsed) * gpus / 60
    # Slurm adds running jobs' usage every PriorityCalcPeriod (1 minute here).
    after = wait_for(
        lambda: used_minutes(account) >= before + math.floor(expected) and used_minutes(account),
        150,
        interval=5,
        what=f"{expected:.1f} GPU-minutes to be charged to {account}",
    )
    assert math.floor(expected) <= after - before <= math.ceil(expected) + 1


def test_job_beyond_the_remaining_budget_pends_with_the_budget_reason(cluster_up, site):
    account = min(site.projects, key=lambda name: site.projects[name].gpu_minutes)
    user = site.projects[account].members[0]
    budget = site.projects[account].gpu_minutes
    job = (
        run(
            [
                "sbatch",
                "--parsable",
                "--partition=gpu",
                f"--account={account}",
                "--gres=gpu:1",
                f"--time={budget + 50}",
                "--output=/dev/null",
                "--wrap=sleep 5",
            ],
            user=user,
        )
        .stdout.strip()
        .split(";")[0]
    )
    try:
        reason = wait_for(
            lambda: next(
                (j["reason"] for j in user_jobs(user) if j["id"] == job and j["reason"] != "None"),
                None,
            ),
            30,
            what="a pending reason",
        )
        assert reason == "AssocGrpGRESMinutes"
        assert next(j for j in user_jobs(user) if j["id"] == job)["state"] == "PENDING"
    finally:
        run(["scancel", job])
