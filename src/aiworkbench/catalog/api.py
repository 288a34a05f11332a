"""Catalog routes of the workbench API: search, dataset details, folder listings.

Everything comes from the catalog's index (read-only); nothing here touches
the datasets' files. A user sees the public datasets and those of their own
projects; a restricted dataset of another project answers 404, exactly like
one that does not exist.
"""

from __future__ import annotations

import math
import re
import sqlite3
from datetime import UTC, datetime

from aiworkbench.api.base import APIError, APIHandler
from aiworkbench.catalog.datacard import FORMATS, MODALITIES
from aiworkbench.catalog.index import MAX_FOLDER_PAGE, MAX_PER_PAGE, Index, IndexMissing
from aiworkbench.catalog.paths import PathError, clean_relative
from aiworkbench.core import names

MAX_PAGE = 100_000
LICENCE = re.compile(r"[A-Za-z0-9.+() -]+")  # a filter's text, not a name: SPDX ids and words
SEARCH_PARAMS = {
    "q": "words to search for in names, titles, descriptions and tags (at most 200 characters)",
    "modality": ", ".join(MODALITIES),
    "format": ", ".join(FORMATS),
    "licence": "a licence, e.g. CC-BY-4.0",
    "tag": "a tag",
    "project": "a project: its restricted datasets",
    "page": "a page number from 1",
    "per_page": f"datasets per page, 1 to {MAX_PER_PAGE} (default 20)",
}
FILES_PARAMS = {
    "path": "a folder inside the dataset, relative to it (default: the dataset's folder)",
    "page": "a page number from 1",
    "per_page": f"entries per page, 1 to {MAX_FOLDER_PAGE} (default 100)",
}


class CatalogStore:
    """The API's read-only handle on the index, opened when first needed (the index
    may be written only after the API started)."""

    def __init__(self, path: str):
        self.path = path
        self._index: Index | None = None

    def index(self) -> Index:
        if self._index is None:
            try:
                self._index = Index(self.path, readonly=True)
            except (IndexMissing, sqlite3.Error) as err:
                raise APIError(
                    503,
                    f"the dataset catalog is not indexed yet ({err}); an "
                    f"admin runs aiworkbench-catalog index",
                ) from None
        return self._index


def _number(params: dict, name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise APIError(
            400, f"{name}={raw[:20]!r} is not allowed; a whole number from 1 to {maximum}"
        )
    return int(raw)


def _choice(params: dict, name: str, pattern=None, allowed=None, rule=None, limit: int = 100):
    """Query parameter ``name``: one of ``allowed``, a name of ``rule``
    (:mod:`aiworkbench.core.names`) or text matching ``pattern``; None when not given."""
    value = params.get(name)
    if value is None:
        return None
    if rule is not None:
        why = rule.problem(value)
        if why:
            raise APIError(400, why)
        return value
    ok = (value in allowed) if allowed else bool(pattern.fullmatch(value)) and len(value) <= limit
    if not ok:
        wanted = f"one of {', '.join(allowed)}" if allowed else SEARCH_PARAMS[name]
        raise APIError(400, f"{name}={value[:40]!r} is not allowed; {wanted}")
    return value


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


class CatalogHandler(APIHandler):
    def index(self) -> Index:
        return self.settings["catalog"].index()

    def my_projects(self) -> list[str]:
        return self.site.projects_of(self.hub_user["name"])

    def visible_dataset(self, name: str) -> dict:
        self.name_param(name, names.DATASET)
        found = self.index().dataset(self.my_projects(), name)
        if found is None:
            raise APIError(
                404, f"no dataset {name!r} (or it is restricted to projects you are not in)"
            )
        found["path"] = f"{self.site.catalog.root.rstrip('/')}/{name}"
        return found


class SearchHandler(CatalogHandler):
    async def get(self):
        params = self.query(SEARCH_PARAMS)
        text = params.get("q", "")
        if len(text) > 200:
            raise APIError(400, f"q has {len(text)} characters; at most 200")
        filters = {
            "modality": _choice(params, "modality", allowed=MODALITIES),
            "format": _choice(params, "format", allowed=FORMATS),
            "licence": _choice(params, "licence", LICENCE),
            "tag": _choice(params, "tag", rule=names.TAG),
            "project": _choice(params, "project", rule=names.PROJECT),
        }
        page = _number(params, "page", 1, MAX_PAGE)
        per_page = _number(params, "per_page", 20, MAX_PER_PAGE)
        total, items = self.index().search(
            self.my_projects(),
            text,
            {k: v for k, v in filters.items() if v is not None},
            page,
            per_page,
        )
        self.write_json(
            {
                "total": total,
                "page": page,
                "per_page": per_page,
                "pages": _pages(total, per_page),
                "items": items,
            }
        )


class DatasetHandler(CatalogHandler):
    async def get(self, name: str):
        self.query({})
        self.write_json(self.visible_dataset(name))


class FilesHandler(CatalogHandler):
    async def get(self, name: str):
        params = self.query(FILES_PARAMS)
        dataset = self.visible_dataset(name)
        try:
            path = clean_relative(params.get("path", ""))
        except PathError as err:
            raise APIError(400, str(err)) from None
        if not self.index().is_folder(name, path):
            raise APIError(404, f"no folder {path!r} in dataset {name!r}")
        page = _number(params, "page", 1, MAX_PAGE)
        per_page = _number(params, "per_page", 100, MAX_FOLDER_PAGE)
        total, entries = self.index().list_folder(name, path, page, per_page)
        self.write_json(
            {
                "dataset": dataset["name"],
                "path": path,
                "total": total,
                "page": page,
                "per_page": per_page,
                "pages": _pages(total, per_page),
                "entries": entries,
            }
        )


class CatalogInfoHandler(CatalogHandler):
    async def get(self):
        self.query({})
        index, mine = self.index(), self.my_projects()
        facets = index.facets(mine)
        indexed_at = index.meta("indexed_at")
        self.write_json(
            {
                "datasets": sum(facets["modality"].values()),
                "facets": facets,
                "projects": mine,
                "indexed_at": None
                if indexed_at is None
                else datetime.fromtimestamp(float(indexed_at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )


ROUTES = [
    (r"catalog/?", CatalogInfoHandler),
    (r"datasets/?", SearchHandler),
    (r"datasets/([^/]+)/?", DatasetHandler),
    (r"datasets/([^/]+)/files/?", FilesHandler),
]
