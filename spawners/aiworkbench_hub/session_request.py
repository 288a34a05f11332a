"""User options for a notebook session, parsed into one validated request.

Form fields and REST ``user_options`` both arrive here (one road for user
input). Unknown keys and values outside the site's policy are refused with a
message that says what is allowed. Only values from this module reach the
batch script.
"""

from __future__ import annotations

from dataclasses import dataclass

from .site import Site

ALLOWED_KEYS = ("profile", "project")


class RequestError(ValueError):
    """A session request that the site's policy does not allow."""


@dataclass(frozen=True)
class SessionRequest:
    profile: str
    project: str
    partition: str
    cpus: int
    memory_gb: int
    gpus: int
    hours: int


def parse_user_options(options: dict, site: Site, username: str) -> SessionRequest:
    """Validate ``options`` for ``username``; raise :class:`RequestError` if refused."""
    if not isinstance(options, dict):
        raise RequestError(f"session options must be an object with keys "
                           f"{', '.join(ALLOWED_KEYS)}")
    unknown = sorted(str(k) for k in options if k not in ALLOWED_KEYS)
    if unknown:
        raise RequestError(f"unknown option(s) {', '.join(map(repr, unknown))}; "
                           f"allowed: {', '.join(ALLOWED_KEYS)}")
    projects = site.projects_of(username)
    if not projects:
        raise RequestError(f"user {username!r} belongs to no project; ask an admin")
    profile_name = options.get("profile", next(iter(site.profiles)))
    project = options.get("project", projects[0])
    if not isinstance(profile_name, str) or profile_name not in site.profiles:
        raise RequestError(f"unknown profile {profile_name!r}; allowed: "
                           f"{', '.join(site.profiles)}")
    if not isinstance(project, str) or project not in projects:
        raise RequestError(f"project {project!r} is not one of yours; allowed: "
                           f"{', '.join(projects)}")
    profile = site.profiles[profile_name]
    return SessionRequest(profile=profile_name, project=project, partition=profile.partition,
                          cpus=profile.cpus, memory_gb=profile.memory_gb, gpus=profile.gpus,
                          hours=profile.hours)
