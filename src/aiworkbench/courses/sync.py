"""A student's own copy of a course, brought up to date without losing their edits.

``sync(published, copy, version)`` runs as the student (in their session), so
every file it writes is theirs. It compares three versions of each file: the
trainer's published one, the one the student got last time (its hash, kept in
the copy's manifest ``.aiworkbench-course.json``) and the student's current one:

* new in the course: it arrives;
* the student has not changed it, the trainer has: updated;
* the student has changed it, the trainer has not: kept as it is;
* both changed it (or the student made a file of that name first): the
  student's file is kept, the trainer's new version is put beside it as
  ``NAME.trainer-VERSION.ipynb``, and the report says so;
* the trainer removed it: the student's copy stays;
* it cannot be written (a folder of the student's where the course has a file,
  a link on the way out of the copy): it is left alone and reported.

Nothing of the student's is ever overwritten or deleted, and nothing outside
the copy is written (links inside the copy are never written through). The
published course is read through its real path, resolved once, so a course
republished during the copy is read as one version. Writes go through a
temporary file and a rename, so a crash leaves either version, never half.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from aiworkbench.core import names

MANIFEST = ".aiworkbench-course.json"
PUBLISHED = ".published.json"  # written by the publisher next to the published files


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the student's edits, untouched
    set_aside: list[tuple[str, str]] = field(default_factory=list)  # (theirs, trainer's)
    removed_upstream: list[str] = field(default_factory=list)  # stays in the copy
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    unchanged: int = 0

    def text(self) -> str:
        parts = [f"{len(self.added)} new", f"{len(self.updated)} updated"]
        if self.kept:
            parts.append(f"{len(self.kept)} with your edits kept")
        if self.set_aside:
            parts.append(
                f"{len(self.set_aside)} changed by both: the trainer's version is "
                f"beside yours ({', '.join(t for _, t in self.set_aside)})"
            )
        if self.skipped:
            parts.append(
                f"{len(self.skipped)} left alone ("
                f"{'; '.join(f'{f}: {why}' for f, why in self.skipped)})"
            )
        return ", ".join(parts)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def published_files(folder: Path) -> list[str]:
    """The course's files (relative, '/'-separated), links and our own records left out."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not os.path.islink(os.path.join(top, d)) and not d.startswith(".")
        )
        for name in sorted(files):
            path = os.path.join(top, name)
            if name in (PUBLISHED, MANIFEST) or name.startswith(".") or os.path.islink(path):
                continue
            found.append(os.path.relpath(path, folder).replace(os.sep, "/"))
    return found


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.sync-{os.getpid()}")
    try:
        with open(source, "rb") as src, open(temporary, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def aside_name(relative: str, version: str) -> str:
    """Where the trainer's version of a file the student changed goes."""
    head, _, name = relative.rpartition("/")
    stem, dot, suffix = name.partition(".")
    aside = f"{stem}.trainer-{version}{dot}{suffix}"
    return f"{head}/{aside}" if head else aside


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        files = json.loads(path.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def _inside(copy: Path, target: Path) -> bool:
    """Whether writing ``target`` stays in ``copy`` (no link on the way leads out)."""
    parent = Path(os.path.realpath(target.parent))
    return parent == copy or copy in parent.parents


def sync(
    published: str | Path, copy: str | Path, version: str, course: str | None = None
) -> SyncReport:
    """Bring the student's ``copy`` up to date with the ``published`` course (its
    ``version`` names the trainer's copies put aside; ``course``, the course's name,
    is recorded in the copy for the exercises' progress; default: the copy's name)."""
    names.VERSION.check(version)
    published = Path(os.path.realpath(published))
    copy = Path(copy)
    copy.mkdir(parents=True, exist_ok=True)
    copy = Path(os.path.realpath(copy))
    manifest_path = copy / MANIFEST
    base = _read_manifest(manifest_path)
    report = SyncReport()
    files = published_files(published)
    for relative in files:
        try:
            _sync_file(published, copy, relative, version, base, report)
        except OSError as err:
            report.skipped.append((relative, err.strerror or type(err).__name__))
    report.removed_upstream = sorted(set(base) - set(files))
    for relative in report.removed_upstream:
        del base[relative]
    temporary = manifest_path.with_name(f"{MANIFEST}.{os.getpid()}")
    temporary.write_text(
        json.dumps(
            {"course": course or copy.name, "version": version, "files": base},
            indent=1,
            sort_keys=True,
        )
    )
    os.replace(temporary, manifest_path)
    return report


def _sync_file(
    published: Path,
    copy: Path,
    relative: str,
    version: str,
    base: dict[str, str],
    report: SyncReport,
) -> None:
    source, target = published / relative, copy / relative
    if not _inside(copy, target):
        report.skipped.append((relative, "a link on the way leads out of your copy"))
        return
    new = digest(source)
    old = base.get(relative)
    if target.is_symlink() or target.is_dir():
        local = "yours"  # never written through, never replaced
    else:
        local = digest(target) if target.exists() else None
    if local == new:
        report.unchanged += 1
    elif local is None:
        if old is None or old != new:  # new, or deleted by the student but changed
            _copy(source, target)
            report.added.append(relative)
        else:
            report.unchanged += 1  # the student deleted it; nothing new to bring
    elif local == old:
        _copy(source, target)
        report.updated.append(relative)
    elif old == new:
        report.kept.append(relative)
    else:
        aside = aside_name(relative, version)
        if not os.path.lexists(copy / aside):  # put aside once per version
            _copy(source, copy / aside)
        report.set_aside.append((relative, aside))
    base[relative] = new
