"""Text to token ids without torch: the same ids as `open_clip.tokenize` (kind "clip-bpe") or
open_clip's HFTokenizer (kind "hf"), computed with the `tokenizers` library."""

from __future__ import annotations

import gzip
import html
import logging
import string
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import regex
from tokenizers import Tokenizer as HFTokenizerCore
from tokenizers import processors

from app.core.model.info import CLIP_MERGES, REINSTALL, TOKENIZER_JSON, ModelError, ModelInfo

log = logging.getLogger(__name__)

CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
DEFAULT_FLORES = "eng_Latn"
# open_clip keeps merges[1 : 49152 - 256 - 2 + 1] of the file: 48894 merges, 49408 ids in all.
_N_MERGES = 49152 - 256 - 2


class Tokenizer(Protocol):
    context_length: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """int64 [len(texts), context_length], zero-padded (or pad_id for HF tokenizers)."""
        ...


# --- open_clip's text cleaning (tokenizer.py: basic_clean, whitespace_clean, canonicalize_text)


def _basic_clean(text: str) -> str:
    if text.isascii() and text.isprintable() and "&" not in text:
        # Nothing for ftfy or html.unescape to change (their fixes need non-ASCII characters,
        # control characters or "&"), so the 40 ms import of ftfy waits for a text that has.
        return text.strip()
    import ftfy

    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def _whitespace_clean(text: str) -> str:
    return " ".join(text.split()).strip()


_PUNCT = str.maketrans("", "", string.punctuation)


def _canonicalize(text: str) -> str:
    text = _basic_clean(text).replace("_", " ").translate(_PUNCT).lower()
    return " ".join(text.split()).strip()


_CLEAN: dict[str, Callable[[str], str]] = {
    "lower": lambda t: _whitespace_clean(_basic_clean(t)).lower(),
    "whitespace": lambda t: _whitespace_clean(_basic_clean(t)),
    "canonicalize": _canonicalize,
}


def _clean_fn(name: str, model_dir: Path) -> Callable[[str], str]:
    try:
        return _CLEAN[name]
    except KeyError:
        raise ModelError(
            f"{model_dir}: unknown tokenizer text cleaning {name!r} in config.json "
            f"(known: {', '.join(sorted(_CLEAN))}). {REINSTALL}"
        ) from None


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-printable-character table (the byte-level alphabet of the vocab)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def read_bpe_merges(path: Path) -> list[str]:
    """The merges ("a b", by rank) open_clip keeps of a CLIP BPE list: its gzipped file, or the
    merges.txt published CLIP tokenizers carry ("#version: 0.2" first); ModelError if the file
    is unreadable or not such a list."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                text = f.read().decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        lines = text.split("\n")[1 : _N_MERGES + 1]
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ModelError(f"Tokenizer file {path} is unreadable ({e}). {REINSTALL}") from e
    if len(lines) != _N_MERGES or any(line.count(" ") != 1 for line in lines):
        raise ModelError(f"Tokenizer file {path} is not open_clip's BPE merge list. {REINSTALL}")
    return lines


class ClipBpeTokenizer:
    """open_clip's SimpleTokenizer: its cleaning, pre-tokenising regex and byte-pair merges, in
    Python. Merging only the words a query has, from a rank table keyed by the merge file's own
    lines, loads in ~25 ms where building the whole vocabulary in the `tokenizers` library took
    ~75 ms (a one-shot `photoseek search` pays it every time). Special-token strings in user
    text stay text (see `_pat`)."""

    def __init__(self, bpe_path: Path, context_length: int, clean: str = "lower") -> None:
        lines = read_bpe_merges(bpe_path)
        # "a b" -> rank; the merged token "ab" has id 512 + rank (after the 256 byte characters
        # and their 256 end-of-word forms), as in open_clip's vocabulary.
        self._ranks = {line: rank for rank, line in enumerate(lines)}
        byte_chars = list(bytes_to_unicode().values())
        self._ids_of = {c: i for i, c in enumerate(byte_chars)}
        self._ids_of.update({c + "</w>": i + 256 for i, c in enumerate(byte_chars)})
        # As open_clip's dict(zip(vocab, ...)): a token string made twice keeps its last id.
        self._ids_of.update({line.replace(" ", ""): 512 + r for r, line in enumerate(lines)})
        self.sot_id, self.eot_id = 512 + _N_MERGES, 513 + _N_MERGES
        self._byte_enc = bytes_to_unicode()
        self._cache: dict[str, list[int]] = {}
        # open_clip's pattern and flags, less its special-token alternatives: open_clip turns a
        # typed "<end_of_text>" into the end id, and the text tower pools at the first end id, so
        # the rest of the query would be silently dropped. Typed text stays text here.
        self._pat = regex.compile(
            r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )
        self._clean = _clean_fn(clean, bpe_path.parent)
        self.context_length = context_length

    def _word_ids(self, word: str) -> list[int]:
        """open_clip's `bpe()` on one byte-encoded word: merge the lowest-ranked adjacent pair
        until none is in the table, then map the pieces to ids."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = [*word[:-1], word[-1] + "</w>"]
        ranks = self._ranks
        while len(parts) > 1:
            best, at = _N_MERGES, -1
            for i in range(len(parts) - 1):
                r = ranks.get(f"{parts[i]} {parts[i + 1]}", _N_MERGES)
                if r < best:
                    best, at = r, i
            if at < 0:
                break
            first, second = parts[at], parts[at + 1]
            merged, i = [], 0
            while i < len(parts):  # every occurrence of the pair, left to right
                if i < len(parts) - 1 and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self._ids_of[p] for p in parts]
        if len(self._cache) < 10_000:
            self._cache[word] = ids
        return ids

    def _ids(self, text: str) -> list[int]:
        out: list[int] = []
        for tok in self._pat.findall(self._clean(text)):
            out.extend(self._word_ids("".join(self._byte_enc[b] for b in tok.encode("utf-8"))))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        n = self.context_length
        result = np.zeros((len(texts), n), dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = [self.sot_id, *self._ids(text), self.eot_id]
            if len(tokens) > n:
                tokens = tokens[:n]
                tokens[-1] = self.eot_id
            result[i, : len(tokens)] = tokens
        return result


class HFJsonTokenizer:
    """open_clip's HFTokenizer (standard mode) from a saved `tokenizer.json`, without transformers:
    clean, then pad to context_length with the pad id on the tokenizer's padding side and
    truncate keeping the special tokens. What transformers adds on loading is redone from the
    tokenizer_config.json values in `cfg`: Llama/Gemma-style add_bos/add_eos flags, and NLLB's
    source-language token."""

    def __init__(
        self, path: Path, context_length: int, cfg: dict[str, Any], language: str | None = None
    ) -> None:
        try:
            self._tok = HFTokenizerCore.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise ModelError(f"Tokenizer file {path} is unreadable ({e}). {REINSTALL}") from e
        mode = cfg.get("mode") or cfg.get("tokenizer_mode") or ""
        if mode not in ("", "standard"):
            raise ModelError(f"{path}: tokenizer mode {mode!r} is not supported by this version.")
        self.context_length = context_length
        self._clean = _clean_fn(cfg.get("clean", "whitespace"), path.parent)
        self._lower = bool(cfg.get("lowercase", False))
        pad_id = _token_id(self._tok, cfg, "pad", 0, path)
        pad_token = self._tok.id_to_token(pad_id) or "[PAD]"
        self.pad_id = pad_id
        self.language: str | None = None
        self.languages: list[str] | None = None
        if cfg.get("languages") == "flores":
            vocab = self._tok.get_vocab(with_added_tokens=True)
            self.languages = sorted(t for t in vocab if _FLORES.fullmatch(t))
            self._set_language(language or DEFAULT_FLORES, cfg, path)
        elif _flag_template_class(cfg):
            self._set_bos_eos(cfg, path)
        self._tok.enable_truncation(max_length=context_length)
        self._tok.enable_padding(
            length=context_length,
            pad_id=pad_id,
            pad_token=pad_token,
            direction="left" if cfg.get("padding_side") == "left" else "right",
        )
        self._sep_id: int | None = None
        if cfg.get("strip_sep_token"):
            self._sep_id = _token_id(self._tok, cfg, "sep", None, path)

    def _set_language(self, code: str, cfg: dict[str, Any], path: Path) -> None:
        """NLLB: every text starts with its FLORES-200 language token and ends with </s>, as
        transformers' NllbTokenizerFast.set_src_lang_special_tokens does (open_clip's
        HFTokenizer.set_language)."""
        lang_id = self._tok.token_to_id(code) if _FLORES.fullmatch(code) else None
        eos = str(cfg.get("eos_token") or "</s>")
        eos_id = self._tok.token_to_id(eos)
        if lang_id is None or eos_id is None:
            raise ModelError(
                f"{path}: the language {code!r} is not in this model's tokenizer; choose another "
                "search language in Settings."
            )
        self._tok.post_processor = processors.TemplateProcessing(
            single=f"{code} $A {eos}",
            pair=f"{code} $A $B {eos}",
            special_tokens=[(code, lang_id), (eos, eos_id)],
        )
        self.language = code

    def _set_bos_eos(self, cfg: dict[str, Any], path: Path) -> None:
        """Llama/Gemma-style tokenizers: transformers rebuilds the post-processor from the
        add_bos_token / add_eos_token flags (SigLIP 2: no <bos>, an <eos> at the end), whatever
        tokenizer.json says; LlamaTokenizerFast.update_post_processor."""
        add_bos = bool(cfg.get("add_bos_token", True))
        add_eos = bool(cfg.get("add_eos_token", False))
        specials = []
        parts = ["$A:0"]
        for flag, key, first in ((add_bos, "bos_token", True), (add_eos, "eos_token", False)):
            if not flag:
                continue
            text = cfg.get(key)
            tid = self._tok.token_to_id(text) if isinstance(text, str) else None
            if tid is None:
                raise ModelError(f"{path}: {key.replace('_', ' ')} is missing. {REINSTALL}")
            specials.append((text, tid))
            parts.insert(0 if first else len(parts), f"{text}:0")
        self._tok.post_processor = processors.TemplateProcessing(
            single=" ".join(parts),
            pair=" ".join(parts + [p.replace("$A", "$B").replace(":0", ":1") for p in parts]),
            special_tokens=specials,
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        cleaned = [self._clean(t) for t in texts]
        if self._lower:
            cleaned = [t.lower() for t in cleaned]
        ids = np.array([e.ids for e in self._tok.encode_batch(cleaned)], dtype=np.int64).reshape(
            len(cleaned), self.context_length
        )
        if self._sep_id is not None:
            ids[ids == self._sep_id] = 0
        return ids


# FLORES-200 language codes as NLLB's tokenizer has them: "eng_Latn", "zho_Hans", ...
_FLORES = regex.compile(r"[a-z]{3}_[A-Z][a-z]{3}")
# transformers classes whose post-processor follows add_bos_token / add_eos_token.
_FLAG_TEMPLATE_CLASSES = ("llama", "codellama", "gemma", "cohere", "gptneox")


def _flag_template_class(cfg: dict[str, Any]) -> bool:
    name = str(cfg.get("tokenizer_class") or "").lower()
    has_flags = "add_bos_token" in cfg or "add_eos_token" in cfg
    return has_flags and name.startswith(_FLAG_TEMPLATE_CLASSES)


def tokenizer_path(model_dir: Path, info: ModelInfo) -> Path:
    """The tokenizer file `info.tokenizer` names; ModelError if the kind is unknown or the file
    is missing."""
    kind = info.tokenizer.get("kind")
    default_file = {"clip-bpe": CLIP_MERGES, "hf": TOKENIZER_JSON}.get(str(kind))
    if default_file is None:
        raise ModelError(f"{model_dir}: unknown tokenizer kind {kind!r}. {REINSTALL}")
    path = Path(model_dir) / str(info.tokenizer.get("file", default_file))
    if not path.is_file():
        raise ModelError(f"Tokenizer file {path} is missing. {REINSTALL}")
    return path


def _token_id(
    tok: HFTokenizerCore, cfg: dict[str, Any], what: str, default: int | None, path: Path
) -> int:
    """`cfg["<what>_id"]`, else the id of `cfg["<what>_token"]` in the tokenizer."""
    if cfg.get(f"{what}_id") is not None:
        return int(cfg[f"{what}_id"])
    text = cfg.get(f"{what}_token")
    found = tok.token_to_id(text) if isinstance(text, str) else None
    if found is not None:
        return int(found)
    if default is not None:
        return default
    raise ModelError(f"{path}: the tokenizer has no {what} token. Reinstall the model.")


def load_tokenizer(model_dir: Path, info: ModelInfo, language: str | None = None) -> Tokenizer:
    """The tokenizer described by `info.tokenizer`; ModelError naming the file if it is missing."""
    path = tokenizer_path(model_dir, info)
    cfg = dict(info.tokenizer)
    kind = cfg["kind"]
    log.debug("loading %s tokenizer from %s", kind, path)
    if kind == "clip-bpe":
        return ClipBpeTokenizer(path, info.context_length, cfg.get("clean", "lower"))
    return HFJsonTokenizer(path, info.context_length, cfg, language)
