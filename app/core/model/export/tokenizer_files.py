"""The tokenizer files of an exported model, in the form published CLIP exports carry them
(textual/ of the model folder), read back by app.core.model.tokenizer without torch or transformers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.model.export.graphs import ExportError
from app.core.model.info import ModelError

# The names Hugging Face's CLIP tokenizer gives open_clip's <start_of_text> / <end_of_text>.
HF_SOT, HF_EOT = "<|startoftext|>", "<|endoftext|>"


def write_tokenizer(tokenizer: Any, textual: Path) -> dict[str, Any]:
    """Write `tokenizer` (open_clip's SimpleTokenizer or HFTokenizer) into `textual` and describe
    it: {"kind": "clip-bpe" | "hf", "pad_id", "clean", "strip_sep_token"}."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer, default_bpe, get_clean_fn

    textual.mkdir(parents=True, exist_ok=True)
    if isinstance(tokenizer, SimpleTokenizer):
        if len(tokenizer.encoder) != 49408:
            raise ExportError("Only open_clip's standard CLIP BPE vocabulary is supported.")
        write_clip_bpe(Path(default_bpe()), textual, int(tokenizer.context_length))
        clean = _clean_name(tokenizer.clean_fn, get_clean_fn)
        return {"kind": "clip-bpe", "pad_id": 0, "clean": clean, "strip_sep_token": False}
    if isinstance(tokenizer, HFTokenizer):
        if tokenizer.tokenizer_mode not in ("",):
            raise ExportError(f"HF tokenizer mode {tokenizer.tokenizer_mode!r} is not supported.")
        hf = tokenizer.tokenizer
        if not getattr(hf, "is_fast", False):
            raise ExportError("The text tower's tokenizer has no fast (tokenizer.json) form.")
        hf.save_pretrained(str(textual))  # tokenizer.json, tokenizer_config.json, ...: as Immich
        if not (textual / "tokenizer.json").is_file():
            raise ExportError("Saving the text tower's tokenizer wrote no tokenizer.json.")
        return {
            "kind": "hf",
            "pad_id": int(hf.pad_token_id if hf.pad_token_id is not None else 0),
            "clean": _clean_name(tokenizer.clean_fn, get_clean_fn),
            "strip_sep_token": bool(tokenizer.strip_sep_token),
        }
    raise ExportError(f"Unsupported tokenizer {type(tokenizer).__name__}.")


def write_clip_bpe(bpe_gz: Path, textual: Path, context_length: int) -> None:
    """open_clip's gzipped BPE list as Hugging Face's CLIP tokenizer files: merges.txt
    ("#version: 0.2", then the merges), vocab.json, tokenizer_config.json (pad_token
    <|endoftext|>, as published CLIP exports have) and special_tokens_map.json."""
    from app.core.model.tokenizer import read_bpe_merges

    try:
        merges = read_bpe_merges(bpe_gz)
    except ModelError as e:
        raise ExportError(f"{bpe_gz} is not open_clip's BPE merge list.") from e
    (textual / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    from app.core.model.tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    vocab += [HF_SOT, HF_EOT]
    _write_json(textual / "vocab.json", {tok: i for i, tok in enumerate(vocab)})
    specials = {
        "bos_token": HF_SOT,
        "eos_token": HF_EOT,
        "unk_token": HF_EOT,
        "pad_token": HF_EOT,
    }
    _write_json(
        textual / "tokenizer_config.json",
        {
            **specials,
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": context_length,
            "do_lower_case": True,
            "errors": "replace",
            "add_prefix_space": False,
        },
    )
    _write_json(textual / "special_tokens_map.json", specials)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _clean_name(fn: Callable[[str], str], get_clean_fn: Callable[[str], Any]) -> str:
    for name in ("lower", "whitespace", "canonicalize"):
        if get_clean_fn(name) is fn:
            return name
    raise ExportError("The tokenizer uses a text cleaning function PhotoSeek does not know.")
