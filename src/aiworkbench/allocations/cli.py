"""``aiworkbench-allocations``: make Slurm accounting match what was granted.

    aiworkbench-allocations reconcile --dry-run     # print the sacctmgr changes only
    aiworkbench-allocations reconcile               # make them, then check Slurm took them

The grants are the site file's projects (budgets, members; class learners included)
and the hub's Slurm reader. Run as root or as a Slurm operator on a machine whose
``sacctmgr`` reaches slurmdbd. Exit status: 0 Slurm matches, 1 Slurm refused changes
(they are printed) or could not be read, 2 bad arguments or site file.
"""

from __future__ import annotations

import argparse
import json
import sys

from aiworkbench.allocations import reconcile
from aiworkbench.core.commands import CommandError
from aiworkbench.core.site import Site, SiteError, default_site_file, load_site


def grants_from_site(site: Site) -> list[reconcile.Grant]:
    """The site file's projects as grants, in the site's order (a member's first project
    is their default account)."""
    return [
        reconcile.Grant(
            account=name,
            description=reconcile.slurm_description(project.description),
            gpu_minutes=project.gpu_minutes,
            cpu_minutes=project.cpu_minutes,
            members=tuple(project.members),
        )
        for name, project in site.projects.items()
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiworkbench-allocations",
        description="Make Slurm accounting match the projects granted: accounts with their "
        "GrpTRESMins budgets, members' associations, ended projects blocked. "
        "Never deletes an account or an association, never resets usage.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("reconcile", help="make Slurm match the grants (or print how)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the sacctmgr commands that would be run, change nothing",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print the outcome as JSON (changes, refused, sacctmgr calls)",
    )
    run.add_argument(
        "--site", default=default_site_file(), help="the site file (default: %(default)s)"
    )
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        site = load_site(args.site)
        grants = grants_from_site(site)
        reconcile.validate(grants)
    except (SiteError, OSError, ValueError) as err:
        print(f"aiworkbench-allocations: {err}", file=sys.stderr)
        return 2
    try:
        result = reconcile.reconcile(
            grants, site.slurm.cluster_name, readers=(site.slurm.reader,), dry_run=args.dry_run
        )
    except CommandError as err:
        print(
            f"aiworkbench-allocations: Slurm accounting cannot be read or changed: {err}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(reconcile.as_json(result), indent=2))
    else:
        print(reconcile.describe(result))
    return 1 if result.refused else 0


if __name__ == "__main__":
    sys.exit(main())
