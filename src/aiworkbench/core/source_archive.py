"""The workbench's source as one reproducible archive: what the environments install.

``scripts/factory`` writes it before each converge; the ``python_env`` role copies it
to each environment and unpacks it into a fresh folder only when its bytes changed.
One file to compare instead of one per source file (ansible stats each file of a
copied folder), and the same source always gives the same bytes: entries in name
order, one fixed time, owner root, modes 0644 and 0755, no caches or build leftovers.

    python3 -m aiworkbench.core.source_archive REPOSITORY ARCHIVE
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
from pathlib import Path

# What an environment installs from: the package and the files pip reads.
FILES = ("pyproject.toml", "README.md")
FOLDERS = ("src",)
JUNK_NAMES = {"__pycache__", "build", ".pytest_cache", "node_modules"}
JUNK_SUFFIXES = (".pyc", ".pyo", ".egg-info")
# Every entry's time: 1980-01-02, the zip format's first day (wheels are zips),
# so that a build from the unpacked source never meets a time it cannot store.
MTIME = 315619200


def members(repo: Path) -> list[Path]:
    """The paths the archive holds, relative to ``repo``, in name order."""
    found = [Path(name) for name in FILES]
    for folder in FOLDERS:
        for root, dirs, files in os.walk(repo / folder):
            dirs[:] = sorted(
                d for d in dirs if d not in JUNK_NAMES and not d.endswith(JUNK_SUFFIXES)
            )
            here = Path(root).relative_to(repo)
            found.append(here)
            found += [here / f for f in sorted(files) if not f.endswith(JUNK_SUFFIXES)]
    return sorted(found, key=lambda p: p.as_posix())


def archive_bytes(repo: Path) -> bytes:
    """The archive of ``repo``'s source (an uncompressed tar)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in members(repo):
            path = repo / relative
            info = tarfile.TarInfo(relative.as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_archive(repo: Path, dest: Path) -> bool:
    """Write the archive to ``dest``; whether its bytes changed."""
    data = archive_bytes(repo)
    if dest.exists() and dest.read_bytes() == data:
        return False
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m aiworkbench.core.source_archive",
        description="Write the workbench's source as one reproducible tar archive.",
    )
    parser.add_argument("repository", type=Path, help="the repository's folder")
    parser.add_argument("archive", type=Path, help="the archive to write")
    args = parser.parse_args(argv)
    missing = [n for n in (*FILES, *FOLDERS) if not (args.repository / n).exists()]
    if missing:
        parser.error(
            f"{args.repository} is not the workbench's repository: it has no {', '.join(missing)}"
        )
    write_archive(args.repository, args.archive)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
