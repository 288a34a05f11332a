"""The catalog's index: datacards and file counts in SQLite, searched with FTS5.

``Index.update(root)`` reindexes incrementally: a dataset whose datacard and
folder are unchanged (same modification times) is not read again; a removed
folder leaves the index; a malformed datacard is reported (file, field,
reason) and skipped, the rest of the catalog is indexed. Every dataset's
files and folders are listed in the index too, so browsing a folder of
100,000 files is a query, not a walk. Searches, details and listings see only
datasets readable by the caller's projects; restricted ones do not exist for
anyone else.

The index is written by ``aiworkbench-catalog index`` (as root, who can read
every dataset) and read by the workbench API, which opens it read-only. Its schema
version (:mod:`aiworkbench.core.store_schema`) is checked at every opening: the indexer
migrates an older file, and an index from a newer workbench is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiworkbench.catalog.datacard import CARD, Datacard, DatacardError, read_datacard
from aiworkbench.core import names
from aiworkbench.core.store_schema import Schema, prepare

# Version 1: the layout from before versions, unchanged (a file of then keeps its rows).
V1 = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, title TEXT, description TEXT, owner TEXT, licence TEXT,
    citation TEXT, modality TEXT, format TEXT, access TEXT, tags TEXT,
    files INTEGER, bytes INTEGER, card_mtime_ns INTEGER, dir_mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS access (name TEXT, project TEXT);
CREATE INDEX IF NOT EXISTS access_by_project ON access (project, name);
CREATE INDEX IF NOT EXISTS access_by_name ON access (name);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    name, title, description, tags, tokenize='unicode61');
CREATE TABLE IF NOT EXISTS files (dataset TEXT, parent TEXT, name TEXT, kind TEXT,
    size INTEGER);
CREATE INDEX IF NOT EXISTS files_by_folder ON files (dataset, parent, kind, name);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
SCHEMA = Schema("the dataset catalog's index", migrations=(V1,), writer="aiworkbench-catalog index")
SUMMARY = (
    "name",
    "title",
    "description",
    "owner",
    "licence",
    "citation",
    "modality",
    "format",
    "access",
    "tags",
    "files",
    "bytes",
)
PUBLIC = "*"  # the access row of a public dataset
FILTERS = ("modality", "format", "licence", "tag", "project")
MAX_PER_PAGE = 100  # datasets in a page of search results
MAX_FOLDER_PAGE = 1000  # entries in a page of a folder listing
DIR, FILE = "dir", "file"


class IndexMissing(RuntimeError):
    """The index file does not exist (yet): the catalog was never indexed."""


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)  # "FILE: FIELD: reason"


def walk_entries(
    folder: Path, problems: list[str] | None = None
) -> Iterator[tuple[str, str, str, int]]:
    """(parent, name, kind, size) of every folder and file below ``folder``, parents
    relative to it ("" for the folder itself). Symbolic links are neither followed nor
    listed; the dataset's own datacard is not a file of the dataset; a name that is not
    UTF-8 is left out and added to ``problems``."""
    base = len(str(folder)) + 1
    for top, dirs, files in os.walk(folder):
        parent = top[base:]
        kept = []
        for name in [*dirs, *files]:
            path = os.path.join(top, name)
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                if problems is not None:
                    problems.append(
                        f"{os.fsencode(path)!r}: not UTF-8: left out of the listing; rename it"
                    )
                continue
            if name == CARD and not parent:
                continue
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            if stat.S_ISDIR(info.st_mode):
                kept.append(name)
                yield parent, name, DIR, 0
            else:
                yield parent, name, FILE, info.st_size
        dirs[:] = [d for d in dirs if d in kept]


def newest_folder(folder: Path) -> int:
    """The newest modification time of ``folder`` and the folders in it (links not
    followed): adding, removing or renaming a file anywhere changes it."""
    newest = folder.stat().st_mtime_ns
    for top, dirs, _ in os.walk(folder):
        for name in dirs:
            info = os.lstat(os.path.join(top, name))
            if stat.S_ISDIR(info.st_mode):
                newest = max(newest, info.st_mtime_ns)
    return newest


class Index:
    def __init__(self, path: str | Path = ":memory:", readonly: bool = False):
        """The index at ``path``; ``readonly`` (the API) never creates or changes it and
        raises :class:`IndexMissing` when it does not exist. A file of another schema
        version: migrated when older, :class:`~aiworkbench.core.store_schema.SchemaError` when
        newer (or, read-only, too old to read)."""
        if readonly:
            if not Path(path).is_file():
                raise IndexMissing(f"{path} does not exist: run aiworkbench-catalog index")
            self.db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        else:
            self.db = sqlite3.connect(str(path))
        try:
            prepare(self.db, SCHEMA, path, readonly=readonly)
        except BaseException:
            self.db.close()
            raise

    # --- indexing -----------------------------------------------------------------
    def update(
        self,
        root: str | Path,
        full: bool = False,
        projects=None,
        permissions: Callable[[Path, tuple[str, ...] | None], None] | None = None,
    ) -> IndexReport:
        """Bring the index in line with the datasets under ``root``. A dataset is read
        again when its datacard or any of its folders changed (a file added, removed or
        renamed anywhere in it); ``full`` rereads every dataset (a file rewritten in
        place changes no folder). ``projects``: the site's projects, which access lists
        must name. ``permissions``, when given, is called for every folder under
        ``root``, changed or not, with its dataset's access (``()``: public), or None
        for a folder left out of the catalog (no datacard, a malformed one, a name that
        cannot be a dataset's), which it should close."""
        root = Path(root)
        report = IndexReport()
        known = {
            name: (card_ns, dir_ns, access)
            for name, card_ns, dir_ns, access in self.db.execute(
                "SELECT name, card_mtime_ns, dir_mtime_ns, access FROM datasets"
            )
        }
        seen = set()
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or folder.is_symlink():
                continue
            card_path = folder / CARD
            access = None  # left out, until it is in the catalog
            try:
                if not names.DATASET.ok(folder.name):
                    raise DatacardError([f"{folder}: {names.DATASET.refusal(folder.name)}"])
                try:
                    stamps = (card_path.lstat().st_mtime_ns, newest_folder(folder))
                except OSError:
                    raise DatacardError(
                        [f"{card_path}: missing: every dataset folder needs one"]
                    ) from None
                previous = known.get(folder.name)
                if not full and previous is not None and previous[:2] == stamps:
                    report.unchanged += 1
                    access = tuple(json.loads(previous[2]))
                else:
                    if card_path.is_symlink():
                        raise DatacardError([f"{card_path}: must be a file, not a link"])
                    card = read_datacard(folder, projects)
                    entries = list(walk_entries(folder, report.problems))
                    self._store(card, entries, *stamps, new=previous is None)
                    (report.updated if previous else report.added).append(folder.name)
                    access = card.access
                seen.add(folder.name)
            except DatacardError as err:
                report.problems.extend(err.problems)
            if permissions is not None:
                permissions(folder, access)
        for name in sorted(set(known) - seen):
            self._delete(name)
            report.removed.append(name)
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", ("indexed_at", str(time.time()))
        )
        self.db.commit()
        return report

    def _delete(self, name: str) -> None:
        self.db.execute(
            "DELETE FROM search WHERE rowid = (SELECT rowid FROM datasets WHERE name = ?)", (name,)
        )
        self.db.execute("DELETE FROM datasets WHERE name = ?", (name,))
        self.db.execute("DELETE FROM access WHERE name = ?", (name,))
        self.db.execute("DELETE FROM files WHERE dataset = ?", (name,))

    def _store(self, card: Datacard, entries: list, card_ns: int, dir_ns: int, new: bool = False):
        if not new:
            self._delete(card.name)
        files = sum(1 for _, _, kind, _ in entries if kind == FILE)
        size = sum(size for _, _, _, size in entries)
        rowid = self.db.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                card.name,
                card.title,
                card.description,
                card.owner,
                card.licence,
                card.citation,
                card.modality,
                card.format,
                json.dumps(list(card.access)),
                json.dumps(list(card.tags)),
                files,
                size,
                card_ns,
                dir_ns,
            ),
        ).lastrowid
        self.db.executemany(
            "INSERT INTO access VALUES (?, ?)", [(card.name, p) for p in (card.access or (PUBLIC,))]
        )
        self.db.execute(
            "INSERT INTO search (rowid, name, title, description, tags) VALUES (?, ?, ?, ?, ?)",
            (rowid, card.name, card.title, card.description, " ".join(card.tags)),
        )
        self.db.executemany(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?)", [(card.name, *entry) for entry in entries]
        )

    # --- searching ----------------------------------------------------------------
    def search(
        self,
        projects,
        text: str = "",
        filters: dict | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> tuple[int, list[dict]]:
        """(total, the page's datasets) readable by ``projects`` that match ``text``
        (words, all of them, prefixes allowed) and ``filters`` (see FILTERS)."""
        filters = filters or {}
        where, args = self._visible(projects)
        for key in ("modality", "format", "licence"):
            if key in filters:
                where.append(f"d.{key} = ?")
                args.append(filters[key])
        if "tag" in filters:
            where.append("EXISTS (SELECT 1 FROM json_each(d.tags) WHERE value = ?)")
            args.append(filters["tag"])
        if "project" in filters:
            where.append("d.name IN (SELECT name FROM access WHERE project = ?)")
            args.append(filters["project"])
        words = [w for w in "".join(c if c.isalnum() else " " for c in text).split()]
        if words:
            where.append("d.name IN (SELECT name FROM search WHERE search MATCH ?)")
            args.append(" ".join(f'"{w}"*' for w in words[:20]))
        clause = " AND ".join(where)
        total = self.db.execute(f"SELECT count(*) FROM datasets d WHERE {clause}", args).fetchone()[
            0
        ]
        rows = self.db.execute(
            f"SELECT {', '.join(SUMMARY)} FROM datasets d WHERE {clause} ORDER BY name "
            f"LIMIT ? OFFSET ?",
            [*args, per_page, (page - 1) * per_page],
        ).fetchall()
        return total, [_summary(row) for row in rows]

    @staticmethod
    def _visible(projects) -> tuple[list[str], list[str]]:
        """The WHERE clause (over ``datasets d``) of the datasets ``projects`` may see."""
        projects = list(projects)
        marks = ",".join("?" * (len(projects) + 1))
        return (
            [f"d.name IN (SELECT name FROM access WHERE project IN ({marks}))"],
            [PUBLIC, *projects],
        )

    def dataset(self, projects, name: str) -> dict | None:
        """The summary of dataset ``name``, or None when it does not exist or ``projects``
        may not see it (the two are not told apart)."""
        where, args = self._visible(projects)
        row = self.db.execute(
            f"SELECT {', '.join(SUMMARY)} FROM datasets d WHERE d.name = ? AND {where[0]}",
            [name, *args],
        ).fetchone()
        return None if row is None else _summary(row)

    def is_folder(self, name: str, path: str) -> bool:
        """Whether ``path`` ("" or "a/b", already clean) is a folder of dataset ``name``."""
        if not path:
            return True
        parent, _, base = path.rpartition("/")
        return (
            self.db.execute(
                "SELECT 1 FROM files WHERE dataset = ? AND parent = ? AND kind = ? AND name = ?",
                (name, parent, DIR, base),
            ).fetchone()
            is not None
        )

    def list_folder(
        self, name: str, path: str, page: int = 1, per_page: int = 100
    ) -> tuple[int, list[dict]]:
        """(entries in folder ``path`` of dataset ``name``, the page's entries: folders
        first, then files, each by name). The caller checks visibility first."""
        total = self.db.execute(
            "SELECT count(*) FROM files WHERE dataset = ? AND parent = ?", (name, path)
        ).fetchone()[0]
        rows = self.db.execute(
            "SELECT name, kind, size FROM files WHERE dataset = ? AND parent = ? "
            "ORDER BY kind, name LIMIT ? OFFSET ?",
            (name, path, per_page, (page - 1) * per_page),
        ).fetchall()
        return total, [{"name": n, "kind": k, "size": s} for n, k, s in rows]

    def facets(self, projects) -> dict[str, dict[str, int]]:
        """How many datasets ``projects`` may see, by modality, format, licence, tag and
        project (restricted datasets count under each of their projects)."""
        where, args = self._visible(projects)
        clause = where[0]
        facets = {}
        for key in ("modality", "format", "licence"):
            facets[key] = dict(
                self.db.execute(
                    f"SELECT {key}, count(*) FROM datasets d WHERE {clause} GROUP BY {key} "
                    f"ORDER BY {key}",
                    args,
                ).fetchall()
            )
        facets["tag"] = dict(
            self.db.execute(
                f"SELECT t.value, count(*) FROM datasets d, json_each(d.tags) t WHERE {clause} "
                f"GROUP BY t.value ORDER BY t.value",
                args,
            ).fetchall()
        )
        facets["project"] = dict(
            self.db.execute(
                f"SELECT a.project, count(*) FROM access a JOIN datasets d ON d.name = a.name "
                f"WHERE a.project != ? AND {clause} GROUP BY a.project ORDER BY a.project",
                [PUBLIC, *args],
            ).fetchall()
        )
        return facets

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


def _summary(row) -> dict:
    item = dict(zip(SUMMARY, row))
    item["access"] = json.loads(item["access"]) or "public"
    item["tags"] = json.loads(item["tags"])
    return item
