"""Dashboards benchmark: a million jobs, against querying sacct directly.

    .venv/bin/python benchmarks/dashboards_benchmark.py [--jobs 1000000] [--rounds 10]
        [--voila /opt/aiworkbench/env/bin/voila] [--workdir DIR]

Run as root on the factory machine (the stock recipe's sacct runs on the dev
cluster). Everything else is built in --workdir (default: a temporary folder,
removed at the end).

1. History: --jobs records from the generator, in sacct's output format.
2. Ingestion: the records arrive in --rounds windows, each upserted like one
   ingestion round (the last window again, overlapping, as the next round reads
   it); records per second over all rounds.
3. First render of each dashboard, through a real Voila server (the kernel
   environment's ``voila``, standalone on loopback, on the 1M store): the time
   from the request to the full page, which Voila sends once the notebook has
   run (kernel start, imports, queries, widgets). Three requests per dashboard,
   each with a fresh kernel; also the dashboard's own build time in-process.
4. Filter changes: in one process, per dashboard, changing the date range,
   a project and a partition: the time until the charts and tables hold the new
   numbers (queries + widget updates).
5. Stock recipe, the same usage view without the store: run ``sacct`` for the
   window and compute GPU-hours per project and week with pandas. The dev
   cluster holds only the jobs the tests ran, so (a) the real ``sacct`` time per
   record is measured there, and (b) parsing and aggregating what sacct prints
   for the 1M jobs is measured on the generated text; the estimate for 1M is
   (a) x 1M + (b).
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aiworkbench.dashboards import history, ingest, views  # noqa: E402
from aiworkbench.dashboards.store import Store  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "example_notebooks" / "dashboards"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def generate(path: Path, jobs: int) -> list[str]:
    started = time.perf_counter()
    records = list(history.generate(jobs, seed=1))
    lines = [history.line(r) for r in records]
    path.write_text("".join(lines))
    print(f"history: {jobs:,} jobs generated in {time.perf_counter() - started:.1f} s")
    return lines, records


def ingest_rounds(store_path: Path, lines: list[str], records, rounds: int) -> float:
    store = Store(store_path)
    size = -(-len(lines) // rounds)
    total, took = 0, 0.0
    for i in range(rounds):
        window = lines[max(i * size - 1000, 0) : (i + 1) * size]  # 1000 overlap
        started = time.perf_counter()
        total += store.ingest_text("".join(window))
        took += time.perf_counter() - started
    as_of = datetime.fromisoformat(records[-1]["End"])
    store.replace("budgets", [(*b, as_of) for b in history.budgets(records)])
    store.record_idle(history.idle_periods(records))
    store.replace(
        "progress",
        [
            (
                "intro",
                "first-steps",
                f"intro-{i:02d}",
                f"e{j}",
                1 + (i + j) % 4,
                (i + j) % 3 != 0,
                as_of,
                20,
                as_of,
            )
            for i in range(1, 21)
            for j in range(10)
        ],
    )
    rate = total / took
    print(
        f"ingestion: {total:,} records in {rounds} rounds (1,000 overlapping each): "
        f"{took:.2f} s, {rate:,.0f} records/s; {store.count():,} jobs stored"
    )
    store.close()
    return rate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def voila_first_renders(voila: str, store_path: Path, tries: int = 3) -> dict[str, list[float]]:
    port = free_port()
    env = dict(
        os.environ,
        AIWORKBENCH_DASHBOARDS_STORE=str(store_path),
        PYTHONPATH=os.pathsep.join(sys.path[:2]),
    )
    server = subprocess.Popen(
        [
            voila,
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--VoilaConfiguration.show_tracebacks=True",
            str(NOTEBOOKS),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    times: dict[str, list[float]] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.2)
        for name in views.DASHBOARDS:
            times[name] = []
            for _ in range(tries):
                started = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request("GET", f"/voila/render/{name}.ipynb")
                response = conn.getresponse()
                body = response.read().decode()
                took = time.perf_counter() - started
                conn.close()
                if response.status != 200 or "application/vnd.jupyter.widget-view+json" not in body:
                    raise SystemExit(
                        f"voila answered {response.status} for {name} without "
                        f"a widget:\n{body[-2000:]}"
                    )
                if "Traceback" in body or "No data" in body:
                    raise SystemExit(f"{name} failed in voila:\n{body[-3000:]}")
                times[name].append(took)
    finally:
        server.terminate()
        server.wait(10)
    return times


def filter_changes(store_path: Path) -> dict[str, tuple[float, float, float]]:
    out = {}
    for name, cls in views.DASHBOARDS.items():
        started = time.perf_counter()
        board = cls(str(store_path))
        build = time.perf_counter() - started
        changes = []
        end = board.until.value
        for change in range(9):
            started = time.perf_counter()
            if change % 3 == 0:
                board.since.value = end - timedelta(days=30 + 20 * change)
            elif change % 3 == 1:
                board.projects.value = (board.projects.options[change],)
            else:
                board.projects.value = ()
                if board.uses_partitions:
                    board.partitions.value = (board.partitions.options[change % 2],)
            changes.append(time.perf_counter() - started)
        out[name] = (build, statistics.median(changes), max(changes))
        board.close()
    return out


def stock_usage(text_path: Path, lines: int) -> tuple[float, float, int]:
    """(sacct seconds per record on the dev cluster, parse+aggregate seconds for the
    generated text, the dev cluster's record count)."""
    import pandas as pd

    argv = ingest.sacct_argv(datetime(2020, 1, 1), datetime.now())
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    sacct_s = time.perf_counter() - started
    real = max(len(out.splitlines()), 1)
    started = time.perf_counter()
    frame = pd.read_csv(
        text_path,
        sep=history.DELIMITER,
        names=list(history.FORMAT),
        dtype=str,
        engine="c",
        quoting=3,
    )
    frame["End"] = pd.to_datetime(frame["End"], errors="coerce")
    gpus = frame["AllocTRES"].str.extract(r"gres/gpu=(\d+)", expand=False).fillna("0").astype(int)
    frame["gpu_hours"] = frame["ElapsedRaw"].astype(int) * gpus / 3600
    end = frame["End"].max()
    window = frame[frame["End"] >= end - pd.Timedelta(days=90)]
    window.groupby([window["End"].dt.to_period("W"), "Account"])["gpu_hours"].sum()
    parse_s = time.perf_counter() - started
    return sacct_s / real, parse_s, real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--voila", default="/opt/aiworkbench/env/bin/voila")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dash-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"# dashboards benchmark, {date.today()}, {platform.node()}, "
        f"{os.cpu_count()} cores; command: {' '.join(sys.argv)}"
    )
    try:
        text_path, store_path = work / "sacct.txt", work / "store.duckdb"
        store_path.unlink(missing_ok=True)
        lines, records = generate(text_path, args.jobs)
        ingest_rounds(store_path, lines, records, args.rounds)
        del lines, records
        renders = voila_first_renders(args.voila, store_path)
        for name, values in renders.items():
            print(
                f"first render through Voila, {name}: median {ms(statistics.median(values))}, "
                f"worst {ms(max(values))} ({len(values)} fresh kernels)"
            )
        for name, (build, median, worst) in filter_changes(store_path).items():
            print(
                f"{name}: build in-process {ms(build)}; filter change median {ms(median)}, "
                f"worst {ms(worst)}"
            )
        per_record, parse_s, real = stock_usage(text_path, args.jobs)
        estimate = per_record * args.jobs + parse_s
        usage_render = statistics.median(renders["usage"])
        print(
            f"stock recipe (sacct + pandas, usage view): sacct on the dev cluster "
            f"{per_record * real:.3f} s for {real:,} real jobs ({per_record * 1e6:.0f} "
            f"us/record, its start-up included); parsing and aggregating "
            f"{args.jobs:,} records {parse_s:.2f} s; linear estimate for {args.jobs:,}: "
            f"{estimate:.1f} s per view"
        )
        print(
            f"usage first render {usage_render:.2f} s: ratio {usage_render / estimate:.3f} "
            f"to the estimate, {usage_render / parse_s:.2f} to parsing alone (no sacct)"
        )
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
