"""benchmarks/gpu_check: the slurm role's GPU decision from nvidia-smi, the NVML and
MFU verdicts, the summary and its exit code; and a real run of its CPU paths here."""

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from types import SimpleNamespace

from ..conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check"


def load_script():
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


gc = load_script()


def done(argv, rc=0, stdout="", stderr=""):
    return subprocess.CompletedProcess(argv, rc, stdout, stderr)


# ------------------------------------------------------------ detection, as the role


def test_the_script_asks_nvidia_smi_what_the_role_asks_and_writes_its_gres_line():
    tasks = (REPO / "ansible/roles/slurm/tasks/main.yml").read_text()
    assert 'argv: [nvidia-smi, --query-gpu=index, "--format=csv,noheader"]' in tasks
    template = (REPO / "ansible/roles/slurm/templates/gres.conf.j2").read_text()
    assert "Name=gpu Type=nvidia File=/dev/nvidia[0-{{ h._slurm_gpu_count | int - 1 }}]" in template
    assert (
        "Name=gpu Type=simulated File={{ slurm_simulated_gpu_device_prefix }}"
        "[0-{{ h._slurm_gpu_count | int - 1 }}]" in template
    )
    assert gc.simulated_prefix() == "/dev/aiworkbench-simgpu"  # the role's default


def test_gpus_found_by_nvidia_smi_are_declared_as_nvidia_one_per_line():
    assert gc.role_gpu_decision(0, "0\n1\n2\n3\n", simulated_gpus=4) == ("nvidia", 4)
    assert gc.role_gpu_decision(0, "0\n", simulated_gpus=4) == ("nvidia", 1)
    assert (
        gc.gres_line("gpu01", "nvidia", 4, "/dev/aiworkbench-simgpu")
        == "NodeName=gpu01 Name=gpu Type=nvidia File=/dev/nvidia[0-3]"
    )
    assert (
        gc.gres_line("gpu01", "nvidia", 1, "/dev/x")
        == "NodeName=gpu01 Name=gpu Type=nvidia File=/dev/nvidia[0-0]"
    )


def test_no_nvidia_smi_a_failing_one_or_no_gpu_means_the_sites_simulated_gpus():
    for rc, stdout in ((None, ""), (2, ""), (9, "NVIDIA-SMI has failed\n"), (0, ""), (0, "\n")):
        assert gc.role_gpu_decision(rc, stdout, simulated_gpus=4) == ("simulated", 4), rc
    assert (
        gc.gres_line("vm", "simulated", 4, "/dev/aiworkbench-simgpu")
        == "NodeName=vm Name=gpu Type=simulated File=/dev/aiworkbench-simgpu[0-3]"
    )
    assert gc.role_gpu_decision(None, "", simulated_gpus=0) == ("simulated", 0)
    assert gc.gres_line("cpu01", "simulated", 0, "/dev/aiworkbench-simgpu") is None


def test_gpu_names_and_memory_are_read_from_nvidia_smi():
    table = (
        "0, NVIDIA H200, 143771\n1, NVIDIA H200, 143771\n"
        "No devices were found\n2, Odd, Name, [N/A]\n"
    )
    assert gc.parse_gpu_table(table) == [
        {"index": 0, "name": "NVIDIA H200", "memory_mib": 143771},
        {"index": 1, "name": "NVIDIA H200", "memory_mib": 143771},
        {"index": 2, "name": "Odd, Name", "memory_mib": None},
    ]


def probe(monkeypatch, answers, missing=(), require_gpu=False):
    """probe_machine with nvidia-smi answering ``answers`` (query -> result or error)."""

    def fake_run(argv, timeout, env=None, cwd=None):
        answer = answers[argv[1]]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(gc, "run", fake_run)
    monkeypatch.setattr(gc, "missing_devices", lambda count: list(missing))
    args = SimpleNamespace(nvidia_smi="nvidia-smi", site=gc.SITE_FILE, require_gpu=require_gpu)
    return gc.probe_machine(args)


TWO_H200 = {
    "--query-gpu=index": done([], 0, "0\n1\n"),
    "--query-gpu=index,name,memory.total": done(
        [], 0, "0, NVIDIA H200, 143771\n1, NVIDIA H200, 143771\n"
    ),
}


def test_a_gpu_machine_reports_its_gpus_and_the_gres_line(monkeypatch):
    machine, row = probe(monkeypatch, TWO_H200)
    assert machine.gpu and (machine.kind, machine.count) == ("nvidia", 2)
    assert gc.banner(machine) == "2 NVIDIA GPU(s): NVIDIA H200"
    assert row.status == "PASS"
    assert "0: NVIDIA H200, 143771 MiB; 1: NVIDIA H200, 143771 MiB" in row.summary
    assert row.figures["gres_line"].endswith("Name=gpu Type=nvidia File=/dev/nvidia[0-1]")


def test_device_files_the_gres_line_names_must_exist(monkeypatch):
    _, row = probe(monkeypatch, TWO_H200, missing=["/dev/nvidia1"])
    assert row.status == "FAIL"
    assert "/dev/nvidia1 missing" in row.summary and "slurmd would refuse" in row.summary


def test_without_nvidia_smi_the_cpu_paths_are_announced(monkeypatch):
    machine, row = probe(monkeypatch, {"--query-gpu=index": FileNotFoundError()})
    assert not machine.gpu and machine.count == 4  # hub_config/site.toml: simulated_gpus = 4
    assert gc.banner(machine) == "no NVIDIA GPU: CPU paths only (nvidia-smi: not found)"
    assert row.status == "PASS"
    assert "Type=simulated File=/dev/aiworkbench-simgpu[0-3]" in row.summary
    broken = {
        "--query-gpu=index": done(
            [],
            9,
            "",
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
        )
    }
    machine, row = probe(monkeypatch, broken)
    assert machine.reason.startswith("nvidia-smi exited 9: NVIDIA-SMI has failed")
    _, row = probe(monkeypatch, broken, require_gpu=True)
    assert row.status == "FAIL" and "--require-gpu" in row.summary


# ------------------------------------------------------------ NVML verdicts


def nvml(monkeypatch, gpu, answer, stderr=""):
    stdout = "" if answer is None else gc.MARK + json.dumps(answer) + "\n"
    monkeypatch.setattr(
        gc, "run", lambda argv, timeout, env=None, cwd=None: done(argv, 0, stdout, stderr)
    )
    machine = gc.Machine(
        gpu=gpu,
        reason="" if gpu else "nvidia-smi: not found",
        kind="nvidia" if gpu else "simulated",
        count=1,
    )
    args = SimpleNamespace(quick=True, python=sys.executable)
    return gc.check_nvml(args, machine, gc.Budget(60))


def test_nvml_must_see_the_cuda_load_on_a_gpu_machine(monkeypatch):
    busy = {"source": "nvml", "index": 0, "idle": [0.0], "samples": 8, "max": 100.0, "mean": 97.5}
    row = nvml(monkeypatch, True, busy)
    assert row.status == "PASS" and "utilisation max 100.0%, mean 97.5%" in row.summary
    assert nvml(monkeypatch, True, {**busy, "max": 0.0, "mean": 0.0}).status == "FAIL"
    assert nvml(monkeypatch, True, {**busy, "max": None, "samples": 0}).status == "FAIL"
    row = nvml(
        monkeypatch,
        True,
        {"source": "nvml", "index": 0, "error": "torch 2.13.0+cpu sees no CUDA device"},
    )
    assert row.status == "FAIL" and "sees no CUDA device" in row.summary
    row = nvml(monkeypatch, True, {"source": "none", "said": "NVML unavailable (x)"})
    assert row.status == "FAIL" and "no NVML on a GPU machine" in row.summary


def test_without_gpus_nvml_must_be_reported_unavailable_cleanly(monkeypatch):
    said = (
        "aiworkbench-singleuser: NVML unavailable (NVML Shared Library Not Found); GPU "
        "idle time is not measured"
    )
    row = nvml(monkeypatch, False, {"source": "none", "said": said})
    assert row.status == "PASS" and row.summary.startswith("no NVIDIA GPU: CPU paths only")
    assert said in row.summary
    assert (
        nvml(
            monkeypatch,
            False,
            {"source": "none", "said": said},
            stderr="Traceback (most recent call last):\n",
        ).status
        == "FAIL"
    )
    assert nvml(monkeypatch, False, None, stderr="ImportError: requests").status == "FAIL"


def test_the_worker_reads_nvml_with_the_sessions_reader_and_needs_torch_for_the_load(monkeypatch):
    class FakeNvml:  # NVML answering for one GPU, as pynvml does
        NVMLError = RuntimeError

        def nvmlInit(self):
            pass

        def nvmlDeviceGetCount(self):
            return 1

        def nvmlDeviceGetHandleByIndex(self, i):
            return i

        def nvmlDeviceGetUtilizationRates(self, handle):
            return SimpleNamespace(gpu=37)

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    answer = gc.nvml_worker(0.1)
    assert answer["source"] == "nvml" and answer["idle"] == [37.0] and answer["index"] == 0
    assert answer["error"].startswith("torch is not importable")


# ------------------------------------------------------------ MFU target


def test_the_mfu_target_is_judged_on_h100_and_h200_only():
    peak = 989e12
    assert gc.mfu_verdict("NVIDIA H200", 0.473, peak) == (
        "PASS",
        "reached: tuned MFU 47.3% >= 45% on NVIDIA H200",
    )
    assert gc.mfu_verdict("NVIDIA H100 80GB HBM3", 0.45, peak)[0] == "PASS"
    assert gc.mfu_verdict("NVIDIA H100 80GB HBM3", 0.381, peak) == (
        "FAIL",
        "not reached: tuned MFU 38.1% < 45% on NVIDIA H100 80GB HBM3",
    )
    assert gc.mfu_verdict("NVIDIA H200", None, peak)[0] == "FAIL"
    status, words = gc.mfu_verdict("NVIDIA A100-SXM4-80GB", 0.52, 312e12)
    assert status == "SKIPPED" and "target is for H100/H200" in words and "MFU 52.0%" in words
    assert "unknown GPU" in gc.mfu_verdict("Tesla T4", None, None)[1]
    assert gc.mfu_verdict("CPU", None, None) == (
        "SKIPPED",
        "no NVIDIA GPU: CPU paths only (MFU is not measured on CPU)",
    )


def test_peak_flops_come_from_the_notebooks_own_table():
    notebook = json.loads(gc.GPT_NOTEBOOK.read_text())
    table = gc.notebook_peak_table(notebook)
    assert table["H100"] == table["H200"] == 989e12
    assert gc.peak_for("NVIDIA H200", table) == 989e12
    assert gc.peak_for("Tesla T4", table) is None
    assert gc.notebook_peak_table({"cells": []}) is None  # then the script's own table


# ------------------------------------------------------------ notebooks, summary


def test_the_course_notebooks_still_have_what_the_script_changes_in_their_copies():
    names = ("01-data.ipynb", "02-train.ipynb")
    books = {n: json.loads((gc.COURSE / n).read_text()) for n in names}
    for name, book in books.items():
        assert (
            gc.patch_notebook(
                book,
                'DATA = Path("/srv/aiworkbench/datasets/digits")',
                'DATA = Path("/tmp/x/digits")',
            )
            == 1
        ), name
    assert gc.patch_notebook(books["02-train.ipynb"], *gc.QUICK_EPOCHS) == 1
    gc.add_readout(books["02-train.ipynb"])
    assert "GPU_CHECK_JSON" in books["02-train.ipynb"]["cells"][-1]["source"]


def test_an_executed_notebook_is_read_for_errors_failed_checks_and_its_readout():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "x"},
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "data": {"text/html": ['<div class="aiwb-check" data-passed="true">']},
                    },
                    {
                        "output_type": "display_data",
                        "data": {"text/html": '<div class="aiwb-check" data-passed="false">'},
                    },
                ],
            },
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "error",
                        "ename": "RuntimeError",
                        "evalue": "CUDA out of memory",
                    }
                ],
            },
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "stream",
                        "name": "stdout",
                        "text": [
                            "noise\n",
                            gc.MARK + '{"gpu_name": "NVIDIA H200", "peak": 9.89e14}\n',
                        ],
                    }
                ],
            },
        ]
    }
    outcome = gc.notebook_outcome(notebook)
    assert outcome == {
        "errors": ["RuntimeError: CUDA out of memory"],
        "passed_checks": 1,
        "failed_checks": 1,
        "readout": {"gpu_name": "NVIDIA H200", "peak": 9.89e14},
    }
    assert gc.notebook_problem("02.ipynb", {**outcome, "failure": ""}) == (
        "02.ipynb: RuntimeError: CUDA out of memory"
    )


def test_the_exit_code_is_0_only_when_nothing_that_ran_failed():
    R = gc.Result
    fine = [R("detect", "PASS", "ok"), R("mfu-target", "SKIPPED", "no GPU")]
    assert gc.exit_code(fine) == 0
    assert gc.exit_code([*fine, R("nvml", "FAIL", "saw nothing")]) == 1
    machine = gc.Machine(gpu=False, reason="nvidia-smi: not found", kind="simulated", count=4)
    table = gc.summary_table(
        [*fine, R("nvml", "FAIL", "saw nothing\nsecond line", seconds=2)], machine, 3.0
    )
    lines = table.splitlines()
    assert lines[0] == (
        "== gpu_check summary: no NVIDIA GPU: CPU paths only (nvidia-smi: not found) =="
    )
    assert lines[3].split()[:2] == ["mfu-target", "SKIPPED"]
    assert lines[4].split()[:3] == ["nvml", "FAIL", "2.0s"] and lines[5].strip() == "second line"
    assert lines[-1] == "total 3.0 s; exit code 1: failed: nvml"


def test_the_time_budget_caps_every_step():
    now = [0.0]
    budget = gc.Budget(450, clock=lambda: now[0])
    assert budget.cap(180) == 180
    now[0] = 400
    assert budget.cap(180) == 50
    now[0] = 500
    assert budget.left() == 0


# ------------------------------------------------------------ the script, here


def test_the_script_runs_its_cpu_paths_here_and_says_there_is_no_gpu(tmp_path):
    """Detection and NVML for real (the notebooks' CPU run takes about a minute and
    needs torch: see docs/benchmarks.md). nvidia-smi is pointed at a path that does
    not exist, so that the run is the no-GPU one even on a machine with GPUs; the
    NVML library must be absent too (as on CI and the dev box)."""
    out = tmp_path / "not-made-yet" / "gpu_check.json"  # its folder is made for it
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--only",
            "detect,nvml",
            "--python",
            sys.executable,
            "--nvidia-smi",
            str(tmp_path / "nvidia-smi"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("gpu_check: no NVIDIA GPU: CPU paths only"), run.stdout
    assert "== gpu_check summary: no NVIDIA GPU: CPU paths only" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert report["gpu"] is False and report["exit_code"] == 0
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == ["detect", "nvml"]
    assert checks["detect"]["status"] == "PASS"
    assert checks["detect"]["figures"]["gres_line"].endswith(
        "Name=gpu Type=simulated File=/dev/aiworkbench-simgpu[0-3]"
    )
    assert checks["nvml"]["status"] == "PASS"
    assert checks["nvml"]["figures"]["source"] == "none", "this machine has NVML"
    assert "NVML unavailable" in checks["nvml"]["summary"]
    assert report["seconds"] < 60


def test_unknown_checks_are_refused():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "detect,mfu"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "give some of detect, nvml, course, gpt" in run.stderr


def test_the_help_says_what_the_kernel_python_needs():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0
    assert "nbclient" in run.stdout and "torch" in run.stdout and "no running factory" in run.stdout
