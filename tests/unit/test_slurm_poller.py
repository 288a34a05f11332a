"""Parsing Slurm's output, plain-word reasons, and the hub's single poller."""

import asyncio

import pytest

from aiworkbench.core import slurm
from aiworkbench.sessions.poller import GONE, UNKNOWN, SlurmPoller
from aiworkbench.sessions.reasons import END_WORDS, end_reason, pending_reason

SQUEUE = """\
41|student|gpu|PENDING|AssocGrpGRESMinutes||N/A|1000|1:00:00
42|sme|gpu|PENDING|Resources||2026-11-23T13:05:00|3000|2:00:00
43|trainer|gpu|PENDING|Priority||2026-11-23T14:00:00|2000|1:00:00
44|trainer|cpu|RUNNING|None|vm|2026-11-23T12:00:00|2500|4:00:00
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
    assert (jobs["44"].limit_minutes, jobs["42"].limit_minutes) == (240, 120)


def test_time_limits_in_every_form_slurm_writes_them():
    assert [
        slurm.limit_minutes(t)
        for t in ("1:30:00", "2-00:00:00", "45:00", "UNLIMITED", "", "INVALID")
    ] == [90, 2880, 45, None, None, None]


def test_squeue_is_one_query_for_all_jobs():
    argv = slurm.squeue_argv()
    assert argv[:2] == ["squeue", "--all"] and not any("--jobs" in a or a == "-u" for a in argv)


def test_parse_sacct():
    text = "45|CANCELLED by 1004|None|0:0|vm\n45.batch|CANCELLED||0:15|vm\n"
    finished = slurm.parse_sacct(text, "45")
    assert (finished.state, finished.reason, finished.nodes) == ("CANCELLED", "None", "vm")
    assert slurm.parse_sacct(text, "46") is None


@pytest.mark.parametrize(
    "reason, gpus, words",
    [
        ("AssocGrpGRESMinutes", True, "project budget exhausted"),
        ("Resources", True, "waiting for a free GPU"),
        ("Resources", False, "waiting for free resources"),
        ("Priority", False, "waiting behind jobs with higher priority"),
        ("SomethingNew", False, "waiting (SomethingNew)"),
    ],
)
def test_pending_reasons_in_plain_words(reason, gpus, words):
    assert words in pending_reason(reason, gpus)


def test_end_reasons():
    assert end_reason("TIMEOUT") == "the session reached its time limit"
    assert end_reason("NODE_FAIL") == "the node running the session failed"
    assert "cancelled" in end_reason("CANCELLED")
    assert end_reason("WEIRD") == "the session's job ended (WEIRD)"


def test_every_end_state_has_words_and_the_states_do_not_overlap():
    assert set(END_WORDS) == set(slurm.ENDED_STATES)
    pending, running, ended = (
        set(s) for s in (slurm.PENDING_STATES, slurm.RUNNING_STATES, slurm.ENDED_STATES)
    )
    assert not (pending & running or pending & ended or running & ended)
    assert set(slurm.ACTIVE_STATES.split(",")) == pending | running


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
            seen.append(
                poller.status("44")
                if isinstance(poller.status("44"), str)
                else poller.status("44").state
            )
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


def test_the_tick_is_short_while_a_session_starts_and_long_once_all_run():
    async def scenario():
        runner = ScriptedSlurm([SQUEUE])
        poller = SlurmPoller(interval=0.02, runner=runner, steady_interval=0.4)
        poller.watch("44")  # a running session, e.g. after a hub restart
        await asyncio.sleep(0.3)
        steady = runner.calls  # the first query, then the long tick
        poller.watch("42", starting=True)  # a new session: the long wait is cut short
        await asyncio.sleep(0.3)
        starting = runner.calls - steady
        poller.settle("42")
        await asyncio.sleep(0.05)
        settled = runner.calls
        await asyncio.sleep(0.3)
        after = runner.calls - settled
        ticks = (poller.tick, SlurmPoller(interval=5, steady_interval=1).steady_interval)
        poller.unwatch("42")
        poller.unwatch("44")
        return steady, starting, after, ticks

    steady, starting, after, ticks = asyncio.run(scenario())
    assert steady == 1
    assert starting >= 5  # every 0.02 s
    assert after <= 1
    assert ticks == (0.4, 5)  # the long tick is never shorter than the short one


def test_an_unwatched_starting_session_no_longer_keeps_the_short_tick():
    poller = SlurmPoller(interval=1, steady_interval=30)
    asyncio.run(_watch_and_drop(poller))
    assert poller.tick == 30


async def _watch_and_drop(poller):
    poller.watch("42", starting=True, query_now=False)
    assert poller.tick == 1
    poller.unwatch("42")


def test_the_reader_runs_only_read_only_queries_through_sudo_without_the_callers_env(monkeypatch):
    assert slurm.as_reader(["sshare", "--all"], "slurm-reader") == [
        "sudo",
        "--non-interactive",
        "--user",
        "slurm-reader",
        "--",
        "/usr/bin/sshare",
        "--all",
    ]
    assert slurm.as_reader(["squeue", "--all"], "") == ["squeue", "--all"]  # as oneself
    with pytest.raises(ValueError, match="'scancel' is not run as the Slurm reader"):
        slurm.as_reader(["scancel", "42"], "slurm-reader")
    seen = []

    async def fake_run(argv, **kwargs):
        seen.append((argv, kwargs))
        return ""

    monkeypatch.setattr(slurm, "run", fake_run)
    asyncio.run(slurm.reader_run("slurm-reader")(["sacct", "-a"], timeout=5))
    asyncio.run(slurm.reader_run("")(["sacct", "-a"]))
    (argv, kwargs), (plain, mine) = seen
    assert argv[-2:] == ["/usr/bin/sacct", "-a"] and kwargs["timeout"] == 5
    assert kwargs["env"] == slurm.READER_ENV and "JUPYTERHUB_API_TOKEN" not in kwargs["env"]
    assert plain == ["sacct", "-a"] and mine == {}
