"""Installed models, which one is active, and the settings that go with them.

Models live in `Paths.models / <name>`, one folder each in the layout `app.core.model.info`
describes. `active_model` (settings.json) is the model the user chose; `serving_model` is the
one search uses while the library is being re-encoded with a newly chosen model (see
`app.core.library`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.durable import write_json_atomic
from app.core.model.info import ModelError, ModelInfo, is_model_dir, read_model_info
from app.core.model.migrate import MIGRATING_PREFIX, REPLACED_PREFIX, migrate_legacy
from app.core.paths import Paths

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32__openai"
SETTING_ACTIVE = "active_model"
SETTING_SERVING = "serving_model"
SETTING_PRECISION = "model_precision"
SETTING_DEVICE = "model_device"
SETTING_LANGUAGE = "search_language"
# Our own bookkeeping inside Paths.models; "@" never occurs in a model name.
STAGING_PREFIX = ".staging@"
REMOVING_PREFIX = ".removing@"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


@dataclass(frozen=True)
class InstalledModel:
    """A folder in the models folder: its description, or why it cannot be used."""

    name: str
    path: Path
    info: ModelInfo | None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.info is not None


def check_model_name(name: str) -> str:
    """A model name becomes a folder name: letters, digits, `._+-`, no path separators."""
    if not _NAME_RE.fullmatch(name or ""):
        raise ModelError(
            f"{name!r} is not a valid model name: use letters, digits, '.', '_', '+' or '-' "
            f"(for example {DEFAULT_MODEL})."
        )
    return name


def migrate_installed(paths: Paths) -> list[str]:
    """Convert models installed by PhotoSeek 0.1 to the current layout (once; cheap after)."""
    root = paths.models
    done: list[str] = []
    if not root.is_dir():
        return done
    tidy_models_folder(paths)
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            if migrate_legacy(d):
                done.append(d.name)
        except (ModelError, OSError) as e:
            log.warning("could not convert the model in %s: %s", d, e)
    return done


def installed_model_dirs(paths: Paths) -> dict[str, Path]:
    """Installed model folders by name, sorted by name."""
    root = paths.models
    if not root.is_dir():
        return {}
    found = {}
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        if is_model_dir(d):
            found[d.name] = d
    return found


def installed_models(paths: Paths) -> list[InstalledModel]:
    """Every installed model in name order; unreadable ones carry their problem."""
    out = []
    for name, d in installed_model_dirs(paths).items():
        try:
            out.append(InstalledModel(name, d, read_model_info(d)))
        except ModelError as e:
            log.warning("installed model %s is unusable: %s", name, e)
            out.append(InstalledModel(name, d, None, str(e)))
    return out


def model_languages(model_dir: Path) -> list[str] | None:
    """The FLORES-200 codes a multilingual (NLLB) model's tokenizer knows, for a search-language
    choice; None for a model without languages. Reads the tokenizer only: no graph is loaded
    and no file hashed."""
    info = read_model_info(model_dir)
    if info.tokenizer.get("languages") != "flores":
        return None
    from app.core.model.tokenizer import load_tokenizer

    codes = getattr(load_tokenizer(Path(model_dir), info), "languages", None)
    return list(codes) if codes else None


def active_model_name(paths: Paths) -> str:
    """The model chosen with set_active_model, else the default one."""
    name = read_settings(paths).get(SETTING_ACTIVE)
    return name if isinstance(name, str) and name else DEFAULT_MODEL


def serving_model_name(paths: Paths) -> str | None:
    name = read_settings(paths).get(SETTING_SERVING)
    return name if isinstance(name, str) and name else None


def resolve_model_dir(paths: Paths, name: str | None = None) -> Path:
    """The installed folder of `name` (default: the active model); ModelError says how to
    install it when it is missing."""
    explicit = name is not None
    name = check_model_name(name) if name is not None else active_model_name(paths)
    recover_interrupted_replace(paths, name)
    target = paths.models / name
    if is_model_dir(target):
        return target
    installed = installed_model_dirs(paths)
    if not explicit and installed and read_settings(paths).get(SETTING_ACTIVE) is None:
        # Nothing chosen and the default is absent: any installed model beats an error.
        only = next(iter(installed.values()))
        log.info("default model %s not installed; using %s", name, only.name)
        return only
    others = f" Installed: {', '.join(installed)}." if installed else ""
    raise ModelError(
        f"The model {name} is not installed.{others} Get it from Library > Models in the "
        f"window, or run `photoseek model install {name}`."
    )


def set_active_model(paths: Paths, name: str) -> None:
    """Make an installed model the one indexing uses (search follows once it has encoded the
    library; see Library.reload_model)."""
    check_model_name(name)
    if not is_model_dir(paths.models / name):
        raise ModelError(
            f"The model {name} is not installed; run `photoseek model install {name}` first."
        )
    update_settings(paths, {SETTING_ACTIVE: name})


def remove_model(paths: Paths, name: str) -> Path:
    """Delete an installed model's folder (ours, in the data folder). Its vectors stay in the
    catalog, so installing the same model again needs no re-encoding."""
    check_model_name(name)
    target = paths.models / name
    if not target.is_dir():
        raise ModelError(f"The model {name} is not installed (no folder {target}).")
    trash = paths.models / f"{REMOVING_PREFIX}{name}@{os.getpid()}"
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(target, trash)  # gone from the list at once; then freed
    shutil.rmtree(trash, ignore_errors=True)
    settings = read_settings(paths)
    changes: dict[str, Any] = {}
    for key in (SETTING_ACTIVE, SETTING_SERVING):
        if settings.get(key) == name:
            changes[key] = None
    if changes:
        update_settings(paths, changes)
    log.info("removed model %s", name)
    return target


def recover_interrupted_replace(paths: Paths, name: str) -> None:
    """A kill between the two renames of a replace leaves only `.old@NAME`: put it back."""
    target = paths.models / name
    old = paths.models / f"{REPLACED_PREFIX}{name}"
    if not target.exists() and old.is_dir() and any(old.iterdir()):
        log.warning("restoring %s, left aside by an interrupted install", target)
        os.replace(old, target)


def tidy_models_folder(paths: Paths, max_age_s: float = 3600.0) -> None:
    """Remove what killed installs and conversions left behind (staging older than an hour)."""
    import time

    root = paths.models
    if not root.is_dir():
        return
    now = time.time()
    for d in root.iterdir():
        if d.name.startswith(REMOVING_PREFIX):
            shutil.rmtree(d, ignore_errors=True)  # a removal killed halfway: finish it
            continue
        if not d.name.startswith((STAGING_PREFIX, MIGRATING_PREFIX, REPLACED_PREFIX)):
            continue
        if d.name.startswith(REPLACED_PREFIX):
            name = d.name[len(REPLACED_PREFIX) :].split("@")[0]
            recover_interrupted_replace(paths, name)
            if not d.exists() or not (root / name).exists():
                continue
        try:
            if now - d.stat().st_mtime > max_age_s or d.name.startswith(REPLACED_PREFIX):
                log.info("removing %s, left by an interrupted install", d)
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue


def read_settings(paths: Paths) -> dict[str, Any]:
    path = paths.settings_file
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable settings file %s: %s", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def update_settings(paths: Paths, changes: dict[str, Any]) -> None:
    """Merge `changes` into the settings file, atomically (temp + fsync + rename); a value of
    None removes the key."""
    path = paths.settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_settings(paths)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    write_json_atomic(path, data)
