"""Export an open_clip CLIP model to a model folder in the one layout PhotoSeek reads (Immich's
published one plus photoseek.json; see app.core.model.info): config.json, the two ONNX towers
with their preprocessing and tokenizer files, optional int8 variants. The only app module that
needs torch/open_clip (the `export` extra)."""

from __future__ import annotations

import difflib
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.core.durable import fsync_tree, write_json_atomic
from app.core.model.encoder import trim_token_ids
from app.core.model.export.configs import config_json, preprocess_config, register_config
from app.core.model.export.folder import check_target, move_into_place, staging_dir
from app.core.model.export.graphs import (
    CHECK_BATCH,
    EXAMPLE_BATCH,
    IMAGE_INPUT,
    PROBE_CAPTIONS,
    TEXT_INPUT,
    ExportError,
    check_parity,
    export_tower,
    min_cosine,
    probe_pixels,
    quantize_int8,
    run_onnx,
    text_graph_module,
    token_axis_is_dynamic,
    towers,
)
from app.core.model.export.tokenizer_files import write_tokenizer
from app.core.model.info import (
    CONFIG,
    IMAGE_MODEL,
    INT8_IMAGE_MODEL,
    INT8_TEXT_MODEL,
    PREPROCESS_CFG,
    TEXT_MODEL,
    Manifest,
    ModelInfo,
    core_files,
    describe,
    hash_files,
    make_model_id,
    read_model_info,
    write_manifest,
)

log = logging.getLogger(__name__)

__all__ = ["ExportError", "export_from_model", "export_model"]

Progress = Callable[[str], None]
OFFLINE_HINT = (
    "For tests and benchmarks, `--random-init` exports without downloading weights; "
    "to use a model folder you already have, run `photoseek model install --from FOLDER`."
)


def export_model(
    arch: str,
    pretrained: str | None,
    out_dir: Path,
    *,
    random_init: bool = False,
    config: Path | dict[str, Any] | None = None,
    int8: bool = True,
    opset: int = 17,
    seed: int = 0,
    progress: Progress | None = None,
    dynamic_tokens: bool = True,
) -> ModelInfo:
    """Build `arch` with open_clip (pretrained weights, or random ones) and export it to `out_dir`.

    `config` is an open_clip model config (JSON file or dict) registered under `arch`, for small
    custom architectures; an HF text tower's `hf_model_name` may name a local folder. Random
    weights come from `seed`, so the same random-init export gives the same files and model id.
    `dynamic_tokens`: see export_from_model.
    """
    import open_clip
    import torch

    say = _reporter(progress)
    out_dir = Path(out_dir)
    check_target(out_dir)
    if config is not None:
        register_config(arch, config)
    if arch not in open_clip.list_models():
        close = difflib.get_close_matches(arch, open_clip.list_models(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ExportError(
            f"Unknown open_clip architecture {arch!r}.{hint} "
            '`python -c "import open_clip; print(open_clip.list_models())"` '
            "lists them all; --config adds a custom one."
        )
    if random_init:
        pretrained = None
    tag_cfg: dict[str, Any] = {}
    if pretrained:
        tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        if not tag_cfg and not Path(pretrained).is_file():
            tags = open_clip.list_pretrained_tags_by_model(arch)
            raise ExportError(
                f"{arch} has no pretrained weights tagged {pretrained!r}. Known tags: "
                f"{', '.join(tags) or 'none'}; or pass --random-init."
            )
    model_config = open_clip.get_model_config(arch) or {}
    text_cfg = model_config.get("text_cfg", {})
    hf_name = text_cfg.get("hf_model_name") or text_cfg.get("hf_tokenizer_name")
    if tag_cfg.get("quick_gelu"):
        model_config["quick_gelu"] = True  # as open_clip builds it for these weights
    say(f"building {arch} ({pretrained or 'random weights'})")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = open_clip.create_model(
                arch,
                pretrained=pretrained,
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                pretrained_text=not random_init,
            )
        tokenizer = open_clip.get_tokenizer(arch)
    except (OSError, RuntimeError, ValueError) as e:
        if hf_name and not Path(hf_name).is_dir():
            raise ExportError(
                f"Could not load the HuggingFace text model or tokenizer {hf_name!r} for {arch} "
                f"({_first_line(e)}). "
                "It needs internet access to the model hub (or its files in the HuggingFace cache). "
                "Offline, set `hf_model_name` and `hf_tokenizer_name` in a --config JSON to a "
                "local folder holding its config.json and tokenizer. " + OFFLINE_HINT
            ) from e
        if pretrained:
            raise ExportError(
                f"Could not get the pretrained weights {pretrained!r} for {arch} "
                f"({_first_line(e)}). This computer may be offline or the model "
                "hub unreachable. " + OFFLINE_HINT
            ) from e
        raise
    model.eval()
    return export_from_model(
        model,
        arch=arch,
        pretrained=pretrained,
        out_dir=out_dir,
        preprocess_cfg=open_clip.get_model_preprocess_cfg(model),
        tokenizer=tokenizer,
        int8=int8,
        random_init=random_init,
        opset=opset,
        progress=progress,
        provenance={"seed": seed} if random_init else None,
        dynamic_tokens=dynamic_tokens,
        model_config=model_config,
    )


def export_from_model(
    model: Any,
    *,
    arch: str,
    pretrained: str | None,
    out_dir: Path,
    preprocess_cfg: dict[str, Any] | None = None,
    tokenizer: Any = None,
    int8: bool = True,
    random_init: bool = False,
    opset: int = 17,
    progress: Progress | None = None,
    provenance: dict[str, Any] | None = None,
    dynamic_tokens: bool = True,
    model_config: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> ModelInfo:
    """Export a torch open_clip model already in memory (a CLIP or CustomTextCLIP) to a model
    folder in the published layout (see app.core.model.info).

    `tokenizer` is its open_clip tokenizer (`SimpleTokenizer` or `HFTokenizer`); None means
    open_clip's CLIP BPE with the model's context length. `preprocess_cfg` defaults to the
    model's own (`open_clip.get_model_preprocess_cfg`) over open_clip's defaults;
    `model_config` to open_clip's config for `arch` (or one read off the model). `provenance`
    (e.g. the random seed) is recorded in the manifest's `exported_with`.

    The text graph takes [N, L] ids for any L up to the context length when that gives the
    same embeddings as the full padded context (checked against torch at both lengths), so a
    query costs what its words cost; `dynamic_tokens=False`, or a tower that reads its padding,
    keeps it at [N, context_length].
    """
    import onnx
    import onnxruntime as ort
    import open_clip
    import torch

    say = _reporter(progress)
    out_dir = Path(out_dir)
    check_target(out_dir)
    model = model.eval()
    pcfg = preprocess_config(model, preprocess_cfg)
    size = pcfg["size"]
    if tokenizer is None:
        tokenizer = open_clip.SimpleTokenizer(context_length=model.context_length)
    ctx = int(tokenizer.context_length)
    img_mod, txt_mod = towers(model)

    stage = staging_dir(out_dir)
    try:
        (stage / "visual").mkdir()
        tok = write_tokenizer(tokenizer, stage / "textual")
        pad_id = int(tok["pad_id"])
        config = config_json(arch, model, model_config, tok, ctx, size)
        write_json_atomic(stage / CONFIG, config)
        write_json_atomic(stage / PREPROCESS_CFG, {**pcfg, "size": [size, size]})
        txt_graph, fixed_why = text_graph_module(model, pad_id, dynamic_tokens)
        if fixed_why is not None:
            log.info("text graph keeps all %d tokens: %s", ctx, fixed_why)
        with torch.no_grad():
            ex_img = torch.from_numpy(
                probe_pixels(EXAMPLE_BATCH, size, pcfg["mean"], pcfg["std"], 1)
            )
            ex_txt = _token_ids(tokenizer, list(PROBE_CAPTIONS[:EXAMPLE_BATCH]))
        say("exporting the image tower")
        export_tower(img_mod, ex_img, IMAGE_INPUT, stage / IMAGE_MODEL, opset)
        say("exporting the text tower")
        export_tower(
            txt_graph,
            torch.from_numpy(ex_txt),
            TEXT_INPUT,
            stage / TEXT_MODEL,
            opset,
            dynamic_tokens=fixed_why is None,
        )

        say("checking the graphs against torch")
        px = probe_pixels(CHECK_BATCH, size, pcfg["mean"], pcfg["std"], 2)
        ids = _token_ids(tokenizer, list(PROBE_CAPTIONS[-CHECK_BATCH:]))
        parity: dict[str, float] = {
            "image": check_parity(img_mod, stage / IMAGE_MODEL, IMAGE_INPUT, px, "image"),
            "text": check_parity(txt_mod, stage / TEXT_MODEL, TEXT_INPUT, ids, "text"),
        }
        if fixed_why is None:
            parity["text_few_tokens"] = _check_few_tokens(txt_mod, stage / TEXT_MODEL, ids, pad_id)
        embed_dim = int(run_onnx(stage / IMAGE_MODEL, IMAGE_INPUT, px[:1]).shape[1])
        if int(config.get("embed_dim", embed_dim)) != embed_dim:
            raise ExportError(
                f"The model config says embed_dim {config['embed_dim']} but the model gives "
                f"{embed_dim}-d vectors; pass the config the model was built from."
            )

        variants: dict[str, dict[str, Any]] = {}
        if int8:
            say("quantizing to int8")
            variants["int8"] = _int8_variant(stage, size, pcfg, tokenizer, pad_id)

        exported_with = {
            "torch": torch.__version__,
            "open_clip": open_clip.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "opset": opset,
            "exporter": "torch.onnx TorchScript (dynamo=False)",
            "parity_min_cosine": parity,
            "text_tokens": "dynamic" if fixed_why is None else f"fixed: {fixed_why}",
            **(provenance or {}),
        }
        if tok["kind"] == "hf":
            import transformers

            exported_with["transformers"] = transformers.__version__
        files = hash_files(stage)
        # The id covers what defines the embedding space: the fp32 graphs, the configs and
        # the tokenizer; so the same weights give the same id with or without int8.
        manifest = Manifest(
            model_id=make_model_id(arch, pretrained, {k: files[k] for k in core_files(stage)}),
            files=files,
            name=out_dir.name,
            arch=arch,
            pretrained=pretrained,
            source={"kind": "export", "arch": arch, "pretrained": pretrained, **(source or {})},
            variants=variants,
            logit_scale=float(model.logit_scale.exp().item()),
            random_init=random_init,
            exported_with=exported_with,
        )
        write_manifest(stage, manifest)
        exported_with["tokenizer_ids_equal"] = _check_tokenizer(stage, manifest, tokenizer)
        write_manifest(stage, replace(manifest, exported_with=exported_with))
        fsync_tree(stage)
        move_into_place(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    info = read_model_info(out_dir)
    say(f"exported {info.model_id} to {out_dir}")
    return info


# Texts the runtime tokenizer must turn into exactly open_clip's ids at export time.
TOKENIZER_PROBES = (
    *PROBE_CAPTIONS,
    "",
    "  Ünïcödé   café 東京 🐕 ",
    "Tom &amp; Jerry &lt;3 — ‘quotes’ …",
    "sunset_beach-2019.jpg (edited) #tag",
    "word " * 100,
)


def _check_tokenizer(stage: Path, manifest: Manifest, tokenizer: Any) -> int:
    """The runtime tokenizer read back from the written files gives open_clip's ids."""
    from app.core.model.tokenizer import load_tokenizer

    info = describe(stage, manifest)
    ours = load_tokenizer(stage, info).encode(list(TOKENIZER_PROBES))
    ref = _token_ids(tokenizer, list(TOKENIZER_PROBES))
    for text, a, b in zip(TOKENIZER_PROBES, ours, ref, strict=True):
        if a.shape != b.shape or not np.array_equal(a, b):
            raise ExportError(
                f"PhotoSeek's tokenizer does not reproduce this model's tokenizer (on "
                f"{text[:40]!r}); this tokenizer is not supported yet. Please report it with "
                "the architecture name."
            )
    return len(TOKENIZER_PROBES)


def _check_few_tokens(txt_mod: Any, path: Path, ids: np.ndarray, pad_id: int) -> float:
    """The text graph on ids cut right after the longest row's end token vs torch on the full
    padded context: the cut the runtime makes, at its tightest (no rounding up)."""
    if not token_axis_is_dynamic(path):
        raise ExportError(
            f"The exported text graph {path.name} lost its dynamic token axis. This is a bug "
            "in the exporter; please report it with your torch version."
        )
    short = trim_token_ids(ids, pad_id, step=1)
    return check_parity(txt_mod, path, TEXT_INPUT, ids, "text", feed=short)


def _int8_variant(
    stage: Path, size: int, pcfg: dict[str, Any], tokenizer: Any, pad_id: int
) -> dict[str, Any]:
    """visual/model.int8.onnx, textual/model.int8.onnx and their cosine to fp32 (minimum over
    probe inputs, the text ids cut as the runtime cuts them when the token axis is dynamic)."""
    quantize_int8(stage / IMAGE_MODEL, stage / INT8_IMAGE_MODEL)
    quantize_int8(stage / TEXT_MODEL, stage / INT8_TEXT_MODEL)
    px = probe_pixels(8, size, pcfg["mean"], pcfg["std"], 3)
    ids = _token_ids(tokenizer, list(PROBE_CAPTIONS))
    if token_axis_is_dynamic(stage / TEXT_MODEL):
        if not token_axis_is_dynamic(stage / INT8_TEXT_MODEL):
            raise ExportError(
                "Quantizing the text graph to int8 lost its dynamic token axis; export "
                "with --no-int8 and please report this with your onnxruntime version."
            )
        ids = trim_token_ids(ids, pad_id)
    cos = {
        "image": min_cosine(
            run_onnx(stage / IMAGE_MODEL, IMAGE_INPUT, px),
            run_onnx(stage / INT8_IMAGE_MODEL, IMAGE_INPUT, px),
        ),
        "text": min_cosine(
            run_onnx(stage / TEXT_MODEL, TEXT_INPUT, ids),
            run_onnx(stage / INT8_TEXT_MODEL, TEXT_INPUT, ids),
        ),
    }
    log.info("int8 cosine to fp32: image %.4f, text %.4f", cos["image"], cos["text"])
    return {
        "image_model": INT8_IMAGE_MODEL,
        "text_model": INT8_TEXT_MODEL,
        "cosine_to_fp32": {k: round(v, 6) for k, v in cos.items()},
    }


def _token_ids(tokenizer: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(tokenizer(texts), dtype=np.int64)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _reporter(progress: Progress | None) -> Progress:
    def say(msg: str) -> None:
        log.info("%s", msg)
        if progress is not None:
            progress(msg)

    return say
