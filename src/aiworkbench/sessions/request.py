"""User options for a notebook session, parsed into one validated request.

Form fields and REST ``user_options`` both arrive here (one road for user
input). Unknown keys, values outside the limits of the partition and the
project, and another user's project are refused with a message that says what
is allowed. Only values from this module reach the batch script.

A request may name a ``profile`` (a ready-made choice from the site file);
any other key given overrides the profile's value. Without a profile the
first profile that the project may use supplies the defaults.

Names are accepted only as the site file's own (validated by the rules of
:mod:`aiworkbench.core.names`); a refused one that is not even a name says the
rule too.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from aiworkbench.core import names
from aiworkbench.core.site import Site

ALLOWED_KEYS = ("profile", "project", "partition", "preset", "gpus", "hours")
_COUNT = re.compile(r"[0-9]{1,4}")


class RequestError(ValueError):
    """A session request that the site's policy does not allow."""


@dataclass(frozen=True)
class SessionRequest:
    profile: str  # the profile the request started from
    project: str
    partition: str
    preset: str
    cpus: int
    memory_gb: int
    gpus: int
    hours: int

    @property
    def gpu_hours(self) -> int:
        return self.gpus * self.hours

    @property
    def core_hours(self) -> int:
        return self.cpus * self.hours

    def cost_text(self) -> str:
        """What the session costs its project if it runs to its time limit."""
        return cost_text(self.gpus, self.cpus, self.hours, self.project)


def cost_text(gpus: int, cpus: int, hours: int, project: str) -> str:
    core_hours = f"{cpus * hours} core-hour{'' if cpus * hours == 1 else 's'}"
    if gpus:
        gpu_hours = f"{gpus * hours} GPU-hour{'' if gpus * hours == 1 else 's'}"
        return f"up to {gpu_hours} and {core_hours} from {project}"
    return f"up to {core_hours} from {project}"


def is_count(value) -> bool:
    """Whether ``value`` is a whole number as the form sends it (up to four ASCII digits)."""
    return isinstance(value, str) and _COUNT.fullmatch(value) is not None


class FormChoices:
    """Each user's last choices in the session form (its six fields as sent), shown
    again when the form is rendered next, after a refusal too. One per hub, handed to
    its spawners (:mod:`aiworkbench.hub.shared`); it keeps the ``limit`` users who
    sent the form last, so that it does not grow with every user who ever did."""

    def __init__(self, limit: int = 1000):
        self.limit = limit
        self._by_user: OrderedDict[str, dict] = OrderedDict()

    def remember(self, user: str, options: dict) -> None:
        """``user`` sent the form with ``options`` (only the form's fields are kept)."""
        self._by_user[user] = {key: options[key] for key in ALLOWED_KEYS if key in options}
        self._by_user.move_to_end(user)
        while len(self._by_user) > self.limit:
            self._by_user.popitem(last=False)

    def last(self, user: str) -> dict:
        """What ``user`` sent last ({} if nothing, or forgotten)."""
        return dict(self._by_user.get(user, {}))

    def __len__(self) -> int:
        return len(self._by_user)


def _count(options: dict, key: str, default: int, low: int, high: int, where: str) -> int:
    value = options.get(key, default)
    if is_count(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        allowed = f"{low} to {high}" if low != high else str(low)
        raise RequestError(f"{key} = {value} is not allowed {where}; allowed: {allowed}")
    return value


def _refused(wrong: str, rule: names.NameRule, value, allowed) -> RequestError:
    """What was wrong, the choices, and the name rule when ``value`` is not even a name."""
    words = "" if rule.ok(value) else f" (a {rule.what} is {rule.allowed})"
    return RequestError(f"{wrong}; allowed: {', '.join(allowed)}{words}")


def _default_profile(site: Site, usable: dict) -> str:
    """The first profile that the project may use as it is (else simply the first)."""
    for name, profile in site.profiles.items():
        lim = usable.get(profile.partition)
        if lim is not None and lim.min_gpus <= profile.gpus <= lim.max_gpus:
            return name
    return next(iter(site.profiles))


def parse_user_options(options: dict, site: Site, username: str) -> SessionRequest:
    """Validate ``options`` for ``username``; raise :class:`RequestError` if refused."""
    if not isinstance(options, dict):
        raise RequestError(f"session options must be an object with keys {', '.join(ALLOWED_KEYS)}")
    unknown = sorted(str(k) for k in options if k not in ALLOWED_KEYS)
    if unknown:
        raise RequestError(
            f"unknown option(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(ALLOWED_KEYS)}"
        )
    projects = site.projects_of(username)
    if not projects:
        raise RequestError(f"user {username!r} belongs to no project; ask an admin")
    project = options.get("project", projects[0])
    if not isinstance(project, str) or project not in projects:
        raise _refused(f"project {project!r} is not one of yours", names.PROJECT, project, projects)
    usable = site.usable_partitions(project)
    profile_name = options.get("profile", _default_profile(site, usable))
    if not isinstance(profile_name, str) or profile_name not in site.profiles:
        raise _refused(
            f"unknown profile {profile_name!r}", names.PROFILE, profile_name, site.profiles
        )
    profile = site.profiles[profile_name]
    # A profile asked for keeps its partition; the default one gives way to the project's.
    default_partition = (
        profile.partition
        if "profile" in options or profile.partition in usable
        else next(iter(usable))
    )
    partition = options.get("partition", default_partition)
    if not isinstance(partition, str) or partition not in usable:
        known = isinstance(partition, str) and partition in site.partitions
        raise _refused(
            (
                f"project {project!r} may not use partition {partition!r}"
                if known
                else f"unknown partition {partition!r}"
            ),
            names.PARTITION,
            partition,
            usable,
        )
    lim = usable[partition]
    from_profile = partition == profile.partition  # else the profile's sizes do not apply
    preset = options.get("preset", profile.preset if from_profile else lim.presets[0])
    if not isinstance(preset, str) or preset not in lim.presets:
        raise _refused(
            f"preset {preset!r} is not offered on partition {partition!r}",
            names.PRESET,
            preset,
            lim.presets,
        )
    where = f"on partition {partition!r} for project {project!r}"
    gpus = _count(
        options,
        "gpus",
        profile.gpus if from_profile else lim.min_gpus,
        lim.min_gpus,
        lim.max_gpus,
        where,
    )
    hours = _count(options, "hours", min(profile.hours, lim.max_hours), 1, lim.max_hours, where)
    size = site.presets[preset]
    return SessionRequest(
        profile=profile_name,
        project=project,
        partition=partition,
        preset=preset,
        cpus=size.cpus,
        memory_gb=size.memory_gb,
        gpus=gpus,
        hours=hours,
    )
