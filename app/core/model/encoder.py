"""Photos and text to L2-normalised CLIP embeddings with onnxruntime only (no torch).

Each tower gets its own session, created on first use: a text-only search never loads the image
graph. Providers and thread counts are set explicitly and the chosen provider is logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from app.core.errors import UserError
from app.core.model.devices import (
    CPU,
    DIRECTML,
    available_providers,
    choose_providers,
    physical_cores,
    provider_name,
)
from app.core.model.graph_cache import optimized_cpu_session, relative, verify_graph
from app.core.model.info import REINSTALL, ModelError, ModelInfo, read_model_info
from app.core.model.preprocess import to_batch
from app.core.model.tokenizer import Tokenizer, load_tokenizer, tokenizer_path

log = logging.getLogger(__name__)

# No fp16: on CPU it is slower than fp32 and its session creation can crash (TOOLCHAIN.md).
PRECISIONS = ("fp32", "int8")
# Text graphs with a dynamic token axis get the ids cut to the longest text, in steps of this
# many tokens: a query costs what its words cost, and onnxruntime sees few distinct shapes.
TOKEN_STEP = 8


# available_providers: app.core.api offers it from here, beside Encoder.
__all__ = ["PRECISIONS", "TOKEN_STEP", "Encoder", "available_providers", "trim_token_ids"]


class Encoder:
    """A model folder's two towers behind one object; use as a context manager or call close()."""

    def __init__(
        self,
        model_dir: Path | str,
        *,
        device: str = "auto",
        threads: int | None = None,
        precision: str = "fp32",
        max_batch: int = 32,
        verify: bool = True,
        language: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self._language = language
        self._info = read_model_info(self.model_dir)
        if precision not in PRECISIONS:
            raise UserError(f"Unknown precision {precision!r}: use fp32 or int8.")
        if precision != "fp32" and precision not in self._info.variants:
            raise UserError(
                f"The model in {self.model_dir} has no {precision} variant "
                f"(it has: {', '.join(['fp32', *self._info.variants])}). Use fp32, or re-export "
                "the model with the variant (`photoseek model export`, without --no-int8)."
            )
        self._precision = precision
        self._device = device
        self._providers = choose_providers(device)
        self._threads = int(threads) if threads else physical_cores()
        if self._threads < 1:
            raise UserError(f"threads must be at least 1, got {threads}.")
        self.max_batch = max(1, int(max_batch))
        self._verify_files = verify
        variant = self._info.variants.get(precision, {})
        self._paths = {
            "image": self.model_dir / variant.get("image_model", self._info.image_model),
            "text": self.model_dir / variant.get("text_model", self._info.text_model),
        }
        for path in self._paths.values():
            if not path.is_file():
                raise ModelError(f"Model file {path} is missing. {REINSTALL}")
        tokenizer_path(self.model_dir, self._info)  # exists, or a ModelError naming it
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()  # guards the dict; loading holds only its tower's lock
        self._loading = {"image": threading.Lock(), "text": threading.Lock()}

    # --- properties ----------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def model_id(self) -> str:
        """The id vectors are stored under; int8 vectors are kept apart from fp32 ones."""
        if self._precision == "fp32":
            return self._info.model_id
        return f"{self._info.model_id}-{self._precision}"

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def image_size(self) -> int:
        return self._info.image_size

    @property
    def dim(self) -> int:
        return self._info.embed_dim

    @property
    def provider(self) -> str:
        """The execution provider actually running the model (loads the text tower if no
        session exists yet, since onnxruntime may fall back from the requested one)."""
        with self._lock:
            sessions = list(self._sessions.values())
        session = sessions[0] if sessions else self._session("text")
        return str(session.get_providers()[0])

    def languages(self) -> list[str] | None:
        """The FLORES-200 codes ("eng_Latn", "fra_Latn", ...) a multilingual NLLB model's
        tokenizer knows, for a search-language setting; None for models without one."""
        if self._info.tokenizer.get("languages") != "flores":
            return None
        return list(getattr(self._get_tokenizer(), "languages", None) or [])

    @property
    def language(self) -> str | None:
        """The text language in use (NLLB models; default eng_Latn), else None."""
        if self._info.tokenizer.get("languages") != "flores":
            return None
        return getattr(self._get_tokenizer(), "language", None)

    @property
    def loaded_towers(self) -> tuple[str, ...]:
        """Which towers have a live session ("image", "text"), for diagnostics and tests."""
        with self._lock:
            return tuple(sorted(self._sessions))

    # --- encoding ------------------------------------------------------------------------------

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """float32 [N, 3, S, S] (from preprocess.to_batch) to float32 [N, D], unit length."""
        pixels = np.asarray(pixels, dtype=np.float32)
        s = self.image_size
        if pixels.ndim != 4 or pixels.shape[1:] != (3, s, s):
            raise ValueError(f"pixels must be [N, 3, {s}, {s}], got {list(pixels.shape)}")
        return self._run("image", pixels)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images (e.g. from decode.open_image) to float32 [N, D], unit length."""
        chunks = _chunks(images, self.max_batch)
        out = [self.encode_pixels(to_batch(chunk, self._info)) for chunk in chunks]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Texts to float32 [N, D], unit length, in the same space as the images."""
        return self.encode_ids(self.text_ids(texts))

    def encode_ids(self, ids: np.ndarray) -> np.ndarray:
        """Token ids [N, C] (from `text_ids`) to float32 [N, D], unit length."""
        return self._run("text", ids)

    def text_ids(self, texts: Sequence[str], *, trim: bool = True) -> np.ndarray:
        """The int64 token ids the text graph gets for `texts`: [N, context_length], or cut to
        the longest text (see trim_token_ids) when the graph has a dynamic token axis and `trim`
        (bench/encoder.py compares with the full context)."""
        if isinstance(texts, str):
            texts = [texts]
        ids = self._get_tokenizer().encode(texts)
        if len(ids) == 0 or not trim:
            return ids
        shape = self._session("text").get_inputs()[0].shape
        if len(shape) == 2 and not isinstance(shape[1], int):  # e.g. "tokens" (or None)
            ids = trim_token_ids(ids, self._pad_id())
        elif len(shape) == 2 and shape[1] != ids.shape[1]:
            raise ModelError(
                f"The text graph of {self.model_dir} takes {shape[1]} tokens but its tokenizer "
                f"gives {ids.shape[1]}. {REINSTALL}"
            )
        return ids

    def _run(self, tower: str, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._session(tower)
        inputs = session.get_inputs()
        main = inputs[0]
        if tower == "text" and main.type == "tensor(int32)":
            batch = batch.astype(np.int32)
        # Published exports fix the batch axis (often at 1): feed them that many at a time.
        fixed = main.shape[0] if isinstance(main.shape[0], int) and main.shape[0] > 0 else None
        outs = []
        for chunk in _chunks(batch, fixed or self.max_batch):
            feed = {main.name: chunk}
            for extra in inputs[1:]:
                if tower == "text" and extra.name == "attention_mask":
                    mask = chunk != self._pad_id()
                    feed[extra.name] = mask.astype(np.int32 if "int32" in extra.type else np.int64)
                else:
                    raise ModelError(
                        f"The {tower} graph of {self.model_dir} wants an input {extra.name!r} "
                        f"PhotoSeek does not know. {REINSTALL}"
                    )
            outs.append(session.run(None, feed)[0])
        vecs = np.concatenate(outs).astype(np.float32, copy=False)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        unit: np.ndarray = vecs / np.maximum(norms, 1e-12)
        return unit

    def _pad_id(self) -> int:
        return int(getattr(self._get_tokenizer(), "pad_id", self._info.tokenizer.get("pad_id", 0)))

    # --- sessions ------------------------------------------------------------------------------

    def _get_tokenizer(self) -> Tokenizer:
        tokenizer = self._tokenizer
        if tokenizer is None:
            with self._loading["text"]:
                tokenizer = self._tokenizer
                if tokenizer is None:
                    tokenizer = self._tokenizer = load_tokenizer(
                        self.model_dir, self._info, self._language
                    )
        return tokenizer

    def _session(self, tower: str) -> ort.InferenceSession:
        """The tower's session, created on first use. Loading one tower (seconds for a large
        model) never blocks use of the other."""
        with self._lock:
            session = self._sessions.get(tower)
        if session is None:
            with self._loading[tower]:
                with self._lock:
                    session = self._sessions.get(tower)
                if session is None:
                    session = self._create(tower)
                    with self._lock:
                        self._sessions[tower] = session
        return session

    def _create(self, tower: str) -> ort.InferenceSession:
        path = self._paths[tower]
        expected = self._info.files.get(relative(path, self.model_dir))
        verify_graph(self.model_dir, path, expected if self._verify_files else None)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: provider fallback notes are logged below
        if any(provider_name(p) == DIRECTML for p in self._providers):
            opts.enable_mem_pattern = False  # required by DirectML
        try:
            session = None
            if tower == "text" and self._providers == [CPU] and expected and self._verify_files:
                session = optimized_cpu_session(
                    self.model_dir, path, tower, self._precision, expected, self._threads
                )
            if session is None:
                session = ort.InferenceSession(
                    str(path), sess_options=opts, providers=self._providers
                )
        except Exception as e:  # onnxruntime raises its own exception types for bad graphs
            raise ModelError(f"Model file {path} could not be loaded ({e}). {REINSTALL}") from e
        used = session.get_providers()[0]
        wanted = provider_name(self._providers[0])
        if used != wanted:
            if self._device.strip().lower() != "auto":
                raise UserError(
                    f"Device {self._device!r} was requested but onnxruntime could not start "
                    f"{wanted} and fell back to {used}. Check the GPU driver and CUDA/cuDNN "
                    "libraries, or use --device cpu."
                )
            log.warning("%s could not start; %s tower runs on %s", wanted, tower, used)
        log.info(
            "%s tower: %s, %d threads, %s (%s)",
            tower,
            used,
            self._threads,
            self._precision,
            relative(path, self.model_dir),
        )
        return session

    def load(self, tower: str) -> None:
        """Create the tower's session now rather than at first use (a warm-up; after `release`,
        sessions made with other onnxruntime options, as bench/profile_index.py does)."""
        self._session(tower)

    def release(self, tower: str) -> bool:
        """Free one tower's session (its weights leave memory); the next use loads it again.
        True if it was loaded."""
        with self._loading[tower], self._lock:
            return self._sessions.pop(tower, None) is not None

    def close(self) -> None:
        """Release both sessions and the tokenizer; a later encode call reloads what it needs."""
        with self._lock:
            self._sessions.clear()
            self._tokenizer = None

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Encoder({str(self.model_dir)!r}, model_id={self.model_id!r}, "
            f"device={self._device!r}, threads={self._threads}, loaded={self.loaded_towers})"
        )


def trim_token_ids(ids: np.ndarray, pad_id: int = 0, step: int = TOKEN_STEP) -> np.ndarray:
    """A padded id batch [N, C] cut after the last non-padding token of its longest row (CLIP
    BPE: the end token), rounded up to a multiple of `step` and at most C.

    Exact for the graphs the exporter gives a dynamic token axis: they pool at the end token
    (causal attention: it never sees what follows) or mask the padding. A row cut short by
    the context keeps all C tokens.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] == 0:
        return ids
    real = ids != pad_id
    ends = ids.shape[1] - np.argmax(real[:, ::-1], axis=1)  # one past each row's last real id
    longest = int(ends[real.any(axis=1)].max(initial=1))
    keep = min(ids.shape[1], -(-longest // step) * step)
    return np.ascontiguousarray(ids[:, :keep])


def _chunks(items: Any, size: int) -> Iterator[Any]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
