"""``aiworkbench-catalog``: index the dataset catalog, build the demo or a synthetic one.

    aiworkbench-catalog index [--full] [--set-permissions] [--strict] [--json]
    aiworkbench-catalog demo
    aiworkbench-catalog synthetic ROOT [--datasets 10000] [--files 3] [--seed 1]

``index`` and ``demo`` use the site file's ``[catalog]`` (``--site``, default
``$AIWORKBENCH_SITE`` or the installed one, ``aiworkbench.core.site.SITE_FILE``). Run
``index`` as root after adding, changing or removing datasets: it rereads only what
changed, reports every malformed datacard with file, field and reason, skips it, and
indexes the rest. ``--set-permissions`` also sets every dataset's Unix group
and modes from its access, and closes folders left out (see :mod:`.access`).
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import sys
from pathlib import Path

from aiworkbench.catalog.access import AccessError, set_permissions
from aiworkbench.catalog.index import Index, IndexReport
from aiworkbench.core.site import SiteError, default_site_file, load_site
from aiworkbench.core.store_schema import SchemaError


def report_text(root, report: IndexReport) -> str:
    lines = [
        f"indexed {root}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {report.unchanged} unchanged"
    ]
    if report.problems:
        lines.append(
            f"{len(report.problems)} problem(s); these datasets are left out until mended:"
        )
        lines += [f"  - {problem}" for problem in report.problems]
    return "\n".join(lines)


def share_with_hub(index_path: Path, hub_user: str) -> None:
    """The index readable by the hub user's group (the API), nobody else."""
    if os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam(hub_user).gr_gid
    except KeyError:
        print(
            f"aiworkbench-catalog: no group {hub_user!r} (hub.user): the index stays "
            f"readable by root only",
            file=sys.stderr,
        )
        os.chmod(index_path, 0o600)
        return
    os.chown(index_path, 0, gid)
    os.chmod(index_path, 0o640)


def index_command(site, args) -> int:
    root, path = Path(site.catalog.root), Path(site.catalog.index)
    if not root.is_dir():
        print(f"aiworkbench-catalog: catalog.root {root} is not a folder", file=sys.stderr)
        return 2
    umask = os.umask(0o077)  # the index names restricted datasets: not for others' eyes
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        index = Index(path)
    except SchemaError as err:  # an index from a newer workbench: left as it is
        print(f"aiworkbench-catalog: {err}", file=sys.stderr)
        return 2
    finally:
        os.umask(umask)
    try:
        report = index.update(
            root,
            full=args.full,
            projects=set(site.projects),
            permissions=set_permissions if args.set_permissions else None,
        )
    except (AccessError, OSError) as err:
        print(f"aiworkbench-catalog: {err}", file=sys.stderr)
        return 2
    share_with_hub(path, site.hub.user)
    if args.json:
        print(json.dumps(report.__dict__, indent=1))
    else:
        print(report_text(root, report))
    return 1 if args.strict and report.problems else 0


def _stamps(root: Path, datasets) -> dict[str, int]:
    """Modification times of the files of ``datasets`` (folders under ``root``)."""
    return {
        top + "/" + name: os.lstat(os.path.join(top, name)).st_mtime_ns
        for dataset in datasets
        for top, _, names in os.walk(root / dataset)
        for name in names
    }


def demo_command(site, args) -> int:
    # needs scikit-learn, numpy, pyarrow and Pillow
    from aiworkbench.catalog.demo import DATASETS, build_demo

    root = Path(site.catalog.root)
    before = _stamps(root, DATASETS)
    names = build_demo(root, restricted_to=site.demo_restricted_project())
    changed = sorted(
        {
            Path(p).relative_to(root).parts[0]
            for p, stamp in _stamps(root, DATASETS).items()
            if before.get(p) != stamp
        }
    )
    print(f"demo catalog in {root}: {', '.join(names)}")
    print(f"wrote: {', '.join(changed)}" if changed else "unchanged: every file was right")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aiworkbench-catalog", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--site", default=default_site_file(), help="the site file (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="(re)index catalog.root into catalog.index")
    index.add_argument(
        "--full",
        action="store_true",
        help="relist every dataset, not only those whose card or folder changed",
    )
    index.add_argument(
        "--set-permissions",
        action="store_true",
        help="set every dataset's group and modes from its access and "
        "close folders left out of the catalog (as root)",
    )
    index.add_argument("--strict", action="store_true", help="exit 1 when a datacard is malformed")
    index.add_argument("--json", action="store_true", help="print the report as JSON")
    commands.add_parser("demo", help="write the demo catalog into catalog.root")
    synthetic = commands.add_parser("synthetic", help="write a large synthetic catalog")
    synthetic.add_argument("root")
    synthetic.add_argument("--datasets", type=int, default=10000)
    synthetic.add_argument("--files", type=int, default=3)
    synthetic.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "synthetic":
        from aiworkbench.catalog.synthetic import main as synthetic_main

        synthetic_main(
            [
                args.root,
                "--datasets",
                str(args.datasets),
                "--files",
                str(args.files),
                "--seed",
                str(args.seed),
            ]
        )
        return 0
    try:
        site = load_site(args.site)
    except (SiteError, OSError) as err:
        print(f"aiworkbench-catalog: {err}", file=sys.stderr)
        return 2
    if args.command == "index":
        return index_command(site, args)
    return demo_command(site, args)


if __name__ == "__main__":
    sys.exit(main())
