"""The curated list of models PhotoSeek offers to install (resources/models/catalog.json).

Each entry is a ready ONNX CLIP export that the Immich project publishes on Hugging Face, with
what a user needs to choose one: languages, download size, memory, relative speed and a
published retrieval recall. resources/models/README.md says where every figure comes from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.core.resources import resource_path

FAMILIES = ("clip", "siglip", "siglip2", "xlm-roberta", "nllb-siglip")
_KINDS = {str: "text", int: "a whole number", float: "a number", list: "a list", dict: "an object"}


class CatalogError(UserError):
    """The model catalog file is missing or malformed: the installation is damaged."""


@dataclass(frozen=True)
class Recall:
    """A published retrieval recall (0-1) and the benchmark it was measured on."""

    benchmark: str
    value: float
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Params:
    """Parameter counts of the two towers, in millions."""

    image: float
    text: float

    @property
    def total(self) -> float:
        return self.image + self.text


@dataclass(frozen=True)
class CatalogEntry:
    name: str  # the Immich model name, e.g. "ViT-B-32__openai"
    repo: str  # the Hugging Face repository, "immich-app/<name>"
    title: str
    description: str
    languages: tuple[str, ...]  # language codes, or ("multilingual",)
    arch: str  # the open_clip architecture
    pretrained: str  # the open_clip pretrained tag
    family: str
    image_size: int
    embed_dim: int
    params_m: Params
    gflops_image: float
    download_mb: int
    ram_mb: int
    speed: float  # images per second relative to ViT-B-32 (1.0)
    recall: Recall
    default: bool = False
    gpu_recommended: bool = False
    language_count: int | None = None  # for multilingual models: about how many languages
    recall_multilingual: Recall | None = None

    @property
    def multilingual(self) -> bool:
        return "multilingual" in self.languages


def catalog_path() -> Path:
    return resource_path("models", "catalog.json")


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """The entries of the shipped catalog (or of `path`); CatalogError names what is wrong."""
    path = path or catalog_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _error(path, f"cannot be read ({e})") from e
    if not isinstance(data, list) or not data:
        raise _error(path, "must hold a non-empty JSON list of models")
    entries = []
    for i, raw in enumerate(data):
        where = f"entry {i + 1}" + (f" ({raw.get('name')})" if isinstance(raw, dict) else "")
        try:
            entries.append(_entry(raw))
        except (KeyError, TypeError, ValueError) as e:
            raise _error(path, f"{where}: {e.args[0] if e.args else e}") from e
    names = [e.name.lower() for e in entries]
    if len(set(names)) != len(names):
        raise _error(path, "lists a model name twice")
    defaults = [e.name for e in entries if e.default]
    if len(defaults) != 1:
        raise _error(path, f"must mark exactly one model as default, not {len(defaults)}")
    return entries


def default_entry(entries: Iterable[CatalogEntry] | None = None) -> CatalogEntry:
    """The model a first run installs."""
    return next(e for e in (load_catalog() if entries is None else entries) if e.default)


def find_entry(name: str, entries: Iterable[CatalogEntry] | None = None) -> CatalogEntry | None:
    """The entry called `name`: the exact name first, else a case-insensitive match."""
    entries = list(load_catalog() if entries is None else entries)
    for e in entries:
        if e.name == name:
            return e
    folded = name.strip().lower()
    return next((e for e in entries if e.name.lower() == folded), None)


def format_table(entries: Iterable[CatalogEntry], installed: set[str], active: str | None) -> str:
    """The catalog as a plain-text table for `photoseek model list`, with a footnote on recall."""
    entries = list(entries)
    have = {n.lower() for n in installed}
    benchmarks = list(dict.fromkeys(e.recall.benchmark for e in entries))
    short = " / ".join(b.split(",")[0] for b in benchmarks)
    multi = list(
        dict.fromkeys(e.recall_multilingual.benchmark for e in entries if e.recall_multilingual)
    )
    header = ("name", "languages", "download", "RAM", "speed", f"recall ({short})",
              "multilingual recall", "status")  # fmt: skip
    rows = [header]
    for e in entries:
        status = ""
        if active is not None and e.name.lower() == active.lower():
            status = "active"
        elif e.name.lower() in have:
            status = "installed"
        name = e.name + (" (default)" if e.default else "")
        speed = _speed(e.speed) + (", GPU" if e.gpu_recommended else "")
        recall = f"{e.recall.value * 100:.1f}%" + (" *" if e.recall.note else "")
        other = f"{e.recall_multilingual.value * 100:.1f}%" if e.recall_multilingual else "-"
        row = (name, _languages(e), _size(e.download_mb), _size(e.ram_mb), speed, recall, other,
               status)  # fmt: skip
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    lines.append("speed: images per second relative to ViT-B-32 (1.00x); GPU: a GPU is advised.")
    lines.extend(f"recall: {b} (higher is better)." for b in benchmarks)
    lines.extend(f"multilingual recall: {b}." for b in multi)
    lines.extend(f"* {e.name}: {e.recall.note}" for e in entries if e.recall.note)
    return "\n".join(lines)


def _languages(e: CatalogEntry) -> str:
    if e.multilingual:
        return f"~{e.language_count} languages" if e.language_count else "multilingual"
    return ", ".join(e.languages)


def _size(mb: int) -> str:
    return f"{mb} MB" if mb < 1000 else f"{mb / 1000:.1f} GB"


def _speed(speed: float) -> str:
    return f"{speed:.2f}x" if speed >= 0.1 else f"{speed:.2g}x"


def _error(path: Path, problem: str) -> CatalogError:
    return CatalogError(
        f"The model catalog {path} {problem}. The installation is damaged: reinstall PhotoSeek "
        "(pipx reinstall photoseek, or unpack the bundle again)."
    )


def _entry(raw: Any) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise TypeError("must be a JSON object")
    languages = _get(raw, "languages", list)
    if not languages or not all(isinstance(x, str) and x for x in languages):
        raise ValueError("'languages' must be a non-empty list of language codes")
    family = _get(raw, "family", str)
    if family not in FAMILIES:
        raise ValueError(f"'family' must be one of {', '.join(FAMILIES)}, not {family!r}")
    params = _get(raw, "params_m", dict)
    repo = _get(raw, "repo", str)
    if repo.count("/") != 1:
        raise ValueError(f"'repo' must be 'owner/name', not {repo!r}")
    multilingual = raw.get("recall_multilingual")
    count = raw.get("language_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError("'language_count' must be a positive whole number")
    return CatalogEntry(
        name=_get(raw, "name", str), repo=repo, title=_get(raw, "title", str),
        description=_get(raw, "description", str), languages=tuple(languages),
        arch=_get(raw, "arch", str), pretrained=_get(raw, "pretrained", str), family=family,
        image_size=_positive(raw, "image_size", int), embed_dim=_positive(raw, "embed_dim", int),
        params_m=Params(_positive(params, "image", float), _positive(params, "text", float)),
        gflops_image=_positive(raw, "gflops_image", float),
        download_mb=_positive(raw, "download_mb", int), ram_mb=_positive(raw, "ram_mb", int),
        speed=_positive(raw, "speed", float), recall=_recall(_get(raw, "recall", dict)),
        default=_flag(raw, "default"), gpu_recommended=_flag(raw, "gpu_recommended"),
        language_count=count,
        recall_multilingual=None if multilingual is None else _recall(multilingual),
    )  # fmt: skip


def _recall(raw: Any) -> Recall:
    if not isinstance(raw, dict):
        raise TypeError("a recall must be a JSON object")
    value = _positive(raw, "value", float)
    if value > 1:
        raise ValueError(f"recall 'value' is a fraction from 0 to 1, not {value}")
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise ValueError("recall 'note' must be text")
    return Recall(_get(raw, "benchmark", str), value, _get(raw, "source", str), note)


def _get(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in raw:
        raise KeyError(f"'{key}' is missing")
    value = raw[key]
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or (kind is str and not value.strip()):
        raise ValueError(f"'{key}' must be {_KINDS[kind]}, not {value!r}")
    return float(value) if kind is float else value


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"'{key}' must be true or false, not {value!r}")
    return value


def _positive(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    value = _get(raw, key, kind)
    if value <= 0:
        raise ValueError(f"'{key}' must be positive, not {value!r}")
    return value
