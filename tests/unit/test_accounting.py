"""The accounting reader: parsing Slurm's output, budgets, refusals, one query per interval."""

import asyncio

import pytest

from aiworkbench.budgets import accounting
from aiworkbench.budgets.accounting import (
    AccountingReader,
    Usage,
    build_snapshot,
    parse_sshare,
    refusal,
    warnings_for,
)
from aiworkbench.core import slurm
from aiworkbench.core.slurm import parse_duration, parse_tres

# Real `sshare` output of the demo factory (accounts are indented by depth).
SSHARE = """\
root|||cpu=201,mem=397943,gres/gpu=42|cpu=0,gres/gpu=0
 root|root||cpu=0,gres/gpu=0|cpu=0,gres/gpu=0
 edu-intro||cpu=120000,gres/gpu=6000|cpu=175,mem=359953,gres/gpu=8|cpu=20,gres/gpu=10
  edu-intro|student||cpu=25,mem=51473,gres/gpu=7|cpu=0,gres/gpu=0
  edu-intro|trainer||cpu=77,gres/gpu=1|cpu=0,gres/gpu=0
 sme-trial||cpu=600,gres/gpu=10|cpu=500,gres/gpu=9|cpu=0,gres/gpu=0
  sme-trial|sme||cpu=500,gres/gpu=9|cpu=0,gres/gpu=0
 factory-ops||cpu=60000,gres/gpu=0|cpu=0,gres/gpu=0|cpu=0,gres/gpu=0
 open||||
"""
SQUEUE = """\
481|student|edu-intro|gpu|cpu=2,mem=2G,node=1,billing=2,gres/gpu=1|1:30|8:30|
482|trainer|edu-intro|cpu|cpu=4,mem=8G,node=1,billing=4|1-02:00:00|UNLIMITED|
"""


def test_durations_in_slurms_formats():
    assert parse_duration("0:30") == 30
    assert parse_duration("1:02:03") == 3723
    assert parse_duration("2-00:00:01") == 172801
    assert parse_duration("UNLIMITED") is None
    assert parse_duration("1-x") is None
    assert parse_duration("") is None


def test_tres_strings_and_rows_of_slurms_output():
    assert parse_tres("cpu=2,mem=4G,node=1,gres/gpu=1") == {"cpu": 2, "node": 1, "gres/gpu": 1}
    assert parse_tres("") == {}
    # squeue --Format closes every field with '|'; --format and --parsable2 do not.
    assert slurm.split_rows("a|b|c|\n d | e|f\nheader\ng|h|i|j\n", 3) == [
        ["a", "b", "c"],
        ["d", "e", "f"],
    ]


def test_sshare_gives_limits_usage_and_users():
    projects = parse_sshare(SSHARE)
    assert set(projects) == {"edu-intro", "sme-trial", "factory-ops", "open"}
    edu = projects["edu-intro"]
    assert edu.budgets["gpu"] == Usage(limit=6000, used=8, held=10)
    assert edu.budgets["cpu"] == Usage(limit=120000, used=175, held=20)
    assert edu.user_used == {"student": {"gpu": 7, "cpu": 25}, "trainer": {"gpu": 1, "cpu": 77}}
    assert projects["open"].budgets["gpu"].limit is None


def test_budget_arithmetic_and_levels():
    gpu = Usage(limit=6000, used=8, held=10)
    assert (gpu.left, gpu.available, gpu.level) == (5992, 5982, "ok")
    assert Usage(limit=100, used=80).level == "warning"
    assert Usage(limit=100, used=95).level == "critical"
    assert Usage(limit=100, used=100).level == "exhausted"
    assert Usage(limit=100, used=130, held=5).available == 0
    assert Usage(limit=0, used=0).level == "none"
    assert Usage(limit=None, used=5).level == "unlimited"
    assert Usage(limit=None, used=5).available is None


def test_snapshot_joins_running_jobs_to_their_projects():
    snap = build_snapshot(SSHARE, SQUEUE, taken_at=1000.0)
    edu = snap.projects["edu-intro"]
    assert [j.job_id for j in edu.jobs] == ["481", "482"]
    gpu_job = edu.jobs[0]
    assert (gpu_job.gpus, gpu_job.cpus, gpu_job.elapsed_s, gpu_job.time_left_s) == (1, 2, 90, 510)
    assert gpu_job.minutes("gpu") == 1.5 and gpu_job.minutes("cpu") == 3.0
    assert edu.jobs[1].time_left_s is None
    assert edu.burn("gpu") == 1 and edu.burn("cpu") == 6
    mine = edu.to_json("student")
    assert [j["job_id"] for j in mine["jobs"]] == ["481"]
    assert mine["users"] == {"student": {"gpu_minutes": 7, "cpu_minutes": 25}}
    assert mine["gpu"]["available_minutes"] == 5982 and mine["gpu"]["in_use"] == 1
    assert len(edu.to_json(None)["users"]) == 2


def test_a_request_above_the_budget_is_refused_with_the_numbers():
    snap = build_snapshot(SSHARE, "", taken_at=0)
    trial = snap.projects["sme-trial"]
    assert refusal(trial, {"gpu": 60, "cpu": 60}) == (
        "needs 1.0 GPU-h, project sme-trial has 0.0 GPU-h left"
    )
    assert refusal(trial, {"gpu": 0, "cpu": 60}) is None  # 100 core-minutes left
    edu = snap.projects["edu-intro"]
    assert refusal(edu, {"gpu": 6000, "cpu": 60}) == (
        "needs 100.0 GPU-h, project edu-intro has 99.7 GPU-h left "
        "(0.2 GPU-h of its 99.9 are held by running jobs)"
    )
    assert refusal(snap.projects["open"], {"gpu": 10**6}) is None


def test_a_refusal_names_every_kind_that_falls_short():
    trial = build_snapshot(SSHARE, "", taken_at=0).projects["sme-trial"]
    assert refusal(trial, {"gpu": 60, "cpu": 120}) == (
        "needs 1.0 GPU-h, project sme-trial has 0.0 GPU-h left, and 2.0 core-h, it has "
        "1.7 core-h left"
    )


def test_warnings_at_80_and_95_percent_and_when_exhausted():
    text = SSHARE.replace(
        "cpu=600,gres/gpu=10|cpu=500,gres/gpu=9", "cpu=600,gres/gpu=10|cpu=480,gres/gpu=10"
    )
    snap = build_snapshot(text, "", taken_at=0)
    found = {(w["project"], w["kind"]): w for w in warnings_for(snap, ["sme-trial", "edu-intro"])}
    assert set(found) == {("sme-trial", "cpu"), ("sme-trial", "gpu")}
    assert found["sme-trial", "cpu"]["level"] == "warning"
    assert found["sme-trial", "cpu"]["text"] == (
        "Project sme-trial has used 80% of its CPU budget: 2.0 of 10.0 core-h left"
    )
    assert found["sme-trial", "gpu"]["level"] == "exhausted"
    assert "new GPU sessions cannot start" in found["sme-trial", "gpu"]["text"]
    assert warnings_for(None, ["sme-trial"]) == []


class FakeSlurm:
    """Answers sshare and squeue after a delay, counting the calls; can fail."""

    def __init__(self):
        self.calls = []
        self.fail = False

    async def __call__(self, argv, timeout=30):
        self.calls.append(argv[0])
        await asyncio.sleep(0.01)
        if self.fail:
            raise slurm.SlurmError("sshare: error: slurmctld not responding")
        return SSHARE if argv[0] == "sshare" else SQUEUE


def test_one_refresh_per_interval_however_many_ask():
    async def scenario():
        fake, now = FakeSlurm(), [1000.0]
        reader = AccountingReader(interval=30, run=fake, clock=lambda: now[0])
        snaps = await asyncio.gather(*(reader.snapshot() for _ in range(500)))
        assert fake.calls == ["sshare", "squeue"] and reader.refreshes == 1
        assert all(s is snaps[0] for s in snaps)
        now[0] += 29
        await reader.snapshot()
        assert reader.refreshes == 1
        now[0] += 2
        await asyncio.gather(*(reader.snapshot() for _ in range(100)))
        assert reader.refreshes == 2 and len(fake.calls) == 4

    asyncio.run(scenario())


def test_a_failed_refresh_keeps_the_last_numbers_marked_with_the_error():
    async def scenario():
        fake, now = FakeSlurm(), [1000.0]
        reader = AccountingReader(interval=30, run=fake, clock=lambda: now[0])
        first = await reader.snapshot()
        fake.fail, now[0] = True, now[0] + 31
        stale = await reader.snapshot()
        assert stale.error == "sshare: error: slurmctld not responding"
        assert stale.projects == first.projects and stale.taken_at == first.taken_at
        await asyncio.gather(*(reader.snapshot() for _ in range(50)))
        assert reader.refreshes == 2  # no retry storm: the next attempt waits an interval
        fake.fail, now[0] = False, now[0] + 31
        assert (await reader.snapshot()).error == ""

    asyncio.run(scenario())


def test_no_snapshot_yet_and_slurm_down_is_an_error():
    async def scenario():
        fake = FakeSlurm()
        fake.fail = True
        reader = AccountingReader(interval=30, run=fake)
        with pytest.raises(slurm.SlurmError, match="not responding"):
            await reader.snapshot()
        assert reader.cached() is None

    asyncio.run(scenario())


def test_commands_are_argument_lists_for_everyone():
    assert accounting.sshare_argv()[:2] == ["sshare", "--all"]
    assert "--parsable2" in accounting.sshare_argv()
    assert accounting.squeue_running_argv()[:2] == ["squeue", "--all"]
