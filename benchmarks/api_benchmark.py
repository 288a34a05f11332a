"""API benchmark: the workbench API's budgets under many polling users, against the stock recipe.

    sudo .venv/bin/python benchmarks/api_benchmark.py [--users 1000] [--duration 320] [--poll 10]
        [--direct-duration 60] [--stock-users 50] [--stock-duration 60]

Needs the factory up (`make up`) and root (`sdiag`'s per-user counts, `runuser`,
the hub's log); run it alone (other load on the hub shows, above all in the cold
round). It makes --users hub tokens (note "api-benchmark") with the
admin's token, spread over the site's demo users (students and learners
mostly, some sme, trainer, manager, admin): each token is one simulated
notebook session whose widget polls `GET budgets` every --poll seconds, with a
random start within the first interval. The tokens are deleted at the end, also
after a failure (and stale ones from an interrupted run at the start).

1. Workbench API through the hub's proxy (port 8000): the first poll round
   (cold: the service has not seen the tokens yet) is reported on its own, then
   --duration seconds are measured: requests, errors (anything but 200),
   client-side latency, achieved requests/s, the service's accounting refreshes
   (`GET status`'s `refreshes`; each is one `sshare` and one `squeue`) against
   the refresh intervals elapsed, slurmctld RPCs (`sdiag`), CPU time of the
   hub, the proxy, the service, slurmctld and this load generator, and the
   service's own request times and the hub's token lookups from the hub's log.
   The service caches each token's hub lookup for a while (60 s; 300 s when the
   figures in docs/benchmarks.md were taken), so every token is looked up again
   that long after its first request, at the same pace as the cold round: a
   --duration longer than that includes such waves; the worst poll interval's
   p95 shows them.
2. The same against the service's own port (no proxy hop), --direct-duration s.
3. The stock recipe, what a widget does without the API: every poll runs Slurm
   accounting itself, `sshare` then `squeue`, as the polling user (`runuser -u`),
   for --stock-users simulated users at the same poll interval (1000 users'
   worth of processes do not fit a small machine); its RPC rate is extrapolated
   to --users, and labelled so.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.core.site import load_site  # noqa: E402

NOTE = "api-benchmark"
SCOPE = "access:services!service=workbench"  # what a session's token needs for the API
MIX = (("student", 85), ("sme", 5), ("trainer", 5), ("manager", 3), ("admin", 2))  # of 100
STOCK_SSHARE = [
    "sshare",
    "--all",
    "--long",
    "--noheader",
    "--parsable2",
    "--format=Account,User,GrpTRESMins,GrpTRESRaw,TRESRunMins",
]
STOCK_SQUEUE = ["squeue", "--all", "--noheader", "--states=RUNNING"]
HUB_LOG = "/var/log/aiworkbench/jupyterhub.log"


# -- slurmctld RPCs ---------------------------------------------------------------------


def sdiag() -> tuple[dict[str, int], dict[str, int]]:
    """(RPC counts by message type, by user) from one `sdiag` run."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    sections = {"type": {}, "user": {}}
    current = None
    for line in out.splitlines():
        if line.startswith("Remote Procedure Call statistics by message type"):
            current = "type"
        elif line.startswith("Remote Procedure Call statistics by user"):
            current = "user"
        elif line and not line[0].isspace():
            current = None
        elif current:
            match = re.match(r"\s*(\S+)\s+\(\s*\d+\)\s+count:(\d+)", line)
            if match:
                sections[current][match.group(1)] = int(match.group(2))
    return sections["type"], sections["user"]


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Counts between two readings (sdiag's own REQUEST_STATS_INFO left out)."""
    return {
        k: after[k] - before.get(k, 0)
        for k in after
        if after[k] != before.get(k, 0) and k != "REQUEST_STATS_INFO"
    }


# -- processes' CPU time ----------------------------------------------------------------

PROCESSES = {
    "hub": "bin/jupyterhub",
    "proxy": "configurable-http-proxy",
    "workbench API": "bin/aiworkbench-api",
    "slurmctld": "/usr/sbin/slurmctld",
}


def find_pids() -> dict[str, int]:
    pids = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode("utf-8", "replace") for a in argv[:3])
        for name, marker in PROCESSES.items():
            if name not in pids and marker in text and "slurmctld:" not in text:
                pids[name] = int(entry.name)
    return pids


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """utime+stime of each process, and of this one (all threads, with children)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    mine = os.times()
    out["load generator"] = mine.user + mine.system + mine.children_user + mine.children_system
    return out


# -- the hub's log: the service's own request times, the hub's token lookups ------------

SERVICE_LINE = re.compile(
    r"tornado\.access\] (\d{3}) GET /services/workbench/api/budgets"
    r"\S* \([^)]*\) ([\d.]+)ms"
)
LOOKUP_LINE = re.compile(r"\] (\d{3}) GET /hub/api/user \([^)]*\) ([\d.]+)ms")


def log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def log_times(path: str, start: int, end: int) -> tuple[list[float], list[float]]:
    """(the service's budgets request times, the hub's /hub/api/user times), in ms, from
    the log bytes written between two log_size() readings."""
    if start < 0 or end <= start:
        return [], []
    with open(path, "rb") as log:
        log.seek(start)
        text = log.read(end - start).decode("utf-8", "replace")
    return (
        [float(m.group(2)) for m in SERVICE_LINE.finditer(text)],
        [float(m.group(2)) for m in LOOKUP_LINE.finditer(text)],
    )


# -- tokens -----------------------------------------------------------------------------


class Hub:
    """The hub's REST API as the admin (a token made with the admin's password)."""

    def __init__(self, url: str, admin: str, password: str):
        self.url = url
        response = requests.post(
            f"{url}/hub/api/users/{admin}/tokens",
            timeout=60,
            json={
                "auth": {"username": admin, "password": password},
                "expires_in": 7200,
                "note": f"{NOTE} (admin)",
            },
        )
        response.raise_for_status()
        self.admin, self.admin_token = admin, response.json()
        self.local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers["Authorization"] = f"token {self.admin_token['token']}"
        return self.local.session

    def create(self, user: str, expires_in: int) -> dict:
        response = self.session.post(
            f"{self.url}/hub/api/users/{user}/tokens",
            timeout=60,
            json={"note": NOTE, "expires_in": expires_in, "scopes": [SCOPE]},
        )
        response.raise_for_status()
        return {"user": user, "id": response.json()["id"], "token": response.json()["token"]}

    def delete(self, user: str, token_id: str) -> bool:
        response = self.session.delete(
            f"{self.url}/hub/api/users/{user}/tokens/{token_id}", timeout=60
        )
        return response.status_code in (204, 404)

    def stale(self, users) -> list[tuple[str, str]]:
        """(user, token id) of benchmark tokens left over by an interrupted run."""
        out = []
        for user in users:
            response = self.session.get(f"{self.url}/hub/api/users/{user}/tokens", timeout=60)
            if response.status_code != 200:
                continue
            out += [
                (user, t["id"])
                for t in response.json().get("api_tokens", [])
                if t.get("note") == NOTE
            ]
        return out

    def status(self, api: str) -> dict:
        response = self.session.get(f"{api}/status", timeout=30)
        response.raise_for_status()
        return response.json()

    def close(self):
        self.delete(self.admin, self.admin_token["id"])


def demo_users(site, count: int) -> list[str]:
    """``count`` token owners: MIX's shares of 100, cycling through each role's users."""
    by_role = collections.defaultdict(list)
    for name, user in site.users.items():
        by_role[user.role].append(name)
    slots = [role for role, share in MIX for _ in range(share) if by_role.get(role)]
    used = collections.Counter()
    owners = []
    for i in range(count):
        role = slots[(i * 37) % len(slots)]  # interleaved, not in blocks
        owners.append(by_role[role][used[role] % len(by_role[role])])
        used[role] += 1
    return owners


# -- load -------------------------------------------------------------------------------


class Sample:
    __slots__ = ("sent", "cold", "lag", "latency", "ok", "error")

    def __init__(self, sent, cold, lag, latency, ok, error=""):
        self.sent, self.cold, self.lag, self.latency = sent, cold, lag, latency
        self.ok, self.error = ok, error


def poll_load(
    clients: list, poll: float, threads: int, start: float, stop: float, request, seed: int
) -> list[Sample]:
    """Every client polls every ``poll`` s from a random offset within the first interval
    after ``start`` until ``stop`` (perf_counter times); ``threads`` threads share the
    clients, each keeps its clients' schedule in order. ``request(state, client)``
    returns (ok, error); ``state`` is a dict per thread (its HTTP session). The first
    round of every client is marked cold; lag is how late a request left."""
    rng = random.Random(seed)
    offsets = [rng.uniform(0, poll) for _ in clients]
    results: list[list[Sample]] = [[] for _ in range(threads)]

    def worker(k):
        mine = sorted(range(k, len(clients), threads), key=lambda i: offsets[i])
        state, out, rnd = {}, results[k], 0
        while mine:
            for i in mine:
                due = start + offsets[i] + rnd * poll
                if due >= stop:
                    return
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                try:
                    ok, error = request(state, clients[i])
                except Exception as err:  # counted as an error, with its kind
                    ok, error = False, type(err).__name__
                took = time.perf_counter() - sent
                out.append(Sample(sent, rnd == 0, sent - due, took, ok, error))
            rnd += 1

    pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return [s for part in results for s in part]


def http_request(url: str, timeout: float):
    def request(state, client):
        session = state.get("session")
        if session is None:
            session = state["session"] = requests.Session()
        response = session.get(
            url, headers={"Authorization": f"token {client['token']}"}, timeout=timeout
        )
        response.content  # noqa: B018 - the whole body is part of the latency
        return (
            response.status_code == 200,
            "" if response.status_code == 200 else f"HTTP {response.status_code}",
        )

    return request


def stock_request(state, user):
    """The stock recipe's poll: Slurm accounting, run by the polling user."""
    for argv in (STOCK_SSHARE, STOCK_SQUEUE):
        done = subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True, timeout=60)
        if done.returncode:
            return False, f"{argv[0]} exit {done.returncode}"
    return True, ""


class Monitor(threading.Thread):
    """Polls the service's status every second: when its refresh count moved."""

    def __init__(self, hub: Hub, api: str):
        super().__init__(daemon=True)
        self.hub, self.api = hub, api
        self.changes: list[tuple[float, int]] = []  # (perf_counter, refreshes)
        self.stopping = threading.Event()

    def run(self):
        last = None
        while not self.stopping.is_set():
            try:
                count = self.hub.status(self.api)["refreshes"]
                if count != last:
                    self.changes.append((time.perf_counter(), count))
                    last = count
            except (requests.RequestException, ValueError, KeyError):
                pass
            self.stopping.wait(1.0)

    def gaps(self) -> list[float]:
        """Seconds between consecutive observed refreshes (±1 s: the monitor's period)."""
        times = [t for (t, n), (_, m) in zip(self.changes[1:], self.changes) if n == m + 1]
        return [b - a for a, b in zip(times, times[1:])]


class Window:
    """Readings at the start and end of a measured window."""

    def __init__(self, hub: Hub | None, api: str | None, pids, log: str):
        self.hub, self.api, self.pids, self.log = hub, api, pids, log

    def read(self) -> dict:
        types, users = sdiag()
        return {
            "t": time.perf_counter(),
            "types": types,
            "users": users,
            "cpu": cpu_seconds(self.pids),
            "log": log_size(self.log),
            "refreshes": self.hub.status(self.api)["refreshes"] if self.hub else None,
        }


def run_phase(
    name, clients, poll, threads, duration, request, window: Window, seed, cold_round=True
) -> dict:
    """One load run: a cold first round (one poll interval) when ``cold_round``, then
    ``duration`` measured seconds."""
    start = time.perf_counter() + 1.0
    begin = start + (poll if cold_round else 0.0)
    stop = begin + duration
    readings = {"start": window.read()}

    def mark():
        time.sleep(max(0.0, begin - time.perf_counter()))
        readings["before"] = window.read()
        time.sleep(max(0.0, stop - time.perf_counter()))
        readings["after"] = window.read()

    marker = threading.Thread(target=mark, daemon=True)
    marker.start()
    samples = poll_load(clients, poll, threads, start, stop, request, seed)
    marker.join()
    first, before, after = readings["start"], readings["before"], readings["after"]
    elapsed = after["t"] - before["t"]
    cold = [s for s in samples if s.cold]
    warm = [s for s in samples if not s.cold] if cold_round else samples
    service_ms, lookup_ms = log_times(window.log, before["log"], after["log"])
    _, cold_lookup_ms = log_times(window.log, first["log"], before["log"])
    bins = collections.defaultdict(list)  # poll interval in the window -> latencies
    for s in warm:
        if s.ok:
            bins[int((s.sent - begin) // poll)].append(s.latency * 1000)
    series = [pct(bins[k], 0.95) for k in sorted(bins)]
    result = {
        "name": name,
        "clients": len(clients),
        "elapsed": elapsed,
        "requests": len(warm),
        "errors": collections.Counter(s.error for s in warm if not s.ok),
        "latency": [s.latency * 1000 for s in warm if s.ok],
        "lag": [s.lag * 1000 for s in warm],
        "cold": [s.latency * 1000 for s in cold if s.ok],
        "cold_errors": sum(1 for s in cold if not s.ok),
        "types": delta(before["types"], after["types"]),
        "users": delta(before["users"], after["users"]),
        "cpu": {
            k: (after["cpu"][k] - before["cpu"].get(k, 0.0)) / elapsed * 100 for k in after["cpu"]
        },
        "cold_cpu": {
            k: (before["cpu"][k] - first["cpu"].get(k, 0.0)) / (before["t"] - first["t"]) * 100
            for k in before["cpu"]
        },
        "cold_lookup_ms": cold_lookup_ms,
        "series": series,
        "refreshes": None
        if before["refreshes"] is None
        else after["refreshes"] - before["refreshes"],
        "service_ms": service_ms,
        "lookup_ms": lookup_ms,
    }
    lat = result["latency"]
    print(
        f"{name}: {result['requests']} requests in {elapsed:.0f} s "
        f"({result['requests'] / elapsed:.1f}/s), {sum(result['errors'].values())} errors"
        + (f", p50 {pct(lat, 0.5):.1f} ms, p95 {pct(lat, 0.95):.1f} ms" if lat else "")
        + (f"; cold round p95 {pct(result['cold'], 0.95):.1f} ms" if result["cold"] else "")
        + ("" if result["refreshes"] is None else f"; {result['refreshes']} accounting refreshes"),
        flush=True,
    )
    print(
        f"  p95 (ms) per {poll:g} s of the window: " + " ".join(f"{v:.0f}" for v in series),
        flush=True,
    )
    return result


def pct(values, q):
    """The q-quantile (0..1) of values, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- main -------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="simulated sessions (tokens)")
    parser.add_argument(
        "--duration",
        type=int,
        default=320,
        help="measured seconds through the proxy (after the cold round)",
    )
    parser.add_argument(
        "--direct-duration",
        type=int,
        default=None,
        help="measured seconds on the service's own port (default: 60; 0: skip)",
    )
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between polls")
    parser.add_argument(
        "--threads", type=int, default=0, help="client threads (default: users/20, at least 8)"
    )
    parser.add_argument("--stock-users", type=int, default=50)
    parser.add_argument("--stock-duration", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (sdiag's per-user counts, runuser, the hub's log)")
    direct_duration = 60 if args.direct_duration is None else args.direct_duration
    threads = args.threads or max(8, args.users // 20)
    site = load_site(os.environ.get("SITE", REPO / "hub_config" / "site.toml"))
    admin = next(n for n, u in site.users.items() if u.role == "admin")
    proxy_url = f"http://127.0.0.1:{site.hub.port}"
    prefix = "/services/workbench/api"
    apis = {"proxy": proxy_url + prefix, "direct": f"http://127.0.0.1:{site.hub.api_port}{prefix}"}
    interval = float(site.hub.accounting_refresh)
    pids = find_pids()
    missing = set(PROCESSES) - set(pids)
    if missing:
        print(
            f"note: no process found for {', '.join(sorted(missing))}; its CPU is not reported",
            flush=True,
        )
    log = HUB_LOG
    if "workbench API" in pids:
        try:
            log = os.readlink(f"/proc/{pids['workbench API']}/fd/1")
        except OSError:
            pass

    hub = Hub(proxy_url, admin, site.users[admin].password)
    owners = demo_users(site, args.users)
    tokens: list[dict] = []
    monitor = None
    results = {}
    try:
        stale = hub.stale(sorted(set(owners) | {admin}))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda ut: hub.delete(*ut), stale))
        if stale:
            print(f"deleted {len(stale)} stale benchmark tokens", flush=True)
        expires = int(args.poll + args.duration + direct_duration + args.stock_duration + 1800)
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            for made in pool.map(lambda u: hub.create(u, expires), owners):
                tokens.append(made)
        roles = collections.Counter(site.users[o].role for o in owners)
        print(
            f"{len(tokens)} tokens for {len(set(owners))} users "
            f"({', '.join(f'{r} {n}' for r, n in roles.items())}) "
            f"made in {time.perf_counter() - started:.0f} s; {threads} client threads",
            flush=True,
        )

        monitor = Monitor(hub, apis["direct"])
        monitor.start()
        window = Window(hub, apis["direct"], pids, log)
        results["proxy"] = run_phase(
            "workbench API via the proxy",
            tokens,
            args.poll,
            threads,
            args.duration,
            http_request(f"{apis['proxy']}/budgets", args.timeout),
            window,
            args.seed,
        )
        if direct_duration:
            time.sleep(2)
            results["direct"] = run_phase(
                "workbench API direct (service port)",
                tokens,
                args.poll,
                threads,
                direct_duration,
                http_request(f"{apis['direct']}/budgets", args.timeout),
                window,
                args.seed + 1,
            )
        monitor.stopping.set()
    finally:
        if monitor is not None:
            monitor.stopping.set()
        with ThreadPoolExecutor(4) as pool:
            deleted = sum(pool.map(lambda t: hub.delete(t["user"], t["id"]), tokens))
        print(f"deleted {deleted} of {len(tokens)} benchmark tokens", flush=True)
        left = hub.stale(sorted(set(owners)))
        for user, token_id in left:
            hub.delete(user, token_id)
        hub.close()

    stock_owners = demo_users(site, args.stock_users)
    if args.stock_users:
        time.sleep(2)
        results["stock"] = run_phase(
            f"stock recipe ({args.stock_users} users, runuser + sshare + squeue)",
            stock_owners,
            args.poll,
            min(threads, args.stock_users),
            args.stock_duration,
            stock_request,
            Window(None, None, pids, log),
            args.seed + 2,
        )
    report(args, results, monitor, interval, site.hub.user, sorted(set(stock_owners)), threads)


def report(args, results, monitor, interval, hub_user, stock_users, threads):
    proxy, direct, stock = results["proxy"], results.get("direct"), results.get("stock")
    runs = [r for r in (proxy, direct, stock) if r]
    cols = (
        ["workbench API via proxy"]
        + (["workbench API direct"] if direct else [])
        + ([f"stock recipe, {args.stock_users} users"] if stock else [])
        + ["ratio"]
    )
    print("\n| measure | " + " | ".join(cols) + " |")
    print("|" + " --- |" * (len(cols) + 1))

    def row(label, values, fmt="{:.1f}", ratio=None):
        cells = [
            "n/a" if v is None else (fmt.format(v) if not isinstance(v, str) else v) for v in values
        ]
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio or 'n/a'} |")

    def over(r, ms):
        return 100 * sum(1 for v in r["latency"] if v > ms) / max(1, len(r["latency"]))

    def ratio(a, b):
        return f"{a / b:.3f}" if a is not None and b else None

    per = [r for r in (proxy, direct) if r]
    wb_cells = lambda fn: [fn(r) for r in per]  # noqa: E731
    st_cell = lambda fn: [fn(stock)] if stock else []  # noqa: E731
    row(
        "simulated users",
        wb_cells(lambda r: r["clients"]) + st_cell(lambda r: r["clients"]),
        "{:d}",
    )
    row(
        "measured window (s)",
        wb_cells(lambda r: r["elapsed"]) + st_cell(lambda r: r["elapsed"]),
        "{:.0f}",
    )
    row(
        "requests (polls) in the window",
        wb_cells(lambda r: r["requests"]) + st_cell(lambda r: r["requests"]),
        "{:d}",
    )
    row(
        "errors",
        wb_cells(lambda r: sum(r["errors"].values()))
        + st_cell(lambda r: sum(r["errors"].values())),
        "{:d}",
    )
    row(
        f"achieved polls/s (offered {args.users / args.poll:.0f}; stock "
        f"{args.stock_users / args.poll:.0f})",
        wb_cells(lambda r: r["requests"] / r["elapsed"])
        + st_cell(lambda r: r["requests"] / r["elapsed"]),
    )
    for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        values = wb_cells(lambda r, q=q: pct(r["latency"], q)) + st_cell(
            lambda r, q=q: pct(r["latency"], q)
        )
        row(f"latency {label} (ms)", values, ratio=ratio(values[0], values[-1]) if stock else None)
    values = wb_cells(lambda r: pct(r["cold"], 0.95)) + st_cell(lambda r: pct(r["cold"], 0.95))
    row(
        "first round p95 (ms), not in the window (cold: the proxy run, first)",
        values,
        ratio=ratio(values[0], values[-1]) if stock else None,
    )
    row(
        "worst poll interval's p95 (ms)",
        wb_cells(lambda r: max(r["series"], default=None))
        + st_cell(lambda r: max(r["series"], default=None)),
    )
    row(
        "polls over 50 ms in the window (%)",
        wb_cells(lambda r: over(r, 50)) + st_cell(lambda r: over(r, 50)),
        "{:.2f}",
    )
    row(
        "late start of a poll p95 (ms)",
        wb_cells(lambda r: pct(r["lag"], 0.95)) + st_cell(lambda r: pct(r["lag"], 0.95)),
    )
    row(
        "service's own time p50 / p95 (ms, its log)",
        wb_cells(
            lambda r: (
                f"{pct(r['service_ms'], 0.5):.1f} / {pct(r['service_ms'], 0.95):.1f}"
                if r["service_ms"]
                else "n/a"
            )
        )
        + (["n/a"] if stock else []),
    )
    row(
        "hub token lookups in the window (its log): count, p95 (ms)",
        wb_cells(
            lambda r: (
                f"{len(r['lookup_ms'])}, {pct(r['lookup_ms'], 0.95):.1f}" if r["lookup_ms"] else "0"
            )
        )
        + (["n/a"] if stock else []),
    )
    row(
        "hub token lookups in the first round: count, p95 (ms)",
        wb_cells(
            lambda r: (
                f"{len(r['cold_lookup_ms'])}, {pct(r['cold_lookup_ms'], 0.95):.1f}"
                if r["cold_lookup_ms"]
                else "0"
            )
        )
        + (["n/a"] if stock else []),
    )

    # accounting queries: workbench measured; stock: one sshare + one squeue per poll
    refreshes = wb_cells(lambda r: r["refreshes"] / (r["elapsed"] / interval))
    stock_per_interval = stock["requests"] / (stock["elapsed"] / interval) if stock else None
    extrapolated = args.users * interval / args.poll
    row(
        f"accounting queries (sshare+squeue) per {interval:.0f} s interval",
        refreshes + ([stock_per_interval] if stock else []),
        "{:.2f}",
        ratio=f"{ratio(refreshes[0], extrapolated)} (vs {extrapolated:.0f}, stock at "
        f"{args.users} users, extrapolated)"
        if stock
        else None,
    )
    row(
        "accounting refreshes in the window",
        wb_cells(lambda r: r["refreshes"]) + (["n/a"] if stock else []),
        "{:d}",
    )
    gaps = monitor.gaps() if monitor else []
    row(
        "shortest gap between refreshes (s, ±1)",
        [min(gaps) if gaps else None] * len(per) + (["n/a"] if stock else []),
    )

    def hub_rpcs(r):
        return r["users"].get(hub_user, 0)

    def stock_rpcs(r):
        return sum(r["users"].get(u, 0) for u in stock_users)

    row(
        f"slurmctld RPCs by `{hub_user}` in the window",
        wb_cells(hub_rpcs) + (["n/a"] if stock else []),
        "{:d}",
    )
    row(
        "slurmctld RPCs by the polling users in the window",
        ["n/a"] * len(per) + st_cell(stock_rpcs),
        "{}",
    )
    row(
        "REQUEST_SHARE_INFO RPCs in the window (all users)",
        wb_cells(lambda r: r["types"].get("REQUEST_SHARE_INFO", 0))
        + st_cell(lambda r: r["types"].get("REQUEST_SHARE_INFO", 0)),
        "{:d}",
    )
    wb_rate = [hub_rpcs(r) / r["elapsed"] for r in per]
    stock_rate = stock_rpcs(stock) / stock["elapsed"] if stock else None
    row(
        "slurmctld RPCs/s (workbench: hub user; stock: polling users)",
        wb_rate + ([stock_rate] if stock else []),
        "{:.2f}",
    )
    if stock and stock["requests"]:
        per_poll = stock_rpcs(stock) / stock["requests"]
        at_users = per_poll * args.users / args.poll
        row(
            f"stock RPCs/s at {args.users} users (extrapolated: {per_poll:.2f} RPCs per "
            f"poll × {args.users / args.poll:.0f} polls/s)",
            [wb_rate[0]] + [None] * (len(per) - 1) + [at_users],
            "{:.2f}",
            ratio=ratio(wb_rate[0], at_users),
        )
    for name in ("load generator", "hub", "proxy", "workbench API", "slurmctld"):
        row(
            f"CPU of the {name} (% of one core)",
            wb_cells(lambda r, name=name: r["cpu"].get(name))
            + st_cell(lambda r, name=name: r["cpu"].get(name)),
            "{:.0f}",
        )
    for name in ("load generator", "hub", "proxy", "workbench API"):
        row(
            f"CPU of the {name} in the first round (%)",
            wb_cells(lambda r, name=name: r["cold_cpu"].get(name))
            + st_cell(lambda r, name=name: r["cold_cpu"].get(name)),
            "{:.0f}",
        )

    for r in runs:
        if r["errors"]:
            print(
                f"\n{r['name']}: errors "
                + ", ".join(f"{k} {v}" for k, v in r["errors"].most_common())
            )
        if r["cold_errors"]:
            print(f"{r['name']}: {r['cold_errors']} errors in the cold round")
        print(
            f"\n{r['name']}: RPCs by message type (all users): "
            + ", ".join(f"{t} {n}" for t, n in sorted(r["types"].items()))
        )
    seen = (
        [t for (t, n), (_, m) in zip(monitor.changes[1:], monitor.changes) if n == m + 1]
        if monitor
        else []
    )
    print(
        "\naccounting refreshes seen by the monitor (s after the first): "
        + ", ".join(f"{t - seen[0]:.0f}" for t in seen)
    )
    print(f"client threads: {threads}")
    print(
        "\ncommand: sudo .venv/bin/python benchmarks/api_benchmark.py "
        f"--users {args.users} --duration {args.duration} --poll {args.poll:g}"
        + (f" --direct-duration {args.direct_duration}" if args.direct_duration is not None else "")
        + f" --stock-users {args.stock_users} --stock-duration {args.stock_duration}"
    )


if __name__ == "__main__":
    main()
