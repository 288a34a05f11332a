"""The scale-out examples run top to bottom inside a real Slurm job (as a session's
kernel) as a workshop account, with small parameters on CPU: Dask workers as Slurm
jobs, a DDP batch job read back, a refusal; and the GPT-small throughput notebook,
naive and tuned."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from ..conftest import REPO, in_a_session, run

pytestmark = pytest.mark.notebooks
FOLDER = REPO / "example_notebooks" / "scale-out"
LEARNER = "intro-15"  # a workshop account of class intro no other test uses


@pytest.fixture
def work():
    folder = Path(tempfile.mkdtemp(prefix="scale-out-nb-"))
    shutil.copytree(FOLDER, folder / "scale-out")
    run(["chown", "-R", LEARNER, str(folder)])
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def execute(site, hub_url, work: Path, name: str) -> list[dict]:
    path = work / "scale-out" / name
    done, log = in_a_session(
        hub_url,
        LEARNER,
        site.classes["intro"].learner_password,
        "",
        work,
        cpus=2,
        timeout=900,
        argv=[
            "sh",
            "-c",
            '\'cd "$1" && exec "$2" execute --inplace --timeout=600 "$3"\'',
            "run",
            str(path.parent),
            f"{site.factory.prefix}/env/bin/jupyter",
            name,
        ],
    )
    assert done.returncode == 0, log.read_text()[-5000:] if log.exists() else done.stderr
    cells = json.loads(path.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    assert [o for o in outputs if o["output_type"] == "error"] == []
    return outputs


def text_of(outputs) -> str:
    return "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for o in outputs
    )


def test_the_scale_out_notebook_runs_in_a_session(site, hub_url, cluster_up, hub_up, work):
    text = text_of(execute(site, hub_url, work, "scale-out.ipynb"))
    assert "mean of 16 million random numbers: 0.5" in text
    assert "COMPLETED exit code 0" in text
    assert "refused: 64 GPUs per node is not allowed on gpu for project edu-intro" in text
    leftovers = run(["squeue", "--noheader", "--user", LEARNER, "--format=%j"]).stdout
    assert "aiwb-" not in leftovers, leftovers


def test_the_gpt_small_notebook_runs_naive_and_tuned_on_cpu(
    site, hub_url, cluster_up, hub_up, work
):
    text = text_of(execute(site, hub_url, work, "gpt-small-throughput.ipynb"))
    assert " naive:" in text and " tuned:" in text and "tuned / naive:" in text
    assert "MFU" in text and "n/a (CPU)" in text
