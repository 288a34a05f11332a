"""Filesystem permissions that match a datacard's access: the second lock.

The API hides restricted datasets from users outside their projects; the
filesystem keeps them from reading the files even with the path in hand
(sessions read data as their own Unix user). Each project has a Unix group of
its name (created by the ansible role ``factory_users``). Run as root by
``aiworkbench-catalog index --set-permissions``:

* public: folders ``rwxr-xr-x``, files ``rw-r--r--``, group root;
* restricted: group = the first project's, folders ``rwxr-s---``, files
  ``rw-r-----``, others nothing; every further project gets a POSIX ACL entry
  (``setfacl``, package ``acl``) with the same rights, inherited by new files.

Owners are kept; symbolic links are never followed or changed. Any earlier
ACL is removed first, so narrowing a dataset's access takes effect.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
from pathlib import Path

from .datacard import Datacard

PUBLIC_MODES = (0o755, 0o644)  # folders, files
RESTRICTED_MODES = (0o2750, 0o640)


class AccessError(RuntimeError):
    """Permissions could not be set; the message says what is missing."""


def group_id(project: str) -> int:
    try:
        return grp.getgrnam(project).gr_gid
    except KeyError:
        raise AccessError(f"no Unix group {project!r} for project {project!r}: the "
                          f"factory_users role creates one per project") from None


def _setfacl(args: list[str]) -> None:
    tool = shutil.which("setfacl")
    if tool is None:
        raise AccessError("setfacl is missing (Debian package acl): a dataset restricted "
                          "to several projects needs POSIX ACLs")
    done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AccessError(f"setfacl {' '.join(args)}: {done.stderr.strip()}")


def apply_access(folder: Path, card: Datacard) -> None:
    """Set the group, modes and ACLs of ``folder`` and everything in it from ``card``."""
    if card.public:
        gid, (dir_mode, file_mode) = 0, PUBLIC_MODES
    else:
        gid, (dir_mode, file_mode) = group_id(card.access[0]), RESTRICTED_MODES
    extra = list(card.access[1:])
    for project in extra:
        group_id(project)  # every group exists before anything changes
    if shutil.which("setfacl"):
        _setfacl(["-R", "-P", "-b", "--", str(folder)])
    for top, _, names in os.walk(folder):  # does not descend into linked folders
        for path, mode in [(top, dir_mode), *((os.path.join(top, n), file_mode)
                                               for n in names)]:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                continue
            os.chown(path, -1, gid, follow_symlinks=False)
            os.chmod(path, mode)
    for project in extra:
        _setfacl(["-R", "-P", "-m", f"g:{project}:rX,d:g:{project}:rX", "--", str(folder)])
