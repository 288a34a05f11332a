"""Exercises that check themselves: ``aiworkbench.check("ID", answer, expected)``.

In a course notebook::

    from aiworkbench import check
    gpu_hours = 4 * 2
    check("gpu-hours", gpu_hours, 8, hint="GPUs times hours")

The check says at once whether the answer is right and, if not, what is wrong
(a string where a number was expected, too small or too large, the wrong
length, a missing key, the wrong shape, an item that differs) and the hint,
without giving the answer away. ``test=`` takes a function instead: it returns
None when the answer is right, else what is wrong.

Each check is recorded in the workbench API as the student's progress (course,
exercise, attempts, passed), so it survives kernel restarts and new copies of
the course. The course is the folder the notebook runs in: a student's copy
(with ``.aiworkbench-course.json``) or a trainer's course folder (with
``course.toml``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiworkbench.core import names
from aiworkbench.courses.course import DESCRIPTION
from aiworkbench.courses.sync import MANIFEST
from aiworkbench.widgets.api_client import WorkbenchAPIError, api_post
from aiworkbench.widgets.base import STATUS_COLOURS
from aiworkbench.widgets.templating import render

MISSING: Any = object()


@dataclass
class CheckResult:
    exercise: str
    passed: bool
    feedback: str  # what is wrong ("" when right)
    hint: str
    recorded: str  # where the progress went, or why it was not recorded

    def text(self) -> str:
        if self.passed:
            lines = [f"✓ {self.exercise}: correct."]
        else:
            lines = [f"✗ {self.exercise}: not yet. {self.feedback}"]
            if self.hint:
                lines.append(f"Hint: {self.hint}")
        lines.append(self.recorded)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return render(
            "check_result.html",
            exercise=self.exercise,
            passed=self.passed,
            feedback=self.feedback,
            hint=self.hint,
            recorded=self.recorded,
            colours=STATUS_COLOURS,
        )

    def __repr__(self) -> str:
        return self.text()


def _kind(value) -> str:
    if isinstance(value, bool):
        return "True/False"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    return f"a {type(value).__name__}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value):
    """``value`` as a float when it is a number (numpy and torch scalars too), else None."""
    if isinstance(value, (bool, str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _plain(value):
    """Tensors as numpy arrays (off the GPU, out of autograd); 0-d arrays and numpy
    scalars as Python numbers."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    return value


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def compare(answer, expected, tolerance: float = 1e-6, where: str = "your answer") -> str:
    """What is wrong with ``answer`` ("" when it matches ``expected``), without saying
    what ``expected`` is."""
    answer, expected = _plain(answer), _plain(expected)
    if _is_array(expected):  # numpy arrays (and tensors, made numpy above)
        return _compare_array(answer, expected, tolerance, where)
    if _is_array(answer) and not isinstance(expected, (list, tuple)):
        return f"{where} is an array of shape {tuple(answer.shape)}; it should be {_kind(expected)}"
    if isinstance(expected, bool):
        return _compare_bool(answer, expected, where)
    if isinstance(expected, (int, float)):
        return _compare_number(answer, expected, tolerance, where)
    if isinstance(expected, str):
        return _compare_text(answer, expected, where)
    if isinstance(expected, (list, tuple)):
        return _compare_sequence(answer, expected, tolerance, where)
    if isinstance(expected, dict):
        return _compare_dict(answer, expected, tolerance, where)
    try:
        same = bool(answer == expected)
    except Exception:  # a comparison that cannot say yes or no
        same = False
    return "" if same else f"{where}, {_short(answer)}, is not right"


def _compare_array(answer, expected, tolerance: float, where: str) -> str:
    shape = getattr(answer, "shape", None)
    if shape is None:
        return f"{where} should be an array of shape {tuple(expected.shape)}, got {_kind(answer)}"
    if tuple(shape) != tuple(expected.shape):
        return f"{where} has shape {tuple(shape)}; it should be {tuple(expected.shape)}"
    import numpy as np

    try:
        same = np.allclose(
            np.asarray(answer, dtype=float),
            np.asarray(expected, dtype=float),
            rtol=tolerance,
            atol=tolerance,
        )
    except (TypeError, ValueError):
        same = bool(np.array_equal(np.asarray(answer), np.asarray(expected)))
    return "" if same else f"{where} has the right shape, but some values differ"


def _compare_bool(answer, expected: bool, where: str) -> str:
    if answer is not expected and answer != expected:
        return f"{where} is {_short(answer)}; think again about True or False"
    return ""


def _compare_number(answer, expected: int | float, tolerance: float, where: str) -> str:
    value = _number(answer)
    if value is None:
        return f"{where} should be a number, got {_kind(answer)} ({_short(answer)})"
    if math.isnan(value):
        return f"{where} is NaN (not a number): a computation went wrong"
    if not math.isclose(value, expected, rel_tol=tolerance, abs_tol=tolerance):
        return f"{where}, {value:g}, is too {'small' if value < expected else 'large'}"
    return ""


def _compare_text(answer, expected: str, where: str) -> str:
    if not isinstance(answer, str):
        return f"{where} should be text, got {_kind(answer)} ({_short(answer)})"
    if answer != expected:
        if answer.strip().lower() == expected.strip().lower():
            return f"{where} is almost right: check upper and lower case and spaces"
        return f"{where}, {_short(answer)}, is not the text expected"
    return ""


def _compare_sequence(answer, expected: list | tuple, tolerance: float, where: str) -> str:
    if not isinstance(answer, (list, tuple)) and not _is_array(answer):
        return f"{where} should be a list, got {_kind(answer)}"
    if len(answer) != len(expected):
        return f"{where} has {len(answer)} items; it should have {len(expected)}"
    for i, (mine, right) in enumerate(zip(answer, expected)):
        wrong = compare(mine, right, tolerance, f"item {i}")
        if wrong:
            return wrong
    return ""


def _compare_dict(answer, expected: dict, tolerance: float, where: str) -> str:
    if not isinstance(answer, dict):
        return f"{where} should be a dict, got {_kind(answer)}"
    missing = [k for k in expected if k not in answer]
    if missing:
        return f"{where} lacks the key {missing[0]!r}"
    extra = [k for k in answer if k not in expected]
    if extra:
        return f"{where} has a key that should not be there: {extra[0]!r}"
    for key in expected:
        wrong = compare(answer[key], expected[key], tolerance, f"the value of {key!r}")
        if wrong:
            return wrong
    return ""


def find_course(start: Path | None = None) -> str | None:
    """The course the notebook runs in: the nearest folder, from ``start`` (the
    kernel's working folder) up, holding a student's copy (whose manifest names the
    course, whatever the folder is called now) or a course description (a trainer's
    course folder, named like the course)."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / MANIFEST).is_file():
            try:
                name = json.loads((candidate / MANIFEST).read_text()).get("course")
            except (OSError, ValueError, AttributeError):
                name = None
            name = name if isinstance(name, str) else candidate.name
        elif (candidate / DESCRIPTION).is_file():
            name = candidate.name
        else:
            continue
        if names.COURSE.ok(name):
            return name
    return None


def record(
    course: str | None, exercise: str, passed: bool, post: Callable[[str, dict], dict] = api_post
) -> str:
    """Record the attempt with the workbench API; what happened, in words."""
    if course is None:
        return "Progress not recorded: this notebook is not in a course folder."
    try:
        saved = post("progress", {"course": course, "exercise": exercise, "passed": passed})
    except WorkbenchAPIError as err:
        return f"Progress not recorded: {err}"
    attempts = saved.get("attempts", "?")
    state = "passed" if saved.get("passed") else "not passed yet"
    return f"Progress saved: course {course}, attempt {attempts}, {state}."


def check(
    exercise: str,
    answer,
    expected=MISSING,
    *,
    test: Callable | None = None,
    hint: str = "",
    tolerance: float = 1e-6,
) -> None:
    """Check ``answer`` to ``exercise`` against ``expected`` (or with ``test``: a function
    of the answer that returns None when it is right, else what is wrong), record the
    attempt and show the result below the cell."""
    result = evaluate(exercise, answer, expected, test=test, hint=hint, tolerance=tolerance)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(result)
    else:
        print(result.text())


def evaluate(
    exercise: str,
    answer,
    expected=MISSING,
    *,
    test: Callable | None = None,
    hint: str = "",
    tolerance: float = 1e-6,
    course: str | None = None,
    post: Callable[[str, dict], dict] = api_post,
) -> CheckResult:
    """What :func:`check` does, without showing it: the result, recorded."""
    names.EXERCISE.check(exercise)
    if (expected is MISSING) == (test is None):
        raise ValueError("give either expected or test=, not both or neither")
    if test is not None:
        try:
            wrong = test(answer)
        except Exception as err:  # the student's answer broke the test: say how
            wrong = f"checking your answer failed: {type(err).__name__}: {err}"
        if wrong is True or wrong is None:
            feedback = ""
        elif wrong is False:
            feedback = "your answer is not right yet"
        else:
            feedback = str(wrong)
    else:
        try:
            feedback = compare(answer, expected, tolerance)
        except Exception as err:  # an answer of a kind nobody foresaw
            feedback = f"your answer could not be checked: {type(err).__name__}: {err}"
    passed = not feedback
    where = course if course is not None else find_course()
    if os.environ.get("AIWORKBENCH_API_URL") or post is not api_post:
        recorded = record(where, exercise, passed, post)
    else:
        recorded = "Progress not recorded: not in a workbench session."
    return CheckResult(exercise, passed, feedback, hint, recorded)
