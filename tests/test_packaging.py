"""What a user installs: the wheel (built with `python -m build`, installed into a fresh virtual
environment without torch) and the PyInstaller bundle (built by packaging/build-bundle.sh), each
run as a user runs it: --version, a model install, indexing generated photos and a search.

The wheel test takes a minute or two (a fresh environment from the package index); the bundle
test several minutes (marked `bundle`: `bash scripts/test.sh -m bundle tests/test_packaging.py`).
"""

from __future__ import annotations

import dataclasses
import email.parser
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hubserver import HubServer, closed_port_endpoint
from microclip import make_shape_image
from places_photos import SPOTS, gps_jpeg
from test_desktop_entry import launch_command, read_entry, validate_desktop
from test_model_hub import published

import app
from app.core.model.installed import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
BIN = "Scripts" if os.name == "nt" else "bin"
PIP_FLAGS = ("--disable-pip-version-check", "--no-input", "--progress-bar", "off", "--quiet")
EXPORT_STACK = ("torch", "torchvision", "open_clip", "onnx", "transformers")
# (colour, shape) of the generated photos; the search for the first must find it first.
PHOTOS = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star")]
GUI_WAIT_S = 120


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing from this checkout or its virtual env."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PHOTOSEEK_HOME", "PHOTOSEEK_NO_GUI",
            "HF_ENDPOINT", "HF_HUB_OFFLINE")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


def run(cmd: list[str | Path], *, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False,
        **kwargs,
    )  # fmt: skip
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def make_photos(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for color, shape in PHOTOS:
        make_shape_image(color, shape, 96, rng).save(folder / f"{color}_{shape}.jpg", quality=92)
    # One taken in Lisbon: the places' data (gazetteer, names, time zones) must travel too.
    color, shape = PHOTOS[0]
    gps_jpeg(folder / f"{color}_{shape}.jpg", color, shape, 7, at=SPOTS["lisbon"])


def index_and_search(photoseek: list[str | Path], home: Path, photos: Path, env: dict) -> None:
    """Add the photo folder, index it and check that text search ranks the right photo first."""
    cli = [*photoseek, "--data-dir", home]
    run([*cli, "folders", "add", photos], env=env, cwd=home.parent)
    out = run([*cli, "index"], env=env, cwd=home.parent, timeout=600)
    assert f"{len(PHOTOS)} new" in out.stdout + out.stderr
    for color, shape in PHOTOS[:2]:
        found = run([*cli, "search", f"a {color} {shape}", "--json", "--top", "2"],
                    env=env, cwd=home.parent)  # fmt: skip
        hits = json.loads(found.stdout)["hits"]
        assert Path(hits[0]["path"]).name == f"{color}_{shape}.jpg", hits
    color, shape = PHOTOS[0]
    found = run([*cli, "search", f"a {color} {shape} in Lisboa", "--json", "--all"],
                env=env, cwd=home.parent)  # fmt: skip
    out = json.loads(found.stdout)
    assert [Path(h["path"]).name for h in out["hits"]] == [f"{color}_{shape}.jpg"]
    assert out["query"]["place"]["label"] == "Lisbon, Portugal"
    assert "Lisbon" in run([*cli, "places"], env=env, cwd=home.parent).stdout


def install_menu_entry(photoseek: Path, data_home: Path, env: dict) -> list[str]:
    """`--install-desktop-entry`; returns the installed Exec, checked to start that photoseek."""
    run([photoseek, "--install-desktop-entry"], env={**env, "XDG_DATA_HOME": str(data_home)})
    desktop = data_home / "applications" / "photoseek.desktop"
    validate_desktop(desktop)
    command = launch_command(read_entry(desktop)["Exec"])
    assert len(list((data_home / "icons" / "hicolor").glob("*/apps/photoseek.*"))) >= 8
    started = run([*command, "--version"], env=env, cwd=data_home)
    assert started.stdout.strip() == f"photoseek {app.__version__}"
    return command


# -- the wheel ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("build") is None:
        pytest.fail("`python -m build` is missing: pip install build==1.6.1 (the dev extra)")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, REPO], timeout=600)  # sdist, then wheel
    return next(out.glob("photoseek-*.whl"))


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed, as `pip install photoseek` does."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    run([sys.executable, "-m", "venv", venv])
    run([venv / BIN / "python", "-m", "pip", "install", *PIP_FLAGS,
         "-c", REPO / "requirements" / "constraints.txt", wheel],
        env=user_env(), timeout=1200)  # fmt: skip
    return venv


@pytest.mark.slow
def test_wheel_carries_the_app_and_its_resources_and_no_torch(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = email.parser.Parser().parsestr(
            zf.read(f"photoseek-{app.__version__}.dist-info/METADATA").decode()
        )
        entry_points = zf.read(f"photoseek-{app.__version__}.dist-info/entry_points.txt").decode()
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "app").rglob("*.py")}
    missing = sorted(modules - names)
    assert not missing, f"not in the wheel (add their packages to pyproject.toml): {missing}"
    for rel in ("photoseek.desktop", "photoseek.metainfo.xml", "app/photoseek.svg",
                "app/photoseek-256.png", "app/photoseek.ico", "app/photoseek.icns"):  # fmt: skip
        assert f"app/resources/{rel}" in names
    icons = {p.name for p in (REPO / "resources" / "icons").glob("*.svg")}
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("app/resources/icons/")} == icons
    assert not [n for n in names if n.startswith(("tests/", "bench/", "resources/"))]
    requires = meta.get_all("Requires-Dist") or []
    runtime = [r for r in requires if "extra ==" not in r]
    heavy = ("torch", "torchvision", "open-clip-torch", "onnx", "transformers")
    assert not [r for r in runtime if re.split(r"[ <>=!~;\[]", r)[0] in heavy], runtime
    assert [r for r in requires if r.startswith("torch") and 'extra == "export"' in r]
    assert "photoseek = app.cli:main" in entry_points
    assert "[gui_scripts]" in entry_points and "photoseek-gui = app.cli:main" in entry_points


@pytest.mark.slow
def test_wheel_installs_without_torch_and_searches(
    wheel_venv: Path, tiny_model_dir: Path, tmp_path: Path
):
    env = user_env()
    photoseek = wheel_venv / BIN / "photoseek"
    version = run([photoseek, "--version"], env=env, cwd=tmp_path)
    assert version.stdout.strip() == f"photoseek {app.__version__}"
    assert (wheel_venv / BIN / "photoseek-gui").is_file()

    python = wheel_venv / BIN / "python"
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = run([python, "-c", probe, *EXPORT_STACK], env=env, cwd=tmp_path)
    assert found.stdout.strip() == "[]", f"the wheel pulled in {found.stdout}"

    # Resources come from the installed package, not from this checkout.
    where = run([python, "-c", "from app.core.resources import resource_path as r; print(r())"],
                env=env, cwd=tmp_path)  # fmt: skip
    root = Path(where.stdout.strip())
    assert root.is_relative_to(wheel_venv) and (root / "icons" / "search.svg").is_file()
    # The window's modules import and find their icons in the installed wheel.
    ui = ("from app.ui import theme; import app.ui.main_window; "
          "print(theme.icon_dir(), (theme.icon_dir() / 'search.svg').is_file())")  # fmt: skip
    shown = run([python, "-c", ui], env=env, cwd=tmp_path).stdout.split()
    assert shown[1] == "True", f"the UI looks for its icons in {shown[0]}"

    home = tmp_path / "home"
    installed = run([photoseek, "--data-dir", home, "model", "install", "--from", tiny_model_dir],
                    env=env, cwd=tmp_path)  # fmt: skip
    assert "Installed" in installed.stdout
    make_photos(tmp_path / "Pictures")
    index_and_search([photoseek], home, tmp_path / "Pictures", env)

    command = install_menu_entry(photoseek, tmp_path / "share", env)
    assert command == [str(photoseek)]


# -- the bundle --------------------------------------------------------------------------------


@dataclasses.dataclass
class Bundle:
    folder: Path
    exe: Path


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    """Build the bundle with the script users and CI use (incremental: the build environment and
    PyInstaller's cache under build/bundle are reused)."""
    run(["bash", REPO / "packaging" / "build-bundle.sh", "--no-archive"],
        env={**user_env(), "PYTHON": sys.executable}, cwd=REPO, timeout=2400)  # fmt: skip
    folder = REPO / "dist" / "photoseek"
    exe = folder / ("photoseek.exe" if os.name == "nt" else "photoseek")
    assert exe.is_file()
    return Bundle(folder, exe)


@pytest.fixture
def default_model_server(tiny_model_dir: Path) -> Iterator[HubServer]:
    """A local hub serving the tiny model as the default model's repository (immich-app layout),
    the way Hugging Face serves the real one."""
    with HubServer({f"immich-app/{DEFAULT_MODEL}": published(tiny_model_dir)}) as server:
        yield server


@pytest.mark.slow
@pytest.mark.bundle
def test_bundle_has_no_torch_and_only_the_qt_it_uses(bundle: Bundle, tmp_path: Path):
    version = run([bundle.exe, "--version"], env=user_env(), cwd=tmp_path)
    assert version.stdout.strip() == f"photoseek {app.__version__}"
    inside = bundle.folder / "_internal"
    present = {p.name.split(".")[0] for p in inside.iterdir()}
    assert not present & set(EXPORT_STACK), present & set(EXPORT_STACK)
    assert not [p for p in bundle.folder.rglob("*torch*")]
    qt = {p.name.split(".")[0] for p in (inside / "PySide6").glob("Qt*.*") if p.is_file()}
    assert qt == {"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtNetwork", "QtDBus"}


@pytest.mark.slow
@pytest.mark.bundle
def test_bundle_first_run_downloads_the_default_model_and_searches(
    bundle: Bundle, default_model_server: HubServer, tmp_path: Path
):
    server = default_model_server
    env = user_env(HF_ENDPOINT=server.endpoint)
    home = tmp_path / "home"
    # What the window's one click does: download the default model from the hub, with
    # progress, every file checked against its published SHA-256.
    proc = run([bundle.exe, "--data-dir", home, "model", "install"], env=env, cwd=tmp_path)
    assert f"Installed {DEFAULT_MODEL}" in proc.stdout
    assert f"immich-app/{DEFAULT_MODEL}" in proc.stderr and "100.0%" in proc.stderr
    assert server.gets("visual/model.onnx")
    assert (home / "data" / "models" / DEFAULT_MODEL / "photoseek.json").is_file()
    make_photos(tmp_path / "Pictures")
    index_and_search([bundle.exe], home, tmp_path / "Pictures", env)


@pytest.mark.slow
@pytest.mark.bundle
def test_bundle_offline_model_install_fails_at_once_with_advice(bundle: Bundle, tmp_path: Path):
    env = user_env(HF_ENDPOINT=closed_port_endpoint())
    home = tmp_path / "home"
    proc = subprocess.run(
        [bundle.exe, "--data-dir", home, "model", "install"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "--from" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((home / "data" / "models").iterdir())


@pytest.mark.slow
@pytest.mark.bundle
def test_bundle_menu_entry_starts_the_bundle(bundle: Bundle, tmp_path: Path):
    command = install_menu_entry(bundle.exe, tmp_path / "share", user_env())
    assert command == [str(bundle.exe)]


@pytest.mark.slow
@pytest.mark.bundle
def test_bundle_opens_its_window_on_an_x_server(bundle: Bundle, tmp_path: Path):
    """The window really appears (Qt's xcb plugin and its libraries are in the bundle), with
    every icon found and nothing logged as an error."""
    xvfb, xdotool = shutil.which("Xvfb"), shutil.which("xdotool")
    if not (xvfb and xdotool):
        pytest.fail("Xvfb and xdotool are needed: apt-get install xvfb xdotool")
    display = f":{300 + os.getpid() % 600}"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    env = user_env(DISPLAY=display, QT_QPA_PLATFORM="xcb")
    gui, output = None, ""
    try:
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
                break
            time.sleep(0.1)
        gui = subprocess.Popen([bundle.exe, "--data-dir", tmp_path / "home"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        found = subprocess.run(
            [xdotool, "search", "--sync", "--onlyvisible", "--pid", str(gui.pid)],
            env=env, capture_output=True, text=True, timeout=GUI_WAIT_S, check=False,
        )  # fmt: skip
        names = [
            run([xdotool, "getwindowname", w], env=env).stdout.strip() for w in found.stdout.split()
        ]
        assert "PhotoSeek" in names, f"no PhotoSeek window: {names} {found.stderr}"
        assert gui.poll() is None
    finally:
        if gui is not None:
            gui.send_signal(signal.SIGTERM)
            output = gui.communicate(timeout=30)[0]
        server.terminate()
        server.wait(timeout=30)
    log = (tmp_path / "home" / "logs" / "photoseek.log").read_text(encoding="utf-8")
    problems = [line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert not problems, "\n".join(problems[:10]) + f"\n{output}"


# -- the bundle's CA-store runtime hook --------------------------------------------------------


def load_rthook():
    spec = importlib.util.spec_from_file_location(
        "rthook_certs", REPO / "packaging" / "rthook_certs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    env = {k: os.environ.pop(k) for k in ("SSL_CERT_FILE", "SSL_CERT_DIR") if k in os.environ}
    try:
        spec.loader.exec_module(module)  # runs the hook: it may set SSL_CERT_FILE
    finally:
        os.environ.pop("SSL_CERT_FILE", None)
        os.environ.update(env)
    return module


def test_ca_hook_respects_the_users_choice(monkeypatch):
    hook = load_rthook()
    monkeypatch.setenv("SSL_CERT_FILE", "/my/ca.pem")
    assert hook.choose_ca_file() is None


def test_ca_hook_picks_the_systems_bundle_when_openssl_has_none(monkeypatch, tmp_path):
    hook = load_rthook()
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    fedora = tmp_path / "ca-bundle.crt"
    fedora.write_text("certificates")
    monkeypatch.setattr(hook, "_has_default_store", lambda: False)
    monkeypatch.setattr(hook, "SYSTEM_CA_FILES", (str(tmp_path / "absent.crt"), str(fedora)))
    assert hook.choose_ca_file() == str(fedora)
    monkeypatch.setattr(hook, "SYSTEM_CA_FILES", (str(tmp_path / "absent.crt"),))
    bundled = types.SimpleNamespace(where=lambda: "/bundle/certifi/cacert.pem")
    monkeypatch.setitem(sys.modules, "certifi", bundled)
    assert hook.choose_ca_file() == "/bundle/certifi/cacert.pem"
    monkeypatch.setattr(hook, "_has_default_store", lambda: True)
    assert hook.choose_ca_file() is None
