"""Paths inside a dataset: the one check shared by the API and the widget.

A path inside a dataset is relative, made of plain names separated by ``/``:
no ``..``, no ``.``, no empty part, no leading ``/``, no backslash, no control
characters. :func:`clean_relative` refuses anything else with a message saying
what is allowed; :func:`resolve_inside` also follows the filesystem and refuses
a symbolic link that leads out of the dataset's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_LENGTH = 4096
ALLOWED = (
    "a path relative to the dataset's folder, parts separated by '/', without "
    "'..', '.', empty parts, a leading '/', backslashes or control characters"
)


class PathError(ValueError):
    """A path that is not inside the dataset; the message says what is allowed."""


def clean_relative(path: str) -> str:
    """``path`` as a clean relative path ("" is the dataset's folder itself)."""
    if not isinstance(path, str):
        raise PathError(f"the path must be text; {ALLOWED}")
    shown = repr(path[:80])
    if len(path) > MAX_LENGTH:
        raise PathError(f"the path has {len(path)} characters, at most {MAX_LENGTH}")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise PathError(f"path {shown} contains control characters; {ALLOWED}")
    if "\\" in path:
        raise PathError(f"path {shown} contains a backslash; {ALLOWED}")
    if path.startswith("/") or path.startswith("~"):
        raise PathError(f"path {shown} is absolute; {ALLOWED}")
    stripped = path[:-1] if path.endswith("/") else path
    if stripped == "":
        return ""
    parts = stripped.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathError(f"path {shown} has the part {part!r}; {ALLOWED}")
    return "/".join(parts)


def resolve_inside(folder: str | Path, path: str) -> Path:
    """The real path of ``path`` inside ``folder``, or :class:`PathError` when it is not
    a clean relative path or a symbolic link on the way leads out of ``folder``."""
    relative = clean_relative(path)
    base = Path(os.path.realpath(folder))
    target = Path(os.path.realpath(base / relative)) if relative else base
    if target != base and base not in target.parents:
        raise PathError(
            f"path {relative!r} leads out of the dataset (through a symbolic "
            f"link); only files inside the dataset's folder can be read"
        )
    return target
