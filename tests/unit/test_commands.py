"""The one road for commands (aiworkbench.core.commands): output, failures in words that
name the command, timeouts, missing programs, and arguments that never meet a shell."""

import ast
import asyncio
import gzip
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiworkbench.admin.backup import BackupError, ToolFailed
from aiworkbench.core import commands, slurm
from aiworkbench.core.commands import (
    CommandError,
    command_name,
    completed,
    output,
    run,
    run_async,
    stream,
)

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


def test_completed_answers_whatever_the_exit_status_a_missing_program_included():
    done = completed(python("import sys; print('out'); sys.exit('err')"), input="x")
    assert isinstance(done, subprocess.CompletedProcess)
    assert (done.returncode, done.stdout, done.stderr) == (1, "out\n", "err\n")
    assert completed(python("print('fine')")).stdout == "fine\n"
    missing = completed(["no-such-command-anywhere", "link", "show"])
    assert (missing.returncode, missing.stdout) == (commands.NOT_FOUND, "")
    assert missing.stderr == (
        "cannot run no-such-command-anywhere: No such file or directory; is it installed?"
    )
    with pytest.raises(CommandError, match="cannot run no-such-command-anywhere: No such"):
        completed(["no-such-command-anywhere"], missing_ok=False)
    with pytest.raises(CommandError, match="did not answer within 0.5s"):
        completed(python("import time; time.sleep(30)"), timeout=0.5)
    with pytest.raises(CommandError, match="cannot run /: Permission denied"):
        completed(["/"])  # there, and not a program: no shell's 127 for it
    with pytest.raises(TypeError, match="argument list"):
        completed("ip link show")


# Ends when SIGTERM comes, after writing down that it came (as sudo passes it on).
ENDS_ON_SIGTERM = (
    "import pathlib, signal, sys, time\n"
    "def end(*_):\n"
    "    pathlib.Path(sys.argv[1]).write_text('SIGTERM')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, end)\n"
    "time.sleep(30)\n"
)


def test_a_command_given_up_gets_sigterm_first_then_sigkill(tmp_path):
    for i, runner in enumerate(
        (
            run,
            lambda a, **k: asyncio.run(run_async(a, **k)),
            lambda a, **k: stream(a, stdout=io.BytesIO(), **k),
        )
    ):
        told = tmp_path / f"told-{i}"
        with pytest.raises(CommandError, match="did not answer within 3s"):
            runner(python(ENDS_ON_SIGTERM, str(told)), timeout=3)  # its handler set by then
        assert told.read_text() == "SIGTERM"
    started = time.monotonic()
    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"
    with pytest.raises(CommandError, match="did not answer within 0.5s"):
        run(python(deaf), timeout=0.5)
    assert time.monotonic() - started < 0.5 + commands.END_GRACE_S + 5  # then SIGKILL


BIG = 5 * (1 << 20)  # more than a pipe holds, and more than one chunk


def test_stream_writes_a_commands_output_to_a_file_a_chunk_at_a_time(tmp_path):
    target = tmp_path / "dump.gz"
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
        stream(
            python(f"import sys; sys.stdout.buffer.write(b'x' * {BIG}); print('done')"),
            stdout=out,
        )
    assert gzip.decompress(target.read_bytes()) == b"x" * BIG + b"done\n"
    failing = python("import sys; print('-- half'); sys.exit('mariadb-dump: Got error: 2002')")
    half = io.BytesIO()
    with pytest.raises(CommandError) as info:
        stream(failing, stdout=half)
    assert str(info.value) == f"{PYTHON} failed (exit status 1): mariadb-dump: Got error: 2002"
    assert info.value.returncode == 1 and half.getvalue() == b"-- half\n"
    with pytest.raises(CommandError, match="cannot run no-such-dump: .*is it installed"):
        stream(["no-such-dump"], stdout=io.BytesIO())
    started, partial = time.monotonic(), io.BytesIO()
    with pytest.raises(CommandError, match="did not answer within 0.5s") as info:
        stream(
            python("import time; print('begun', flush=True); time.sleep(30)"),
            stdout=partial,
            timeout=0.5,
        )
    assert not info.value.exited and time.monotonic() - started < 10
    assert partial.getvalue() == b"begun\n"  # what came until then stays


def test_stream_feeds_a_file_to_a_command_and_quotes_what_it_said(tmp_path):
    source = tmp_path / "dump.sql.gz"
    source.write_bytes(gzip.compress(b"y" * BIG))
    loaded = tmp_path / "loaded"
    load = python(
        "import shutil, sys; shutil.copyfileobj(sys.stdin.buffer, open(sys.argv[1], 'wb'))",
        str(loaded),
    )
    with gzip.open(source, "rb") as f:
        assert stream(load, stdin=f) is None
    assert loaded.read_bytes() == b"y" * BIG
    # Standard output and error both go into the message (mariadb says why on either).
    refusing = python("print('ERROR 1064 (42000) at line 1'); raise SystemExit(1)")
    with pytest.raises(CommandError, match=r"failed \(exit status 1\): ERROR 1064"):
        stream(refusing, stdin=io.BytesIO(b"y" * BIG))  # it stops reading: no hang
    with pytest.raises(CommandError, match="did not answer within 0.5s"):
        stream(python("import time; time.sleep(30)"), stdin=io.BytesIO(b"y" * BIG), timeout=0.5)


def test_stream_ends_the_command_before_it_takes_a_cut_input_for_a_whole_one(tmp_path):
    cut = tmp_path / "cut.sql.gz"
    whole = gzip.compress(b"z" * BIG)
    cut.write_bytes(whole[: len(whole) // 2])  # a damaged gzip file
    ended = tmp_path / "ended"
    reads_to_the_end = python(
        "import pathlib, sys; sys.stdin.buffer.read(); pathlib.Path(sys.argv[1]).touch()",
        str(ended),
    )
    with gzip.open(cut, "rb") as f, pytest.raises(EOFError):
        stream(reads_to_the_end, stdin=f)
    assert not ended.exists()


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


# --- the one road: nothing else in the package starts a process ------------------------

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "aiworkbench"
RUNNER = PACKAGE / "core" / "commands.py"
# What starts a child process, by module. os.exec* is not here: it replaces this process
# with the program (aiworkbench-service becoming its service, netif's wrapper becoming
# the command it wraps), so there is no child to time out or end.
STARTS_A_PROCESS = {
    "subprocess": {
        "run",
        "Popen",
        "call",
        "check_call",
        "check_output",
        "getoutput",
        "getstatusoutput",
    },
    "os": {"system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp"}
    | {f"spawn{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "pty": {"spawn", "fork"},
}
LOOP_RUNNERS = {"subprocess_exec", "subprocess_shell"}  # an event loop's own
# Modules allowed to start a process outside commands.py, each with why. None is needed:
# the long-running programs (JupyterLab, Voila, the hub's services) run in the process
# that the supervisor or Slurm started, or take it over by exec; none is a child of the
# workbench's code.
EXCEPTIONS: dict[str, str] = {}


def processes_started(path: Path) -> list[str]:
    """'line: module.name' for each use in ``path`` of what starts a process (through
    ``import x as y`` and ``from x import name`` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    modules, names = {}, {}  # local name: module; local name: (module, name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in STARTS_A_PROCESS:
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in STARTS_A_PROCESS:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio.subprocess":
            for alias in node.names:
                names[alias.asname or alias.name] = ("asyncio", alias.name)
    found = []
    for node in ast.walk(tree):
        used = None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            used = (modules.get(node.value.id), node.attr)
            if node.attr in LOOP_RUNNERS:
                used = ("loop", node.attr)
        elif isinstance(node, ast.Name) and node.id in names:
            used = names[node.id]
        if used and (used[0] == "loop" or used[1] in STARTS_A_PROCESS.get(used[0], ())):
            found.append(f"{node.lineno}: {used[0]}.{used[1]}")
    return found


def test_every_command_runs_through_commands_py():
    """Argument lists, timeouts, SIGTERM then SIGKILL, failures in words: no module of
    the package starts a process but aiworkbench.core.commands."""
    found = {
        str(path.relative_to(PACKAGE)): started
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != RUNNER and str(path.relative_to(PACKAGE)) not in EXCEPTIONS
        if (started := processes_started(path))
    }
    assert found == {}
    assert processes_started(RUNNER)  # the scan finds what the runner itself starts


def test_the_scan_finds_each_way_of_starting_a_process(tmp_path):
    code = tmp_path / "sneaky.py"
    code.write_text(
        "import os, asyncio\n"
        "import subprocess as sp\n"
        "from subprocess import check_output as co\n"
        "from asyncio.subprocess import create_subprocess_exec\n"
        "sp.run(['x'])\n"
        "co(['x'])\n"
        "os.system('x')\n"
        "asyncio.create_subprocess_shell('x')\n"
        "loop.subprocess_exec(f, 'x')\n"
        "create_subprocess_exec('x')\n"
        "os.execvpe('x', ['x'], {})\n"  # exec: this process becomes x, allowed
        "sp.CompletedProcess(['x'], 0)\n"  # a result, not a run
    )
    assert sorted(processes_started(code), key=lambda s: int(s.split(":")[0])) == [
        "5: subprocess.run",
        "6: subprocess.check_output",
        "7: os.system",
        "8: asyncio.create_subprocess_shell",
        "9: loop.subprocess_exec",
        "10: asyncio.create_subprocess_exec",
    ]
