"""Extend: add time to one running notebook session, as root, for the hub.

Slurm lets only operators raise a job's time limit, so the hub calls this helper
through its own sudoers line (``sudo -n PREFIX/hub/bin/python3 -I -m
aiworkbench.sessions.extend --user U --job J --minutes M``). The hub is trusted to
say who asks; everything else is checked here again, from Slurm and the site
file, whatever the hub already checked:

* the arguments: a factory user's name, a job number, whole minutes within
  :data:`MIN_MINUTES`..:data:`MAX_MINUTES` (argparse; nothing reaches a shell);
* the job is that user's, is a notebook session (``jupyter-USER``, the name the
  spawner's batch script gives it) and is running;
* its new time limit stays within what its partition and its project allow for
  one session;
* its project's budget pays for the added time (GPUs and cores times minutes).

Then ``scontrol update`` sets the new limit, and one line goes to the log (who
asked, for whom, which job, how much, the old and new limits). Exit status 0:
done (its JSON on standard output); 3: refused (one sentence on standard error,
saying what is allowed); 2: malformed arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass

from aiworkbench.budgets import accounting
from aiworkbench.core import commands, names, slurm
from aiworkbench.core.problems import Refused
from aiworkbench.core.site import SITE_FILE, load_site
from aiworkbench.core.units import hours_text

MIN_MINUTES = 15
MAX_MINUTES = 24 * 60
LOG = "/var/log/aiworkbench/extend.log"
JOB_ID = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class SessionJob:
    job_id: str
    user: str
    name: str
    project: str
    partition: str
    state: str
    limit_minutes: int
    cpus: int
    gpus: int


def parse_show_job(text: str) -> SessionJob | None:
    """``scontrol show job -o JOB``'s one line as a SessionJob (None if it names none)."""
    fields = dict(word.split("=", 1) for word in text.split() if "=" in word)
    if "JobId" not in fields:
        return None
    minutes = slurm.limit_minutes(fields.get("TimeLimit", "")) or 0
    tres = slurm.parse_tres(fields.get("TRES", ""))
    return SessionJob(
        job_id=fields["JobId"],
        user=fields.get("UserId", "").split("(")[0],
        name=fields.get("JobName", ""),
        project=fields.get("Account", ""),
        partition=fields.get("Partition", ""),
        state=fields.get("JobState", ""),
        limit_minutes=minutes,
        cpus=tres.get("cpu", 0),
        gpus=tres.get("gres/gpu", 0),
    )


def check(
    site,
    job: SessionJob | None,
    user: str,
    job_id: str,
    minutes: int,
    budget: accounting.ProjectBudget | None,
) -> int:
    """The new time limit in minutes if ``user`` may add ``minutes`` to ``job``; raise
    Refused saying why and what is allowed otherwise."""
    if job is None:
        raise Refused(404, f"there is no job {job_id}")
    if job.user != user:
        raise Refused(403, f"job {job_id} is not yours: only your own sessions can be extended")
    if job.name != f"jupyter-{user}":
        raise Refused(
            403,
            f"job {job_id} is not a notebook session: only sessions started "
            f"from the workbench can be extended",
        )
    if job.state != "RUNNING":
        raise Refused(
            409,
            f"job {job_id} is {job.state.lower()}, not running: only a running "
            f"session can be extended",
        )
    limits = site.session_limits(job.project, job.partition)
    if limits is None:
        raise Refused(403, f"project {job.project} may not use partition {job.partition}")
    allowed = limits.max_hours * 60
    new_limit = job.limit_minutes + minutes
    if new_limit > allowed:
        room = allowed - job.limit_minutes
        more = (
            f"you may add at most {hours_text(room)}"
            if room >= MIN_MINUTES
            else "it cannot be extended further"
        )
        raise Refused(
            400,
            f"a session may run at most {limits.max_hours} h on partition "
            f"{job.partition} for project {job.project}; this one has "
            f"{hours_text(job.limit_minutes)} already: {more}",
        )
    why = budget and accounting.refusal(
        budget, {"gpu": job.gpus * minutes, "cpu": job.cpus * minutes}
    )
    if why:
        raise Refused(400, f"not enough budget: adding {hours_text(minutes)} {why}")
    return new_limit


def project_budget(project: str, run=commands.run) -> accounting.ProjectBudget | None:
    """``project``'s budget now, read as root (one ``sshare`` and one ``squeue``)."""
    try:
        shares = run(accounting.sshare_argv(), timeout=30)
        running = run(accounting.squeue_running_argv(), timeout=30)
    except commands.CommandError as err:
        raise Refused(
            503, f"Slurm accounting cannot be read, so the budget cannot be checked: {err}"
        ) from None
    return accounting.build_snapshot(shares, running, time.time()).projects.get(project)


def extend(
    site, user: str, job_id: str, minutes: int, caller: str, run=commands.run, log_path: str = LOG
) -> dict:
    """Check, then raise the time limit; what was done. ``run``: the command runner
    (argument lists; tests give their own)."""
    job = parse_show_job(
        commands.output(["scontrol", "show", "job", "--oneliner", job_id], run=run, timeout=30)
    )
    budget = project_budget(job.project, run) if job is not None else None
    new_limit = check(site, job, user, job_id, minutes, budget)
    run(["scontrol", "update", f"JobId={job_id}", f"TimeLimit={new_limit}"], timeout=30)
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "caller": caller,
        "user": user,
        "job": job_id,
        "added_minutes": minutes,
        "old_limit_minutes": job.limit_minutes,
        "time_limit_minutes": new_limit,
    }
    os.makedirs(os.path.dirname(log_path), mode=0o750, exist_ok=True)
    # Readable by root and the log's group only: it names users and their jobs.
    with os.fdopen(
        os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640), "a", encoding="utf-8"
    ) as log:
        log.write(json.dumps(record) + "\n")
    return record


def _minutes(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not MIN_MINUTES <= int(text) <= MAX_MINUTES:
        raise argparse.ArgumentTypeError(
            f"must be whole minutes from {MIN_MINUTES} to {MAX_MINUTES}, got {text[:20]!r}"
        )
    return int(text)


def _job(text: str) -> str:
    if not JOB_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a job number")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aiworkbench.sessions.extend",
        description="Add time to one running notebook session (run by the hub, as root).",
    )
    parser.add_argument("--user", type=names.USER.argument(), required=True, help="whose session")
    parser.add_argument("--job", type=_job, required=True, help="the session's job id")
    parser.add_argument("--minutes", type=_minutes, required=True, help="minutes to add")
    args = parser.parse_args(argv)
    site = load_site(SITE_FILE)  # never a path its caller names: it runs as root
    if args.user not in site.users:
        print(f"refused: {args.user} is not a factory user", file=sys.stderr)
        return 3
    caller = os.environ.get("SUDO_USER", "") or "root"
    try:
        record = extend(site, args.user, args.job, args.minutes, caller)
    except Refused as err:
        print(f"refused: {err.message}", file=sys.stderr)
        return 3
    except commands.CommandError as err:
        print(f"failed: Slurm did not take it: {err}", file=sys.stderr)
        return 1
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
