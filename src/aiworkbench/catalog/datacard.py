"""Datacards: what a dataset is, who owns it, who may read it.

A dataset is a folder under the catalog root whose ``datacard.toml`` says::

    name = "iris"                     # the folder's name
    title = "Iris flowers"
    description = "150 flowers of three species, four measurements each."
    owner = "factory-ops"
    licence = "CC0-1.0"
    citation = "Fisher, R. A. (1936). ..."
    modality = "tabular"              # see MODALITIES
    format = "csv"                    # see FORMATS
    access = "public"                 # or a list of projects: ["sme-vision"]
    tags = ["classification", "botany"]

Files and size are counted by the indexer, not declared. Every mistake is
reported with the file, the field and what is allowed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from aiworkbench.core import names
from aiworkbench.core.problems import ProblemsError

CARD = "datacard.toml"
MODALITIES = ("tabular", "image", "text", "audio", "video", "timeseries", "other")
FORMATS = ("csv", "parquet", "jsonl", "txt", "png", "jpeg", "npy", "wav", "other")
TEXT_LIMITS = {"title": 200, "description": 5000, "owner": 100, "licence": 100, "citation": 2000}
REQUIRED = ("name", "title", "description", "owner", "licence", "modality", "format", "access")
OPTIONAL = ("citation", "tags")


class DatacardError(ProblemsError):
    """A datacard that cannot be used; ``problems`` are "FILE: FIELD: reason" lines."""


@dataclass(frozen=True)
class Datacard:
    name: str
    title: str
    description: str
    owner: str
    licence: str
    modality: str
    format: str
    access: tuple[str, ...]  # () means public
    citation: str = ""
    tags: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return not self.access


def _text(card: dict, key: str, where: str, problems: list[str]) -> str:
    value = card.get(key, "")
    if not isinstance(value, str):
        problems.append(f"{where}: {key}: must be text, got {type(value).__name__}")
        return ""
    if len(value) > TEXT_LIMITS.get(key, 64):
        problems.append(
            f"{where}: {key}: at most {TEXT_LIMITS.get(key, 64)} characters, got {len(value)}"
        )
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        problems.append(f"{where}: {key}: control characters are not allowed")
    return value


def _names(card: dict, key: str, rule, where: str, problems: list[str]) -> tuple:
    value = card.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: {key}: must be a list of names")
        return ()
    bad = [v for v in value if not rule.ok(v)]
    if bad:
        problems.append(f"{where}: {key}: {rule.refusal(bad[0])}")
    return tuple(dict.fromkeys(v for v in value if rule.ok(v)))


def parse_datacard(text: str, folder: str, where: str = CARD, projects=None) -> Datacard:
    """The datacard of the dataset in ``folder`` (its name), or :class:`DatacardError`.
    ``projects``, when given, are the site's projects: access must name only those."""
    try:
        card = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DatacardError([f"{where}: not valid TOML: {err}"]) from None
    problems: list[str] = []
    for key in sorted(set(card) - set(REQUIRED) - set(OPTIONAL)):
        problems.append(f"{where}: {key}: unknown field; fields: {', '.join(REQUIRED + OPTIONAL)}")
    for key in REQUIRED:
        if key not in card:
            problems.append(f"{where}: {key}: missing (required)")
    name = _text(card, "name", where, problems)
    if "name" in card and not names.DATASET.ok(name):
        problems.append(f"{where}: name: {names.DATASET.refusal(name)}")
    elif "name" in card and name != folder:
        problems.append(f"{where}: name: {name!r} must be the folder's name {folder!r}")
    values = {key: _text(card, key, where, problems) for key in TEXT_LIMITS}
    for key, allowed in (("modality", MODALITIES), ("format", FORMATS)):
        value = card.get(key, "")
        if key in card and value not in allowed:
            problems.append(
                f"{where}: {key}: {str(value)[:40]!r} is not allowed; allowed: {', '.join(allowed)}"
            )
        values[key] = value if value in allowed else ""
    access = card.get("access", "public")
    if access == "public":
        projects_named = ()
    elif isinstance(access, list) and access:
        projects_named = _names(card, "access", names.PROJECT, where, problems)
    else:
        projects_named = ()
        problems.append(f'{where}: access: must be "public" or a non-empty list of projects')
    unknown = [p for p in projects_named if projects is not None and p not in projects]
    if unknown:
        problems.append(
            f"{where}: access: unknown project {unknown[0]!r}; projects: "
            f"{', '.join(sorted(projects)) or 'none'}"
        )
    tags = _names(card, "tags", names.TAG, where, problems)
    if problems:
        raise DatacardError(problems)
    return Datacard(name=name, access=projects_named, tags=tags, **values)


def read_datacard(folder: Path, projects=None) -> Datacard:
    path = folder / CARD
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DatacardError([f"{path}: cannot be read: {err}"]) from None
    return parse_datacard(text, folder.name, str(path), projects)
