"""The models a library uses: the active one (chosen in the settings; the indexer encodes with
it) and the serving one (search uses it), each with its encoder, vector index and engine.

The serving model becomes the active one once every catalogued photo has a vector from it (or
at once when no model served before), so choosing another model never leaves a moment without
working search, and going back to a model finds its vectors still stored. `Library` holds one
`Models` and tells it, through `set_target`, how to hand a new active model to its indexer.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.catalog.records import INDEXED, PENDING
from app.core.index.vindex import VectorIndex
from app.core.model.info import ModelError
from app.core.paths import Paths
from app.core.search.engine import SearchEngine

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.model.encoder import Encoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelState:
    """Which model the user chose (`active`) and which one answers searches now (`serving`):
    they differ while the library is re-encoded with a newly chosen model (`switching`;
    `encoded` of `total` catalogued photos done). `problem`: why no model is usable, one line
    naming the fix."""

    active: str | None
    serving: str | None
    switching: bool
    encoded: int
    total: int
    problem: str | None = None


@dataclass
class Served:
    """One model in use: its encoder, its vector index and a search engine over them."""

    name: str
    key: tuple[object, ...]  # what it was loaded from; a different key means reload
    encoder: Encoder
    vindex: VectorIndex
    engine: SearchEngine

    def close(self, catalog: Catalog) -> None:
        if self.vindex.dirty:
            self.vindex.save(catalog.generation(self.vindex.model_id))
        self.vindex.close()
        self.encoder.close()


def index_dir(paths: Paths, model_id: str) -> Path:
    """One index folder per model, so switching models back and forth never rebuilds."""
    return paths.index_dir / re.sub(r"[^A-Za-z0-9._+-]", "_", model_id)


class Models:
    """The active (`target`) and serving models of one library, loaded from its models folder
    and settings (or the overrides a command line gives). `set_target(model)` must install a
    new active model in the indexer (between index runs) and assign `target`."""

    def __init__(
        self,
        paths: Paths,
        catalog: Catalog,
        write_lock: threading.RLock,
        set_target: Callable[[Served | None], None],
    ) -> None:
        self.paths = paths
        self.catalog = catalog
        self.error: str | None = None  # why no model is usable
        self.device = "auto"
        self.device_override: str | None = None
        self.precision_override: str | None = None
        self.model_dir_override: Path | None = None
        self.lock = threading.RLock()
        self.target: Served | None = None
        self.serving: Served | None = None
        self._write_lock = write_lock
        self._set_target = set_target

    def loaded(self) -> list[Served]:
        """The models in use, each once."""
        return list({id(m): m for m in (self.target, self.serving) if m is not None}.values())

    def load(self, name: str, key: tuple[object, ...], encoder: Encoder) -> Served:
        vindex = VectorIndex.open(
            index_dir(self.paths, encoder.model_id),
            encoder.model_id,
            encoder.info.embed_dim,
            self.catalog,
        )
        engine = SearchEngine(encoder, self.catalog, vindex)
        return Served(name, key, encoder, vindex, engine)

    def _open(self, name: str, model_dir: Path) -> Served:
        from app.core.model.encoder import Encoder
        from app.core.model.info import read_model_info
        from app.core.model.installed import (
            SETTING_DEVICE,
            SETTING_LANGUAGE,
            SETTING_PRECISION,
            read_settings,
        )

        settings = read_settings(self.paths)
        device = self.device_override or str(settings.get(SETTING_DEVICE) or "auto")
        precision = self.precision_override or str(settings.get(SETTING_PRECISION) or "fp32")
        info = read_model_info(model_dir)
        if precision != "fp32" and precision not in info.variants:
            log.info("%s has no %s variant; using fp32", name, precision)
            precision = "fp32"
        language = settings.get(SETTING_LANGUAGE) if info.tokenizer.get("languages") else None
        key = (str(model_dir), info.model_id, device, precision, language)
        for loaded in (self.target, self.serving):
            if loaded is not None and loaded.key == key:
                return loaded
        encoder = Encoder(
            model_dir,
            device=device,
            precision=precision,
            language=language if isinstance(language, str) else None,
        )
        self.device = device
        try:
            return self.load(name, key, encoder)
        except BaseException:
            encoder.close()
            raise

    def reload(self, *, raise_errors: bool = False) -> ModelState:
        """Take up what changed in the models folder and the model settings (a model installed,
        removed or chosen, here or by another process). Search keeps answering throughout."""
        from app.core.model.installed import resolve_model_dir, serving_model_name

        with self.lock:
            target: Served | None = None
            problem: str | None = None
            try:
                if self.model_dir_override is not None:
                    chosen = self.model_dir_override
                else:
                    chosen = resolve_model_dir(self.paths)
                target = self._open(chosen.name, chosen)
                target.encoder.model_id  # noqa: B018
            except ModelError as e:
                if raise_errors:
                    raise
                problem = str(e)
                log.info("no usable model: %s", e)
            serving = self.serving
            if serving is not None and not serving.encoder.model_dir.is_dir():
                serving = None  # removed under us
            if serving is None and target is None and self.model_dir_override is None:
                # Nothing chosen works: the model search used before still may.
                prev = serving_model_name(self.paths)
                if prev:
                    try:
                        serving = self._open(prev, resolve_model_dir(self.paths, prev))
                    except ModelError as e:
                        log.info("the previous model %s is not usable either: %s", prev, e)
            elif serving is None and target is not None and self.model_dir_override is None:
                prev = serving_model_name(self.paths)
                if prev and prev != target.name and not self.complete(target):
                    try:
                        serving = self._open(prev, resolve_model_dir(self.paths, prev))
                    except ModelError:
                        serving = None
            self._swap(target, serving)
            self.error = problem
            self.promote_if_ready()
            return self.state()

    def _swap(self, target: Served | None, serving: Served | None) -> None:
        """Install new target/serving models between index runs; close the ones dropped."""
        old = {id(m): m for m in (self.target, self.serving) if m is not None}
        if target is not self.target:
            self._set_target(target)
        self.serving = serving
        keep = {id(m) for m in (self.target, self.serving) if m is not None}
        for key, m in old.items():
            if key not in keep:
                with self._write_lock:
                    m.close(self.catalog)

    def complete(self, loaded: Served) -> bool:
        """Whether `loaded` has a vector for every catalogued photo."""
        counts = self.catalog.counts()
        catalogued = counts[INDEXED] + counts[PENDING]
        return self.catalog.count_indexed(loaded.encoder.model_id) >= catalogued

    def promote_if_ready(self) -> None:
        """The active model takes over search once it has encoded every catalogued photo (or
        at once when no model served search)."""
        from app.core.model.installed import SETTING_SERVING, update_settings

        with self.lock:
            target, serving = self.target, self.serving
            if target is None or target is serving:
                return
            if serving is not None and not self.complete(target):
                return
            self.serving = target
            if serving is not None:
                with self._write_lock:
                    serving.close(self.catalog)
                log.info("search now uses %s (was %s)", target.name, serving.name)
        if self.model_dir_override is None:
            try:
                update_settings(self.paths, {SETTING_SERVING: target.name})
            except OSError as e:
                log.warning("could not record the serving model: %s", e)

    def state(self) -> ModelState:
        target, serving = self.target, self.serving
        counts = self.catalog.counts()
        total = counts[INDEXED] + counts[PENDING]
        encoded = self.catalog.count_indexed(target.encoder.model_id) if target else 0
        return ModelState(
            active=target.name if target else None,
            serving=serving.name if serving else None,
            switching=target is not None and serving is not target,
            encoded=min(encoded, total),
            total=total,
            problem=self.error,
        )

    def release_image_towers(self) -> bool:
        """Free each loaded model's image tower; whether any was freed."""
        released = False
        for m in self.loaded():
            if m.encoder.release("image"):
                released = True
                log.info("indexing idle: released the image tower of %s", m.name)
        return released

    def close(self) -> None:
        """Save and release every loaded model (the caller holds the run and write locks)."""
        for m in self.loaded():
            m.close(self.catalog)
        self.target = self.serving = None
