"""The dashboards' store (issue 7, in progress): generated accounting history ingested
into DuckDB gives the same totals and waits as an independent computation, and
re-ingesting an overlapping window changes nothing."""

import collections
import math
from datetime import datetime

from aiworkbench.dashboards.history import FORMAT, generate
from aiworkbench.dashboards.store import Store


def test_totals_and_waits_equal_an_independent_computation():
    records = list(generate(5000, seed=3, projects=20, users=100))
    text = "\n".join("|".join(r[k] for k in FORMAT) for r in records)
    store = Store()
    assert store.ingest_text(text) == 5000
    gpu_hours = collections.Counter()
    waits = collections.defaultdict(list)
    for r in records:
        tres = dict(p.split("=") for p in r["AllocTRES"].split(",") if p)
        gpu_hours[r["Account"]] += int(r["ElapsedRaw"]) * int(tres.get("gres/gpu", 0)) / 3600
        if r["Start"] != "Unknown":
            waits[r["Partition"]].append((datetime.fromisoformat(r["Start"]) -
                                          datetime.fromisoformat(r["Submit"])).total_seconds())
    stored = dict(store.db.execute("SELECT account, sum(gpu_hours) FROM jobs GROUP BY 1")
                  .fetchall())
    assert {k: round(v, 6) for k, v in stored.items() if v} == {
        k: round(v, 6) for k, v in gpu_hours.items() if v}
    for partition, values in waits.items():
        [(p95,)] = store.db.execute("SELECT quantile_disc(wait_s, 0.95) FROM jobs WHERE "
                                    "partition = ? AND wait_s IS NOT NULL",
                                    [partition]).fetchall()
        nearest_rank = sorted(values)[math.ceil(0.95 * len(values)) - 1]
        assert p95 == nearest_rank, partition
    assert store.ingest_text("\n".join(text.splitlines()[-500:])) == 500  # overlap
    assert store.count() == 5000


def test_panel_queries_filter_and_agree_with_the_records():
    from aiworkbench.dashboards import queries

    records = list(generate(3000, seed=5, projects=10, users=50))
    store = Store()
    store.ingest_text("\n".join("|".join(r[k] for k in FORMAT) for r in records))
    everything = queries.Filters()
    totals = {row[0]: row[3] for row in queries.project_totals(store, everything).rows}
    assert totals == collections.Counter(r["Account"] for r in records)
    gpu_only = queries.Filters(partitions=("gpu",))
    [(partition, p50, p95, jobs)] = queries.queue_waits(store, gpu_only).rows
    waits = sorted((datetime.fromisoformat(r["Start"]) - datetime.fromisoformat(r["Submit"]))
                   .total_seconds() for r in records
                   if r["Partition"] == "gpu" and r["Start"] != "Unknown")
    assert (partition, jobs, p95) == ("gpu", len(waits), waits[math.ceil(0.95 * len(waits)) - 1])
    [top, *_] = queries.pending_reasons(store, everything).rows
    assert top[1] == max(collections.Counter(
        r["Reason"] for r in records if r["Reason"] != "None").values())
