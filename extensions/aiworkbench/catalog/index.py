"""The catalog's index: datacards and file counts in SQLite, searched with FTS5.

``Index.update(root)`` reindexes incrementally: a dataset whose datacard and
folder are unchanged (same modification times) is not read again; a removed
folder leaves the index; a malformed datacard is reported (file, field,
reason) and skipped, the rest of the catalog is indexed. Searches see only
datasets readable by the caller's projects; restricted ones do not exist for
anyone else.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .datacard import CARD, NAME, Datacard, DatacardError, read_datacard

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, title TEXT, description TEXT, owner TEXT, licence TEXT,
    citation TEXT, modality TEXT, format TEXT, access TEXT, tags TEXT,
    files INTEGER, bytes INTEGER, card_mtime_ns INTEGER, dir_mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS access (name TEXT, project TEXT);
CREATE INDEX IF NOT EXISTS access_by_project ON access (project, name);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    name, title, description, tags, tokenize='unicode61');
"""
PUBLIC = "*"  # the access row of a public dataset
FILTERS = ("modality", "format", "licence", "tag", "project")


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)  # "FILE: FIELD: reason"


def count_files(folder: Path) -> tuple[int, int]:
    """Files and bytes below ``folder`` (symbolic links are not followed, not counted)."""
    files = size = 0
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
        for name in names:
            path = os.path.join(top, name)
            if name == CARD and top == str(folder):
                continue
            try:
                stat = os.lstat(path)
            except OSError:
                continue
            if not os.path.islink(path):
                files, size = files + 1, size + stat.st_size
    return files, size


class Index:
    def __init__(self, path: str | Path = ":memory:"):
        self.db = sqlite3.connect(str(path))
        self.db.executescript(SCHEMA)

    # --- indexing -----------------------------------------------------------------
    def update(self, root: str | Path, full: bool = False) -> IndexReport:
        """Bring the index in line with the datasets under ``root``; ``full`` recounts
        every dataset's files (a change deep inside a folder does not touch its time)."""
        root = Path(root)
        report = IndexReport()
        known = {name: (card_ns, dir_ns) for name, card_ns, dir_ns in self.db.execute(
            "SELECT name, card_mtime_ns, dir_mtime_ns FROM datasets")}
        seen = set()
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or folder.is_symlink() or not NAME.match(folder.name):
                continue
            card_path = folder / CARD
            try:
                stamps = (card_path.lstat().st_mtime_ns, folder.stat().st_mtime_ns)
            except OSError:
                report.problems.append(f"{card_path}: missing: every dataset folder needs one")
                continue
            seen.add(folder.name)
            if not full and known.get(folder.name) == stamps:
                report.unchanged += 1
                continue
            try:
                if card_path.is_symlink():
                    raise DatacardError([f"{card_path}: must be a file, not a link"])
                card = read_datacard(folder)
            except DatacardError as err:
                report.problems.extend(err.problems)
                seen.discard(folder.name)  # not in the catalog until it is mended
                continue
            self._store(card, *count_files(folder), *stamps)
            (report.updated if folder.name in known else report.added).append(folder.name)
        for name in sorted(set(known) - seen):
            self._delete(name)
            report.removed.append(name)
        self.db.commit()
        return report

    def _delete(self, name: str) -> None:
        self.db.execute("DELETE FROM datasets WHERE name = ?", (name,))
        self.db.execute("DELETE FROM access WHERE name = ?", (name,))
        self.db.execute("DELETE FROM search WHERE name = ?", (name,))

    def _store(self, card: Datacard, files: int, size: int, card_ns: int, dir_ns: int):
        self._delete(card.name)
        self.db.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (card.name, card.title, card.description, card.owner, card.licence,
             card.citation, card.modality, card.format, json.dumps(list(card.access)),
             json.dumps(list(card.tags)), files, size, card_ns, dir_ns))
        self.db.executemany("INSERT INTO access VALUES (?, ?)",
                            [(card.name, p) for p in (card.access or (PUBLIC,))])
        self.db.execute("INSERT INTO search VALUES (?, ?, ?, ?)",
                        (card.name, card.title, card.description, " ".join(card.tags)))

    # --- searching ----------------------------------------------------------------
    def search(self, projects, text: str = "", filters: dict | None = None,
               page: int = 1, per_page: int = 20) -> tuple[int, list[dict]]:
        """(total, the page's datasets) readable by ``projects`` that match ``text``
        (words, all of them, prefixes allowed) and ``filters`` (see FILTERS)."""
        filters = filters or {}
        where, args = ["d.name IN (SELECT name FROM access WHERE project IN (%s))"
                       % ",".join("?" * (len(projects) + 1))], [PUBLIC, *projects]
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
        total = self.db.execute(f"SELECT count(*) FROM datasets d WHERE {clause}",
                                args).fetchone()[0]
        rows = self.db.execute(
            f"SELECT name, title, description, owner, licence, citation, modality, format, "
            f"access, tags, files, bytes FROM datasets d WHERE {clause} ORDER BY name "
            f"LIMIT ? OFFSET ?", [*args, per_page, (page - 1) * per_page]).fetchall()
        keys = ("name", "title", "description", "owner", "licence", "citation", "modality",
                "format", "access", "tags", "files", "bytes")
        items = []
        for row in rows:
            item = dict(zip(keys, row))
            item["access"] = json.loads(item["access"]) or "public"
            item["tags"] = json.loads(item["tags"])
            items.append(item)
        return total, items
