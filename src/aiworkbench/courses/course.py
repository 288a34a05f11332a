"""Course folders: what a course is, checked before anyone gets a copy.

A course is a folder (or a git checkout) holding ``course.toml`` and its
notebooks::

    title = "First steps on the AI factory"
    level = "beginner"                      # see LEVELS
    summary = "Sessions, partitions, budgets, being a good GPU citizen."
    goals = ["Start a session on the right partition", "Read your budget"]
    notebooks = ["01-sessions.ipynb", "02-budgets.ipynb"]   # in order

    [session]                               # the session the course needs
    partition = "cpu"
    gpus = 0
    hours = 1

Every mistake is reported with the file, the field and what is allowed, all at
once (:class:`CourseError`). With a site, the session is also checked against
its partitions. Notebooks must exist inside the folder and be notebooks
(nbformat 4 JSON); exercise ids (``check("ID", ...)`` calls, see
:mod:`.exercise`) must be unique across the course.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aiworkbench.catalog.paths import PathError, clean_relative
from aiworkbench.core import names
from aiworkbench.core.problems import ProblemsError

DESCRIPTION = "course.toml"
LEVELS = ("beginner", "intermediate", "advanced")
FIELDS = ("title", "level", "summary", "goals", "notebooks", "session")
SESSION_FIELDS = {
    "partition": "a partition of the site",
    "gpus": "0 to 16 GPUs",
    "hours": "1 to 24 hours",
}
# check("ID", ...) in a notebook's code: ID is an exercise id (names.EXERCISE).
EXERCISE_CALL = re.compile(rf"""\bcheck\(\s*["']({names.EXERCISE.pattern.pattern})["']""")
TEXT_LIMITS = {"title": 200, "summary": 2000}


class CourseError(ProblemsError):
    """A course that cannot be published; ``problems`` are "FILE: FIELD: reason" lines."""


@dataclass(frozen=True)
class Session:
    partition: str
    gpus: int
    hours: int


@dataclass(frozen=True)
class Course:
    name: str  # the folder's name
    title: str
    level: str
    summary: str
    goals: tuple[str, ...]
    notebooks: tuple[str, ...]
    session: Session
    exercises: tuple[tuple[str, str], ...]  # (notebook, exercise id), in course order


def _text(data: dict, key: str, where: str, problems: list[str], required=True) -> str:
    value = data.get(key, "")
    if key not in data:
        if required:
            problems.append(f"{where}: {key}: missing (required)")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {key}: must be non-empty text")
        return ""
    if len(value) > TEXT_LIMITS[key]:
        problems.append(f"{where}: {key}: at most {TEXT_LIMITS[key]} characters, got {len(value)}")
    return value


def _strings(data: dict, key: str, where: str, problems: list[str]) -> list[str]:
    value = data.get(key)
    if key not in data:
        problems.append(f"{where}: {key}: missing (required)")
        return []
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        problems.append(f"{where}: {key}: must be a non-empty list of text")
        return []
    return value


def _session(data, where: str, site, problems: list[str]) -> Session:
    if not isinstance(data, dict):
        problems.append(f"{where}: session: must be a table with {', '.join(SESSION_FIELDS)}")
        return Session("", 0, 1)
    for key in sorted(set(data) - set(SESSION_FIELDS)):
        problems.append(
            f"{where}: session.{key}: unknown field; fields: {', '.join(SESSION_FIELDS)}"
        )
    partition, gpus, hours = data.get("partition"), data.get("gpus", 0), data.get("hours", 1)
    if not names.PARTITION.ok(partition):
        problems.append(f"{where}: session.partition: {names.PARTITION.refusal(partition)}")
        partition = ""
    for key, value, low, high in (("gpus", gpus, 0, 16), ("hours", hours, 1, 24)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(
                f"{where}: session.{key}: {value!r} is not allowed; a whole "
                f"number from {low} to {high}"
            )
    if site is not None and partition:
        part = site.partitions.get(partition)
        if part is None:
            problems.append(
                f"{where}: session.partition: {partition!r} is not a partition "
                f"of this factory; partitions: {', '.join(site.partitions)}"
            )
        else:
            if isinstance(gpus, int) and gpus > part.max_gpus:
                problems.append(
                    f"{where}: session.gpus: {gpus} is more than partition "
                    f"{partition!r} allows ({part.max_gpus})"
                )
            if isinstance(hours, int) and hours > part.max_hours:
                problems.append(
                    f"{where}: session.hours: {hours} is more than partition "
                    f"{partition!r} allows ({part.max_hours})"
                )
    return Session(
        partition, gpus if isinstance(gpus, int) else 0, hours if isinstance(hours, int) else 1
    )


def notebook_exercises(path: Path, where: str, problems: list[str]) -> list[str]:
    """The exercise ids a notebook checks (``check("ID", ...)`` in its code cells), or a
    problem when it is not an nbformat 4 notebook."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problems.append(f"{where}: not a readable notebook: {err}")
        return []
    if (
        not isinstance(notebook, dict)
        or notebook.get("nbformat") != 4
        or not isinstance(notebook.get("cells"), list)
    ):
        problems.append(f"{where}: not an nbformat 4 notebook (no cells)")
        return []
    found = []
    for cell in notebook["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            found += EXERCISE_CALL.findall(source)
    return found


def read_course(folder: str | Path, site=None) -> Course:
    """The course in ``folder``, or :class:`CourseError` listing every problem."""
    folder = Path(folder)
    where = str(folder / DESCRIPTION)
    if not names.COURSE.ok(folder.name):
        raise CourseError([f"{folder}: {names.COURSE.refusal(folder.name)}"])
    data = _description(folder, where)
    problems: list[str] = []
    for key in sorted(set(data) - set(FIELDS)):
        problems.append(f"{where}: {key}: unknown field; fields: {', '.join(FIELDS)}")
    title = _text(data, "title", where, problems)
    summary = _text(data, "summary", where, problems, required=False)
    level = data.get("level")
    if level not in LEVELS:
        problems.append(
            f"{where}: level: {str(level)[:40]!r} is not allowed; allowed: {', '.join(LEVELS)}"
            if "level" in data
            else f"{where}: level: missing (required)"
        )
    goals = _strings(data, "goals", where, problems)
    notebooks = _notebooks(data, folder, where, problems)
    if "session" not in data:
        problems.append(
            f"{where}: session: missing (required): the session the course "
            f"needs ({', '.join(SESSION_FIELDS)})"
        )
    session = _session(data.get("session", {}), where, site, problems)
    exercises = _exercises(folder, notebooks, problems)
    if problems:
        raise CourseError(problems)
    return Course(
        name=folder.name,
        title=title,
        level=level,
        summary=summary,
        goals=tuple(goals),
        notebooks=tuple(notebooks),
        session=session,
        exercises=tuple(exercises),
    )


def _description(folder: Path, where: str) -> dict:
    """The course's ``course.toml``, or :class:`CourseError` when it cannot be read."""
    try:
        return tomllib.loads((folder / DESCRIPTION).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError([f"{where}: missing: a course folder needs one"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise CourseError([f"{where}: cannot be read: {err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise CourseError([f"{where}: not valid TOML: {err}"]) from None


def _notebooks(data: dict, folder: Path, where: str, problems: list[str]) -> list[str]:
    """The notebooks listed, in order: each once, a notebook file inside the folder."""
    notebooks: list[str] = []
    for entry in _strings(data, "notebooks", where, problems):
        try:
            relative = clean_relative(entry)
        except PathError as err:
            problems.append(f"{where}: notebooks: {err}")
            continue
        if not relative.endswith(".ipynb"):
            problems.append(f"{where}: notebooks: {relative!r} is not a notebook (.ipynb)")
        elif relative in notebooks:
            problems.append(f"{where}: notebooks: {relative!r} is listed twice")
        elif not (folder / relative).is_file() or (folder / relative).is_symlink():
            problems.append(f"{where}: notebooks: {relative!r} is not a file in the course folder")
        else:
            notebooks.append(relative)
    return notebooks


def _exercises(folder: Path, notebooks: list[str], problems: list[str]) -> list[tuple[str, str]]:
    """(notebook, exercise id) in course order; an id met twice is a problem."""
    exercises, seen = [], {}
    for notebook in notebooks:
        for exercise in notebook_exercises(folder / notebook, str(folder / notebook), problems):
            if exercise in seen:
                problems.append(
                    f"{folder / notebook}: exercise {exercise!r} is also in "
                    f"{seen[exercise]}; exercise ids must be unique in a course"
                )
            else:
                seen[exercise] = notebook
                exercises.append((notebook, exercise))
    return exercises
