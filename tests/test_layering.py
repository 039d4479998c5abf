"""Architecture rules, checked on the source: Qt stays out of app/core, and torch/open_clip stay
out of everything but the exporter (the running app must work without them).

The exporter is `app/core/model/export/exporter.py` plus helper modules that only it imports (e.g.
`graphs.py`): nothing outside that family may import them, so torch loads only behind
`exporter.py`, which the app reaches solely through deferred imports in `model export`/`install`.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "qtpy")
TORCH = ("torch", "torchvision", "open_clip")
EXPORTER = APP / "core" / "model" / "export" / "exporter.py"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def offenders(files: list[Path], banned: tuple[str, ...]) -> list[str]:
    return [
        f"{f.relative_to(APP.parent)}:{line} imports {name}"
        for f in files
        for line, name in imported_modules(f)
        if name.split(".")[0] in banned
    ]


def test_core_never_imports_qt():
    files = sorted((APP / "core").rglob("*.py"))
    assert files, "app/core not found"
    assert offenders(files, QT) == []


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exporter_family(files: list[Path]) -> set[Path]:
    """export.py and the app modules imported only from within the family."""
    by_name = {module_name(f): f for f in files}
    importers: dict[Path, set[Path]] = {f: set() for f in files}
    for f in files:
        for _, name in imported_modules(f):
            if name in by_name:
                importers[by_name[name]].add(f)
    family = {EXPORTER}
    grew = True
    while grew:
        grew = False
        for f, who in importers.items():
            if f not in family and who and who <= family:
                family.add(f)
                grew = True
    return family


def test_only_the_exporter_imports_torch_or_open_clip():
    files = sorted(APP.rglob("*.py"))
    assert EXPORTER in files
    family = exporter_family(files)
    assert offenders([f for f in files if f not in family], TORCH) == []


def test_the_checker_sees_nested_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from PySide6 import QtCore\n    import torch.nn\n")
    assert [name for _, name in imported_modules(sample)] == ["PySide6", "torch.nn"]


# The core's packages, lowest first: a module may import its own package and those below it,
# never one above (the base modules directly under app/core are below every package).
LAYERS = ("photos", "places", "model", "index", "catalog", "search", "duplicates", "pipeline")
# The door for the window and the command line (the exporter, torch behind a deferred import,
# is the one other module they may reach).
DOOR = {"app.core.api", "app.core.model.export.exporter"}


def layer_of(module: str) -> int:
    """0 for app.core's base modules, 1.. for its packages in LAYERS order, then the facade
    (app.core.library) and the door (app.core.api) above them all."""
    parts = module.split(".")
    if module in ("app.core.library", "app.core.api"):
        return len(LAYERS) + (1 if module == "app.core.library" else 2)
    if len(parts) > 2 and parts[2] in LAYERS:
        return LAYERS.index(parts[2]) + 1
    return 0


def core_modules() -> list[Path]:
    return sorted((APP / "core").rglob("*.py"))


def test_no_core_package_imports_one_above_it():
    wrong = [
        f"{f.relative_to(APP.parent)}:{line} imports {name}"
        for f in core_modules()
        for line, name in imported_modules(f)
        if name.startswith("app.core.") and layer_of(name) > layer_of(module_name(f))
    ]
    assert wrong == []


def test_the_window_and_the_command_line_use_only_the_door():
    files = sorted((APP / "ui").rglob("*.py")) + sorted((APP / "cli").rglob("*.py"))
    assert files
    wrong = [
        f"{f.relative_to(APP.parent)}:{line} imports {name}"
        for f in files
        for line, name in imported_modules(f)
        if (name == "app.core" or name.startswith("app.core.")) and name not in DOOR
    ]
    assert wrong == []


def test_the_layer_rule_sees_an_upward_import(tmp_path):
    """The checks above would pass vacuously if layer_of ranked every module alike."""
    assert layer_of("app.core.photos.decode") < layer_of("app.core.model.encoder")
    assert layer_of("app.core.search.engine") < layer_of("app.core.pipeline.indexer")
    assert layer_of("app.core.errors") < layer_of("app.core.photos.metadata")
    assert layer_of("app.core.pipeline.watcher") < layer_of("app.core.library")
    assert layer_of("app.core.library") < layer_of("app.core.api")


def test_the_window_decodes_videos_through_the_core():
    """PyAV (FFmpeg) stays in app/core/photos/video.py: the window plays frames it is handed."""
    files = sorted((APP / "ui").rglob("*.py")) + sorted((APP / "cli").rglob("*.py"))
    assert offenders(files, ("av",)) == []
