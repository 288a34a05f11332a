"""What the notebook widgets share: words for counts and times, the status colours, the
status line's HTML, and showing and closing a widget made of ipywidgets (imported by none
of this)."""

from __future__ import annotations

import time

from aiworkbench.widgets.templating import render

# The colours of what a widget or dashboard says, by kind; each widget maps its own
# states (a budget's level, an exercise's mark, a failed fetch) to one of these.
STATUS_COLOURS = {
    "info": "#607d8b",  # as it should be: loading, fresh numbers, a hint
    "ok": "#2e7d32",  # done: passed, within the budget
    "warning": "#ef6c00",  # look at it soon: stale numbers, most of a budget used
    "error": "#c62828",  # refused, failed, not passed, nearly used up
    "none": "#9e9e9e",  # nothing there: no budget, not tried yet
}


def counted(n: int, one: str, many: str) -> str:
    """'1 file', '3 files'."""
    return f"{n} {one if n == 1 else many}"


def clock_time(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def status_line(text: str, colour: str, *, mark: bool, bold: bool) -> str:
    """A widget's status line: ``text`` escaped, in ``colour``, with a ⚠ when ``mark``."""
    return render("status_line.html", text=text, colour=colour, mark=mark, bold=bold)


def close_all(widget) -> None:
    """Close ``widget`` and every widget in it."""
    for child in getattr(widget, "children", ()):
        close_all(child)
    widget.close()


class Shown:
    """A widget whose ipywidgets live in ``self.widget``: shown in a notebook with a text
    form (its ``repr``), closed with everything in it."""

    widget = None

    def close(self) -> None:
        close_all(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        return data
