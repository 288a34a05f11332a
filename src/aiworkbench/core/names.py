"""Names people type, and the one rule each follows: the single owner of every name rule.

A name reaches the workbench from a site file, a form, a REST body, a path of the API,
a datacard, a course, a command line or a notebook call; it then becomes a Unix user or
group, a Slurm account, a folder, a hub group or part of a batch script. Each kind has
one :class:`NameRule` here, and every reader checks with it:

    names.PROJECT.check("edu-intro")       # the name, or NameRefused saying what is allowed
    names.USER.ok(text)                    # True or False
    names.CLASS.problem(text)              # None, or the sentence NameRefused would carry

A rule is a compiled pattern, always used with ``fullmatch`` (so a trailing newline never
passes, as it would through ``re.match`` and ``$``), a length limit chosen once with its
reason, and the rule in words for messages: "project name 'X': use 1-32 lower-case
letters, digits, '-' or '_', starting with a letter". None allows a path separator
(except :data:`CLAIM`, an identity provider's own claim names), a leading '-' or an
empty name. The anchor is The Littlest JupyterHub's ``normalize.py``: one module, and
system names kept within useradd's 32 characters.

Standard library only: the site file is checked with these rules before anything is
installed.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass

SHOWN = 40  # characters of a refused name that a message repeats


class NameRefused(ValueError):
    """A name that its rule does not allow; the message says what was wrong and what is
    allowed."""

    def __init__(self, rule: NameRule, value):
        super().__init__(rule.refusal(value))
        self.rule, self.value = rule, value


@dataclass(frozen=True)
class NameRule:
    """One kind of name: ``what`` it is called in messages, the ``pattern`` it must match
    whole, at most ``limit`` characters, and the rule in words (``allowed``)."""

    what: str
    pattern: re.Pattern[str]
    limit: int
    allowed: str

    def ok(self, value) -> bool:
        """Whether ``value`` is a name of this kind."""
        return (
            isinstance(value, str)
            and len(value) <= self.limit
            and self.pattern.fullmatch(value) is not None
        )

    def refusal(self, value) -> str:
        """The sentence that refuses ``value``: what it is, and what is allowed."""
        text = repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
        if len(text) > SHOWN:
            text = text[: SHOWN - 3] + "..."
        return f"{self.what} {text}: use {self.allowed}"

    def problem(self, value) -> str | None:
        """None when ``value`` is a name of this kind, else :meth:`refusal`'s sentence."""
        return None if self.ok(value) else self.refusal(value)

    def check(self, value) -> str:
        """``value`` when it is a name of this kind; :class:`NameRefused` otherwise."""
        if not self.ok(value):
            raise NameRefused(self, value)
        return value

    def argument(self) -> Callable[[str], str]:
        """An argparse ``type=`` that checks a command line's name with this rule."""

        def checked(text: str) -> str:
            try:
                return self.check(text)
            except NameRefused as err:
                raise argparse.ArgumentTypeError(str(err)) from err

        return checked


def _rule(what: str, first: str, rest: str, limit: int, allowed: str) -> NameRule:
    """A rule of one ``first`` character then up to ``limit - 1`` of ``rest`` (both the
    inside of a character class)."""
    pattern = re.compile(f"[{first}][{rest}]{{0,{limit - 1}}}")
    return NameRule(what, pattern, limit, f"1-{limit} {allowed}")


# --- people, groups and Slurm ------------------------------------------------------------

# Unix user names, which are also the hub's and Slurm's users: useradd's limit of 32
# characters (Debian's NAME_REGEX, less its '$' for Samba machine accounts). Class
# learners (CLASS-NNN) fit within it.
USER = _rule(
    "user name",
    "a-z_",
    "a-z0-9_-",
    32,
    "lower-case letters, digits, '-' or '_', starting with a letter or '_'",
)
# Unix groups (factory.users_group): groupadd has useradd's rule and limit.
GROUP = _rule(
    "group name",
    "a-z_",
    "a-z0-9_-",
    32,
    "lower-case letters, digits, '-' or '_', starting with a letter or '_'",
)
# A project is a Slurm account and a Unix group of the same name (its restricted
# datasets belong to that group), so the group's limit of 32 holds for the account
# too: the site file, the API, the widgets, the datacards and the reconciler agree.
PROJECT = _rule(
    "project name",
    "a-z",
    "a-z0-9_-",
    32,
    "lower-case letters, digits, '-' or '_', starting with a letter",
)
# Slurm partitions: Slurm's own names, kept to the projects' rule and limit.
PARTITION = _rule(
    "partition name",
    "a-z",
    "a-z0-9_-",
    32,
    "lower-case letters, digits, '-' or '_', starting with a letter",
)
# Slurm's ClusterName: lower-case (slurmdbd lower-cases it), and slurmdbd names its
# tables after it (CLUSTER_assoc_usage_month_table): MySQL's 64 characters for a table
# name less the longest of those suffixes (24) leaves 40.
CLUSTER = _rule(
    "cluster name",
    "a-z",
    "a-z0-9_-",
    40,
    "lower-case letters, digits, '-' or '_', starting with a letter",
)
# The demo node's Slurm NodeName, also its host name: one DNS label (RFC 1123, 63).
NODE = _rule(
    "node name",
    "a-z0-9",
    "a-z0-9-",
    63,
    "lower-case letters, digits or '-', starting with a letter or digit",
)
# The hub's PostgreSQL database: an unquoted identifier (PostgreSQL's NAMEDATALEN - 1).
DATABASE = _rule(
    "database name",
    "a-z_",
    "a-z0-9_",
    63,
    "lower-case letters, digits or '_', starting with a letter or '_'",
)
# An identity provider's claim names (auth.username_claim, auth.projects_claim): the
# provider's names, not the factory's, so upper case, ':' and '/' are allowed
# (namespaced claims are URLs); 128 holds the longest such URLs.
CLAIM = _rule(
    "claim name",
    "A-Za-z0-9_",
    "A-Za-z0-9_.:/-",
    128,
    "letters, digits, '_', '.', ':', '/' or '-', starting with a letter, digit or '_'",
)

# --- the site file's own names -----------------------------------------------------------

# Presets and profiles: shown in the session form and sent back in user_options; 64.
PRESET = _rule(
    "preset name",
    "a-z0-9",
    "a-z0-9_-",
    64,
    "lower-case letters, digits, '-' or '_', starting with a letter or digit",
)
PROFILE = _rule(
    "profile name",
    "a-z0-9",
    "a-z0-9_-",
    64,
    "lower-case letters, digits, '-' or '_', starting with a letter or digit",
)
# Training classes: the hub group class-NAME, the folder courses.root/NAME, and learner
# accounts NAME-NN (up to NAME-999), which must stay user names: 20 leaves room.
CLASS = _rule(
    "class name",
    "a-z",
    "a-z0-9-",
    20,
    "lower-case letters, digits or '-', starting with a letter",
)

# --- sessions -----------------------------------------------------------------------------

# Named servers: what JupyterHub 6 accepts for a new server (jupyterhub.slugs'
# is_valid_safe_slug): 1-30 lower-case letters, digits and single dashes, starting with
# a letter, ending with a letter or digit. The pattern is also the home page's form
# field's (valid in a browser's pattern attribute: no '-' inside a class).
SESSION = NameRule(
    "session name",
    re.compile(r"[a-z](?:-?[a-z0-9]){0,29}"),
    30,
    "1-30 lower-case letters, digits or single '-', starting with a letter and not ending with '-'",
)
# A batch job's name (scaleout.batch): #SBATCH --job-name=aiwb-batch-NAME; by default a
# script's stem, so upper case is allowed. 40 keeps squeue's columns readable.
BATCH_JOB = _rule(
    "job name",
    "A-Za-z0-9_",
    "A-Za-z0-9_.-",
    40,
    "letters, digits, '_', '.' or '-', starting with a letter, digit or '_'",
)

# --- the catalog and courses ---------------------------------------------------------------

# Datasets: a folder under catalog.root, named in the datacard and the API's paths; 64.
DATASET = _rule(
    "dataset name",
    "a-z0-9",
    "a-z0-9._-",
    64,
    "lower-case letters, digits, '.', '-' or '_', starting with a letter or digit",
)
# A datacard's tags, and the catalog's tag filter; 40 keeps the search results' chips
# short.
TAG = _rule(
    "tag",
    "a-z0-9",
    "a-z0-9+._-",
    40,
    "lower-case letters, digits, '+', '.', '-' or '_', starting with a letter or digit",
)
# Courses: the folder courses.root/CLASS/NAME, its published versions NAME-VERSION next
# to it and ~/courses/NAME in students' homes; 48 leaves room for the version (23).
COURSE = _rule(
    "course name",
    "a-z0-9",
    "a-z0-9-",
    48,
    "lower-case letters, digits or '-', starting with a letter or digit",
)
# Exercise ids: check("ID", ...) in a course's notebooks, and the progress store's key;
# trainers' own words, so upper case is allowed; 64.
EXERCISE = _rule(
    "exercise id",
    "A-Za-z0-9_",
    "A-Za-z0-9_.-",
    64,
    "letters, digits, '_', '.' or '-', starting with a letter, digit or '_'",
)
# A published course's version (its time and fingerprint, courses.shelf), which names
# the trainer's copies put aside in a student's copy (NAME.trainer-VERSION.ipynb); 40.
VERSION = _rule(
    "version",
    "0-9A-Za-z",
    "0-9A-Za-z-",
    40,
    "letters, digits or '-', starting with a letter or digit",
)

RULES = {
    "user": USER,
    "group": GROUP,
    "project": PROJECT,
    "partition": PARTITION,
    "cluster": CLUSTER,
    "node": NODE,
    "database": DATABASE,
    "claim": CLAIM,
    "preset": PRESET,
    "profile": PROFILE,
    "class": CLASS,
    "session": SESSION,
    "batch_job": BATCH_JOB,
    "dataset": DATASET,
    "tag": TAG,
    "course": COURSE,
    "exercise": EXERCISE,
    "version": VERSION,
}
