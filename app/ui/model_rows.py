"""What the Models dialog lists: the catalog's models merged with the installed ones, and the
lines that describe them. No Qt here, so it is testable on its own; `load_facts` reads the disk
and runs in a worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.core.api import CatalogEntry, InstalledModel, ModelState, Paths

PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class ModelRow:
    """One model: from the catalog (`entry`), installed (`installed`), or both."""

    name: str
    entry: CatalogEntry | None = None
    installed: InstalledModel | None = None
    active: bool = False  # the model the user chose (indexing encodes with it)
    serving: bool = False  # the model that answers searches now

    @property
    def title(self) -> str:
        return self.entry.title if self.entry is not None else self.name

    @property
    def usable(self) -> bool:
        return self.installed is not None and self.installed.usable

    @property
    def has_int8(self) -> bool:
        info = getattr(self.installed, "info", None)
        return info is not None and "int8" in (info.variants or {})

    @property
    def multilingual(self) -> bool:
        info = getattr(self.installed, "info", None)
        if info is not None:
            return bool(info.tokenizer.get("languages"))
        return self.entry is not None and self.entry.multilingual

    def languages_text(self) -> str:
        if self.entry is None:
            return "—"
        if self.entry.multilingual:
            count = self.entry.language_count
            return f"~{count} languages" if count else "many languages"
        return ", ".join(self.entry.languages)

    def download_text(self) -> str:
        return size_text(self.entry.download_mb) if self.entry is not None else "—"

    def ram_text(self) -> str:
        return size_text(self.entry.ram_mb) if self.entry is not None else "—"

    def speed_text(self) -> str:
        if self.entry is None:
            return "—"
        speed = self.entry.speed
        text = f"{speed:.2f}×" if speed >= 0.1 else f"{speed:.2g}×"
        return text + (" (GPU advised)" if self.entry.gpu_recommended else "")

    def recall_text(self) -> str:
        return f"{self.entry.recall.value * 100:.1f} %" if self.entry is not None else "—"

    def state_text(self) -> str:
        if self.installed is None:
            return ""
        if not self.usable:
            return "Damaged"
        if self.active and self.serving:
            return "Active"
        if self.active:
            return "Active (re-indexing)"
        if self.serving:
            return "Answers searches"
        return "Installed"

    def details(self) -> str:
        """A paragraph for the selected model: what it is, and where its figures come from."""
        lines: list[str] = []
        if self.entry is not None:
            e = self.entry
            lines.append(e.description)
            lines.append(
                f"Recall {e.recall.value * 100:.1f} % on {e.recall.benchmark} "
                f"(source: {e.recall.source})." + (f" {e.recall.note}" if e.recall.note else "")
            )
            if e.recall_multilingual is not None:
                r = e.recall_multilingual
                lines.append(f"Other languages: {r.value * 100:.1f} % on {r.benchmark}.")
            lines.append(
                f"Speed is images per second relative to ViT-B-32 (1.00×); RAM is while it "
                f"runs. Download from huggingface.co/{e.repo}."
            )
        if self.installed is not None:
            if self.installed.problem:
                lines.append(f"Problem: {self.installed.problem}")
            else:
                lines.append(f"Installed in {self.installed.path}.")
        return "\n".join(lines)


def size_text(mb: float) -> str:
    return f"{mb:,.0f} MB" if mb < 1000 else f"{mb / 1000:.1f} GB"


def download_label(entry: CatalogEntry) -> str:
    """The one-click offer: "Download CLIP ViT-B/32 (OpenAI), 607 MB"."""
    return f"Download {entry.title}, {size_text(entry.download_mb)}"


def merge_rows(
    catalog: Sequence[CatalogEntry],
    installed: Sequence[InstalledModel],
    active: str | None,
    serving: str | None,
) -> list[ModelRow]:
    """Catalog models in catalog order, then installed models the catalog does not know."""
    by_name = {m.name.lower(): m for m in installed}
    rows = []
    for entry in catalog:
        have = by_name.pop(entry.name.lower(), None)
        name = have.name if have is not None else entry.name
        rows.append(ModelRow(name, entry, have, name == active, name == serving))
    for m in installed:
        if m.name.lower() in by_name:
            rows.append(ModelRow(m.name, None, m, m.name == active, m.name == serving))
    return rows


def search_note(state: ModelState | None) -> str:
    """Which model answers searches: "Search uses A until B finishes (41 %)", or "" when the
    chosen model answers them already."""
    if state is None or not state.switching or not state.serving:
        return ""
    pct = int(100 * state.encoded / state.total) if state.total else 0
    return f"Search uses {state.serving} until {state.active} finishes ({pct} %)"


@dataclass(frozen=True)
class ModelFacts:
    """Everything the Models dialog shows, read in one go off the GUI thread."""

    rows: list[ModelRow]
    default_name: str
    precision: str = "fp32"
    device: str = "auto"
    devices: list[str] = field(default_factory=lambda: ["auto", "cpu"])
    language: str | None = None
    languages: list[str] | None = None  # FLORES codes of the active model, None: not needed
    problem: str | None = None  # the catalog could not be read

    def row(self, name: str | None) -> ModelRow | None:
        return next((r for r in self.rows if r.name == name), None)

    @property
    def active(self) -> ModelRow | None:
        return next((r for r in self.rows if r.active), None)


# onnxruntime provider names -> the device names Encoder(device=...) takes
_DEVICE_OF = {
    "CUDAExecutionProvider": "cuda",
    "CoreMLExecutionProvider": "coreml",
    "DmlExecutionProvider": "directml",
}


def load_facts(paths: Paths, state: ModelState | None = None) -> ModelFacts:
    """Read the catalog, the installed models and the model settings (runs in a worker)."""
    from app.core.api import (
        DEFAULT_MODEL,
        SETTING_ACTIVE,
        SETTING_DEVICE,
        SETTING_LANGUAGE,
        SETTING_PRECISION,
        UserError,
        available_providers,
        default_entry,
        installed_models,
        load_catalog,
        read_settings,
        serving_model_name,
    )

    problem = None
    try:
        catalog = load_catalog()
        default_name = default_entry(catalog).name
    except UserError as e:
        catalog, default_name, problem = [], DEFAULT_MODEL, str(e)
    installed = installed_models(paths)
    settings = read_settings(paths)
    if state is not None:
        active, serving = state.active, state.serving
    else:
        active = settings.get(SETTING_ACTIVE) or None
        serving = serving_model_name(paths) or active
    rows = merge_rows(catalog, installed, active, serving)
    devices = ["auto", "cpu"] + [
        d for p, d in _DEVICE_OF.items() if p in set(available_providers())
    ]
    device = str(settings.get(SETTING_DEVICE) or "auto")
    if device not in devices:
        devices.append(device)
    precision = str(settings.get(SETTING_PRECISION) or "fp32")
    language = settings.get(SETTING_LANGUAGE)
    facts = ModelFacts(
        rows=rows,
        default_name=default_name,
        precision=precision if precision in PRECISIONS else "fp32",
        device=device,
        devices=devices,
        language=language if isinstance(language, str) else None,
        languages=model_languages(next((r for r in rows if r.active), None)),
        problem=problem,
    )
    return facts


def model_languages(row: ModelRow | None) -> list[str] | None:
    """The search languages of an installed multilingual model (FLORES codes), else None."""
    if row is None or row.installed is None or not row.usable or not row.multilingual:
        return None
    from app.core.api import model_languages as languages_of

    return languages_of(row.installed.path)


def ensure_language(paths: Paths, pick: Callable[[list[str]], str | None]) -> bool:
    """Store a search language for a multilingual active model that has none yet: `pick(codes)`
    (the UI locale's). True when a setting was written (the model must be reloaded)."""
    from app.core.api import (
        SETTING_ACTIVE,
        SETTING_LANGUAGE,
        installed_models,
        read_settings,
        update_settings,
    )

    settings = read_settings(paths)
    if settings.get(SETTING_LANGUAGE):
        return False
    active = settings.get(SETTING_ACTIVE)
    row = next(
        (ModelRow(m.name, None, m, True) for m in installed_models(paths) if m.name == active),
        None,
    )
    codes = model_languages(row)
    code = pick(codes) if codes else None
    if not code:
        return False
    update_settings(paths, {SETTING_LANGUAGE: code})
    return True
