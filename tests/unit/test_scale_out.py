"""Work beyond the session, without daemons: requests are checked against the project's
partitions and budget (with a fake API), the Dask helper configures its cluster from
the session and caps it by the budget, and batch scripts carry only validated values."""

import time
from pathlib import Path

import pytest

from aiworkbench.core import commands
from aiworkbench.core.commands import CommandError
from aiworkbench.scaleout import batch
from aiworkbench.scaleout.batch import BatchJob, job_script, prepare, submit_batch
from aiworkbench.scaleout.dask_slurm import dashboard_link, dask_cluster
from aiworkbench.scaleout.slurm_work import (
    WorkRefused,
    WorkRequest,
    affordable,
    parse_time_left,
    session_minutes_left,
)

from ..fakes import budget_answer as budget
from ..fakes import fake_scale_api as fake_api

SESSION = {
    "SLURM_JOB_ACCOUNT": "edu-intro",
    "SLURM_JOB_PARTITION": "cpu",
    "SLURM_JOB_ID": "77",
    "JUPYTERHUB_SERVICE_PREFIX": "/user/student/",
}


def test_the_budget_caps_how_many_jobs_may_run():
    request = WorkRequest("edu-intro", "cpu", cpus=2, gpus=0, minutes=60, jobs=100)
    assert affordable(request, fetch=fake_api()) == 6000 // 120
    assert affordable(WorkRequest("edu-intro", "cpu", 1, 0, 10, jobs=3), fetch=fake_api()) == 3


@pytest.mark.parametrize(
    "request_, message",
    [
        (
            WorkRequest("edu-intro", "bigmem", 1, 0, 10),
            "partition 'bigmem' is not open to "
            "project edu-intro; it may use: cpu (up to 8 cores, no GPUs, 4 h); gpu (up to 8 cores, "
            "1-1 GPUs, 4 h)",
        ),
        (
            WorkRequest("edu-intro", "cpu", 16, 0, 10),
            "16 cores per node is more than the 8 allowed on cpu for project edu-intro",
        ),
        (
            WorkRequest("edu-intro", "gpu", 2, 2, 10),
            "2 GPUs per node is not allowed on gpu for project edu-intro: 1 to 1",
        ),
        (WorkRequest("edu-intro", "gpu", 2, 0, 10), "0 GPUs per node is not allowed on gpu"),
        (WorkRequest("edu-intro", "cpu", 1, 0, 300), "300 minutes is more than the 4 h allowed"),
        (WorkRequest("edu-intro", "cpu", 0, 0, 10), "cpus must be a whole number of at least 1"),
        (
            WorkRequest("edu-intro", "gpu", 2, 1, 240),
            "one job needs 240 GPU-minutes (1 node(s) "
            "x 1 x 240 min) but project edu-intro has 60 available (limit 10000, used 100, held "
            "by running jobs 0)",
        ),
    ],
)
def test_refusals_say_what_is_allowed(request_, message):
    with pytest.raises(WorkRefused) as err:
        affordable(request_, fetch=fake_api(budget(gpu_available=60)))
    assert message in str(err.value)


def test_time_left_from_squeue():
    assert parse_time_left("1-02:03:04") == (26 * 60) + 3
    assert parse_time_left("45:40") == 46
    assert parse_time_left("UNLIMITED") is None
    assert parse_time_left("garbage") is None


class FakeCluster:
    def __init__(self, **kwargs):
        self.kwargs, self.adapted, self.scaled = kwargs, None, None

    def adapt(self, minimum, maximum):
        self.adapted = (minimum, maximum)

    def scale(self, n):
        self.scaled = n


def test_the_dask_cluster_comes_from_the_session_and_the_budget(monkeypatch):
    monkeypatch.setattr("aiworkbench.scaleout.dask_slurm.session_minutes_left", lambda env: 30)
    seen = []

    def check(request):
        seen.append(request)
        return 3

    cluster = dask_cluster(
        workers=5, cores=2, memory_gb=4, environ=SESSION, check=check, cluster_class=FakeCluster
    )
    [request] = seen
    assert (request.project, request.partition, request.cpus, request.minutes, request.jobs) == (
        "edu-intro",
        "cpu",
        2,
        30,
        5,
    )
    k = cluster.kwargs
    assert (k["account"], k["queue"], k["cores"], k["memory"], k["walltime"]) == (
        "edu-intro",
        "cpu",
        2,
        "4GB",
        "00:30:00",
    )
    assert k["job_name"].startswith("aiwb-dask-77-")
    assert "--death-timeout" in k["worker_extra_args"]
    assert cluster.adapted == (0, 3) and cluster.workbench_limit == 3
    fixed = dask_cluster(
        workers=2,
        environ=SESSION,
        check=lambda r: 2,
        adaptive=False,
        cluster_class=FakeCluster,
        minutes=10,
    )
    assert fixed.scaled == 2 and fixed.kwargs["walltime"] == "00:10:00"
    assert fixed.kwargs["job_name"] != k["job_name"]  # closing one never cancels the other
    assert dashboard_link(SESSION) == "/user/student/proxy/{port}/status"


def test_the_dask_cluster_refuses_bad_arguments():
    with pytest.raises(WorkRefused, match="memory_gb must be"):
        dask_cluster(
            memory_gb=0, environ=SESSION, check=lambda r: 1, minutes=5, cluster_class=FakeCluster
        )
    with pytest.raises(WorkRefused, match="no project or partition"):
        dask_cluster(environ={}, check=lambda r: 1, cluster_class=FakeCluster)


def test_batch_scripts_quote_arguments_and_run_torchrun_through_srun(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    spec = prepare(
        script,
        "--name",
        "x; rm -rf ~",
        nodes=2,
        gpus_per_node=1,
        torchrun=True,
        partition="gpu",
        environ=SESSION,
        minutes=20,
    )
    text = job_script(spec)
    assert "#SBATCH --nodes=2" in text and "#SBATCH --gres=gpu:1" in text
    assert "#SBATCH --account=edu-intro" in text and "#SBATCH --time=20" in text
    assert "'x; rm -rf ~'" in text  # one argument, quoted
    assert "--nproc-per-node=1 --rdzv-backend=c10d" in text and "srun --kill-on-bad-exit=1" in text
    plain = job_script(prepare(script, environ=SESSION))
    assert "torchrun" not in plain and f"{script}" in plain


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"nodes": 0}, "nodes must be a whole number from 1 to 64"),
        ({"name": "a b"}, "job name 'a b': use 1-40 letters, digits"),
        ({"name": "train\n"}, "job name 'train\\\\n'"),  # would end the #SBATCH line
        ({"name": "-x"}, "job name '-x'"),
        ({"minutes": True}, "minutes must be a whole number"),
    ],
)
def test_batch_refusals(tmp_path, kwargs, message):
    script = tmp_path / "train.py"
    script.write_text("")
    with pytest.raises(WorkRefused, match=message):
        prepare(script, environ=SESSION, **kwargs)
    with pytest.raises(WorkRefused, match="no script"):
        prepare(tmp_path / "missing.py", environ=SESSION)
    for odd in (tmp_path / "my train.py", tmp_path / "train.py\n"):
        odd.write_text("")
        with pytest.raises(WorkRefused, match="characters a batch script cannot carry"):
            prepare(odd, environ=SESSION)


def test_submitting_checks_first_and_reads_the_job_back(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("")
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs.get("input")))
        out = {"sbatch": "123;cluster\n", "squeue": "", "sacct": "COMPLETED|0:0|00:00:05\n"}
        return out.get(argv[0], "")

    refused = []
    with pytest.raises(WorkRefused):
        submit_batch(
            script,
            environ=SESSION,
            run=run,
            check=lambda r: refused.append(r) or (_ for _ in ()).throw(WorkRefused("no")),
        )
    assert refused and not calls  # refused before Slurm saw anything
    job = submit_batch(script, environ=SESSION, run=run, check=lambda r: 1)
    assert job.job_id == "123" and calls[0][0] == ["sbatch", "--parsable"]
    assert "#SBATCH --job-name=aiwb-batch-train" in calls[0][1]
    assert job.wait(timeout=5, every=0) == "COMPLETED" and job.exit_code == 0
    Path(str(job.log_path)).write_text("a\nb\nc\n")
    assert job.log(lines=2) == "b\nc"
    assert repr(job) == "<batch job 123: COMPLETED, exit code 0>"


def test_an_ended_job_the_controller_still_shows_gets_its_exit_code(tmp_path):
    # squeue --jobs lists a job for MinJobAge after it ended, without its exit code;
    # scontrol has it, and sacct only once slurmdbd has recorded the end.
    out = {
        "squeue": "COMPLETED|0:20|None\n",
        "sacct": "",
        "scontrol": "JobId=55 JobName=aiwb-batch-x JobState=COMPLETED Reason=None "
        "ExitCode=3:0 RunTime=00:00:20 TimeLimit=00:10:00\n",
    }

    def run(argv, **kwargs):
        if isinstance(out[argv[0]], CommandError):
            raise out[argv[0]]
        return out[argv[0]]

    job = BatchJob("55", tmp_path / "x.log", run=run)
    assert job.wait(timeout=5, every=0) == "COMPLETED"
    assert (job.exit_code, job.elapsed) == (3, "00:00:20")
    # Purged from the controller: squeue and scontrol exit 1; accounting has the end.
    for command in ("squeue", "scontrol"):
        out[command] = CommandError.failed(
            [command], 1, "", "slurm_load_jobs error: Invalid job id specified\n"
        )
    out["sacct"] = "FAILED|1:0|00:00:21\n"
    assert job.refresh() == "FAILED" and job.exit_code == 1


def test_slurm_refusing_a_batch_job_says_why_and_a_missing_sbatch_is_named(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("")

    def refusing(argv, **kwargs):
        raise CommandError.failed(
            argv, 1, "", "sbatch: error: Batch job submission failed: Invalid account\n"
        )

    with pytest.raises(
        WorkRefused,
        match="^Slurm refused the job: sbatch: error: Batch job "
        "submission failed: Invalid account$",
    ):
        submit_batch(script, environ=SESSION, run=refusing, check=lambda r: 1)
    with pytest.raises(CommandError, match="cannot run no-such-sbatch: .*is it installed"):
        submit_batch(
            script,
            environ=SESSION,
            check=lambda r: 1,
            run=lambda argv, **kw: commands.run(["no-such-sbatch", *argv[1:]], **kw),
        )


def test_the_sessions_time_left_comes_from_squeue(monkeypatch):
    monkeypatch.setattr(
        "aiworkbench.scaleout.slurm_work.shutil.which", lambda name: f"/usr/bin/{name}"
    )
    asked = []

    def run(argv, **kwargs):
        asked.append(argv)
        return "1:02:03\n"

    assert session_minutes_left(SESSION, run=run) == 62
    assert asked == [["squeue", "--noheader", "--jobs", "77", "--format=%L"]]

    def gone(argv, **kwargs):  # squeue exits 1 for a job it no longer knows
        raise CommandError.failed(argv, 1, "", "slurm_load_jobs error: Invalid job id\n")

    assert session_minutes_left(SESSION, run=gone) is None
    assert session_minutes_left({}, run=run) is None  # outside a session: no question


def test_a_batch_job_shows_its_state_and_log(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("epoch 1 loss 0.5\n")

    def run(argv, **kwargs):
        return "RUNNING|0:12|None\n" if argv[0] == "squeue" else ""

    job = BatchJob("55", log, run=run)
    _ = job.widget  # building the view starts following
    assert "Job 55</b>: RUNNING" in job._status.value
    assert job._log.value == "epoch 1 loss 0.5"
    assert "55" in batch.FOLLOWER.following
    job.close()  # closing the view stops following the job
    assert "55" not in batch.FOLLOWER.following


def test_shown_jobs_are_followed_with_one_squeue_for_all_until_they_end(tmp_path):
    calls = []
    states = {
        "squeue": "61|RUNNING|1:02|None\n62|PENDING|0:00|Priority\n",
        "sacct": "CANCELLED by 1004|0:15|00:00:00\n",
    }

    def run(argv, **kwargs):  # squeue answers for the jobs asked, in its own format
        calls.append(argv)
        out = states[argv[0]]
        if argv[0] == "squeue":
            asked = argv[argv.index("--jobs") + 1].split(",")
            rows = [line.split("|") for line in out.splitlines()]
            out = "".join(
                "|".join(r if "%i" in argv[-1] else r[1:]) + "\n" for r in rows if r[0] in asked
            )
        return out

    follower = batch.Follower(every=0.01)
    jobs = [BatchJob(i, tmp_path / f"{i}.log", run=run) for i in ("61", "62")]
    follower.tick(jobs)
    assert calls == [["squeue", "--noheader", "--jobs", "61,62", "--format=%i|%T|%M|%r"]]
    assert [(j.state, j.reason) for j in jobs] == [("RUNNING", "None"), ("PENDING", "Priority")]
    states["squeue"] = "61|RUNNING|1:07|None\n"  # 62 was cancelled, and purged
    for job in jobs:
        follower.follow(job)
    wait_until(lambda: follower.following == ["61"])
    assert jobs[1].state == "CANCELLED" and jobs[1].exit_code == 0
    follower.unfollow(jobs[0])
    wait_until(lambda: follower._thread is None)  # nothing left to follow: the thread ends


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_interface_towards_a_node_is_the_one_holding_the_route(monkeypatch):
    from aiworkbench.scaleout import netif

    assert netif.interface_towards("127.0.0.1") == "lo"
    assert netif.interface_towards("256.1.1.1") is None  # not an address: cannot tell
    # On the head node whose name resolves to 127.0.1.1: the default route's interface.
    routes = {"head": "lo", netif.DEFAULT_ROUTE_PROBE: "eth7", "cn01": "eth0"}
    monkeypatch.setattr(netif, "interface_towards", routes.get)
    assert netif.interface_for_peers("cn01") == "eth0"
    assert netif.interface_for_peers("head") == "eth7"
    routes[netif.DEFAULT_ROUTE_PROBE] = None  # no default route: cannot tell
    assert netif.interface_for_peers("head") is None
    seen = {}
    monkeypatch.setattr(
        netif.os, "execvpe", lambda path, argv, env: seen.update(path=path, argv=argv, env=env)
    )
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", "ib0")  # the user's choice is kept
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    netif.main(["cn01", "torchrun", "--nnodes=2", "train.py"])
    assert seen["argv"] == ["torchrun", "--nnodes=2", "train.py"]
    assert seen["env"]["GLOO_SOCKET_IFNAME"] == "eth0"
    assert seen["env"]["NCCL_SOCKET_IFNAME"] == "ib0"
    assert netif.main(["only-a-head"]) == 2


def test_a_multi_node_torchrun_listens_towards_the_head_node(tmp_path):
    from aiworkbench.scaleout.batch import job_script, prepare

    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    env = {"SLURM_JOB_ACCOUNT": "edu-intro", "SLURM_JOB_PARTITION": "cpu"}
    spec = prepare(
        script, nodes=2, torchrun=True, environ=env, project="edu-intro", partition="cpu"
    )
    text = job_script(spec)
    assert '-m aiworkbench.scaleout.netif "$head" ' in text and '--rdzv-endpoint="$head:' in text
    assert "port=$(( 20000 + SLURM_JOB_ID % 10000 ))" in text  # one port per job
