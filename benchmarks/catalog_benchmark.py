"""Catalog benchmark: search, folder paging and Parquet previews, against the stock recipes.

    .venv/bin/python benchmarks/catalog_benchmark.py [--datasets 10000] [--files 100000]
        [--parquet-gb 1.0] [--queries 500] [--stock-queries 5] [--workdir DIR]
        [--hub http://127.0.0.1:8000 --hub-user student --hub-password student-demo]

Needs no running factory: everything is built in --workdir (default: a temporary
folder, removed at the end) with the synthetic generator, and the API's own
handlers are served by an in-process tornado server on loopback, with the hub's
authentication replaced by a fixed user (the hub's token check and the proxy
hop are measured by benchmarks/api_benchmark.py: a few ms).

1. Search over --datasets synthetic datasets: `GET datasets` with a mix of
   words, filters (modality, format, licence, tag, project) and pages, as user
   `student` (projects edu-intro, sme-trial; one in ten datasets is restricted).
   Stock recipe: what a notebook does without an index, parse every datacard
   and filter them (--stock-queries queries, the same kind).
2. Paging a dataset of --files files in one folder: `GET datasets/NAME/files`
   page by page, 1000 entries a page, every page. Stock recipe: list the
   folder, sort it, stat the page's entries, per page.
3. Previewing a --parquet-gb GB Parquet file: `preview_file` (first 20 rows,
   schema, row count), after dropping the page cache when allowed (root).
   Stock recipe: `pandas.read_parquet(path).head(20)`.
4. With --hub (the factory up): the same search mix against the running
   factory's API through the proxy, with the hub's token check, on whatever
   catalog the factory serves (the demo: five datasets), as --hub-user.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.catalog.index import Index  # noqa: E402
from aiworkbench.catalog.synthetic import KINDS, LICENCES, WORDS, make_catalog  # noqa: E402

USER, PROJECTS = "student", ["edu-intro", "sme-trial"]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
    }


def random_query(rng: random.Random, pages: int = 5) -> dict:
    query = {}
    if rng.random() < 0.7:
        query["q"] = " ".join(rng.sample(WORDS, rng.choice((1, 1, 2))))
    if rng.random() < 0.3:
        query["modality"], fmt = rng.choice(KINDS)
        if rng.random() < 0.5:
            query["format"] = fmt
    if rng.random() < 0.15:
        query["licence"] = rng.choice(LICENCES)
    if rng.random() < 0.15:
        query["tag"] = rng.choice(WORDS)
    if rng.random() < 0.1:
        query["project"] = rng.choice(PROJECTS)
    if rng.random() < 0.3:
        query["page"] = str(rng.randint(2, pages))
    return query


def stock_search(root: Path, query: dict) -> list[str]:
    """Without an index: read every datacard, keep the visible ones that match."""
    found = []
    words = query.get("q", "").lower().split()
    for card_path in sorted(root.glob("*/datacard.toml")):
        card = tomllib.loads(card_path.read_text())
        access = card["access"]
        if access != "public" and not set(access) & set(PROJECTS):
            continue
        text = " ".join(
            [card["name"], card["title"], card["description"], " ".join(card.get("tags", []))]
        ).lower()
        if not all(w in text for w in words):
            continue
        if any(card.get(k) != query[k] for k in ("modality", "format", "licence") if k in query):
            continue
        if "tag" in query and query["tag"] not in card.get("tags", []):
            continue
        if "project" in query and query["project"] not in (access if access != "public" else []):
            continue
        found.append(card["name"])
    page = int(query.get("page", 1))
    return found[(page - 1) * 20 : page * 20]


class ServedAPI:
    """The workbench API's catalog handlers on loopback, the hub's auth replaced."""

    def __init__(self, index_path: Path, root: Path):
        from dataclasses import replace

        from tornado import httpserver, ioloop, netutil

        from aiworkbench.api import app as api_app
        from aiworkbench.api.base import APIHandler
        from aiworkbench.core.site import load_site

        async def fixed_user(handler):
            handler.hub_user = {"name": USER, "scopes": []}

        APIHandler.prepare = fixed_user
        site = load_site(REPO / "hub_config" / "site.toml")
        site = replace(site, catalog=replace(site.catalog, root=str(root), index=str(index_path)))
        ready = threading.Event()

        def serve():
            asyncio.set_event_loop(asyncio.new_event_loop())
            application = api_app.make_app(site, reader=None, prefix="/services/workbench/")
            server = httpserver.HTTPServer(application)
            sockets = netutil.bind_sockets(0, "127.0.0.1")
            server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            ready.set()
            ioloop.IOLoop.current().start()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def get(self, path: str, params: dict | None = None) -> tuple[float, dict]:
        url = f"/services/workbench/api/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        start = time.perf_counter()
        self.conn.request("GET", url)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")
        return elapsed, json.loads(body)


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def write_parquet(path: Path, gigabytes: float) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows_per_group, columns = 1_000_000, 16
    groups = max(1, round(gigabytes * 1e9 / (rows_per_group * columns * 8)))
    rng = np.random.default_rng(1)
    schema = pa.schema([(f"feature_{i:02d}", pa.float64()) for i in range(columns)])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for _ in range(groups):
            writer.write_table(
                pa.table(
                    {name: rng.random(rows_per_group) for name in schema.names}, schema=schema
                ),
                row_group_size=rows_per_group,
            )
    return groups * rows_per_group


def search_through_hub(args, queries: list[dict]) -> dict:
    import requests

    answer = requests.post(
        f"{args.hub}/hub/api/users/{args.hub_user}/tokens",
        json={
            "auth": {"username": args.hub_user, "password": args.hub_password},
            "expires_in": 600,
            "note": "catalog-benchmark",
        },
        timeout=30,
    )
    answer.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"token {answer.json()['token']}"
    url = f"{args.hub}/services/workbench/api/datasets"
    for query in queries[:20]:  # warm-up, and the token's first check with the hub
        session.get(url, params=query, timeout=30).raise_for_status()
    times = []
    for query in queries:
        start = time.perf_counter()
        session.get(url, params=query, timeout=30).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return summary(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100000)
    parser.add_argument("--parquet-gb", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--stock-queries", type=int, default=5)
    parser.add_argument("--workdir", help="keep the generated data here")
    parser.add_argument("--hub", help="also search the running factory through its proxy")
    parser.add_argument("--hub-user", default="student")
    parser.add_argument("--hub-password", default="student-demo")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="catalog-benchmark-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": " ".join(
            [".venv/bin/python", "benchmarks/catalog_benchmark.py", *sys.argv[1:]]
            if argv is None
            else argv
        ),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
    }
    try:
        root = work / "datasets"
        if not (root / f"synthetic-big-{args.files}").is_dir():
            make_catalog(root, args.datasets, files=1)
            big = root / f"synthetic-big-{args.files}"
            big.mkdir()
            (big / "datacard.toml").write_text(
                f'name = "{big.name}"\ntitle = "Synthetic: {args.files} files"\n'
                'description = "Generated test data; not real measurements."\n'
                'owner = "factory-ops"\nlicence = "CC0-1.0"\nmodality = "image"\n'
                'format = "png"\naccess = "public"\n'
            )
            for i in range(args.files):
                (big / f"img-{i:07d}.png").write_bytes(b"")
        index_path = work / "index.sqlite"
        index_path.unlink(missing_ok=True)
        start = time.perf_counter()
        report = Index(index_path).update(root)
        results["index"] = {
            "datasets": len(report.added),
            "seconds": round(time.perf_counter() - start, 1),
        }
        start = time.perf_counter()
        Index(index_path).update(root)
        results["reindex_unchanged_s"] = round(time.perf_counter() - start, 2)

        api = ServedAPI(index_path, root)
        rng = random.Random(7)
        queries = [random_query(rng) for _ in range(args.queries)]
        for query in queries[:20]:  # warm-up
            api.get("datasets", query)
        times, hits = [], []
        for query in queries:
            elapsed, answer = api.get("datasets", query)
            times.append(elapsed)
            hits.append(answer["total"])
        results["search_api"] = summary(times) | {"mean_hits": round(statistics.mean(hits))}
        stock = []
        for query in queries[: args.stock_queries]:
            start = time.perf_counter()
            stock_search(root, query)
            stock.append((time.perf_counter() - start) * 1000)
        results["search_stock"] = summary(stock)

        name, per_page = f"synthetic-big-{args.files}", 1000
        pages = -(-args.files // per_page)
        times = []
        for page in range(1, pages + 1):
            elapsed, answer = api.get(
                f"datasets/{name}/files", {"page": str(page), "per_page": str(per_page)}
            )
            assert len(answer["entries"]) == min(per_page, args.files - (page - 1) * per_page)
            times.append(elapsed)
        results["paging_api"] = summary(times) | {"pages": pages}
        folder, stock = root / name, []
        for page in range(1, pages + 1, max(1, pages // 10)):
            start = time.perf_counter()
            names = sorted(os.listdir(folder))[(page - 1) * per_page : page * per_page]
            [os.stat(folder / n) for n in names]
            stock.append((time.perf_counter() - start) * 1000)
        results["paging_stock"] = summary(stock)

        from aiworkbench.catalog.preview import preview_file

        parquet = work / "big.parquet"
        if not parquet.exists():
            results["parquet_rows"] = write_parquet(parquet, args.parquet_gb)
        results["parquet_bytes"] = parquet.stat().st_size
        cold = drop_caches()
        start = time.perf_counter()
        shown = preview_file(parquet)
        results["preview"] = {
            "seconds": round(time.perf_counter() - start, 3),
            "cold_cache": cold,
            "title": shown.title,
            "rows_shown": len(shown.rows),
        }
        import pandas as pd

        drop_caches()
        start = time.perf_counter()
        pd.read_parquet(parquet).head(20)
        results["preview_stock"] = {
            "seconds": round(time.perf_counter() - start, 3),
            "cold_cache": cold,
        }
        if args.hub:
            results["search_through_hub"] = search_through_hub(args, queries)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    search, stock = results["search_api"], results["search_stock"]
    results["ratios"] = {
        "search_p95": round(search["p95_ms"] / stock["p95_ms"], 4),
        "paging_p95": round(results["paging_api"]["p95_ms"] / results["paging_stock"]["p95_ms"], 3),
        "preview": round(results["preview"]["seconds"] / results["preview_stock"]["seconds"], 3),
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
