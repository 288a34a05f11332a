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

Owners are kept; symbolic links are never followed or changed, also when one
appears while this runs (everything is changed through descriptors opened
without following links). Any earlier
ACL is removed first, so narrowing a dataset's access takes effect.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
from pathlib import Path

from aiworkbench.core import commands
from aiworkbench.core.commands import CommandError

PUBLIC_MODES = (0o755, 0o644)  # folders, files
RESTRICTED_MODES = (0o2750, 0o640)


class AccessError(RuntimeError):
    """Permissions could not be set; the message says what is missing."""


def group_id(project: str) -> int:
    try:
        return grp.getgrnam(project).gr_gid
    except KeyError:
        raise AccessError(
            f"no Unix group {project!r} for project {project!r}: the "
            f"factory_users role creates one per project"
        ) from None


def _setfacl(args: list[str]) -> None:
    tool = shutil.which("setfacl")
    if tool is None:
        raise AccessError(
            "setfacl is missing (Debian package acl): a dataset restricted "
            "to several projects needs POSIX ACLs"
        )
    try:
        commands.run([tool, *args], timeout=None)  # a large dataset takes its time
    except CommandError as err:
        said = err.stderr.strip() if err.exited else str(err)
        raise AccessError(f"setfacl {' '.join(args)}: {said}") from None


def close_folder(folder: Path) -> None:
    """Only root may enter ``folder`` (a folder left out of the catalog: nobody knows
    who may read it until its datacard is mended)."""
    fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def set_permissions(folder: Path, access: tuple[str, ...] | None) -> None:
    """What ``aiworkbench-catalog index --set-permissions`` does for each folder under
    the catalog's root: :func:`apply_access`, or :func:`close_folder` when ``access``
    is None (the folder is not in the catalog)."""
    if access is None:
        close_folder(folder)
    else:
        apply_access(folder, access)


def apply_access(folder: Path, access: tuple[str, ...]) -> None:
    """Set the group, modes and ACLs of ``folder`` and everything in it for ``access``:
    the projects that may read it, or () for everybody."""
    if not access:
        gid, (dir_mode, file_mode) = 0, PUBLIC_MODES
    else:
        gid, (dir_mode, file_mode) = group_id(access[0]), RESTRICTED_MODES
    extra = list(access[1:])
    for project in extra:
        group_id(project)  # every group exists before anything changes
    if shutil.which("setfacl"):
        _setfacl(["-R", "-P", "-b", "--", str(folder)])
    # Through file descriptors opened without following links: an owner who swaps a
    # file for a link while this runs changes nothing outside the dataset.
    for _, _, names, dir_fd in os.fwalk(folder, follow_symlinks=False):
        os.fchown(dir_fd, -1, gid)
        os.fchmod(dir_fd, dir_mode)
        for name in names:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:  # a link (ELOOP), or gone since it was listed
                continue
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.fchown(fd, -1, gid)
                    os.fchmod(fd, file_mode)
            finally:
                os.close(fd)
    for project in extra:
        _setfacl(["-R", "-P", "-m", f"g:{project}:rX,d:g:{project}:rX", "--", str(folder)])
