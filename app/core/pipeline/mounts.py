"""Which folders live on network or VM-shared file systems, where change events are unreliable
and the watcher polls instead (or everywhere, with PHOTOSEEK_FORCE_POLLING=1)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from app.core.paths import is_under

ENV_FORCE_POLLING = "PHOTOSEEK_FORCE_POLLING"
# File systems where inotify/FSEvents see nothing of changes made by other machines.
NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "sshfs",
        "fuse.sshfs",
        "9p",
        "v9fs",
        "davfs",
        "fuse.davfs2",
        "webdav",
        "afpfs",
        "afs",
        "ncpfs",
        "glusterfs",
        "fuse.glusterfs",
        "ceph",
        "fuse.ceph",
        "lustre",
        "gpfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "drvfs",
        "virtiofs",
        "vboxsf",
        "prl_fs",
        "vmhgfs",
        "fuse.vmhgfs-fuse",
    }
)


def parse_proc_mounts(text: str) -> list[tuple[str, str]]:
    """(mount point, fs type) pairs from /proc/mounts text (octal escapes such as \\040 undone)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            out.append((point, fields[2]))
    return out


def parse_bsd_mount(text: str) -> list[tuple[str, str]]:
    """(mount point, fs type) pairs from macOS `mount` output: "//u@host/s on /Volumes/s (smbfs, ...)"."""
    out = []
    for line in text.splitlines():
        if " on " in line and " (" in line:
            point = line.split(" on ", 1)[1].rsplit(" (", 1)[0]
            fstype = line.rsplit(" (", 1)[1].split(",")[0].rstrip(")").strip()
            out.append((point, fstype))
    return out


def fs_type_of(path: str, mounts: Iterable[tuple[str, str]]) -> str | None:
    """The type of the deepest mount containing the absolute, symlink-free `path`."""
    best: tuple[str, str] | None = None
    for point, fstype in mounts:
        inside = is_under(path, point)
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, fstype)
    return best[1] if best else None


def mount_fs_type(path: Path) -> str | None:
    """The file system type of the mount holding `path` (Linux /proc/mounts, macOS `mount`)."""
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
                mounts = parse_proc_mounts(f.read())
        elif sys.platform == "darwin":
            import subprocess

            out = subprocess.run(["/sbin/mount"], capture_output=True, text=True, timeout=5)
            mounts = parse_bsd_mount(out.stdout)
        else:
            return None
    except (OSError, ValueError):
        return None
    return fs_type_of(os.path.realpath(path), mounts)


def is_network_path(path: Path) -> bool:
    """True for folders on network or VM-shared file systems, where change events are unreliable."""
    if sys.platform == "win32":
        p = str(path)
        if p.startswith("\\\\"):  # UNC path: \\server\share
            return True
        try:
            import ctypes

            drive = os.path.splitdrive(os.path.abspath(p))[0] + "\\"
            return bool(ctypes.windll.kernel32.GetDriveTypeW(drive) == 4)  # type: ignore[attr-defined]
        except (OSError, AttributeError):
            return False
    fstype = mount_fs_type(path)
    return fstype is not None and (fstype in NETWORK_FS_TYPES or fstype.startswith("fuse.smb"))


def wants_polling(path: Path, force: bool | None = None) -> bool:
    """Poll when forced (argument, or PHOTOSEEK_FORCE_POLLING=1) or on a network file system."""
    if force is not None:
        return force
    if os.environ.get(ENV_FORCE_POLLING, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return is_network_path(path)
