"""``aiworkbench-budget``: your projects' budgets in a terminal, from the workbench API.

Prints the same table as ``aiworkbench.budget()`` (see
:func:`aiworkbench.budgets.widget.format_table`). In a session's terminal it asks the
API with the session's token; ``--slurm`` (root on the hub host: Slurm's PrivateData
hides other users' usage from everyone else) reads Slurm accounting directly, for one
user or every project.
Exit status: 0 shown, 1 refused or no answer, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import sys

from aiworkbench.budgets.widget import BudgetError, fetch_budgets, format_table
from aiworkbench.core import names
from aiworkbench.core.site import default_site_file


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiworkbench-budget",
        description="GPU and CPU budgets of your projects, from the workbench API "
        "(AIWORKBENCH_API_URL, JUPYTERHUB_API_TOKEN).",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every project (managers and admins)")
    which.add_argument(
        "--project", type=names.PROJECT.argument(), metavar="NAME", help="only this project"
    )
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    p.add_argument(
        "--slurm",
        action="store_true",
        help="read Slurm accounting directly instead of asking the API (root, on the hub host)",
    )
    p.add_argument(
        "--user",
        type=names.USER.argument(),
        metavar="NAME",
        help="with --slurm: this user's projects (default: you)",
    )
    p.add_argument(
        "--site",
        default=default_site_file(),
        help="with --slurm: the site file (default: %(default)s)",
    )
    return p


def slurm_payload(args) -> dict:
    """The API's answer, computed here from one read of Slurm accounting."""
    from aiworkbench.budgets.access import payload, visible
    from aiworkbench.budgets.accounting import AccountingReader  # the hub's own reader
    from aiworkbench.core.problems import Refused
    from aiworkbench.core.site import SiteError, load_site

    try:
        site = load_site(args.site)
    except (SiteError, OSError) as err:
        raise BudgetError(f"cannot read the site file: {err}") from None
    if os.getuid() != 0 and {"usage", "jobs"} & set(site.slurm.private_data):
        raise BudgetError(
            "--slurm needs root here: Slurm's PrivateData "
            f"({','.join(site.slurm.private_data)}) hides other users' usage "
            "and jobs from you; without --slurm the workbench API answers"
        )
    me = pwd.getpwuid(os.getuid()).pw_name
    admin = os.getuid() == 0 or getattr(site.users.get(me), "role", "") in ("admin", "manager")
    user = args.user or me
    try:
        chosen = visible(site, me, admin, every=args.all, project=args.project, user=args.user)
    except Refused as err:
        raise BudgetError(err.message) from None
    reader = AccountingReader(interval=site.hub.accounting_refresh)
    try:
        snapshot = asyncio.run(reader.snapshot())
    except Exception as err:  # slurm.SlurmError, or sshare missing
        raise BudgetError(f"Slurm accounting cannot be read: {err}") from None
    return payload(snapshot, reader.interval, user, chosen)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:  # --help (0) or bad arguments (2)
        return done.code if isinstance(done.code, int) else 2
    if args.user and not args.slurm:
        print(
            "aiworkbench-budget: --user needs --slurm (the API answers for the token's user)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.slurm:
            payload = slurm_payload(args)
        else:
            payload = fetch_budgets(all_projects=args.all, project=args.project)
    except BudgetError as err:
        print(f"aiworkbench-budget: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(format_table(payload, os.environ.get("SLURM_JOB_ID")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
