"""Incremental ingestion into the dashboards' store, from the sources of truth.

Each round (:meth:`Ingestor.once`, every ``dashboards.ingest_seconds`` in the
dashboards service) reads:

* **jobs** with one ``sacct`` over the window since the last successful read (less
  :data:`OVERLAP`: jobs that changed meanwhile are upserted), or over
  ``history_days`` the first time;
* **budgets** with one ``sshare`` (the same reading as the hub's budgets);
* **pending jobs** with one ``squeue``;
* **sessions and idle GPUs** from the hub (``GET /hub/api/aiworkbench/sessions``, scope
  ``read:servers``): idle periods are extended while they last, so GPU-hours wasted
  by idle sessions add up over time;
* **course progress** per class from the workbench API.

A source that fails keeps its last rows and its error is stored (``meta``
``error:SOURCE``) for the dashboards to show; the others go on. Commands are
argument lists; nothing passes through a shell.

    aiworkbench-dashboards-ingest --store PATH [--every SECONDS]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import urllib.parse
from datetime import datetime, timedelta

from aiworkbench.budgets import accounting
from aiworkbench.core import commands, slurm
from aiworkbench.core.commands import CommandError
from aiworkbench.dashboards.history import DELIMITER, FORMAT
from aiworkbench.dashboards.store import StoreError, open_store
from aiworkbench.widgets.api_client import WorkbenchAPIError, api_get

log = logging.getLogger("aiworkbench.dashboards.ingest")
TIMEOUT = 300  # seconds a query may take (a year of sacct, the first time)
OVERLAP = timedelta(minutes=10)  # re-read before the watermark: clocks and late updates
STAMP = "%Y-%m-%dT%H:%M:%S"
SESSIONS_PATH = "aiworkbench/sessions"  # under the hub's API (gpu_idle.SESSIONS_ROUTE)
SOURCES = ("jobs", "budgets", "pending", "sessions", "progress")


def sacct_argv(since: datetime, until: datetime) -> list[str]:
    """Every user's jobs (allocations, not steps) in any state during [since, until]."""
    return [
        "sacct",
        "--allusers",
        "--allocations",
        "--noheader",
        "--parsable2",
        f"--delimiter={DELIMITER}",
        f"--format={','.join(FORMAT)}",
        f"--starttime={since.strftime(STAMP)}",
        f"--endtime={until.strftime(STAMP)}",
    ]


def squeue_pending_argv() -> list[str]:
    return ["squeue", "--all", "--noheader", "--states=PENDING", "--format=%i|%u|%a|%P|%r|%V"]


def parse_pending(text: str, now: datetime) -> list[tuple]:
    rows = []
    for fields in slurm.split_rows(text, 6):
        if not fields[0].isdigit():
            continue
        job, user, account, partition, reason, submit = fields
        rows.append((int(job), user, account, partition, reason, _stamp(submit), now))
    return rows


def _stamp(text: str | None) -> datetime | None:
    """A Slurm or hub time (local, or ISO with a zone) as naive local time, like sacct's."""
    if not text or text in ("Unknown", "N/A", "None"):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def run(argv: list[str], timeout: float = TIMEOUT, env: dict | None = None) -> str:
    """A query's output (:func:`aiworkbench.core.commands.run`, the ingestion's timeout)."""
    return commands.run(argv, timeout=timeout, env=env)


def reader_run(reader: str):
    """Slurm's queries with the sight of the Slurm ``reader`` (through sudo; PrivateData
    hides every other user's jobs and usage from the dashboards' own user)."""
    return slurm.reader_run(reader, runner=run)


class Ingestor:
    """One round of reading every source into the store at ``path``."""

    def __init__(
        self, path: str, *, history_days: int = 365, run=run, environ: dict[str, str] | None = None
    ):
        self.path, self.history_days, self.run = path, history_days, run
        self.environ = os.environ if environ is None else environ

    def once(self, now: datetime | None = None) -> dict[str, object]:
        """Read every source; per source, rows taken or the error."""
        now = now or datetime.now().replace(microsecond=0)
        outcome: dict[str, object] = {}
        with open_store(self.path, readonly=False) as store:
            for source in SOURCES:
                try:
                    outcome[source] = getattr(self, source)(store, now)
                    store.set_meta(f"error:{source}", "")
                    store.set_meta(f"read:{source}", now.isoformat())
                except (CommandError, OSError, RuntimeError, ValueError, WorkbenchAPIError) as err:
                    log.warning("dashboards ingestion: %s: %s", source, err)
                    outcome[source] = f"error: {err}"
                    store.set_meta(f"error:{source}", f"{now.isoformat()} {err}"[:500])
        return outcome

    # --- the sources ----------------------------------------------------------------
    def jobs(self, store, now: datetime) -> int:
        mark = store.watermark()
        since = mark - OVERLAP if mark else now - timedelta(days=self.history_days)
        count = store.ingest_text(self.run(sacct_argv(since, now)))
        store.set_meta("sacct_until", now.isoformat())
        return count

    def budgets(self, store, now: datetime) -> int:
        projects = accounting.parse_sshare(self.run(accounting.sshare_argv()))
        rows = []
        for name, budget in sorted(projects.items()):
            gpu, cpu = budget.budgets["gpu"], budget.budgets["cpu"]
            rows.append((name, gpu.limit, gpu.used, cpu.limit, cpu.used, now))
        store.replace("budgets", rows)
        return len(rows)

    def pending(self, store, now: datetime) -> int:
        rows = parse_pending(self.run(squeue_pending_argv()), now)
        store.replace("pending", rows)
        return len(rows)

    def _hub(self, path: str) -> dict:
        hub_api = self.environ.get("JUPYTERHUB_API_URL", "")
        if not hub_api:
            raise WorkbenchAPIError(
                "JUPYTERHUB_API_URL is not set: aiworkbench-service "
                "dashboards starts the service with it"
            )
        return api_get(
            path,
            environ={
                "AIWORKBENCH_API_URL": hub_api,
                "JUPYTERHUB_API_TOKEN": self.environ.get("JUPYTERHUB_API_TOKEN", ""),
            },
        )

    def sessions(self, store, now: datetime) -> int:
        rows, idle = [], []
        for s in self._hub(SESSIONS_PATH).get("sessions", []):
            since = _stamp(s.get("gpu_idle_since"))
            job_id = int(s["job_id"]) if str(s.get("job_id") or "").isdigit() else None
            rows.append(
                (
                    s["user"],
                    s.get("server", ""),
                    job_id,
                    s.get("project"),
                    s.get("partition"),
                    int(s.get("gpus") or 0),
                    _stamp(s.get("started")),
                    _stamp(s.get("last_activity")),
                    since,
                    now,
                )
            )
            if since is not None and job_id is not None and s.get("gpus"):
                idle.append(
                    (
                        job_id,
                        s["user"],
                        s.get("project"),
                        s.get("partition"),
                        int(s["gpus"]),
                        since,
                        now,
                    )
                )
        store.replace("sessions", rows)
        store.record_idle(idle)
        return len(rows)

    def progress(self, store, now: datetime) -> int:
        rows = []
        for klass in api_get("classes", environ=self.environ).get("classes", []):
            name = klass["name"]
            answer = api_get(
                f"classes/{urllib.parse.quote(name, safe='')}/progress", environ=self.environ
            )
            learners = len(answer.get("members", []))
            for r in answer.get("records", []):
                rows.append(
                    (
                        name,
                        r["course"],
                        r["user"],
                        r["exercise"],
                        r["attempts"],
                        bool(r["passed"]),
                        _stamp(r.get("last_attempt")),
                        learners,
                        now,
                    )
                )
            if not answer.get("records"):  # a class with nobody started still shows
                rows.append((name, None, None, None, 0, False, None, learners, now))
        store.replace("progress", rows)
        return len(rows)


def loop(ingestor: Ingestor, every: float, stop=None, first_after: float = 0) -> None:
    """Ingest every ``every`` seconds, the first time after ``first_after`` seconds,
    until ``stop`` (a threading.Event) is set."""
    if first_after and (stop.wait(first_after) if stop else time.sleep(first_after)):
        return
    while stop is None or not stop.is_set():
        started = time.monotonic()
        try:
            outcome = ingestor.once()
            log.info("dashboards ingestion: %s", outcome)
        except StoreError as err:
            log.warning("dashboards ingestion skipped: %s", err)
        except Exception:  # the loop outlives any one round; the next may succeed
            log.exception("dashboards ingestion failed")
        wait = max(every - (time.monotonic() - started), 1.0)
        if stop is None:
            time.sleep(wait)
        elif stop.wait(wait):
            return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aiworkbench-dashboards-ingest",
        description="Read Slurm accounting, budgets, pending jobs, sessions and course "
        "progress into the dashboards' store (incrementally).",
    )
    parser.add_argument("--store", required=True, help="the DuckDB file")
    parser.add_argument(
        "--every", type=float, default=0, help="repeat every SECONDS (at least 5); 0: once"
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=365,
        help="how far back the first read goes (1 to 3650 days)",
    )
    parser.add_argument(
        "--slurm-reader",
        default="",
        metavar="USER",
        help="read Slurm as this user, through sudo (site slurm.reader); "
        "default: as yourself (root sees everything)",
    )
    args = parser.parse_args(argv)
    if args.every and args.every < 5:
        parser.error("--every must be 0 (once) or at least 5 seconds")
    if not 1 <= args.history_days <= 3650:
        parser.error("--history-days must be from 1 to 3650")
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    ingestor = Ingestor(
        args.store, history_days=args.history_days, run=reader_run(args.slurm_reader)
    )
    if args.every:
        loop(ingestor, args.every)
    try:
        outcome = ingestor.once()
    except StoreError as err:
        sys.exit(f"aiworkbench-dashboards-ingest: {err}")
    for source, result in outcome.items():
        print(f"{source}: {result}")
    if any(isinstance(r, str) for r in outcome.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
