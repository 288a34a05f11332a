"""The one road for commands (aiworkbench.core.commands): output, failures in words that
name the command, timeouts, missing programs, and arguments that never meet a shell."""

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from aiworkbench.admin.backup import BackupError, ToolFailed
from aiworkbench.core import commands, slurm
from aiworkbench.core.commands import CommandError, command_name, output, run, run_async

PYTHON = Path(sys.executable).name  # what a message names for [sys.executable, ...]


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def both(argv, **kwargs):
    """The answer of the sync and the async runner (they must agree)."""
    answers = []
    for runner in (run, lambda a, **k: asyncio.run(run_async(a, **k))):
        try:
            answers.append(runner(argv, **kwargs))
        except CommandError as err:
            answers.append(err)
    return answers


def test_the_output_comes_back_and_the_input_goes_in():
    assert run(python("print('hi')")) == "hi\n"
    for answer in both(
        python("import sys; print(sys.stdin.read().upper(), end='')"), input="batch script\n"
    ):
        assert answer == "BATCH SCRIPT\n"
    assert run(python("import sys; print(len(sys.stdin.read()))")) == "0\n"  # no input: empty


def test_a_non_zero_exit_names_the_command_and_quotes_its_standard_error():
    for err in both(python("import sys; print('half'); sys.exit('pg_dump: error: no role')")):
        assert isinstance(err, CommandError) and err.exited
        assert str(err) == f"{PYTHON} failed (exit status 1): pg_dump: error: no role"
        assert (err.returncode, err.stdout, err.why) == (1, "half\n", "exit status 1")
    [silent, _] = both(python("raise SystemExit(3)"))
    assert str(silent) == f"{PYTHON} failed (exit status 3): no message"


def test_a_long_complaint_is_cut_to_its_first_lines_and_its_last():
    code = (
        "import sys; sys.stderr.write(''.join(f'warning {i}\\n' for i in range(50)) + "
        "'error: the real reason\\n'); sys.exit(1)"
    )
    message = str(both(python(code))[0])
    assert "warning 0\nwarning 1\n" in message and message.endswith("...\nerror: the real reason")
    assert "warning 30" not in message


def test_a_command_that_does_not_answer_in_time_is_killed_and_says_so():
    started = time.monotonic()
    for err in both(python("import time; time.sleep(30)"), timeout=0.5):
        assert isinstance(err, CommandError) and not err.exited
        assert str(err) == f"{PYTHON} did not answer within 0.5s"
    assert time.monotonic() - started < 10


def test_a_missing_program_is_named():
    for err in both(["no-such-command-anywhere", "--version"]):
        assert isinstance(err, CommandError) and not err.exited
        assert str(err) == (
            "cannot run no-such-command-anywhere: No such file or directory; is it installed?"
        )


def test_arguments_arrive_intact_and_never_through_a_shell(tmp_path):
    # What a shell would split, expand, and run a second command of.
    awkward = [f"a b; touch {tmp_path}/injected && $(id) `id`", "$HOME 'q\" * has@x", "", "--x=1 2"]
    echo = python("import json, sys; print(json.dumps(sys.argv[1:]))", *awkward)
    for answer in both(echo, cwd=str(tmp_path)):
        assert json.loads(answer) == awkward
    assert not (tmp_path / "injected").exists()
    with pytest.raises(TypeError, match="argument list"):
        run("squeue --all; rm -rf ~")  # a command line is refused, not handed to a shell


def test_output_reads_a_query_whose_non_zero_exit_means_nothing_found():
    assert output(python("import sys; print('61|RUNNING'); sys.exit(1)")) == "61|RUNNING\n"
    with pytest.raises(CommandError, match="cannot run no-such-command-anywhere"):
        output(["no-such-command-anywhere"])
    seen = []
    assert output(["squeue"], run=lambda argv, **kw: seen.append(kw) or "x", timeout=5) == "x"
    assert seen == [{"timeout": 5}]


@pytest.mark.parametrize(
    "argv, name",
    [
        (
            ["sudo", "--non-interactive", "--user", "reader", "--", "/usr/bin/squeue", "--all"],
            "squeue",
        ),
        (["/opt/bin/sudo", "-u", "ada", "sbatch", "--parsable"], "sbatch"),
        (["runuser", "-u", "postgres", "--", "psql", "--file=-"], "psql"),
        (["sudo"], "sudo"),
        (["/usr/bin/mariadb-dump", "--databases", "x"], "mariadb-dump"),
    ],
)
def test_a_message_names_the_command_past_sudo_and_runuser(argv, name):
    assert command_name(argv) == name


def test_slurm_errors_keep_slurms_own_words_for_the_hub():
    refused = python(
        "import sys; sys.exit('sbatch: error: Batch job submission failed: Invalid account')"
    )
    with pytest.raises(slurm.SlurmError) as info:
        asyncio.run(slurm.run(refused))
    assert str(info.value) == "sbatch: error: Batch job submission failed: Invalid account"
    assert isinstance(info.value, CommandError) and info.value.returncode == 1
    with pytest.raises(slurm.SlurmError, match=f"^{PYTHON} exited 2$"):
        asyncio.run(slurm.run(python("raise SystemExit(2)")))
    with pytest.raises(slurm.SlurmError, match="did not answer within 0.3s"):
        asyncio.run(slurm.run(python("import time; time.sleep(30)"), timeout=0.3))
    with pytest.raises(slurm.SlurmError, match="cannot run no-such-squeue"):
        asyncio.run(slurm.run(["no-such-squeue"]))
    assert str(slurm.SlurmError("squeue: timed out")) == "squeue: timed out"  # as doubles do


def test_the_reader_runs_read_only_queries_through_sudo_with_its_own_environment():
    calls = []

    def runner(argv, **kwargs):
        calls.append((argv, kwargs))
        return "ok"

    assert slurm.reader_run("slurm-reader", runner=runner)(["sshare", "--all"]) == "ok"
    assert calls == [
        (
            [
                "sudo",
                "--non-interactive",
                "--user",
                "slurm-reader",
                "--",
                "/usr/bin/sshare",
                "--all",
            ],
            {"env": slurm.READER_ENV},
        )
    ]
    assert slurm.reader_run("", runner=runner)(["squeue"], timeout=3) == "ok"
    assert calls[-1] == (["squeue"], {"timeout": 3})
    with pytest.raises(ValueError, match="is not run as the Slurm reader"):
        slurm.reader_run("slurm-reader", runner=runner)(["scancel", "1"])


def test_the_backups_tool_failures_are_command_errors_and_backup_errors():
    with pytest.raises(ToolFailed) as info:
        commands.run(python("import sys; sys.exit('ERROR 2002 (HY000)')"), error=ToolFailed)
    assert isinstance(info.value, BackupError) and isinstance(info.value, CommandError)
    assert str(info.value) == f"{PYTHON} failed (exit status 1): ERROR 2002 (HY000)"
