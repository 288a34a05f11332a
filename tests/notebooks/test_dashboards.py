"""Every dashboard notebook executes headless, top to bottom, as the dashboards' own
user in the kernel environment: on a generated year of accounting (50,000 jobs), and
on the live store the service ingests from the real cluster."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from ..conftest import REPO, run

pytestmark = pytest.mark.notebooks
NOTEBOOKS = sorted((REPO / "example_notebooks" / "dashboards").glob("*.ipynb"))
GENERATE = """
import sys
from datetime import datetime
from aiworkbench.dashboards import history
from aiworkbench.dashboards.store import Store
records = list(history.generate(50_000, seed=4, projects=40, users=300))
store = Store(sys.argv[1])
store.ingest_text("".join(history.line(r) for r in records))
as_of = datetime.fromisoformat(records[-1]["End"])
store.replace("budgets", [(*b, as_of) for b in history.budgets(records)])
store.record_idle(history.idle_periods(records))
store.close()
"""


def test_there_are_the_five_dashboards():
    assert [p.stem for p in NOTEBOOKS] == ["budgets", "queue", "sessions", "training", "usage"]


def execute(site, notebook: Path, store: str, work: Path) -> list[dict]:
    """Run ``notebook`` as the dashboards' user with ``store``; its code cells' outputs."""
    copy = work / notebook.name
    shutil.copy(notebook, copy)
    run(["chown", site.dashboards.user, str(copy)])
    done = run(
        [
            "env",
            f"HOME={work}",
            f"AIWORKBENCH_DASHBOARDS_STORE={store}",
            f"{site.factory.prefix}/env/bin/jupyter",
            "execute",
            "--inplace",
            "--timeout=300",
            str(copy),
        ],
        user=site.dashboards.user,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, f"{notebook.name}:\n{done.stderr[-4000:]}"
    cells = json.loads(copy.read_text())["cells"]
    return [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]


@pytest.fixture(scope="module")
def work(site):
    folder = Path(tempfile.mkdtemp(prefix="dashboards-run-"))
    run(["chown", site.dashboards.user, str(folder)])
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def generated(site, work):
    store = str(work / "generated.duckdb")
    run(
        [f"{site.factory.prefix}/env/bin/python", "-c", GENERATE, store],
        user=site.dashboards.user,
        timeout=300,
    )
    return store


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_dashboard_runs_headless_on_generated_history(notebook, site, work, generated):
    outputs = execute(site, notebook, generated, work)
    assert [o for o in outputs if o["output_type"] == "error"] == []
    [shown] = [o for o in outputs if o["output_type"] == "execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in shown["data"]
    text = "".join(shown["data"]["text/plain"])
    assert "computed in" in text and "No data" not in text, text
    assert "Not ingested from Slurm yet" in text  # generated data says so


def test_the_usage_dashboard_runs_on_the_live_store(site, work, hub_up):
    outputs = execute(
        site, REPO / "example_notebooks" / "dashboards" / "usage.ipynb", site.dashboards.store, work
    )
    [shown] = [o for o in outputs if o["output_type"] == "execute_result"]
    text = "".join(shown["data"]["text/plain"])
    assert "Accounting as of" in text and "problems" not in text, text
