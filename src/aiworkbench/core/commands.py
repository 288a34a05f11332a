"""Running the tools the workbench uses (Slurm's commands, the database tools, setfacl,
sinfo): one road, argument lists only, never through a shell.

    out = commands.run(["squeue", "--noheader", "--jobs", job_id], timeout=30)
    out = await commands.run_async(argv, input=script, env=env)     # in the hub
    done = commands.completed(["ip", "link", "show", name])          # any exit status
    commands.stream(dump_argv, stdout=file, timeout=DUMP_TIMEOUT_S)  # a dump to a file

:func:`run` and :func:`run_async` return the command's standard output, or raise
:class:`CommandError`, whose message says which command failed and why: it could not
be run (not installed), it did not answer within its timeout, or it exited non-zero
(with the first lines of what it wrote on standard error). The error keeps the exit
status and both outputs, so a query whose non-zero exit only means "nothing found" can
still be read (:func:`output`). ``error=`` names the :class:`CommandError` subclass to
raise (``slurm.SlurmError``, ``backup.ToolFailed``), which may word an exit its own way.

Two more for callers with other needs: :func:`completed` returns the exit status and
both outputs whatever the exit status, a program that is not installed included (exit
status 127, as a shell says it), for a caller that decides itself what an exit means
(``make uninstall``); :func:`stream` copies a file to the command's standard input or
its standard output to a file without holding either in memory (the backup's dumps).

A command that does not answer in time is ended as the hub's are: SIGTERM first (sudo
and runuser pass it on to the command they run, which a SIGKILL of them would leave
running), SIGKILL ``END_GRACE_S`` later.

Standard library only: the hub, the services, the admin tools and the notebook side
all use it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

DEFAULT_TIMEOUT = 60.0  # seconds; None: wait as long as it takes
END_GRACE_S = 2.0  # after SIGTERM, before SIGKILL, for a command whose wait was given up
SAID_LINES = 10  # lines of standard error a message quotes (the last one included)
SAID_CHARS = 2000
NOT_FOUND = 127  # completed()'s exit status for a program that is not installed (a shell's)
CHUNK = 1 << 20  # bytes a stream copies at a time
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


def _completed(
    argv: list[str],
    *,
    input: str | None,
    env: dict | None,
    timeout: float | None,
    cwd: str | None,
    error: type[CommandError],
) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end: its exit status and both outputs (text). Raises ``error``
    when it could not be started or did not answer within ``timeout`` (it is ended)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
    except OSError as err:
        raise error.cannot_run(argv, err) from err
    with proc:
        try:
            out, errors = proc.communicate(
                None if input is None else input.encode(), timeout=timeout
            )
        except subprocess.TimeoutExpired as err:
            _stop(proc)
            raise error.timed_out(argv, timeout) from err
        except BaseException:  # interrupted: the command must not go on alone
            _stop(proc)
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, _text(out), _text(errors))


def _stop(proc: subprocess.Popen, grace: float = END_GRACE_S) -> None:
    """:func:`_end` for a command run without an event loop."""
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()


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
    done = _completed(argv, input=input, env=env, timeout=timeout, cwd=cwd, error=error)
    if done.returncode != 0:
        raise error.failed(argv, done.returncode, done.stdout, done.stderr)
    return done.stdout


def completed(
    argv,
    *,
    input: str | None = None,
    env: dict | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    cwd: str | None = None,
    error: type[CommandError] = CommandError,
    missing_ok: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``argv`` (no shell) as :func:`run` does; its exit status and both outputs
    (text) whatever the exit status, for a caller that decides itself what an exit
    means (``make uninstall``: a user already gone, a link that is not there). A
    program that is not installed answers too, unless not ``missing_ok``: exit status
    ``NOT_FOUND`` (127, as a shell says it) and the reason on its standard error.
    Raises ``error`` when the command could not be started otherwise, or did not
    answer within ``timeout``."""
    argv = _checked(argv)
    try:
        return _completed(argv, input=input, env=env, timeout=timeout, cwd=cwd, error=error)
    except CommandError as err:
        if not (missing_ok and isinstance(err.__cause__, FileNotFoundError)):
            raise
        return subprocess.CompletedProcess(argv, NOT_FOUND, "", str(err))


def stream(
    argv,
    *,
    stdin=None,
    stdout=None,
    env: dict | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    cwd: str | None = None,
    error: type[CommandError] = CommandError,
) -> None:
    """Run ``argv`` (no shell) with the binary file ``stdin`` copied to its standard
    input (None: an empty one) and its standard output copied to the binary file
    ``stdout`` (None: kept with its standard error, for the message), a chunk at a
    time: for dumps larger than memory (a gzip file object will do on either side).
    Raises ``error`` as :func:`run` does, the command ended when it did not answer
    within ``timeout``; what it wrote to ``stdout`` until then stays there."""
    argv = _checked(argv)
    with tempfile.TemporaryFile() as said_file:  # on disk: a pipe nobody reads would fill
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=said_file if stdout is None else subprocess.PIPE,
                stderr=said_file,
                env=env,
                cwd=cwd,
            )
        except OSError as err:
            raise error.cannot_run(argv, err) from err
        expired = threading.Event()

        def expire() -> None:
            if proc.poll() is None:
                expired.set()
                _stop(proc)

        timer = threading.Timer(timeout, expire) if timeout is not None else None
        feeder = _Feeder(stdin, proc) if stdin is not None else None
        with proc:
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                if feeder is not None:
                    feeder.start()
                if stdout is not None:
                    shutil.copyfileobj(proc.stdout, stdout, CHUNK)
                proc.wait()
                if feeder is not None:
                    feeder.join()
            except BaseException:  # the file failed, or an interrupt: end the command
                _stop(proc)
                if feeder is not None:
                    feeder.join(END_GRACE_S)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        if expired.is_set():
            raise error.timed_out(argv, timeout)
        if feeder is not None and feeder.failed is not None:
            raise feeder.failed
        if proc.returncode != 0:
            said_file.seek(0)
            raise error.failed(argv, proc.returncode, "", _text(said_file.read()))


class _Feeder(threading.Thread):
    """Copies a file to a command's standard input, then closes it; beside the thread
    that copies its standard output, so that neither waits for the other. When the file
    cannot be read to its end, the command is ended first: it must not take a cut input
    for a whole one."""

    def __init__(self, source, proc: subprocess.Popen):
        super().__init__(name="aiworkbench-command-stdin", daemon=True)
        self.source, self.proc = source, proc
        self.failed: BaseException | None = None  # why the file could not be read

    def run(self) -> None:
        try:
            shutil.copyfileobj(self.source, self.proc.stdin, CHUNK)
        except BrokenPipeError:
            pass  # it stopped reading: its exit status and message say why
        except BaseException as err:  # handed to the caller's thread
            self.failed = err
            _stop(self.proc)
        finally:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass


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
        raise error.cannot_run(argv, err) from err
    try:
        out, errors = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else b""), timeout
        )
    except TimeoutError as err:
        await _end(proc)
        raise error.timed_out(argv, timeout) from err
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
