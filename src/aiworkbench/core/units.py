"""Quantities as people read them: sizes in decimal units, durations in words.

Standard library only: the dataset browser (notebook side) and ``aiworkbench-backup
list`` (hub side) write sizes the same way.
"""

from __future__ import annotations


def human_size(size: int | float | None) -> str:
    """Bytes in decimal units: '0 B', '999 B', '1.5 kB', '12.3 MB', '4.0 TB'; '—' for None."""
    if size is None:
        return "—"
    value, unit = float(size), "B"
    for larger in ("kB", "MB", "GB", "TB", "PB"):
        if round(value, 1) < 1000:
            break
        value, unit = value / 1000, larger
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def duration_text(seconds: float) -> str:
    """'1 second', '45 seconds', '12 minutes', '2 h 05 min'."""
    seconds = int(round(seconds))
    if seconds < 120:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def hours_text(minutes: int) -> str:
    """A walltime in hours and minutes: '1 h', '1 h 30 min'."""
    hours, mins = divmod(int(minutes), 60)
    return f"{hours} h {mins:02d} min" if mins else f"{hours} h"
