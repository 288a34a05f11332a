"""Parsing Slurm's output, plain-word reasons, and the hub's single poller."""

import asyncio

import pytest

from aiworkbench_hub import slurm
from aiworkbench_hub.poller import GONE, UNKNOWN, SlurmPoller
from aiworkbench_hub.reasons import end_reason, pending_reason

SQUEUE = """\
41|student|gpu|PENDING|AssocGrpGRESMinutes||N/A|1000
42|sme|gpu|PENDING|Resources||2026-11-23T13:05:00|3000
43|trainer|gpu|PENDING|Priority||2026-11-23T14:00:00|2000
44|trainer|cpu|RUNNING|None|vm|2026-11-23T12:00:00|2500
garbage line
"""


def test_parse_squeue_and_queue_position():
    jobs = slurm.parse_squeue(SQUEUE)
    assert set(jobs) == {"41", "42", "43", "44"}
    assert jobs["44"].running and jobs["44"].nodes == "vm"
    assert jobs["41"].pending and jobs["41"].reason == "AssocGrpGRESMinutes"
    assert slurm.queue_position(jobs, "42") == (1, 3)
    assert slurm.queue_position(jobs, "43") == (2, 3)
    assert slurm.queue_position(jobs, "41") == (3, 3)
    assert slurm.queue_position(jobs, "44") is None


def test_squeue_is_one_query_for_all_jobs():
    argv = slurm.squeue_argv()
    assert argv[:2] == ["squeue", "--all"] and not any("--jobs" in a or "-u" == a for a in argv)


def test_parse_sacct():
    text = "45|CANCELLED by 1004|None|0:0|vm\n45.batch|CANCELLED||0:15|vm\n"
    finished = slurm.parse_sacct(text, "45")
    assert (finished.state, finished.reason, finished.nodes) == ("CANCELLED", "None", "vm")
    assert slurm.parse_sacct(text, "46") is None


@pytest.mark.parametrize("reason, gpus, words", [
    ("AssocGrpGRESMinutes", True, "project budget exhausted"),
    ("Resources", True, "waiting for a free GPU"),
    ("Resources", False, "waiting for free resources"),
    ("Priority", False, "waiting behind jobs with higher priority"),
    ("SomethingNew", False, "waiting (SomethingNew)"),
])
def test_pending_reasons_in_plain_words(reason, gpus, words):
    assert words in pending_reason(reason, gpus)


def test_end_reasons():
    assert end_reason("TIMEOUT") == "the session reached its time limit"
    assert end_reason("NODE_FAIL") == "the node running the session failed"
    assert "cancelled" in end_reason("CANCELLED")
    assert end_reason("WEIRD") == "the session's job ended (WEIRD)"


class ScriptedSlurm:
    """Answers squeue from a list: text, or an exception for a controller that is away."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, argv, timeout=None, **kwargs):
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_poller_one_query_per_tick_whatever_the_number_of_sessions():
    async def scenario():
        runner = ScriptedSlurm([SQUEUE])
        poller = SlurmPoller(interval=0.05, runner=runner)
        for job in ("41", "42", "43", "44"):
            poller.watch(job)
        await asyncio.sleep(0.22)
        for job in ("41", "42", "43", "44"):
            poller.unwatch(job)
        await asyncio.sleep(0.1)
        return runner.calls, poller.status("44")
    calls, status = asyncio.run(scenario())
    assert 3 <= calls <= 7  # ticks, not 4 sessions x ticks
    assert status.state == "RUNNING"


def test_unreachable_controller_means_unknown_never_gone():
    async def scenario():
        away = slurm.SlurmError("Unable to contact slurm controller")
        runner = ScriptedSlurm([SQUEUE, away, away, ""])
        poller = SlurmPoller(interval=0.01, runner=runner)
        seen = []
        poller.watch("44")
        for _ in range(4):
            await poller.wait_update(1)
            seen.append(poller.status("44") if isinstance(poller.status("44"), str)
                        else poller.status("44").state)
        poller.unwatch("44")
        return seen
    seen = asyncio.run(scenario())
    assert seen[0] == "RUNNING"
    assert seen[1:3] == [UNKNOWN, UNKNOWN]
    assert seen[3] == GONE  # only a real answer without the job means it is gone


def test_a_job_submitted_after_a_snapshot_is_not_gone():
    async def scenario():
        poller = SlurmPoller(interval=10, runner=ScriptedSlurm([""]))
        await poller.refresh()  # a snapshot taken before the job existed
        poller.watch("99")
        return poller.status("99")
    assert asyncio.run(scenario()) == UNKNOWN


def test_a_new_session_waits_one_interval_for_the_first_query_unless_poked():
    async def scenario():
        runner = ScriptedSlurm([SQUEUE])
        poller = SlurmPoller(interval=0.3, runner=runner)
        poller.watch("44", query_now=False)
        await asyncio.sleep(0.15)
        before = (runner.calls, poller.asked, poller.status("44"))
        await poller.wait_update(1)
        after = runner.calls
        poller.unwatch("44")
        await asyncio.sleep(0.35)

        poked = SlurmPoller(interval=10, runner=ScriptedSlurm([SQUEUE]))
        poked.watch("44", query_now=False)
        poked.poke()  # a stop wants an answer now
        got = await poked.wait_update(1)
        poked.unwatch("44")
        return before, after, got
    before, after, got = asyncio.run(scenario())
    assert before == (0, False, UNKNOWN) and after == 1
    assert got
