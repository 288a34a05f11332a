"""The JupyterLab extension's build steps (aiworkbench.jobserver.build_labextension): each
runs through the one runner, its output shown, a failure or a hang said in words."""

import sys

import pytest

from aiworkbench.jobserver import build_labextension as build


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_step_shows_its_output_and_answers_with_its_last_line(tmp_path, capsys):
    said = python(
        "import sys; print('added 212 packages'); print('4.4.1'); print('warn', file=sys.stderr)"
    )
    assert build.run("npm install", said, tmp_path) == "4.4.1"
    out, err = capsys.readouterr()
    assert "added 212 packages\n4.4.1\n" in out and "npm install: done in" in out
    assert err == "warn\n"
    assert build.run("JupyterLab's version", said, tmp_path, capture=True) == "4.4.1"
    assert "added 212 packages\n" not in capsys.readouterr().out  # captured: its answer only
    where = python("import os; print(os.getcwd())")
    assert build.run("where", where, tmp_path, capture=True) == str(tmp_path)


def test_a_failing_or_hanging_step_is_named_with_why(tmp_path, capsys):
    tsc = python("print('src/index.ts(3,1): error TS2304'); raise SystemExit(2)")
    with pytest.raises(build.Failed, match=r"^tsc failed \(exit status 2\); its output is above$"):
        build.run("tsc", tsc, tmp_path, capture=True)
    assert "error TS2304" in capsys.readouterr().out  # shown, though captured
    with pytest.raises(build.Failed, match="^build: cannot run /nowhere/jupyter-builder: "):
        build.run("build", ["/nowhere/jupyter-builder", "build"], tmp_path)
    with pytest.raises(build.Failed, match=r"^npm install: .* did not answer within 0.5s$"):
        build.run("npm install", python("import time; time.sleep(30)"), tmp_path, timeout=0.5)
    assert build.STEP_TIMEOUT_S == 30 * 60
