"""The managers' dashboards without daemons: generated accounting history ingested into
the store gives the same numbers as independent computations from the same records;
ingestion is incremental and safe to repeat; every dashboard builds, filters and
exports what its queries say; the service is wired with least privilege."""

import base64
import collections
import math
from datetime import date, datetime, timedelta

import pytest
from traitlets.config import Config

from aiworkbench.core.site import SiteError, load_site, parse_site
from aiworkbench.dashboards import history, ingest, queries, views
from aiworkbench.dashboards.history import generate, line
from aiworkbench.dashboards.store import Store, StoreError, open_store
from aiworkbench.hub import services
from aiworkbench.hub.config import apply_site

from .test_services import TOKENS


def text_of(records) -> str:
    return "".join(line(r) for r in records)


def gpus_of(record) -> int:
    """The GPUs a record's AllocTRES holds."""
    return int(dict(p.split("=") for p in record["AllocTRES"].split(",") if p).get("gres/gpu", 0))


def test_totals_and_waits_equal_an_independent_computation():
    records = list(generate(5000, seed=3, projects=20, users=100))
    text = text_of(records)
    store = Store()
    assert store.ingest_text(text) == 5000
    gpu_hours = collections.Counter()
    waits = collections.defaultdict(list)
    for r in records:
        tres = dict(p.split("=") for p in r["AllocTRES"].split(",") if p)
        gpu_hours[r["Account"]] += int(r["ElapsedRaw"]) * int(tres.get("gres/gpu", 0)) / 3600
        if r["Start"] != "Unknown":
            waits[r["Partition"]].append(
                (
                    datetime.fromisoformat(r["Start"]) - datetime.fromisoformat(r["Submit"])
                ).total_seconds()
            )
    stored = dict(
        store.db.execute("SELECT account, sum(gpu_hours) FROM jobs GROUP BY 1").fetchall()
    )
    assert {k: round(v, 6) for k, v in stored.items() if v} == {
        k: round(v, 6) for k, v in gpu_hours.items() if v
    }
    for partition, values in waits.items():
        [(p95,)] = store.db.execute(
            "SELECT quantile_disc(wait_s, 0.95) FROM jobs WHERE "
            "partition = ? AND wait_s IS NOT NULL",
            [partition],
        ).fetchall()
        nearest_rank = sorted(values)[math.ceil(0.95 * len(values)) - 1]
        assert p95 == nearest_rank, partition
    assert store.ingest_text("\n".join(text.splitlines()[-500:])) == 500  # overlap
    assert store.count() == 5000


def test_panel_queries_filter_and_agree_with_the_records():
    from aiworkbench.dashboards import queries

    records = list(generate(3000, seed=5, projects=10, users=50))
    store = Store()
    store.ingest_text(text_of(records))
    everything = queries.Filters()
    totals = {row[0]: row[3] for row in queries.project_totals(store, everything).rows}
    assert totals == collections.Counter(r["Account"] for r in records)
    gpu_only = queries.Filters(partitions=("gpu",))
    [(partition, p50, p95, jobs, never_started)] = queries.queue_waits(store, gpu_only).rows
    # Every job waited: until it started, or until it was cancelled while pending.
    gpu = [r for r in records if r["Partition"] == "gpu"]
    waits = sorted(
        (
            datetime.fromisoformat(r["End"] if r["Start"] == "Unknown" else r["Start"])
            - datetime.fromisoformat(r["Submit"])
        ).total_seconds()
        for r in gpu
    )
    assert (partition, jobs, p95) == ("gpu", len(waits), waits[math.ceil(0.95 * len(waits)) - 1])
    assert never_started == sum(r["Start"] == "Unknown" for r in gpu) > 0
    [top, *_] = queries.pending_reasons(store, everything).rows
    assert top[1] == max(
        collections.Counter(r["Reason"] for r in records if r["Reason"] != "None").values()
    )


# --- a store with a year of generated history ------------------------------------------
RECORDS = list(generate(4000, seed=7, projects=12, users=60))
AS_OF = datetime(2026, 1, 5)


@pytest.fixture(scope="module")
def store_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dash") / "store.duckdb"
    store = Store(path)
    store.ingest_text(text_of(RECORDS))
    store.replace("budgets", [(*b, AS_OF) for b in history.budgets(RECORDS)])
    store.record_idle(history.idle_periods(RECORDS))
    store.replace(
        "progress",
        [
            ("intro", "first-steps", "intro-01", "e1", 1, True, AS_OF, 3, AS_OF),
            ("intro", "first-steps", "intro-01", "e2", 4, False, AS_OF, 3, AS_OF),
            ("intro", "first-steps", "intro-02", "e1", 3, False, AS_OF, 3, AS_OF),
            (
                "intro",
                "first-steps",
                "intro-03",
                "e1",
                1,
                True,
                AS_OF - timedelta(days=400),
                3,
                AS_OF,
            ),
        ],
    )
    store.close()
    return str(path)


def test_a_job_seen_running_then_finished_is_replaced_not_doubled():
    store = Store()
    running = dict(RECORDS[0], State="RUNNING", End="Unknown", ElapsedRaw="60")
    store.ingest_text(line(running))
    assert store.sql('SELECT state, "end", gpu_hours FROM jobs')[0][:2] == ("RUNNING", None)
    store.ingest_text(line(RECORDS[0]))
    assert store.count() == 1
    assert store.sql("SELECT state FROM jobs") == [(RECORDS[0]["State"],)]


def test_odd_sacct_lines_are_skipped_and_job_names_may_hold_any_printable_text():
    odd = dict(RECORDS[1], JobName="train | eval, 'quoted' \"x\"", State="CANCELLED by 1001")
    store = Store()
    assert store.ingest_text(line(odd) + line(dict(RECORDS[2], JobIDRaw="12345.batch"))) == 2
    assert store.sql("SELECT name, state FROM jobs") == [(odd["JobName"], "CANCELLED")]


def test_gpu_and_core_hours_read_typed_gres_and_cpu_only_from_alloc_tres():
    store = Store()
    job = dict(
        RECORDS[3],
        AllocTRES="billing=8,cpu=4,gres/gpu:simulated=2,mem=8G,node=1",
        ElapsedRaw="3600",
        Start=RECORDS[3]["Submit"],
    )
    store.ingest_text(line(job))
    assert store.sql("SELECT cpus, gpus, gpu_hours, cpu_hours FROM jobs") == [(4, 2, 2.0, 4.0)]


def test_ingestion_reads_only_the_new_window_and_every_source(tmp_path, monkeypatch):
    calls = []

    def run(argv, timeout=300):
        calls.append(argv)
        if argv[0] == "sacct":
            return text_of(RECORDS[:10])
        if argv[0] == "sshare":
            return (
                "project-000||cpu=600,gres/gpu=120|cpu=60,gres/gpu=30|cpu=0\n"
                "project-000|user-0001||cpu=60,gres/gpu=30|\n"
            )
        return "77|user-0002|project-000|gpu|AssocGrpGRESMinutes|2026-01-05T09:00:00\n"

    answers = {
        "aiworkbench/sessions": {
            "sessions": [
                {
                    "user": "user-0002",
                    "server": "",
                    "job_id": "88",
                    "project": "project-000",
                    "partition": "gpu",
                    "gpus": 2,
                    "started": "2026-01-05T08:00:00Z",
                    "last_activity": "2026-01-05T08:30:00Z",
                    "gpu_idle_since": "2026-01-05T09:00:00Z",
                }
            ]
        },
        "classes": {"classes": [{"name": "intro"}]},
        "classes/intro/progress": {
            "members": ["a", "b"],
            "records": [
                {
                    "user": "a",
                    "course": "first-steps",
                    "exercise": "e1",
                    "attempts": 2,
                    "passed": True,
                    "last_attempt": "2026-01-05T08:00:00Z",
                }
            ],
        },
    }
    monkeypatch.setattr(ingest, "api_get", lambda path, params=None, environ=None: answers[path])
    ingestor = ingest.Ingestor(
        str(tmp_path / "s.duckdb"),
        run=run,
        history_days=30,
        environ={"JUPYTERHUB_API_URL": "http://hub/hub/api", "JUPYTERHUB_API_TOKEN": "t"},
    )
    first = ingestor.once(datetime(2026, 1, 5, 10, 0))
    assert first == {"jobs": 10, "budgets": 1, "pending": 1, "sessions": 1, "progress": 1}
    sacct = calls[0]
    assert "--starttime=2025-12-06T10:00:00" in sacct and "--endtime=2026-01-05T10:00:00" in sacct
    assert "--allusers" in sacct and "--allocations" in sacct
    ingestor.once(datetime(2026, 1, 5, 11, 0))
    second = [c for c in calls if c[0] == "sacct"][1]
    assert "--starttime=2026-01-05T09:50:00" in second  # the watermark less the overlap
    with open_store(tmp_path / "s.duckdb") as store:
        assert store.sql("SELECT project, gpu_limit_min, gpu_used_min FROM budgets") == [
            ("project-000", 120, 30)
        ]
        # The idle period grew with the second reading: one row, until 11:00.
        [(since, until, gpus)] = store.sql("SELECT idle_since, idle_until, gpus FROM gpu_idle")
        assert (until - since, gpus) == (timedelta(hours=2), 2)
        assert store.sql("SELECT reason FROM pending") == [("AssocGrpGRESMinutes",)]
        assert store.sql('SELECT class, "user", learners FROM progress') == [("intro", "a", 2)]


def test_a_failing_source_keeps_its_rows_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "api_get", lambda *a, **k: {"sessions": [], "classes": []})

    def run(argv, timeout=300):
        if argv[0] == "sshare":
            raise RuntimeError("sshare exited 1: Unable to contact slurm controller")
        return text_of(RECORDS[:3]) if argv[0] == "sacct" else ""

    path = str(tmp_path / "s.duckdb")
    outcome = ingest.Ingestor(path, run=run, environ={"JUPYTERHUB_API_URL": "x"}).once()
    assert outcome["jobs"] == 3 and outcome["budgets"].startswith("error: sshare exited 1")
    with open_store(path) as store:
        problems = {r["source"]: r["error"] for r in queries.freshness(store).dicts()}
    assert "Unable to contact slurm controller" in problems["budgets"]
    assert problems["jobs"] == ""
    board = views.Budgets(path)  # every dashboard names the failing source
    assert board.status_text.startswith("Accounting as of ")
    assert "Last ingestion problems: budgets: " in board.status_text
    assert "Unable to contact slurm controller" in board.status_text
    board.close()


def test_the_store_refuses_clearly_when_missing(tmp_path):
    with (
        pytest.raises(StoreError, match="no accounting store at .* first ingestion"),
        open_store(tmp_path / "nothing.duckdb"),
    ):
        pass


def test_budget_projection_and_burn_down_agree_with_the_records(store_file):
    with open_store(store_file) as store:
        status = {r["project"]: r for r in queries.budget_status(store, queries.Filters()).dicts()}
        project = "project-000"
        mine = status[project]
        budget = {b[0]: b for b in history.budgets(RECORDS)}[project]
        assert mine["limit_gpu_hours"] == round(budget[1] / 60, 1)
        end = queries.latest(store).date()
        start = datetime.combine(end - timedelta(days=queries.RATE_DAYS - 1), datetime.min.time())
        until = start + timedelta(days=queries.RATE_DAYS)
        recent = (
            sum(
                int(r["ElapsedRaw"]) * gpus_of(r)
                for r in RECORDS
                if r["Account"] == project and start <= datetime.fromisoformat(r["End"]) < until
            )
            / 3600
        )
        assert mine["gpu_hours_per_day"] == round(recent / queries.RATE_DAYS, 1)
        left = budget[1] / 60 - budget[2] / 60
        assert mine["exhausted_on"] == end + timedelta(
            days=int(left / (recent / queries.RATE_DAYS))
        )
        burn = queries.burn_down(store, queries.Filters(), project)
        # The last day's "used" is what Slurm reports now; "left" is the limit less it.
        assert burn.rows[-1][1] == pytest.approx(budget[2] / 60, abs=0.01)
        assert burn.rows[-1][2] == pytest.approx((budget[1] - budget[2]) / 60, abs=0.01)
        assert all(a[1] <= b[1] for a, b in zip(burn.rows, burn.rows[1:]))


def test_exhaustion_dates():
    today = date(2026, 1, 5)
    assert queries.exhaustion(None, 10, today) is None  # no limit
    assert queries.exhaustion(-5, 10, today) == today  # already over
    assert queries.exhaustion(100, 0, today) is None  # no use
    assert queries.exhaustion(100, 10, today) == date(2026, 1, 15)


def test_wasted_gpu_hours_equal_an_independent_sum(store_file):
    periods = list(history.idle_periods(RECORDS))
    expected = collections.Counter()
    for _job, _user, project, _partition, gpus, since, until in periods:
        expected[project] += (until - since).total_seconds() * gpus / 3600
    with open_store(store_file) as store:
        rows = queries.wasted_gpu_hours(store, queries.Filters()).dicts()
        summary = queries.session_summary(store, queries.Filters()).dicts()
    got = collections.Counter()
    for r in rows:
        got[r["project"]] += r["wasted_gpu_hours"]
    assert {k: round(v, 1) for k, v in got.items()} == {k: round(v, 1) for k, v in expected.items()}
    assert sum(r["sessions"] for r in summary) == sum(
        1 for r in RECORDS if r["JobName"].startswith(history.SESSION_PREFIX)
    )


def test_training_counts_learners_started_passed_and_stuck(store_file):
    with open_store(store_file) as store:
        everything = queries.training(store, queries.Filters()).dicts()
        recent = queries.training(store, queries.Filters(since=AS_OF - timedelta(days=30))).dicts()
    assert everything == [
        {
            "class": "intro",
            "course": "first-steps",
            "learners": 3,
            "started": 3,
            "exercises_passed": 2,
            "exercises_tried": 2,
            "stuck": 2,
        }
    ]
    assert recent[0]["started"] == 2  # intro-03's last attempt is older than the range


@pytest.mark.parametrize("name", list(views.DASHBOARDS))
def test_every_dashboard_builds_filters_and_exports_its_queries(store_file, name):
    board = views.DASHBOARDS[name](store_file)
    assert board.status_text.startswith("Not ingested from Slurm yet"), board.status_text
    assert board.until.value == max(datetime.fromisoformat(r["End"]) for r in RECORDS).date()
    board.projects.value = ("project-001",)
    board.export_csv()
    link = board.download.value
    assert f'download="{board.export}.csv"' in link
    data = base64.b64decode(link.split("base64,", 1)[1].split('"', 1)[0]).decode()
    assert data == board.tables[board.export].to_csv()
    exported = board.tables[board.export]
    if "project" in exported.columns:
        assert set(exported.column("project")) == {"project-001"}
    board.close()


def test_usage_dashboard_shows_the_same_hours_as_the_records(store_file):
    board = views.Usage(store_file)
    board.since.value, board.until.value = date(2024, 1, 1), date(2027, 1, 1)
    board.by.value = "month"
    shown = sum(sum(series) for series in board.bars.y)
    expected = sum(int(r["ElapsedRaw"]) * gpus_of(r) for r in RECORDS if r["End"]) / 3600
    assert shown == pytest.approx(expected, rel=1e-3)
    board.since.value = date(2027, 1, 2)
    assert "start date is after the end date" in board.status_text
    board.close()


def test_tables_escape_what_they_show():
    rows = queries.Rows(("user",), [("<script>x</script>",)])
    assert "<script>" not in views.table_html(rows)
    assert "&lt;script&gt;" in views.table_html(rows)


def test_pivot_keeps_the_top_series_and_sums_the_rest():
    rows = queries.Rows(("x", "s", "v"), [("a", f"p{i}", i) for i in range(10)] + [("b", "p9", 1)])
    xs, names, values = views.pivot(rows, "x", "s", "v", top=3)
    assert xs == ["a", "b"] and names == ["p9", "p8", "p7", "others"]
    assert values[0] == [9, 1] and values[-1] == [sum(range(7)), 0]


def test_a_dashboard_without_a_store_says_so(tmp_path):
    board = views.Queue(str(tmp_path / "none.duckdb"))
    assert "No data: no accounting store" in board.status_text
    board.close()


# --- wiring -----------------------------------------------------------------------
SITE = load_site("hub_config/site.toml")


def test_the_service_runs_as_its_own_user_and_only_managers_may_open_it():
    c = Config()
    apply_site(c, SITE, gpu_kind="simulated", tokens=TOKENS)
    [dash] = [s for s in c.JupyterHub.services if s["name"] == "dashboards"]
    # External: the supervisor runs it as its own user (aiworkbench-service
    # dashboards), with its settings; the hub starts nothing and needs no sudo.
    assert "command" not in dash and "environment" not in dash
    assert dash["url"] == "http://127.0.0.1:8091"
    svc = services.service(SITE, "dashboards")
    assert svc.user == "aiworkbench-dash"
    assert svc.program == "/opt/aiworkbench/env/bin/aiworkbench-dashboards"
    assert svc.environment["AIWORKBENCH_DASHBOARDS_STORE"].startswith("/var/lib/")
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["dashboard-viewers"] == {
        "name": "dashboard-viewers",
        "groups": ["managers"],
        "description": "Managers: open the dashboards",
        "scopes": ["access:services!service=dashboards"],
    }
    assert "access:services!service=dashboards" not in roles["user"]["scopes"]
    assert set(roles["dashboards-service"]["scopes"]) == {
        "read:servers",
        "custom:workbench:budgets:read-all",
        "access:services!service=workbench",
    }


def test_site_refuses_dashboards_clashing_with_the_hub():
    text = open("hub_config/site.toml").read()
    with pytest.raises(SiteError) as err:
        parse_site(
            text.replace("[dashboards]\n", '[dashboards]\nport = 8090\nuser = "jupyterhub"\n')
        )
    message = str(err.value)
    assert "dashboards.port: port 8090 is also hub.api_port" in message or (
        "hub.api_port: port 8090 is also dashboards.port" in message
    )
    assert "dashboards.user: 'jupyterhub' is also the hub's user" in message


def test_the_service_takes_no_arguments_and_runs_voila_only():
    from aiworkbench.dashboards import service

    with pytest.raises(SystemExit, match="takes no arguments"):
        service.main(["--ServerApp.allow_root=True"])
    argv = service.server_argv("/opt/aiworkbench/dashboards")
    assert "--ServerApp.terminals_enabled=False" in argv
    [extensions] = [a for a in argv if a.startswith("--ServerApp.jpserver_extensions=")]
    assert "'voila': True" in extensions and "'jupyterlab': False" in extensions
