"""The factory's daemons and packages as ``daemons.json`` (its ``aiwb_daemons`` table:
supervisor program names, pid files, sockets, ports) and ``packages.json``
(``aiwb_packages``: the Debian packages, by the role that installs them) describe them.
Ansible reads the same files (vars_files), so a name or a path has one owner.

Standard library only: preflight, the admin tools and ``make uninstall`` import it on a
bare machine.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent


def _table(file: str, key: str) -> dict:
    return json.loads((HERE / file).read_text(encoding="utf-8"))[key]


DAEMONS: dict = _table("daemons.json", "aiwb_daemons")
PACKAGES: dict = _table("packages.json", "aiwb_packages")

SERVICE_TOKEN_DIR: str = DAEMONS["service_token_dir"]  # the hub services' API tokens


def hub_pidfile(site) -> str:
    """The hub's pid file (JupyterHub.pid_file): in its data folder, ``hub.data_dir``,
    which only the hub user writes."""
    return f"{site.hub.data_dir}/{DAEMONS['hub']['pidfile_name']}"


def program(name: str, **fields: str) -> str:
    """The supervisor program (systemd: aiworkbench-NAME.service) of daemon ``name``, its
    placeholders filled: ``program("slurmd", node="gpu1")`` is 'slurmd-gpu1'."""
    return DAEMONS[name]["program"].format(**fields)


def postgresql_package() -> str:
    """Debian's PostgreSQL server package, of the version in daemons.json."""
    return f"postgresql-{DAEMONS['postgresql']['version']}"


def debian_packages() -> list[str]:
    """Every Debian package the factory installs (each role's, the test tools' and the
    PostgreSQL server), once each, in file order. ``system_users`` names users, not
    packages."""
    names = [
        p
        for role, listed in PACKAGES.items()
        if role not in ("_doc", "system_users")
        for p in listed
    ]
    return list(dict.fromkeys([*names, postgresql_package()]))
