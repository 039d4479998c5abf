"""The Linux desktop integration: the .desktop file and AppStream metainfo pass the freedesktop
validators, `photoseek --install-desktop-entry` puts a working menu entry and the icons into the
XDG data folder (and takes them out again), and resource_path finds the resources.

The validators come from Debian packages (desktop-file-utils, appstream); a missing one fails
the test with the package to install, never skips it.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import app
from app.core import desktop_entry as de
from app.core import resources
from app.core.desktop_entry import (
    DESKTOP_ID,
    MARKER_KEY,
    DesktopEntryError,
    exec_quote,
    install_desktop_entry,
    launcher_command,
    render_desktop_file,
    uninstall_desktop_entry,
    xdg_data_home,
)
from app.core.resources import ResourceError, resource_path

REPO = Path(__file__).resolve().parents[1]
DESKTOP = REPO / "resources" / "photoseek.desktop"
METAINFO = REPO / "resources" / "photoseek.metainfo.xml"
VALIDATORS = {"desktop-file-validate": "desktop-file-utils", "appstreamcli": "appstream"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {VALIDATORS[name]}")
    return path


def validate_desktop(path: Path) -> None:
    proc = subprocess.run(
        [tool("desktop-file-validate"), str(path)], capture_output=True, text=True
    )
    problems = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not problems, f"{path}:\n{problems}"


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def parse_exec(value: str) -> list[str]:
    """An Exec value back to its arguments, by the Desktop Entry spec (string escapes first,
    then quoting, then %% to %); the inverse of exec_quote, written from the spec."""
    unescaped, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            unescaped.append(
                {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(value[i + 1], value[i + 1])
            )
            i += 2
        else:
            unescaped.append(value[i])
            i += 1
    text = "".join(unescaped)
    args, current, quoted, started, i = [], [], False, False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and text[i + 1] in '"`$\\':
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(c)
            started = True
        i += 1
    assert not quoted, f"unbalanced quotes in {value!r}"
    if started:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


def launch_command(value: str, file: str | None = None) -> list[str]:
    """What a launcher runs for an Exec value: its %f replaced by the file opened with the app,
    or dropped when none is (Desktop Entry spec, "The Exec key")."""
    args = parse_exec(value)
    return [file if a == "%f" else a for a in args if a != "%f" or file is not None]


def run_cli(*args: str, data_home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    env["XDG_DATA_HOME"] = str(data_home)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


# -- the shipped files ------------------------------------------------------------------------


def test_desktop_file_passes_desktop_file_validate():
    validate_desktop(DESKTOP)


def test_metainfo_passes_appstreamcli_validate():
    proc = subprocess.run(
        [tool("appstreamcli"), "validate", "--no-net", "--strict", "--pedantic", str(METAINFO)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metainfo_matches_the_desktop_file_and_the_version():
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("launchable") == DESKTOP_ID == DESKTOP.name
    assert root.findtext("icon") == read_entry(DESKTOP)["Icon"]
    assert root.findtext("name") == read_entry(DESKTOP)["Name"]
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == app.__version__, (
        f'add a <release version="{app.__version__}"> at the top of {METAINFO.name}'
    )
    categories = {c.text for c in root.iterfind("categories/category")}
    assert categories <= set(read_entry(DESKTOP)["Categories"].split(";"))
    assert root.findtext("provides/binary") == "photoseek"


# -- resource_path ----------------------------------------------------------------------------


@pytest.fixture
def fresh_root():
    resources.resources_root.cache_clear()
    yield
    resources.resources_root.cache_clear()


def test_resource_path_in_the_source_tree(fresh_root):
    assert resource_path() == REPO / "resources"
    assert resource_path("icons", "search.svg").is_file()
    assert resource_path("app", "photoseek-256.png").is_file()


def test_resource_path_in_a_pyinstaller_bundle(fresh_root, tmp_path, monkeypatch):
    bundled = tmp_path / "_internal" / "app" / "resources"
    shutil.copytree(REPO / "resources", bundled)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    assert resource_path("icons", "search.svg") == bundled / "icons" / "search.svg"


def test_missing_resources_name_the_places_and_the_fix(fresh_root, tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "resource_candidates", lambda: [tmp_path / "nowhere"])
    with pytest.raises(ResourceError, match=r"nowhere.*reinstall PhotoSeek"):
        resource_path("icons")


# -- rendering the .desktop file ---------------------------------------------------------------

AWKWARD = [
    "/opt/PhotoSeek/photoseek",
    "/home/ann/My Apps/photoseek",
    '/home/bo "b" $HOME/`x`/photoseek',
    "/home/cy/100%/back\\slash/photoseek",
    "/home/dé/写真/photoseek",
]


# A template of our own, so that quoting is checked whatever the shipped file holds.
TEMPLATE = """[Desktop Entry]
Type=Application
Name=PhotoSeek
Exec=photoseek
TryExec=photoseek
Icon=photoseek
Categories=Graphics;
Actions=search;

[Desktop Action search]
Name=Search
Exec=photoseek search
"""


@pytest.mark.parametrize("path", AWKWARD)
def test_exec_quoting_round_trips_and_validates(path, tmp_path):
    command = [path, "--data-dir", "/data/with space"]
    text = render_desktop_file(TEMPLATE, command)
    target = tmp_path / DESKTOP_ID
    target.write_text(text, encoding="utf-8")
    entry = read_entry(target)
    assert parse_exec(entry["Exec"]) == command
    assert entry["TryExec"].replace("\\\\", "\\") == path
    assert entry[MARKER_KEY]
    action = text.split("[Desktop Action search]")[1]
    assert parse_exec(action.split("Exec=")[1].strip()) == [*command, "search"]
    validate_desktop(target)


def test_exec_quote_leaves_plain_paths_alone_and_refuses_line_breaks():
    assert exec_quote("/usr/bin/photoseek") == "/usr/bin/photoseek"
    with pytest.raises(DesktopEntryError, match="line break"):
        exec_quote("/tmp/a\nb")


def test_template_exec_arguments_are_kept():
    text = render_desktop_file("[Desktop Entry]\nName=X\nExec=photoseek %F\n", ["/a b/ps"])
    assert 'Exec="/a b/ps" %F' in text.splitlines()


def test_launcher_is_the_bundle_binary_when_frozen(monkeypatch, tmp_path):
    binary = tmp_path / "photoseek" / "photoseek"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(binary))
    assert launcher_command() == [str(binary)]


def test_launcher_is_the_running_script(monkeypatch, tmp_path):
    script = tmp_path / "bin" / "photoseek"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "--install-desktop-entry"])
    assert launcher_command() == [str(script)]


def test_xdg_data_home_follows_the_spec(tmp_path):
    assert xdg_data_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path
    default = Path.home() / ".local" / "share"
    assert xdg_data_home({"XDG_DATA_HOME": "relative/dir"}) == default
    assert xdg_data_home({}) == default


# -- installing and removing -------------------------------------------------------------------


def test_install_and_uninstall_through_the_cli(tmp_path):
    data_home = tmp_path / "share"
    proc = run_cli("--install-desktop-entry", data_home=data_home)
    assert proc.returncode == 0, proc.stderr
    desktop = data_home / "applications" / DESKTOP_ID
    assert str(desktop) in proc.stdout
    validate_desktop(desktop)

    # The menu entry starts this PhotoSeek: run its Exec line, from anywhere. "Open With
    # PhotoSeek" on a photo in a file manager passes it on (%f): the window finds its lookalikes.
    entry = read_entry(desktop)
    assert parse_exec(entry["Exec"])[-1] == "%f" and "image/jpeg;" in entry["MimeType"]
    command = launch_command(entry["Exec"])
    assert Path(command[0]).is_absolute() and os.access(command[0], os.X_OK)
    started = subprocess.run(
        [*command, "--version"], cwd=entry.get("Path", str(tmp_path)),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.stdout.strip() == f"photoseek {app.__version__}", started.stderr

    icons = sorted((data_home / "icons" / "hicolor").glob("*/apps/photoseek.*"))
    sizes = {p.parent.parent.name for p in icons}
    assert {"16x16", "48x48", "256x256", "scalable"} <= sizes
    for icon in icons:
        if icon.suffix == ".png":
            with Image.open(icon) as im:
                side = int(icon.parent.parent.name.split("x")[0])
                assert im.size == (side, side)
    assert (data_home / "icons/hicolor/scalable/apps/photoseek.svg").read_bytes() == (
        REPO / "resources/app/photoseek.svg"
    ).read_bytes()

    proc = run_cli("--uninstall-desktop-entry", data_home=data_home)
    assert proc.returncode == 0, proc.stderr
    assert not desktop.exists()
    assert list((data_home / "icons").rglob("photoseek.*")) == []
    again = run_cli("--uninstall-desktop-entry", data_home=data_home)
    assert again.returncode == 0 and "nothing to remove" in again.stdout


def test_data_dir_is_passed_on_to_the_menu_entry(tmp_path):
    data_home = tmp_path / "share"
    proc = run_cli("--data-dir", str(tmp_path / "lib"), "--install-desktop-entry",
                   data_home=data_home)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    command = launch_command(read_entry(data_home / "applications" / DESKTOP_ID)["Exec"])
    assert command[-2:] == ["--data-dir", str((tmp_path / "lib").resolve())]


def test_a_command_with_the_flag_is_a_usage_error(tmp_path):
    proc = run_cli("--install-desktop-entry", "status", data_home=tmp_path)
    assert proc.returncode == 2 and "take no command" in proc.stderr
    assert not (tmp_path / "applications").exists()


def test_reinstall_replaces_our_own_entry(tmp_path):
    install_desktop_entry(tmp_path, ["/old/photoseek"])
    entry = install_desktop_entry(tmp_path, ["/new place/photoseek"])
    assert launch_command(read_entry(entry.desktop_file)["Exec"]) == ["/new place/photoseek"]
    leftovers = [p.name for p in (tmp_path / "applications").iterdir()]
    assert leftovers == [DESKTOP_ID]  # no temporary files left behind


def test_a_desktop_file_we_did_not_write_is_never_replaced_or_removed(tmp_path):
    foreign = tmp_path / "applications" / DESKTOP_ID
    foreign.parent.mkdir(parents=True)
    foreign.write_text("[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n")
    before = foreign.read_bytes()
    with pytest.raises(DesktopEntryError, match=f"{foreign}.*not written by PhotoSeek"):
        install_desktop_entry(tmp_path, ["/opt/photoseek"])
    with pytest.raises(DesktopEntryError, match="not written by PhotoSeek"):
        uninstall_desktop_entry(tmp_path)
    assert foreign.read_bytes() == before


def test_a_source_checkout_runs_from_its_folder(tmp_path):
    entry = install_desktop_entry(tmp_path, [sys.executable, "-m", "app"])
    assert read_entry(entry.desktop_file)["Path"] == str(REPO)


def test_unwritable_data_home_gives_a_clear_error(tmp_path):
    blocked = tmp_path / "share"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(DesktopEntryError, match=r"Can't write .*share"):
        install_desktop_entry(blocked, ["/opt/photoseek"])


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_other_systems_are_told_what_to_do(platform, monkeypatch, tmp_path):
    monkeypatch.setattr(de.sys, "platform", platform)
    with pytest.raises(DesktopEntryError, match="for Linux desktops"):
        install_desktop_entry(tmp_path, ["/opt/photoseek"])
