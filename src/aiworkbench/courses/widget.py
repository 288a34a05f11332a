"""Course tutorials in the notebook: ``aiworkbench.course()`` for students and
``aiworkbench.class_progress("CLASS")`` for trainers.

    import aiworkbench
    aiworkbench.course()                   # the outline of your courses, your progress
    aiworkbench.course("first-steps")      # ... of one course
    aiworkbench.class_progress("intro")    # trainers: who passed what in class intro

What is published and what was passed come from the workbench API (``courses``,
``progress``, ``classes/CLASS/progress``), never from reading other people's files.
"Get my copy" copies the published course into ``~/courses/COURSE`` *in this
kernel, as you* (:func:`~aiworkbench.courses.sync.sync`): your edits are never
overwritten; a file both you and the trainer changed gets the trainer's version
beside yours.

Two layers each, like the other widgets:

* :class:`CourseOutline` and :class:`ClassProgress` hold what is shown (the last
  good answers, the status line) and talk to the API through an injected
  ``fetch`` (default :func:`~aiworkbench.widgets.api_client.api_get`); they need no
  ipywidgets and are what the unit tests drive;
* :class:`CourseWidget` and :class:`ClassWidget` draw them with ipywidgets
  (imported only there).

The models' HTML (``*_html``) is rendered from the templates ``course_*.html`` and
``class_*.html`` (:mod:`aiworkbench.widgets.templating`): the models give the words, the
templates the markup, and every value is escaped there.

API errors go to the status line in plain words; what was shown before stays.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiworkbench.core import names
from aiworkbench.courses.sync import MANIFEST, SyncReport, sync
from aiworkbench.widgets.api_client import Asker, WorkbenchAPIError, api_get
from aiworkbench.widgets.base import (
    STATUS_COLOURS,
    Shown,
    clock_time,
    close_all,
    counted,
    status_line,
)
from aiworkbench.widgets.templating import render

STUCK_ATTEMPTS = 3  # tried this often and not passed: stuck
COPIES = "courses"  # the students' copies: ~/courses/COURSE
# The status line's colour for each kind of what the models say, and an exercise's mark's.
STATUS_COLOUR = {
    "info": STATUS_COLOURS["info"],
    "ok": STATUS_COLOURS["ok"],
    "warning": STATUS_COLOURS["warning"],
    "error": STATUS_COLOURS["error"],
    "unreachable": STATUS_COLOURS["warning"],
}
MARK_COLOUR = {
    "passed": STATUS_COLOURS["ok"],
    "tried": STATUS_COLOURS["error"],
    "untried": STATUS_COLOURS["none"],
}
PROGRESS_COLOUR = "#1976d2"  # a course's bar until every exercise is passed
GET_COPY, UPDATE_COPY = "Get my copy", "Update my copy"


# --- words ------------------------------------------------------------------------------


def session_text(session: dict) -> str:
    """The session a course needs in words: '1 GPU, 2 hours on gpu'."""
    gpus, hours = _int(session.get("gpus")), _int(session.get("hours"), 1)
    partition = str(session.get("partition") or "?")
    gpu_text = counted(gpus, "GPU", "GPUs") if gpus else "no GPU"
    return f"{gpu_text}, {counted(hours, 'hour', 'hours')} on {partition}"


def _int(value, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _texts(value) -> list[str]:
    return (
        [str(v) for v in value if isinstance(v, (str, int, float))]
        if isinstance(value, list)
        else []
    )


@dataclass(frozen=True)
class Exercise:
    """One exercise of a course and one student's progress on it."""

    notebook: str
    exercise: str
    attempts: int = 0
    passed: bool = False

    @property
    def state(self) -> str:
        """passed, tried or untried."""
        return "passed" if self.passed else "tried" if self.attempts else "untried"

    @property
    def stuck(self) -> bool:
        return not self.passed and self.attempts >= STUCK_ATTEMPTS

    @property
    def mark(self) -> str:
        """The class table's cell: '✓', '✗3' (three attempts) or '·'."""
        return {"passed": "✓", "tried": f"✗{self.attempts}", "untried": "·"}[self.state]

    def text(self) -> str:
        """'passed ✓', 'tried (2 attempts) ✗' or 'not tried ·'."""
        if self.passed:
            return "passed ✓"
        if self.attempts:
            return f"tried ({counted(self.attempts, 'attempt', 'attempts')}) ✗"
        return "not tried ·"


def clean_course(item) -> dict | None:
    """One entry of the API's ``courses`` answer with every field of the expected type;
    None when it names no course."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("course"), str)
        or not names.COURSE.ok(item["course"])
    ):
        return None
    exercises = [
        (str(pair[0]), str(pair[1]))
        for pair in item.get("exercises") or ()
        if isinstance(pair, (list, tuple)) and len(pair) == 2
    ]
    session = item.get("session") if isinstance(item.get("session"), dict) else {}
    return {
        "class": str(item.get("class") or ""),
        "course": item["course"],
        "title": str(item.get("title") or item["course"]),
        "level": str(item.get("level") or ""),
        "summary": str(item.get("summary") or ""),
        "goals": _texts(item.get("goals")),
        "notebooks": _texts(item.get("notebooks")),
        "session": session,
        "exercises": exercises,
        "version": str(item.get("version") or ""),
        "published_at": str(item.get("published_at") or ""),
        "published_by": str(item.get("published_by") or ""),
        "path": str(item.get("path") or ""),
    }


def exercise_states(course: dict, records: dict[str, dict]) -> list[Exercise]:
    """The course's exercises in course order with one student's ``records`` (by
    exercise id)."""
    states = []
    for notebook, exercise in course["exercises"]:
        record = records.get(exercise) or {}
        states.append(
            Exercise(notebook, exercise, _int(record.get("attempts")), bool(record.get("passed")))
        )
    return states


def by_notebook(notebooks: list[str], states: list[Exercise]) -> list[tuple[str, list[Exercise]]]:
    """``notebooks`` in order, each with its exercises (notebooks only the exercises name
    come last)."""
    order = list(dict.fromkeys([*notebooks, *(s.notebook for s in states)]))
    return [(nb, [s for s in states if s.notebook == nb]) for nb in order]


def first_unpassed(states: list[Exercise]) -> Exercise | None:
    return next((s for s in states if not s.passed), None)


def records_by(records, key: str) -> dict[str, dict[str, dict]]:
    """API progress records as {record[key]: {exercise: record}}."""
    found: dict[str, dict[str, dict]] = {}
    for record in records if isinstance(records, list) else ():
        if isinstance(record, dict) and isinstance(record.get("exercise"), str):
            found.setdefault(str(record.get(key)), {})[record["exercise"]] = record
    return found


# --- HTML (the templates course_*.html and class_*.html) --------------------------------


def status_html(kind: str, text: str) -> str:
    if not text:
        return ""
    return status_line(
        text,
        STATUS_COLOUR[kind],
        mark=kind in ("warning", "error", "unreachable"),
        bold=kind not in ("info", "ok"),
    )


def bar_html(done: int, total: int) -> str:
    """A progress bar with 'N of M exercises passed'."""
    width = 100 * done / total if total else 0
    colour = MARK_COLOUR["passed"] if total and done == total else PROGRESS_COLOUR
    words = (
        f"{done} of {counted(total, 'exercise', 'exercises')} passed"
        if total
        else "no checked exercises"
    )
    return render("course_bar.html", percent=f"{width:.1f}", colour=colour, words=words)


# --- the student's outline: the model ---------------------------------------------------


class CourseOutline(Asker):
    """The caller's courses (or one, ``name``), their progress and their copies in
    ``home``/courses. Every action returns True when it worked; otherwise the status line
    says why and what was shown before stays."""

    def __init__(
        self,
        name: str | None = None,
        *,
        fetch: Callable[..., dict] = api_get,
        home: str | Path | None = None,
        environ: dict[str, str] | None = None,
        syncer: Callable[..., SyncReport] = sync,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(fetch)
        self.name = None if name is None else names.COURSE.check(name)
        self._home = None if home is None else Path(home)
        self.environ = os.environ if environ is None else environ
        self.syncer, self.clock = syncer, clock
        self.user = ""
        self.teaching: list[str] = []  # the classes the caller trains
        self.loaded = False  # the courses were read at least once
        self.courses: list[dict] = []  # the last good answer, cleaned (one per course name)
        self.records: dict[str, dict[str, dict]] = {}  # course: {exercise: record}
        self.progress_at: float | None = None
        self.reports: dict[str, SyncReport] = {}  # the last sync of each course

    # -- reading

    def load(self) -> bool:
        """Read the courses, then the progress."""
        return self.load_courses() and self.load_progress()

    def load_courses(self) -> bool:
        answer = self._ask("the request for your courses", "courses", None, "courses", list)
        if answer is None:
            return False
        cleaned = [clean_course(item) for item in answer["courses"]]
        newest: dict[str, dict] = {}
        for course in (c for c in cleaned if c is not None):
            classes = [*newest.get(course["course"], {}).get("classes", ()), course["class"]]
            if course["course"] not in newest or (
                course["published_at"] > newest[course["course"]]["published_at"]
            ):
                newest[course["course"]] = course  # the same course in two classes: newest
            newest[course["course"]]["classes"] = list(dict.fromkeys(c for c in classes if c))
        self.user, self.loaded = str(answer.get("user") or ""), True
        self.teaching = [str(c) for c in answer.get("teaching") or []]
        everything = list(newest.values())
        self.courses = (
            [c for c in everything if c["course"] == self.name] if self.name else everything
        )
        if self.name and not self.courses:
            others = ", ".join(c["course"] for c in everything) or "none"
            self.say(
                f"Course {self.name!r} is not published to any of your classes; your "
                f"courses: {others}.",
                "error",
            )
            return False
        if not self.courses:
            self.say(
                "No course is published to your classes yet. Your trainer publishes "
                "them; try again later."
            )
            return False
        return True

    def load_progress(self) -> bool:
        """Re-read the caller's progress (the Refresh button)."""
        params = {"course": self.name} if self.name else None
        answer = self._ask("the request for your progress", "progress", params, "records", list)
        if answer is None:
            return False
        self.records = records_by(answer["records"], "course")
        self.progress_at = self.clock()
        self.say(
            f"Progress of {answer.get('user') or self.user or 'you'}, read at "
            f"{clock_time(self.progress_at)}."
        )
        return True

    # -- one course

    def course(self, course: str | dict) -> dict:
        """The course named ``course`` (or the course itself); ValueError if not shown."""
        if isinstance(course, dict):
            return course
        for item in self.courses:
            if item["course"] == course:
                return item
        raise ValueError(
            f"no course {str(course)[:60]!r} here; courses: "
            f"{', '.join(c['course'] for c in self.courses) or 'none'}"
        )

    def exercises(self, course: str | dict) -> list[Exercise]:
        """The course's exercises, in course order, with the caller's progress."""
        course = self.course(course)
        return exercise_states(course, self.records.get(course["course"], {}))

    def notebooks(self, course: str | dict) -> list[tuple[str, list[Exercise]]]:
        course = self.course(course)
        return by_notebook(course["notebooks"], self.exercises(course))

    def counts(self, course: str | dict) -> tuple[int, int]:
        """(exercises passed, exercises)."""
        states = self.exercises(course)
        return sum(s.passed for s in states), len(states)

    def next_step(self, course: str | dict) -> Exercise | None:
        """The first exercise not passed yet; None when all are (or there are none)."""
        return first_unpassed(self.exercises(course))

    def next_step_text(self, course: str | dict) -> str:
        course = self.course(course)
        step, (_, total) = self.next_step(course), self.counts(course)
        if step is not None:
            return f"Next step: exercise {step.exercise} in {step.notebook}."
        if total:
            return f"Course complete: all {counted(total, 'exercise', 'exercises')} passed."
        first = course["notebooks"][0] if course["notebooks"] else "its notebooks"
        return f"No checked exercises in this course: work through it, starting with {first}."

    # -- the student's copy

    def home(self) -> Path:
        return self._home if self._home is not None else Path.home()

    def copy_folder(self, course: str | dict) -> Path:
        """Where the caller's copy of the course is: ~/courses/COURSE."""
        return self.home() / COPIES / names.COURSE.check(self.course(course)["course"])

    def shown_folder(self, course: str | dict) -> str:
        """The copy's folder as the student thinks of it: '~/courses/first-steps'."""
        return f"~/{COPIES}/{self.course(course)['course']}"

    def has_copy(self, course: str | dict) -> bool:
        return self.copy_folder(course).is_dir()

    def copy_version(self, course: str | dict) -> str | None:
        """The version the copy was last brought up to (its manifest), if known."""
        try:
            manifest = json.loads((self.copy_folder(course) / MANIFEST).read_text())
            return str(manifest["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def sync_label(self, course: str | dict) -> str:
        return UPDATE_COPY if self.has_copy(course) else GET_COPY

    def sync_copy(self, course: str | dict) -> bool:
        """Copy the published course into ~/courses/COURSE (or bring the copy up to date),
        here, as the caller; the status line says what changed."""
        course = self.course(course)
        name, published, version = course["course"], course["path"], course["version"]
        if not published.startswith("/"):
            self.say(
                f"The workbench API gave no folder for course {name} (path "
                f"{published!r}), so it cannot be copied here.",
                "error",
            )
            return False
        if not names.VERSION.ok(version):
            self.say(
                f"The workbench API gave course {name} an odd version {version[:60]!r}; "
                f"your copy was not changed.",
                "error",
            )
            return False
        source = Path(published)
        if not source.is_dir():
            self.say(
                f"The published course {published} is not visible from this session "
                f"(is the shared course folder mounted here, or is the trainer "
                f"publishing it right now?); your copy was not changed. Try again in a "
                f"moment.",
                "error",
            )
            return False
        if not os.access(source, os.R_OK | os.X_OK):
            self.say(
                f"You may not read the published course {published} (filesystem "
                f"permissions); ask your trainer. Your copy was not changed.",
                "error",
            )
            return False
        had, target = self.has_copy(course), self.copy_folder(course)
        try:
            report = self.syncer(source, target, version, name)
        except PermissionError as err:
            self.say(
                f"Could not write your copy: permission denied on "
                f"{err.filename or target}. Nothing of yours was overwritten.",
                "error",
            )
            return False
        except (OSError, ValueError) as err:
            self.say(
                f"Copying course {name} failed: {err}. Nothing of yours was "
                f"overwritten; run it again.",
                "error",
            )
            return False
        self.reports[name] = report
        self.say(*sync_message(self.shown_folder(course), version, report, had))
        return True

    # -- links

    def notebook_link(self, course: str | dict, notebook: str) -> str | None:
        """The JupyterLab address of the caller's copy of ``notebook``; None outside a hub
        session (no JUPYTERHUB_SERVICE_PREFIX)."""
        prefix = self.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
        if not prefix:
            return None
        if not prefix.endswith("/"):
            prefix += "/"
        name = urllib.parse.quote(self.course(course)["course"], safe="")
        return f"{prefix}lab/tree/{COPIES}/{name}/{urllib.parse.quote(notebook)}"

    def notebook_html(self, course: str | dict, notebook: str) -> str:
        """A link that opens the notebook in JupyterLab, or its path as text."""
        return render(
            "course_notebook.html",
            name=notebook,
            link=self.notebook_link(course, notebook),
            folder=self.shown_folder(course),
        )

    # -- what is shown

    def header_html(self, course: str | dict) -> str:
        course = self.course(course)
        published = ", ".join(
            x
            for x in (
                f"class {', '.join(course.get('classes') or [course['class']])}",
                f"version {course['version']}",
                f"published {course['published_at'].replace('T', ' ')}"
                if course["published_at"]
                else "",
                f"by {course['published_by']}" if course["published_by"] else "",
            )
            if x
        )
        copy = self.copy_version(course)
        if copy is None and self.has_copy(course):
            copy = "unknown"
        copy_text = (
            "you have no copy yet"
            if copy is None
            else f"your copy in {self.shown_folder(course)} is at version {copy}"
        )
        return render(
            "course_header.html",
            course=course,
            colours=STATUS_COLOURS,
            session=session_text(course["session"]),
            published=published,
            copy=copy_text,
        )

    def progress_html(self, course: str | dict) -> str:
        return bar_html(*self.counts(course))

    def notebooks_html(self, course: str | dict) -> str:
        """The notebooks in order, each with its exercises marked."""
        course = self.course(course)
        step = self.next_step(course)
        notebooks = [
            {
                "name": notebook,
                "link": self.notebook_link(course, notebook),
                "states": states,
                "here": bool(step and step.notebook == notebook),
            }
            for notebook, states in self.notebooks(course)
        ]
        return render(
            "course_notebooks.html",
            notebooks=notebooks,
            folder=self.shown_folder(course),
            colours=MARK_COLOUR,
        )

    def next_html(self, course: str | dict) -> str:
        course = self.course(course)
        step = self.next_step(course)
        return render(
            "course_next.html",
            text=self.next_step_text(course),
            step=step,
            link=None if step is None else self.notebook_link(course, step.notebook),
            folder=self.shown_folder(course),
            has_copy=self.has_copy(course),
            get_copy=GET_COPY,
        )

    def text_lines(self) -> list[str]:
        lines = [self.status] if self.status else []
        for course in self.courses:
            done, total = self.counts(course)
            lines.append(
                f"{course['title']} ({course['course']}, {course['level']}): "
                f"{done} of {total} passed; session: "
                f"{session_text(course['session'])}"
            )
            for notebook, states in self.notebooks(course):
                lines.append(
                    f"  {notebook}: "
                    + ("; ".join(f"{s.exercise} {s.text()}" for s in states) or "—")
                )
            lines.append("  " + self.next_step_text(course))
        return lines


def sync_message(where: str, version: str, report: SyncReport, had: bool) -> tuple[str, str]:
    """(the status line after a sync, its kind)."""
    verb = "Updated your copy" if had else "Got your copy"
    text = f"{verb} in {where} (version {version}): {report.text()}."
    kind = "ok"
    if report.set_aside:
        pairs = "; ".join(
            f"{theirs} (yours, untouched) and {aside} (the trainer's)"
            for theirs, aside in report.set_aside
        )
        text += (
            f" The trainer changed files you had edited too, so the trainer's new "
            f"version was put beside yours: {pairs}. Compare them and take what you "
            f"need."
        )
        kind = "warning"
    if report.removed_upstream:
        text += (
            f" No longer in the course, kept in your copy: {', '.join(report.removed_upstream)}."
        )
    return text, kind


# --- the trainer's class table: the model -----------------------------------------------


@dataclass(frozen=True)
class StudentRow:
    user: str
    cells: tuple[Exercise, ...]  # in the table's column order

    @property
    def stuck(self) -> list[Exercise]:
        return [c for c in self.cells if c.stuck]

    @property
    def where(self) -> str:
        """The notebook of the first exercise not passed ('complete' when all are);
        '(not started)' is added when nothing was tried."""
        if not self.cells:
            return "—"
        step = first_unpassed(list(self.cells))
        if step is None:
            return "complete"
        started = any(c.attempts or c.passed for c in self.cells)
        return step.notebook if started else f"{step.notebook} (not started)"


class ClassProgress(Asker):
    """The progress of class ``klass`` in one course (``course``, else the first published
    to the class), for its trainers, managers and admins."""

    def __init__(
        self,
        klass: str,
        course: str | None = None,
        *,
        fetch: Callable[..., dict] = api_get,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(fetch)
        self.klass = names.CLASS.check(klass)
        self.course = None if course is None else names.COURSE.check(course)
        self.clock = clock
        self.published: list[dict] = []  # the courses published to the class (cleaned)
        self.answer: dict | None = None  # the last good class progress answer
        self.shown: str | None = None  # the course that answer is for
        self.read_at: float | None = None

    def refused(self, what: str, err: WorkbenchAPIError) -> str:
        if err.status == 403:
            return (
                f"Refused: only the trainers of class {self.klass} may see its progress "
                f"(and managers and admins). The API says: {err}"
            )
        return super().refused(what, err)

    @property
    def choices(self) -> list[str]:
        """The courses to choose from: those published to the class (and the one asked
        for, if it is not)."""
        names = [c["course"] for c in self.published]
        return names + [self.course] if self.course and self.course not in names else names

    def published_course(self, name: str | None) -> dict | None:
        return next((c for c in self.published if c["course"] == name), None)

    def load(self) -> bool:
        """Read the courses published to the class, then the chosen course's progress."""
        answer = self._ask("the request for the courses", "courses", None, "courses", list)
        if answer is None:
            return False
        self.published = [
            c
            for c in map(clean_course, answer["courses"])
            if c is not None and c["class"] == self.klass
        ]
        if self.course is None and self.published:
            self.course = self.published[0]["course"]
        return self.load_progress()

    def choose(self, course: str) -> bool:
        """Show course ``course`` (one of :attr:`choices`); if its progress cannot be read,
        the course shown before stays chosen."""
        before, self.course = self.course, names.COURSE.check(course)
        if self.load_progress():
            return True
        self.course = before
        return False

    def load_progress(self) -> bool:
        path = f"classes/{urllib.parse.quote(self.klass, safe='')}/progress"
        params = {"course": self.course} if self.course else None
        what = f"the request for class {self.klass}'s progress" + (
            f" in course {self.course}" if self.course else ""
        )
        answer = self._ask(what, path, params, "records", list)
        if answer is None:
            return False
        if not isinstance(answer.get("members"), list):
            self.say(
                f"The workbench API answered {what} without its members; what is shown "
                f"is from before.",
                "error",
            )
            return False
        if self.course is None:  # nothing published to the class: a course its members tried
            tried = sorted(
                {
                    str(r.get("course"))
                    for r in answer["records"]
                    if isinstance(r, dict) and r.get("course")
                }
            )
            self.course = tried[0] if tried else None
        self.answer, self.shown, self.read_at = answer, self.course, self.clock()
        rows = self.rows()
        if self.shown is None:
            self.say(
                f"No course is published to class {self.klass} yet, and its members "
                f"have no progress."
            )
        elif not rows:
            self.say(f"Class {self.klass} has no members yet.")
        else:
            stuck = sum(bool(r.stuck) for r in rows)
            self.say(
                f"Class {self.klass}, course {self.shown}: "
                f"{counted(len(rows), 'student', 'students')}, {stuck} stuck; read at "
                f"{clock_time(self.read_at)}."
            )
            if self.published_course(self.shown) is None:
                self.say(
                    self.status + f" Course {self.shown} is not among the courses "
                    f"published to class {self.klass} that you can see; its columns are "
                    f"the exercises someone tried.",
                    "warning",
                )
        return True

    # -- the table

    def columns(self) -> list[tuple[str, str]]:
        """(notebook, exercise) in course order."""
        course = self.published_course(self.shown)
        if course is not None:
            return list(course["exercises"])
        tried = sorted({ex for user in self._records().values() for ex in user})
        return [("", ex) for ex in tried]

    def _records(self) -> dict[str, dict[str, dict]]:
        if self.answer is None:
            return {}
        records = [
            r
            for r in self.answer["records"]
            if isinstance(r, dict) and r.get("course") == self.shown
        ]
        return records_by(records, "user")

    def members(self) -> list[str]:
        return [str(m) for m in (self.answer or {}).get("members") or ()]

    def rows(self) -> list[StudentRow]:
        records, columns = self._records(), self.columns()
        course = {"exercises": columns}
        return [
            StudentRow(user, tuple(exercise_states(course, records.get(user, {}))))
            for user in self.members()
        ]

    def passed_counts(self) -> list[int]:
        """Per column, how many students passed it."""
        rows = self.rows()
        return [sum(r.cells[i].passed for r in rows) for i in range(len(self.columns()))]

    def title(self) -> str:
        course = self.published_course(self.shown)
        if self.shown is None:
            return f"Class {self.klass}"
        name = f"{course['title']} ({self.shown})" if course else self.shown
        return f"Class {self.klass}: {name}"

    def header_html(self) -> str:
        trainers = ", ".join(str(t) for t in (self.answer or {}).get("trainers") or ())
        return render(
            "class_header.html",
            title=self.title(),
            trainers=trainers,
            students=counted(len(self.members()), "student", "students"),
            stuck_attempts=STUCK_ATTEMPTS,
            colours=STATUS_COLOURS,
        )

    def table_html(self) -> str:
        if self.answer is None or self.shown is None:
            return ""
        columns, rows = self.columns(), self.rows()
        groups = by_notebook([nb for nb, _ in columns], [Exercise(nb, ex) for nb, ex in columns])
        order = [s.exercise for _, states in groups for s in states]  # grouped by notebook
        index = {ex: i for i, (_, ex) in enumerate(columns)}
        counts = self.passed_counts()
        return render(
            "class_table.html",
            klass=self.klass,
            colours=MARK_COLOUR,
            notebooks=[(nb, len(states)) for nb, states in groups if states],
            exercises=order,
            rows=[
                {
                    "user": row.user,
                    "cells": [row.cells[index[ex]] for ex in order],
                    "where": row.where,
                    "stuck": ", ".join(s.exercise for s in row.stuck),
                }
                for row in rows
            ],
            passed_counts=[(ex, counts[index[ex]]) for ex in order],
            total=len(rows),
        )

    def text_lines(self) -> list[str]:
        lines = [self.status] if self.status else []
        if self.answer is None or self.shown is None:
            return lines
        columns = self.columns()
        lines.append(self.title())
        lines.append(
            "student: " + " ".join(ex for _, ex in columns) + " | where they are | stuck on"
        )
        for row in self.rows():
            lines.append(
                f"{row.user}: {' '.join(c.mark for c in row.cells)} | {row.where} | "
                f"{', '.join(s.exercise for s in row.stuck) or '—'}"
            )
        total = len(self.members())
        lines.append("passed: " + " ".join(f"{n}/{total}" for n in self.passed_counts()))
        return lines


# --- the widgets ------------------------------------------------------------------------


class CourseWidget(Shown):
    """The course outline. ``widget`` is the ipywidgets VBox the notebook shows: a Refresh
    button, the status line, then per course its header, progress bar, notebooks with
    their exercises, next step and the "Get my copy" / "Update my copy" button."""

    def __init__(
        self,
        name: str | None = None,
        *,
        fetch: Callable[..., dict] = api_get,
        home: str | Path | None = None,
        environ: dict[str, str] | None = None,
        syncer: Callable = sync,
        load: bool = True,
    ):
        import ipywidgets  # only here: the model works without it

        self._w = w = ipywidgets
        self.model = CourseOutline(name, fetch=fetch, home=home, environ=environ, syncer=syncer)
        self.refresh_button = w.Button(
            description="Refresh", icon="refresh", tooltip="read your progress again"
        )
        self.refresh_button.add_class("aiwb-course-refresh")
        self.status = w.HTML()
        self.status.add_class("aiwb-course-status")
        self.courses_box = w.VBox()
        self.widget = w.VBox([w.HBox([self.refresh_button]), self.status, self.courses_box])
        self.widget.add_class("aiwb-course")
        self.parts: dict[str, dict] = {}  # course name: its widgets
        self.refresh_button.on_click(lambda _: self.refresh())
        if load:
            self.model.load()
        self.draw()

    def refresh(self) -> bool:
        """Read the courses and your progress again."""
        try:
            return self.model.load()
        finally:
            self.draw()

    def sync(self, course: str | None = None) -> bool:
        """Get or update your copy of ``course`` (default: the only course shown)."""
        if course is None:
            if len(self.model.courses) != 1:
                raise ValueError(
                    "several courses are shown: say which, e.g. "
                    f"sync({self.model.courses[0]['course']!r})"
                    if self.model.courses
                    else "no course is shown"
                )
            course = self.model.courses[0]["course"]
        parts = self.parts.get(course)
        if parts is not None:
            parts["sync"].disabled, parts["sync"].description = True, "Copying…"
        try:
            return self.model.sync_copy(course)
        finally:
            self.draw()

    def _parts(self, name: str) -> dict:
        w = self._w
        if name not in self.parts:
            parts = {
                "header": w.HTML(),
                "progress": w.HTML(),
                "notebooks": w.HTML(),
                "next": w.HTML(),
                "sync": w.Button(icon="download", layout=w.Layout(width="auto")),
            }
            parts["progress"].add_class("aiwb-course-progress")
            parts["notebooks"].add_class("aiwb-course-notebooks")
            parts["next"].add_class("aiwb-course-next")
            parts["sync"].add_class("aiwb-course-sync")
            parts["sync"].on_click(lambda _, name=name: self.sync(name))
            parts["box"] = w.VBox(
                [
                    parts["header"],
                    parts["progress"],
                    parts["notebooks"],
                    parts["next"],
                    w.HBox([parts["sync"]]),
                ],
                layout=w.Layout(border="1px solid #e0e0e0", padding="4px 8px", margin="4px 0"),
            )
            parts["box"].add_class("aiwb-course-item")
            self.parts[name] = parts
        return self.parts[name]

    def draw(self) -> None:
        model = self.model
        self.status.value = status_html(model.status_kind, model.status)
        boxes = []
        for course in model.courses:
            parts = self._parts(course["course"])
            parts["header"].value = model.header_html(course)
            parts["progress"].value = model.progress_html(course)
            parts["notebooks"].value = model.notebooks_html(course)
            parts["next"].value = model.next_html(course)
            label = model.sync_label(course)
            parts["sync"].description, parts["sync"].disabled = label, False
            folder = model.shown_folder(course)
            parts["sync"].tooltip = f"copy the course into {folder}, keeping your edits"
            boxes.append(parts["box"])
        for name in [n for n in self.parts if n not in {c["course"] for c in model.courses}]:
            close_all(self.parts.pop(name)["box"])
        if tuple(self.courses_box.children) != tuple(boxes):
            self.courses_box.children = boxes

    def __repr__(self) -> str:
        return "\n".join(self.model.text_lines()) or "Course outline"


class ClassWidget(Shown):
    """The class table. ``widget`` is the ipywidgets VBox the notebook shows: the title, a
    course dropdown (when several courses are published to the class), a Refresh button,
    the status line and the table."""

    def __init__(
        self,
        klass: str,
        course: str | None = None,
        *,
        fetch: Callable[..., dict] = api_get,
        load: bool = True,
    ):
        import ipywidgets  # only here: the model works without it

        w = ipywidgets
        self.model = ClassProgress(klass, course, fetch=fetch)
        self._syncing = False
        self.header = w.HTML()
        self.courses = w.Dropdown(
            description="course", options=[], layout=w.Layout(width="320px", display="none")
        )
        self.courses.add_class("aiwb-class-course")
        self.refresh_button = w.Button(
            description="Refresh", icon="refresh", tooltip="read the class's progress again"
        )
        self.refresh_button.add_class("aiwb-class-refresh")
        self.status = w.HTML()
        self.status.add_class("aiwb-class-status")
        self.table = w.HTML()
        self.table.add_class("aiwb-class-table")
        self.widget = w.VBox(
            [self.header, w.HBox([self.courses, self.refresh_button]), self.status, self.table]
        )
        self.widget.add_class("aiwb-class")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.courses.observe(self._chosen, "value")
        if load:
            self.model.load()
        self.draw()

    def refresh(self) -> bool:
        try:
            return self.model.load()
        finally:
            self.draw()

    def choose(self, course: str) -> bool:
        """Show the class's progress in ``course``."""
        try:
            return self.model.choose(course)
        finally:
            self.draw()

    def _chosen(self, change) -> None:
        if not self._syncing and change["new"] and change["new"] != self.model.shown:
            self.choose(change["new"])

    def draw(self) -> None:
        model = self.model
        self._syncing = True
        try:
            choices = model.choices
            options = [(f"{c['title']} ({c['course']})", c["course"]) for c in model.published]
            options += [
                (name, name)
                for name in choices
                if name not in {c["course"] for c in model.published}
            ]
            if list(self.courses.options) != options:
                self.courses.options = options
            self.courses.value = (model.shown or model.course) if options else None
            self.courses.layout.display = "flex" if len(options) > 1 else "none"
        finally:
            self._syncing = False
        self.header.value = model.header_html()
        self.status.value = status_html(model.status_kind, model.status)
        self.table.value = model.table_html()

    def __repr__(self) -> str:
        return "\n".join(self.model.text_lines()) or f"Class {self.model.klass}"


# --- entry points -----------------------------------------------------------------------


def course(name: str | None = None) -> CourseWidget:
    """The outline of your courses (or of course ``name``): goals, the session each needs,
    the notebooks with your exercises marked, your progress, the next step, and a button
    that gets (or updates) your own copy in ~/courses."""
    if name is not None:
        names.COURSE.check(name)
    return CourseWidget(name)


def class_progress(klass: str, course: str | None = None) -> ClassWidget:
    """Trainers: the progress of class ``klass`` in ``course`` (default: the first course
    published to the class; a dropdown offers the others): one row per student, one
    column per exercise, where each student is and where they are stuck."""
    names.CLASS.check(klass)
    if course is not None:
        names.COURSE.check(course)
    return ClassWidget(klass, course)
