"""Put PhotoSeek in the Linux desktop menu: its .desktop file and icons in the user's XDG data folder
($XDG_DATA_HOME, else ~/.local/share), with Exec naming the launcher that runs now (pipx, pip,
the PyInstaller bundle or a source checkout), so the menu starts the same PhotoSeek."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import app
from app.core.durable import write_atomic
from app.core.errors import UserError
from app.core.resources import resource_path

log = logging.getLogger(__name__)

DESKTOP_ID = "photoseek.desktop"  # app.ui.app sets the same id (setDesktopFileName)
ICON_NAME = "photoseek"
LAUNCHER = "photoseek"
# Marks a .desktop file this module wrote: only such a file is replaced or removed.
MARKER_KEY = "X-PhotoSeek-Installed-By"
MARKER_VALUE = "photoseek --install-desktop-entry"
_ICON_RE = re.compile(r"photoseek-(\d+)\.png")
# Characters that make a desktop-entry Exec argument need quoting (Desktop Entry spec, "Exec").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_CACHE_TIMEOUT_S = 20


class DesktopEntryError(UserError):
    """The menu entry cannot be installed or removed; the message says why and what to do."""


@dataclass(frozen=True)
class DesktopEntry:
    """What install_desktop_entry wrote: the .desktop file, the icons and the command it runs."""

    desktop_file: Path
    icons: tuple[Path, ...]
    command: tuple[str, ...]


def xdg_data_home(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_DATA_HOME when it is an absolute path (the spec ignores relative ones), else
    ~/.local/share."""
    env = os.environ if env is None else env
    value = env.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that starts this PhotoSeek: the bundle's binary, the `photoseek` script that is
    running or installed next to this Python, or `python -m app` from a source checkout."""
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) in (LAUNCHER, f"{LAUNCHER}-gui") and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]  # not resolved: pipx's ~/.local/bin link survives upgrades
    schemes = [sysconfig.get_default_scheme(), f"{os.name}_user"]
    for scheme in schemes:
        try:
            scripts = Path(sysconfig.get_path("scripts", scheme))
        except KeyError:
            continue
        if (scripts / LAUNCHER).is_file():
            return [str(scripts / LAUNCHER)]
    return [os.path.abspath(sys.executable), "-m", "app"]


def exec_quote(arg: str) -> str:
    """One Exec argument, quoted and escaped as the Desktop Entry spec requires."""
    if "\n" in arg or "\r" in arg:
        raise DesktopEntryError(
            f"{arg!r} contains a line break, which a desktop menu entry cannot hold. Install "
            "PhotoSeek in a folder whose path has no line breaks."
        )
    arg = arg.replace("%", "%%")  # a lone % would start a field code
    if any(c in _RESERVED for c in arg):
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return arg.replace("\\", "\\\\")  # the string-level escape, applied on top of the quoting


def render_desktop_file(template: str, command: Sequence[str], workdir: Path | None = None) -> str:
    """The template .desktop text with every Exec (desktop actions too) and TryExec naming
    `command`, the template's own Exec arguments (field codes, subcommands) kept after it, plus
    an optional Path= and our marker key."""
    exec_value = " ".join(exec_quote(a) for a in command)
    out: list[str] = []
    group = ""
    end_of_main: int | None = None  # where [Desktop Entry]'s keys end in `out`
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            group = stripped[1:-1]
            if group == "Desktop Entry":
                end_of_main = len(out) + 1
        elif "=" in stripped and not stripped.startswith("#"):
            key, value = (s.strip() for s in stripped.split("=", 1))
            main = group == "Desktop Entry"
            if key == "Exec" and (main or group.startswith("Desktop Action ")):
                args = value.split(None, 1)
                line = f"Exec={exec_value}" + (f" {args[1]}" if len(args) > 1 else "")
            elif main and key == "TryExec":
                line = f"TryExec={_escape(command[0])}"
            elif main and key in ("Path", MARKER_KEY):
                continue
            if main:
                out.append(line)
                end_of_main = len(out)
                continue
        out.append(line)
    if end_of_main is None:
        raise DesktopEntryError(
            f"{resource_path(DESKTOP_ID)} has no [Desktop Entry] group: the installation is "
            "damaged. Reinstall PhotoSeek."
        )
    out[end_of_main:end_of_main] = _extra_keys(workdir)
    return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    """A desktop-entry string value: backslashes doubled (the spec's string escape)."""
    return value.replace("\\", "\\\\")


def _extra_keys(workdir: Path | None) -> list[str]:
    keys = [f"{MARKER_KEY}={MARKER_VALUE}"]
    if workdir is not None:
        keys.insert(0, f"Path={_escape(str(workdir))}")
    return keys


def install_desktop_entry(
    data_home: Path | None = None, command: Sequence[str] | None = None
) -> DesktopEntry:
    """Write the .desktop file into `<data_home>/applications` and the app icon into
    `<data_home>/icons/hicolor/<size>/apps`, so PhotoSeek appears in the desktop menu."""
    _check_platform()
    data_home = data_home or xdg_data_home()
    command = list(command or launcher_command())
    workdir = None
    if command[1:3] == ["-m", "app"]:  # a source checkout: `python -m app` must start there
        workdir = Path(app.__file__).resolve().parent.parent
    target = data_home / "applications" / DESKTOP_ID
    _check_ours(target, "replace")
    icons = []
    for src, size in _icon_sources():
        dest = data_home / "icons" / "hicolor" / size / "apps" / f"{ICON_NAME}{src.suffix}"
        _write_atomic(dest, src.read_bytes())
        icons.append(dest)
    template = resource_path(DESKTOP_ID).read_text(encoding="utf-8")
    _write_atomic(target, render_desktop_file(template, command, workdir).encode("utf-8"))
    _refresh_caches(data_home)
    log.info("installed %s and %d icons under %s", target, len(icons), data_home)
    return DesktopEntry(target, tuple(icons), tuple(command))


def uninstall_desktop_entry(data_home: Path | None = None) -> list[Path]:
    """Remove what install_desktop_entry wrote; returns the files removed (none: not installed)."""
    _check_platform()
    data_home = data_home or xdg_data_home()
    target = data_home / "applications" / DESKTOP_ID
    removed = []
    if target.exists():
        _check_ours(target, "remove")
        target.unlink()
        removed.append(target)
    hicolor = data_home / "icons" / "hicolor"
    for icon in sorted(hicolor.glob(f"*/apps/{ICON_NAME}.png")) + sorted(
        hicolor.glob(f"*/apps/{ICON_NAME}.svg")
    ):
        icon.unlink()
        removed.append(icon)
    if removed:
        _refresh_caches(data_home)
    log.info("removed %d desktop entry files under %s", len(removed), data_home)
    return removed


def _check_platform() -> None:
    if sys.platform in ("win32", "cygwin", "darwin"):
        where = "the Start menu" if sys.platform != "darwin" else "Applications"
        raise DesktopEntryError(
            "The desktop menu entry is for Linux desktops. On this system, install the PhotoSeek "
            f"bundle, which adds itself to {where}."
        )


def _check_ours(path: Path, action: str) -> None:
    """Refuse to replace or remove a .desktop file that PhotoSeek did not write."""
    if not path.exists():
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DesktopEntryError(f"Can't read {path} ({e.strerror or e}).") from e
    if f"\n{MARKER_KEY}=" not in f"\n{text}":
        raise DesktopEntryError(
            f"{path} was not written by PhotoSeek, so it was left as it is. Move it away (or "
            f"delete it if you don't need it) and run the command again to {action} it."
        )


def _icon_sources() -> list[tuple[Path, str]]:
    """(file, hicolor size folder) for every app icon PhotoSeek ships."""
    folder = resource_path("app")
    found = []
    for png in sorted(folder.glob("photoseek-*.png")):
        m = _ICON_RE.fullmatch(png.name)
        if m:
            found.append((png, f"{m.group(1)}x{m.group(1)}"))
    svg = folder / f"{ICON_NAME}.svg"
    if svg.is_file():
        found.append((svg, "scalable"))
    if not found:
        raise DesktopEntryError(
            f"No app icons in {folder}: the installation is incomplete. Reinstall PhotoSeek."
        )
    return found


def _write_atomic(dest: Path, data: bytes) -> None:
    try:
        write_atomic(dest, data, mode=0o644)
    except OSError as e:
        raise DesktopEntryError(
            f"Can't write {dest} ({e.strerror or e}). Check that {dest.parent} is writable."
        ) from e


def _refresh_caches(data_home: Path) -> None:
    """Menus and icon themes notice new files by the folder's mtime; caches that already exist
    are rebuilt (a stale icon cache would hide the new icon). Missing tools are not an error."""
    hicolor = data_home / "icons" / "hicolor"
    if hicolor.is_dir():
        os.utime(hicolor)
    runs = []
    if (hicolor / "icon-theme.cache").is_file():
        runs.append(["gtk-update-icon-cache", "--force", "--ignore-theme-index", str(hicolor)])
    apps = data_home / "applications"
    if (apps / "mimeinfo.cache").is_file():
        runs.append(["update-desktop-database", "--quiet", str(apps)])
    for cmd in runs:
        if shutil.which(cmd[0]) is None:
            log.info("%s is not installed; skipping it", cmd[0])
            continue
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=_CACHE_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            log.warning("%s failed (%s); the menu may need a new login to update", cmd[0], e)
