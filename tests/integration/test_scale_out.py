"""Scaling out from a session, on the real cluster: the helpers run inside a real Slurm
job (as a session's kernel does) as a workshop account, with a real hub token.

A Dask cluster from aiworkbench.dask_cluster() gets its worker jobs, computes a known
result, and leaves no job behind when closed, nor when its kernel is killed; a
2-process DDP job (gloo) submitted with aiworkbench.submit_batch() runs through srun
and torchrun and its result is read back; requests over budget or on a partition the
project may not use are refused with what is allowed, before Slurm sees them.
"""

import json
import shlex

import pytest

from ..conftest import REPO, in_a_session, run, wait_for

pytestmark = pytest.mark.integration
LEARNER = "intro-13"  # workshop accounts of class intro no other test uses
KILLED = "intro-14"

DASK = """
import json, sys
import dask.array as da
from dask.distributed import Client
import aiworkbench
cluster = aiworkbench.dask_cluster(workers=2, adaptive=False, minutes=10, memory_gb=1)
client = Client(cluster)
client.wait_for_workers(2, timeout=240)
total = (client.submit(sum, range(1000)).result()
         + int(da.arange(10**6, chunks=10**5).sum().compute()))
workers = len(client.scheduler_info()["workers"])
link = cluster.dashboard_link
name = cluster.job_name
client.close(); cluster.close()
json.dump({"total": total, "workers": workers, "link": link, "name": name,
           "limit": cluster.workbench_limit}, open(sys.argv[1], "w"))
"""
KILL = """
import os, signal, sys
from dask.distributed import Client
import aiworkbench
cluster = aiworkbench.dask_cluster(workers=2, adaptive=False, minutes=10, memory_gb=1)
client = Client(cluster)
client.wait_for_workers(2, timeout=240)
open(sys.argv[1], "w").write(cluster.job_name)
os.kill(os.getpid(), signal.SIGKILL)  # as a kernel dies: no close, no atexit
"""
BATCH = """
import json, sys
import aiworkbench
job = aiworkbench.submit_batch(sys.argv[2], "--steps", "30", "--out", sys.argv[3],
                               torchrun=True, processes_per_node=2, cpus_per_node=2,
                               memory_gb=2, minutes=10, name="ddp-test")
state = job.wait(timeout=400)
json.dump({"job": job.job_id, "state": state, "exit": job.exit_code, "log": job.log(200)},
          open(sys.argv[1], "w"))
"""
REFUSE = """
import json, sys
import aiworkbench
tried = {}
for name, kwargs in json.loads(sys.argv[2]).items():
    try:
        aiworkbench.submit_batch(sys.argv[3], **kwargs)
        tried[name] = "submitted"
    except aiworkbench.WorkRefused as err:
        tried[name] = str(err)
json.dump(tried, open(sys.argv[1], "w"))
"""


def dask_jobs(user):
    out = run(["squeue", "--noheader", "--user", user, "--format=%j"]).stdout
    return [line for line in out.split() if line.startswith("aiwb-dask")]


def test_a_dask_cluster_computes_and_leaves_no_job(site, hub_url, hub_up, cluster_up, work):
    password = site.classes["intro"].learner_password
    done, log = in_a_session(hub_url, LEARNER, password, DASK, work, str(work / "dask.json"))
    assert done.returncode == 0, log.read_text()[-4000:] if log.exists() else done.stderr
    result = json.loads((work / "dask.json").read_text())
    assert result["total"] == sum(range(1000)) + sum(range(10**6))
    assert result["workers"] == 2 and result["limit"] == 2
    assert "/proxy/" in result["link"] and result["name"].startswith("aiwb-dask-")
    wait_for(lambda: not dask_jobs(LEARNER), 60, what="the worker jobs to be gone")
    listed = run(
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "--user",
            LEARNER,
            f"--name={result['name']}",
            "--format=Account,Partition,State",
        ]
    ).stdout.splitlines()
    assert len(listed) == 2 and all(line.startswith("edu-intro|cpu|") for line in listed)


def test_a_killed_kernel_leaves_no_worker_jobs(site, hub_url, hub_up, cluster_up, work):
    password = site.classes["intro"].learner_password
    done, log = in_a_session(hub_url, KILLED, password, KILL, work, str(work / "name"))
    name = (work / "name").read_text()
    assert done.returncode != 0  # killed
    from aiworkbench.scaleout.dask_slurm import DEATH_TIMEOUT_S

    wait_for(
        lambda: not dask_jobs(KILLED),
        DEATH_TIMEOUT_S + 90,
        interval=3,
        what="the killed kernel's worker jobs to end",
    )
    states = run(
        ["sacct", "-X", "-n", "-P", "--user", KILLED, f"--name={name}", "--format=State"]
    ).stdout.splitlines()
    assert len(states) == 2 and not {"RUNNING", "PENDING"} & {s.split()[0] for s in states}, states


def test_a_ddp_job_runs_through_the_batch_helper(site, hub_url, hub_up, cluster_up, work):
    password = site.classes["intro"].learner_password
    script = work / "ddp_train.py"
    script.write_text((REPO / "example_notebooks" / "scale-out" / "ddp_train.py").read_text())
    script.chmod(0o644)
    done, log = in_a_session(
        hub_url,
        LEARNER,
        password,
        BATCH,
        work,
        str(work / "batch.json"),
        str(script),
        str(work / "ddp.json"),
    )
    assert done.returncode == 0, log.read_text()[-4000:] if log.exists() else done.stderr
    batch = json.loads((work / "batch.json").read_text())
    assert (batch["state"], batch["exit"]) == ("COMPLETED", 0), batch["log"]
    ddp = json.loads((work / "ddp.json").read_text())
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert len(set(ddp["checksums"])) == 1  # both ranks ended with the same weights
    assert ddp["last_loss"] < ddp["first_loss"]
    assert "rank 0 of 2" in batch["log"]
    job = run(
        ["sacct", "-X", "-n", "-P", "-j", batch["job"], "--format=JobName,Account,State"]
    ).stdout.strip()
    assert job == "aiwb-batch-ddp-test|edu-intro|COMPLETED"


def test_requests_beyond_the_rules_are_refused_before_slurm(
    site, hub_url, hub_up, cluster_up, work
):
    script = work / "noop.py"
    script.write_text("print('never runs')\n")
    script.chmod(0o644)
    asks = {
        "over budget": {
            "project": "sme-trial",
            "partition": "gpu",
            "gpus_per_node": 1,
            "minutes": 60,
        },
        "too many gpus": {"partition": "gpu", "gpus_per_node": 2, "minutes": 10},
        "other project": {"project": "sme-vision", "partition": "cpu", "minutes": 5},
    }
    done, log = in_a_session(
        hub_url,
        "student",
        site.users["student"].password,
        REFUSE,
        work,
        str(work / "refused.json"),
        shlex.quote(json.dumps(asks)),
        str(script),
    )
    assert done.returncode == 0, log.read_text()[-3000:] if log.exists() else done.stderr
    refused = json.loads((work / "refused.json").read_text())
    assert "one job needs 60 GPU-minutes" in refused["over budget"]
    assert "project sme-trial has" in refused["over budget"]
    assert (
        "2 GPUs per node is not allowed on gpu for project edu-intro: 1 to 1"
        in refused["too many gpus"]
    )
    assert "you are not a member of project 'sme-vision'" in refused["other project"]
    manager, log = in_a_session(
        hub_url,
        "manager",
        site.users["manager"].password,
        REFUSE,
        work,
        str(work / "ops.json"),
        shlex.quote(json.dumps({"gpu": {"partition": "gpu", "gpus_per_node": 1, "minutes": 5}})),
        str(script),
        project="factory-ops",
    )
    assert manager.returncode == 0, log.read_text()[-3000:] if log.exists() else manager.stderr
    ops = json.loads((work / "ops.json").read_text())
    assert "partition 'gpu' is not open to project factory-ops; it may use: cpu" in ops["gpu"]
    names = run(
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "--user",
            "student",
            "--starttime=now-10minutes",
            "--format=JobName",
        ]
    ).stdout.split()
    assert "aiwb-batch-noop" not in names  # nothing reached Slurm


def test_the_api_says_which_partitions_a_project_may_use(site, hub_url, hub_user):
    api = f"{hub_url}/services/workbench/api/projects"
    student = hub_user("student").session
    edu = student.get(f"{api}/edu-intro/partitions", timeout=30).json()
    assert edu["partitions"]["gpu"] == {
        "description": site.partitions["gpu"].description,
        "gpus": True,
        "max_cpus": 8,
        "min_gpus": 1,
        "max_gpus": 1,
        "max_hours": 4,
    }
    assert edu["partitions"]["cpu"]["max_gpus"] == 0
    assert student.get(f"{api}/sme-vision/partitions", timeout=30).status_code == 403
    assert student.get(f"{api}/nope/partitions", timeout=30).status_code == 404
    manager = hub_user("manager").session
    ops = manager.get(f"{api}/factory-ops/partitions", timeout=30).json()
    assert list(ops["partitions"]) == ["cpu"]
