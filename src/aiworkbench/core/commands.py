"""Running the tools the workbench uses (Slurm's commands, the database tools, setfacl,
sinfo): one road, argument lists only, never through a shell.

    out = commands.run(["squeue", "--noheader", "--jobs", job_id], timeout=30)
    out = await commands.run_async(argv, input=script, env=env)     # in the hub

Both return the command's standard output, or raise :class:`CommandError`, whose
message says which command failed and why: it could not be run (not installed), it
did not answer within its timeout, or it exited non-zero (with the first lines of
what it wrote on standard error). The error keeps the exit status and both outputs,
so a query whose non-zero exit only means "nothing found" can still be read
(:func:`output`). ``error=`` names the :class:`CommandError` subclass to raise
(``slurm.SlurmError``, ``backup.ToolFailed``), which may word an exit its own way.

Standard library only: the hub, the services, the admin tools and the notebook side
all use it.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

DEFAULT_TIMEOUT = 60.0  # seconds; None: wait as long as it takes
END_GRACE_S = 2.0  # after SIGTERM, before SIGKILL, for a command whose wait was given up
SAID_LINES = 10  # lines of standard error a message quotes (the last one included)
SAID_CHARS = 2000
# Commands that run the command after their options as another user: a message names
# that command, not them.
WRAPPERS = ("sudo", "runuser")
WRAPPER_VALUE_OPTIONS = ("-u", "--user", "-g", "--group")  # options followed by a value


def command_name(argv) -> str:
    """The program ``argv`` runs, past ``sudo``/``runuser`` and their options:
    ``sudo --user reader -- /usr/bin/squeue ...`` is ``squeue``."""
    args = list(argv)
    while len(args) > 1 and Path(args[0]).name in WRAPPERS:
        rest, i = args[1:], 0
        while i < len(rest) and rest[i].startswith("-") and rest[i] != "--":
            i += 2 if rest[i] in WRAPPER_VALUE_OPTIONS else 1
        args = rest[i + 1 :] if i < len(rest) and rest[i] == "--" else rest[i:]
    return Path(args[0] if args else argv[0]).name


def said(text: str) -> str:
    """What a command wrote, short enough for a message: its first lines, and its last
    line when it wrote more (where tools that print warnings first put the error)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if len(lines) > SAID_LINES:
        lines = [*lines[: SAID_LINES - 2], "...", lines[-1]]
    joined = "\n".join(lines)
    return joined if len(joined) <= SAID_CHARS else joined[: SAID_CHARS - 3] + "..."


class CommandError(RuntimeError):
    """A command could not be run, did not answer in time, or exited non-zero; the
    message says which and why. ``returncode`` is None unless it exited; ``stdout`` and
    ``stderr`` are what it wrote; ``why`` is the reason alone."""

    def __init__(
        self,
        message: str,
        *,
        argv=(),
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
        why: str = "",
    ):
        super().__init__(message)
        self.argv, self.returncode = list(argv), returncode
        self.stdout, self.stderr, self.why = stdout, stderr, why or message

    @property
    def exited(self) -> bool:
        """True when the command ran and exited non-zero (it answered, with a failure)."""
        return self.returncode is not None

    @classmethod
    def cannot_run(cls, argv, err: OSError) -> CommandError:
        why = err.strerror or str(err)
        hint = "; is it installed?" if isinstance(err, FileNotFoundError) else ""
        return cls(f"cannot run {argv[0]}: {why}{hint}", argv=argv, why=why)

    @classmethod
    def timed_out(cls, argv, timeout: float) -> CommandError:
        why = f"did not answer within {timeout:g}s"
        return cls(f"{command_name(argv)} {why}", argv=argv, why=why)

    @classmethod
    def failed(cls, argv, returncode: int, stdout: str, stderr: str) -> CommandError:
        return cls(
            cls.exit_message(argv, returncode, stderr),
            argv=argv,
            returncode=returncode,
            stdout=stdout,
            stderr=stderr,
            why=f"exit status {returncode}",
        )

    @staticmethod
    def exit_message(argv, returncode: int, stderr: str) -> str:
        return (
            f"{command_name(argv)} failed (exit status {returncode}): "
            f"{said(stderr) or 'no message'}"
        )


def _checked(argv) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise TypeError(f"a command is an argument list, not a string: {argv!r}")
    return [str(arg) for arg in argv]


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


def run(
    argv,
    *,
    input: str | None = None,
    env: dict | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    cwd: str | None = None,
    error: type[CommandError] = CommandError,
) -> str:
    """Run ``argv`` (no shell) with ``input`` on its standard input (none: an empty
    one); its standard output, or ``error`` (a :class:`CommandError`)."""
    argv = _checked(argv)
    try:
        done = subprocess.run(
            argv,
            input=None if input is None else input.encode(),
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except OSError as err:
        raise error.cannot_run(argv, err) from None
    except subprocess.TimeoutExpired:  # the command was killed
        raise error.timed_out(argv, timeout) from None
    if done.returncode != 0:
        raise error.failed(argv, done.returncode, _text(done.stdout), _text(done.stderr))
    return _text(done.stdout)


async def run_async(
    argv,
    *,
    input: str | None = None,
    env: dict | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    cwd: str | None = None,
    error: type[CommandError] = CommandError,
    merge_stderr: bool = False,
) -> str:
    """:func:`run` for an event loop (the hub's): the loop goes on while it runs.
    ``merge_stderr``: standard error goes into the output too (``sbatch --test-only``
    answers there)."""
    argv = _checked(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise error.cannot_run(argv, err) from None
    try:
        out, errors = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else b""), timeout
        )
    except TimeoutError:
        await _end(proc)
        raise error.timed_out(argv, timeout) from None
    except asyncio.CancelledError:
        # Whoever waited gave up (a spawn at its start_timeout): the command must not
        # go on alone (an sbatch would then submit a job nobody owns).
        await asyncio.shield(_end(proc))
        raise
    if proc.returncode != 0:
        raise error.failed(argv, proc.returncode, _text(out), _text(errors))
    return _text(out)


async def _end(proc, grace: float = END_GRACE_S) -> None:
    """End ``proc`` if it still runs, and reap it: SIGTERM first (sudo passes it on to
    the command it runs, which a SIGKILL of sudo would leave running), SIGKILL after
    ``grace`` seconds."""
    if proc.returncode is None:
        try:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), grace)
        except (ProcessLookupError, TimeoutError):
            pass
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    await proc.wait()


def output(argv, *, run=run, **kwargs) -> str:
    """``argv``'s standard output whatever its exit status: for a query whose non-zero
    exit only means it found nothing (``squeue --jobs`` or ``scontrol show job`` for a
    job Slurm no longer knows) and a command whose failure changes nothing (``scancel``
    of a job that ended). Raises :class:`CommandError` only when it could not be run or
    did not answer. ``run``: the runner (tests give their own)."""
    try:
        return run(argv, **kwargs)
    except CommandError as err:
        if not err.exited:
            raise
        return err.stdout
