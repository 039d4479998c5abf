"""The two config files of an exported model folder, as open_clip describes the model:
config.json (embed_dim, vision_cfg, text_cfg, made to agree with the tokenizer exported) and
visual/preprocess_cfg.json; and registering a custom architecture's config with open_clip."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from app.core.model.export.graphs import ExportError
from app.core.model.info import DEFAULT_CONTEXT


def config_json(
    arch: str,
    model: Any,
    given: dict[str, Any] | None,
    tok: dict[str, Any],
    ctx: int,
    size: int,
) -> dict[str, Any]:
    """open_clip's model config for config.json (`given`, else open_clip's for `arch`, else
    read off the model), made to agree with the tokenizer actually exported: its context
    length and text cleaning, and an HF tokenizer name when the tokenizer is an HF one."""
    import open_clip

    config = copy.deepcopy(given if given is not None else open_clip.get_model_config(arch))
    if not config:
        config = {
            "embed_dim": int(_embed_dim(model)),
            "vision_cfg": {"image_size": size},
            "text_cfg": {"vocab_size": int(getattr(model, "vocab_size", 0) or 0) or None},
        }
        config["text_cfg"] = {k: v for k, v in config["text_cfg"].items() if v is not None}
    text_cfg = config.setdefault("text_cfg", {})
    hf = bool(text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name"))
    if (tok["kind"] == "hf") != hf:
        if tok["kind"] != "hf":
            raise ExportError(
                f"The config of {arch} names an HF tokenizer but the model came with CLIP's BPE."
            )
        text_cfg["hf_tokenizer_name"] = arch
    if int(text_cfg.get("context_length", DEFAULT_CONTEXT)) != ctx:
        text_cfg["context_length"] = ctx
    kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
    default_clean = "whitespace" if tok["kind"] == "hf" else "lower"
    if kwargs.get("clean", default_clean) != tok["clean"]:
        kwargs["clean"] = tok["clean"]
    if bool(kwargs.get("strip_sep_token", False)) != tok["strip_sep_token"]:
        kwargs["strip_sep_token"] = tok["strip_sep_token"]
    if kwargs:
        text_cfg["tokenizer_kwargs"] = kwargs
    return config


def _embed_dim(model: Any) -> int:
    proj = getattr(model, "text_projection", None)
    if proj is not None and hasattr(proj, "shape"):
        return int(proj.shape[-1])
    return int(model.visual.output_dim)


def preprocess_config(model: Any, cfg: dict[str, Any] | None) -> dict[str, Any]:
    from open_clip import get_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    merged: dict[str, Any] = merge_preprocess_dict(
        PreprocessCfg(), cfg if cfg is not None else get_model_preprocess_cfg(model)
    )
    size = merged["size"]
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ExportError(f"Non-square input size {size} is not supported.")
        size = size[0]
    merged["size"] = int(size)
    if merged["resize_mode"] not in ("shortest", "squash", "longest"):
        raise ExportError(f"Unsupported resize mode {merged['resize_mode']!r}.")
    return merged


def register_config(arch: str, config: Path | dict[str, Any]) -> None:
    """Make open_clip know `config` under the name `arch` (add_model_config keys by file stem)."""
    import open_clip

    if isinstance(config, dict):
        cfg = config
    else:
        try:
            cfg = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ExportError(f"Cannot read the model config {config} ({e}).") from e
    if not all(k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
        raise ExportError(
            f"The model config {config if not isinstance(config, dict) else ''} "
            "needs embed_dim, vision_cfg and text_cfg (see open_clip's model_configs)."
        )
    with tempfile.TemporaryDirectory(prefix="photoseek-cfg-") as tmp:
        (Path(tmp) / f"{arch}.json").write_text(json.dumps(cfg), encoding="utf-8")
        open_clip.add_model_config(tmp)
