"""The tokenizer files of an exported model and their description for app.core.tokenizer, which
reproduces open_clip's tokenizers without torch or transformers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.export_onnx import ExportError


def write_tokenizer(tokenizer: Any, stage: Path) -> dict[str, Any]:
    """Copy or save the tokenizer file(s) and describe them for app.core.tokenizer."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer, default_bpe, get_clean_fn

    if isinstance(tokenizer, SimpleTokenizer):
        if len(tokenizer.encoder) != 49408:
            raise ExportError("Only open_clip's standard CLIP BPE vocabulary is supported.")
        src = Path(default_bpe())
        shutil.copyfile(src, stage / src.name)
        clean = _clean_name(tokenizer.clean_fn, get_clean_fn)
        return {"kind": "clip-bpe", "file": src.name, "clean": clean}
    if isinstance(tokenizer, HFTokenizer):
        if tokenizer.tokenizer_mode not in ("",):
            raise ExportError(f"HF tokenizer mode {tokenizer.tokenizer_mode!r} is not supported.")
        hf = tokenizer.tokenizer
        if not getattr(hf, "is_fast", False):
            raise ExportError("The text tower's tokenizer has no fast (tokenizer.json) form.")
        from tokenizers import Tokenizer

        core = Tokenizer.from_str(hf.backend_tokenizer.to_str())
        core.no_padding()
        core.no_truncation()
        core.save(str(stage / "tokenizer.json"))
        cfg: dict[str, Any] = {
            "kind": "hf",
            "file": "tokenizer.json",
            "pad_id": int(hf.pad_token_id if hf.pad_token_id is not None else 0),
            "clean": _clean_name(tokenizer.clean_fn, get_clean_fn),
            "lowercase": False,  # open_clip's HFTokenizer lower-cases only through `clean`
            "strip_sep_token": bool(tokenizer.strip_sep_token),
        }
        if tokenizer.strip_sep_token:
            cfg["sep_id"] = int(hf.sep_token_id)
        return cfg
    raise ExportError(f"Unsupported tokenizer {type(tokenizer).__name__}.")


def _clean_name(fn: Callable[[str], str], get_clean_fn: Callable[[str], Any]) -> str:
    for name in ("lower", "whitespace", "canonicalize"):
        if get_clean_fn(name) is fn:
            return name
    raise ExportError("The tokenizer uses a text cleaning function PhotoSeek does not know.")
