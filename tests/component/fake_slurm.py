"""A fake Slurm for the spawner's component tests: ``sbatch``, ``squeue``, ``scancel``,
``sacct``, ``sshare`` and the ``sudo`` in front of them, as executables.

:class:`spawner_doubles.FakeSlurm` copies this file into a test's ``bin/`` folder (its
state file beside it) and links every command's name to it, so that the hub's
real ``slurm.run`` finds them on ``PATH`` and runs them as it runs the real ones: an
argument list, the batch script on standard input, no shell. Each command records its
arguments, its standard input, the user sudo ran it as and its environment in the
state file; the test reads them there, and moves jobs along (pending, running, ended)
by editing the same file (``FakeSlurm``).

``sudo`` plays the factory's sudoers rule: ``sbatch``, ``squeue``, ``scancel`` as a
factory user (``-u USER CMD``), ``squeue``, ``sacct``, ``sshare`` as the Slurm reader
(``--non-interactive --user READER -- /usr/bin/CMD``); anything else is refused as sudo
refuses it. Standard library only: it runs as ``python -I -S``.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

STATE = Path(__file__).resolve().parent / "slurm-state.json"  # beside the copy in bin/
UNREACHABLE = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
AS_USER = {"sbatch", "squeue", "scancel", "tail"}  # what the hub may run as a factory user
AS_READER = {"squeue", "sacct", "sshare"}  # what it may run as the Slurm reader
SQUEUE_LETTERS = {
    "i": "job_id",
    "u": "user",
    "P": "partition",
    "T": "state",
    "r": "reason",
    "N": "nodes",
    "S": "start",
    "Q": "priority",
    "l": "time_limit",
}
SQUEUE_NAMES = {
    "JobID": "job_id",
    "UserName": "user",
    "Account": "account",
    "Partition": "partition",
    "tres-alloc": "tres",
    "TimeUsed": "used",
    "TimeLeft": "left",
    "State": "state",
}


@contextmanager
def state():
    """The state, locked for this command; written back when the block ends."""
    with open(STATE, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        data = json.load(f)
        yield data
        f.seek(0)
        f.truncate()
        json.dump(data, f, indent=1)


def option(argv: list[str], name: str) -> str | None:
    for arg in argv:
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def sbatch(data: dict, argv: list[str], script: str) -> tuple[int, str, str]:
    directives = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line[len("#SBATCH --") :].partition("=")
            directives[key] = value
    job_id = str(data["next_id"])
    data["next_id"] += 1
    gpus = directives.get("gres", "").removeprefix("gpu:")
    data["jobs"][job_id] = {
        "job_id": job_id,
        "user": data["calls"][-1]["user"] or "hub",
        "partition": directives.get("partition", "cpu"),
        "state": "PENDING",
        "reason": data["pending_reason"],
        "nodes": "",
        "start": data["expected_start"],
        "priority": 1000,
        "account": directives.get("account", ""),
        "tres": f"cpu={directives.get('cpus-per-task', '1')},mem={directives.get('mem', '')},"
        f"node=1" + (f",gres/gpu={gpus}" if gpus else ""),
        "used": "0:00",
        "left": directives.get("time", "UNLIMITED"),
        "time_limit": directives.get("time", "UNLIMITED"),
    }
    if "--parsable" in argv:
        return 0, f"{job_id}\n", ""
    return 0, f"Submitted batch job {job_id}\n", ""


def squeue(data: dict, argv: list[str]) -> tuple[int, str, str]:
    states = set((option(argv, "--states") or "PENDING,RUNNING").split(","))
    letters = option(argv, "--format")
    names = option(argv, "--Format")
    lines = []
    for job in data["jobs"].values():
        if job["state"] not in states:
            continue
        if letters is not None:
            line = letters
            for letter, key in SQUEUE_LETTERS.items():
                line = line.replace(f"%{letter}", str(job[key] or ""))
        else:  # --Format=JobID:|,UserName:|,...
            line = "".join(
                str(job[SQUEUE_NAMES[item.split(":")[0]]]) + item.split(":", 1)[1]
                for item in names.split(",")
            )
        lines.append(line)
    for job in list(data["jobs"].values()):  # a cancelled job shows COMPLETING once
        if job["state"] == "COMPLETING":
            data["ended"][job["job_id"]] = job.pop("ended")
            del data["jobs"][job["job_id"]]
    return 0, "".join(f"{line}\n" for line in lines), ""


def scancel(data: dict, argv: list[str]) -> tuple[int, str, str]:
    job_id = argv[-1]
    job = data["jobs"].get(job_id)
    if job is None or job["state"] == "COMPLETING":
        return (
            1,
            "",
            (f"scancel: error: Kill job error on job id {job_id}: Invalid job id specified\n"),
        )
    ended = {
        "state": "CANCELLED by 1004",
        "reason": "None",
        "exit_code": "0:15",
        "nodes": job["nodes"] or "None assigned",
    }
    if job["state"] == "RUNNING":
        job["state"], job["ended"] = "COMPLETING", ended
    else:
        data["ended"][job_id] = ended
        del data["jobs"][job_id]
    return 0, "", ""


def sacct(data: dict, argv: list[str]) -> tuple[int, str, str]:
    job_id = option(argv, "--jobs")
    ended = data["ended"].get(job_id)
    if ended is None:
        return 0, "", ""
    first = ended["state"].split()[0]
    return (
        0,
        (
            f"{job_id}|{ended['state']}|{ended['reason']}|{ended['exit_code']}|"
            f"{ended['nodes']}\n{job_id}.batch|{first}||{ended['exit_code']}|"
            f"{ended['nodes']}\n"
        ),
        "",
    )


def sudo(argv: list[str]) -> tuple[str, list[str]] | str:
    """(user, command) of a sudo command line, or sudo's refusal."""
    user, rest = "", list(argv)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag in ("-u", "--user"):
            user = rest.pop(0)
        elif flag == "--":
            break
        elif flag not in ("-n", "--non-interactive"):
            return f"sudo: unknown option {flag}"
    name = Path(rest[0]).name if rest else ""
    if name not in (AS_READER if user == "slurm-reader" else AS_USER):
        return f"Sorry, user hub is not allowed to execute '{' '.join(rest)}' as {user}."
    return user, [name, *rest[1:]]


def run(
    command: str, argv: list[str], user: str, stdin: str, via: list[str]
) -> tuple[int, str, str]:
    if command == "sbatch" and "--test-only" in argv:  # submits nothing: its own record
        command = "sbatch-test-only"
    with state() as data:
        delay = data["delay"].get(command, 0)
        data["started"].append(command)
    time.sleep(delay)  # a slow controller (outside the lock: other commands go on)
    with state() as data:
        data["calls"].append(
            {
                "command": command,
                "argv": argv,
                "user": user,
                "via": via,
                "stdin": stdin,
                "env": dict(os.environ),
            }
        )
        failure = data["fail"].get(command) or (UNREACHABLE if data["down"] else "")
        if failure:
            return 1, "", failure + "\n"
        if command == "sbatch-test-only":
            start = data["expected_start"]
            start = start if start != "N/A" else time.strftime("%Y-%m-%dT%H:%M:%S")
            return (
                0,
                "",
                (
                    f"sbatch: Job {data['next_id']} to start at {start} using 1 "
                    f"processors on nodes gpu-node-3 in partition gpu\n"
                ),
            )
        if command == "sinfo":
            return 0, data["sinfo"], ""
        if command == "tail":  # tail -n N -- PATH, as the user (a session's log)
            path = Path(argv[-1])
            if not path.is_file():
                return 1, "", f"tail: cannot open '{path}' for reading\n"
            return 0, "".join(path.read_text().splitlines(True)[-int(argv[1]) :]), ""
        if command == "sbatch":
            return sbatch(data, argv, stdin)
        if command == "squeue":
            return squeue(data, argv)
        if command == "scancel":
            return scancel(data, argv)
        if command == "sacct":
            return sacct(data, argv)
        return 0, data["sshare"], ""


def main() -> int:
    command, argv, user = Path(sys.argv[0]).name, sys.argv[1:], ""
    via = [command, *argv]  # the command line as run (through sudo or not)
    if command == "sudo":
        ran = sudo(argv)
        if isinstance(ran, str):
            print(ran, file=sys.stderr)
            return 1
        user, (command, *argv) = ran
    # Only sbatch reads its standard input (the script), as the real commands: the hub
    # leaves the others' open.
    stdin = sys.stdin.read() if command == "sbatch" else ""
    code, out, err = run(command, argv, user, stdin, via)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main())
