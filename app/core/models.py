"""Installable models, where their archives live, and which installed model is active."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.modelinfo import MODEL_JSON, ModelError, ModelInfo, read_model_info
from app.core.paths import Paths

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32-openai"
DEFAULT_BASE_URL = "https://github.com/photoseek/models/releases/download/v1"
ENV_MODEL_URL = "PHOTOSEEK_MODEL_URL"  # full URL of one archive; `{name}` is replaced
ENV_BASE_URL = "PHOTOSEEK_MODEL_BASE_URL"  # folder URL holding `<name>.tar` + `<name>.tar.sha256`
SETTING_BASE_URL = "model_base_url"
SETTING_ACTIVE = "active_model"
ARCHIVE_SUFFIX = ".tar"
SHA256_SUFFIX = ".sha256"
# Our own bookkeeping inside Paths.models; "@" never occurs in a model name.
STAGING_PREFIX = ".staging@"
REPLACED_PREFIX = ".old@"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


@dataclass(frozen=True)
class ModelSpec:
    """A model `photoseek model install NAME` knows how to get."""

    name: str
    arch: str
    pretrained: str | None
    description: str
    # Pinned archive SHA-256. None: the archives are published after this code, so the hash is
    # read from the `<archive>.sha256` sidecar next to the archive on the same server.
    sha256: str | None = None


REGISTRY: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            "ViT-B-32-openai",
            "ViT-B-32",
            "openai",
            "CLIP ViT-B/32, OpenAI weights: the default, fast on any CPU",
        ),
        ModelSpec(
            "ViT-B-16-openai",
            "ViT-B-16",
            "openai",
            "CLIP ViT-B/16, OpenAI weights: finer detail, about 4x slower to index",
        ),
        ModelSpec(
            "xlm-roberta-base-ViT-B-32",
            "xlm-roberta-base-ViT-B-32",
            "laion5b_s13b_b90k",
            "multilingual text (100 languages), LAION-5B weights",
        ),
    )
}


def check_model_name(name: str) -> str:
    """A model name becomes a folder name: letters, digits, `._+-`, no path separators."""
    if not _NAME_RE.fullmatch(name or ""):
        raise ModelError(
            f"{name!r} is not a valid model name: use letters, digits, '.', '_', '+' or '-' "
            f"(for example {DEFAULT_MODEL})."
        )
    return name


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ModelError(
            f"Unknown model {name!r}. Known models: {known}. To install a model folder or "
            f"archive you have, run: photoseek model install {name} --from PATH"
        ) from None


def archive_url(paths: Paths, name: str) -> str:
    """Where to download `name` from: env PHOTOSEEK_MODEL_URL, else a base URL from env
    PHOTOSEEK_MODEL_BASE_URL, settings `model_base_url` or the project's releases."""
    url = os.environ.get(ENV_MODEL_URL, "").strip()
    if url:
        return url.replace("{name}", name)
    base = (
        os.environ.get(ENV_BASE_URL, "").strip()
        or str(read_settings(paths).get(SETTING_BASE_URL) or "").strip()
        or DEFAULT_BASE_URL
    )
    return f"{base.rstrip('/')}/{name}{ARCHIVE_SUFFIX}"


def installed_model_dirs(paths: Paths) -> dict[str, Path]:
    """Installed model folders by name (those holding a model.json), sorted by name."""
    root = paths.models
    if not root.is_dir():
        return {}
    found = {}
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        if (d / MODEL_JSON).is_file():
            found[d.name] = d
    return found


def installed_models(paths: Paths) -> list[ModelInfo]:
    """ModelInfo of every readable installed model, in name order (unreadable ones are logged)."""
    infos = []
    for name, d in installed_model_dirs(paths).items():
        try:
            infos.append(read_model_info(d))
        except ModelError as e:
            log.warning("skipping installed model %s: %s", name, e)
    return infos


def active_model_name(paths: Paths) -> str:
    """The model chosen with set_active_model, else the default one."""
    name = read_settings(paths).get(SETTING_ACTIVE)
    return name if isinstance(name, str) and name else DEFAULT_MODEL


def resolve_model_dir(paths: Paths, name: str | None = None) -> Path:
    """The installed folder of `name` (default: the active model); ModelError says how to
    install it when it is missing."""
    explicit = name is not None
    name = check_model_name(name) if name is not None else active_model_name(paths)
    recover_interrupted_replace(paths, name)
    target = paths.models / name
    if (target / MODEL_JSON).is_file():
        return target
    installed = installed_model_dirs(paths)
    if not explicit and name == DEFAULT_MODEL and installed:
        # Nothing chosen and the default is absent: any installed model beats an error.
        only = next(iter(installed.values()))
        log.info("default model %s not installed; using %s", name, only.name)
        return only
    others = f" Installed: {', '.join(installed)}." if installed else ""
    cmd = "photoseek model install" + ("" if name == DEFAULT_MODEL else f" {name}")
    raise ModelError(
        f"The model {name} is not installed (looked in {target}).{others} Run `{cmd}` to "
        f"download it, or `{cmd} --from FOLDER` to install a model folder you already have."
    )


def set_active_model(paths: Paths, name: str) -> None:
    """Make an installed model the one search and indexing use."""
    check_model_name(name)
    if not (paths.models / name / MODEL_JSON).is_file():
        raise ModelError(
            f"The model {name} is not installed; run `photoseek model install {name}` first."
        )
    update_settings(paths, {SETTING_ACTIVE: name})


def recover_interrupted_replace(paths: Paths, name: str) -> None:
    """A kill between the two renames of a forced reinstall leaves only `.old@NAME`: put it back."""
    target = paths.models / name
    old = paths.models / f"{REPLACED_PREFIX}{name}"
    if not target.exists() and (old / MODEL_JSON).is_file():
        log.warning("restoring %s, left aside by an interrupted reinstall", target)
        os.replace(old, target)


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
    """Merge `changes` into the settings file, atomically (temp + fsync + rename)."""
    path = paths.settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_settings(paths)
    data.update(changes)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
