"""Tiny random-init models of every CLIP family the catalog needs, built offline, in the one
model-folder layout: by our exporter, or exactly as Immich's exporter writes its published
repositories (input names "image"/"text", int32 ids, batch fixed at 1, the tokenizer saved with
`save_pretrained`).

Stable API for other tests (the hub tests serve these folders from a local hub):

- ``KINDS``: "clip", "siglip", "siglip2", "xlm-roberta", "nllb".
- ``build_family_model(kind, out, *, immich_style) -> Path``: the model folder at `out`, with a
  photoseek.json (as an installed model has one).
- ``immich_repo_files(folder) -> dict[str, bytes]``: the files of the folder as the hub serves
  its repository, i.e. without photoseek.json (nor our dot-files).
- ``build_family(kind, work) -> Family``: the torch model, its open_clip tokenizer and config,
  for parity tests that compare a folder with open_clip itself.

Each family is tiny but keeps what makes it that family: its tokenizer (trained here with
`tokenizers` and wrapped in the transformers class the real model uses), its text tower
(open_clip's, or an HF one), its pooling, its preprocessing config, and (SigLIP, NLLB-SigLIP) a
timm ViT vision tower with attention-pool head, registered with timm as ``TIMM_SIGLIP``.
Torch, open_clip, timm and transformers are imported only by the functions that need them.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS: tuple[str, ...] = ("clip", "siglip", "siglip2", "xlm-roberta", "nllb")
SEED = 0
IMAGE_SIZE = 32
EMBED_DIM = 32
TIMM_SIGLIP = "photoseek_test_vit_siglip_tiny"
OPSET = 17

# open_clip's preprocessing of each family's published weights (open_clip/pretrained.py:
# _pcfg for OpenAI/LAION CLIP and XLM-RoBERTa CLIP, _slpcfg for SigLIP and NLLB-SigLIP).
CLIP_PREPROCESS: dict[str, Any] = {
    "size": IMAGE_SIZE,
    "mode": "RGB",
    "mean": (0.48145466, 0.4578275, 0.40821073),
    "std": (0.26862954, 0.26130258, 0.27577711),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
    "fill_color": 0,
}
SIGLIP_PREPROCESS: dict[str, Any] = {
    **CLIP_PREPROCESS,
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
    "resize_mode": "squash",
}

CORPUS = [
    "a dog running on the beach",
    "un chien qui court sur la plage",
    "ein Hund, der am Strand läuft",
    "un perro corriendo en la playa",
    "浜辺を走る犬",
    "собака бежит по пляжу",
    "a birthday cake with candles",
    "two children playing in the snow 🎂",
    "a photo of a cat sitting on a red sofa",
    "sunset over the mountains, été 2019",
]

# The families' configs, shrunk from open_clip's model_configs (ViT-B-32, ViT-B-16-SigLIP,
# ViT-B-16-SigLIP2, xlm-roberta-base-ViT-B-32, nllb-clip-base-siglip).
_VIT = {"image_size": IMAGE_SIZE, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8}
_TIMM_VISION = {
    "image_size": IMAGE_SIZE,
    "timm_model_name": TIMM_SIGLIP,
    "timm_model_pretrained": False,
    "timm_pool": "map",
    "timm_proj": "none",
}
_SIGLIP_TEXT = {
    "context_length": 64,
    "width": 32,
    "heads": 2,
    "layers": 2,
    "no_causal_mask": True,
    "proj_bias": True,
    "pool_type": "last",
    "norm_kwargs": {"eps": 1e-6},
    "tokenizer_kwargs": {"clean": "canonicalize"},
}


@dataclass
class Family:
    kind: str
    arch: str
    config: dict[str, Any]  # open_clip's model config, as config.json holds it
    model: Any  # open_clip CLIP / CustomTextCLIP, eval mode
    tokenizer: Any  # open_clip's tokenizer for it (SimpleTokenizer or HFTokenizer)
    preprocess: dict[str, Any]  # open_clip's preprocess cfg of the family's weights
    tokenizer_dir: Path | None  # the HF tokenizer folder (None: CLIP's BPE)
    work: Path  # where its HF folders live


def build_family(kind: str, work: Path, seed: int = SEED) -> Family:
    """The torch side of a family: its HF folders are written under `work`."""
    import open_clip
    import torch

    if kind not in KINDS:
        raise ValueError(f"unknown family {kind!r}; known: {', '.join(KINDS)}")
    work.mkdir(parents=True, exist_ok=True)
    register_timm_siglip()
    arch = f"photoseek-test-{kind}"
    config, preprocess, tok_dir = _family_config(kind, work)
    cfg_dir = work / "open_clip_cfg"
    cfg_dir.mkdir(exist_ok=True)
    (cfg_dir / f"{arch}.json").write_text(json.dumps(config), encoding="utf-8")
    open_clip.add_model_config(cfg_dir / f"{arch}.json")
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        model = open_clip.create_model(arch, pretrained=None, pretrained_text=False).eval()
    open_clip.set_model_preprocess_cfg(model, dict(preprocess))
    tokenizer = open_clip.get_tokenizer(arch)
    return Family(kind, arch, config, model, tokenizer, preprocess, tok_dir, work)


def build_family_model(kind: str, out: Path, *, immich_style: bool) -> Path:
    """A model folder of family `kind` at `out`: exported by PhotoSeek's exporter, or exactly
    as Immich's exporter writes it (then given a photoseek.json as an install would)."""
    out = Path(out)
    work = out.parent / f".{out.name}.family-work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        fam = build_family(kind, work)
        if immich_style:
            export_immich_style(fam, out)
            install_manifest(out)
        else:
            export_ours(fam, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def export_ours(fam: Family, out: Path) -> Path:
    """`fam` exported by PhotoSeek's exporter (fp32 only) to `out`."""
    from app.core.model.export.exporter import export_from_model

    export_from_model(
        fam.model,
        arch=fam.arch,
        pretrained=None,
        out_dir=out,
        preprocess_cfg=fam.preprocess,
        tokenizer=fam.tokenizer,
        int8=False,
        random_init=True,
        provenance={"seed": SEED},
        model_config=fam.config,
    )
    return out


def immich_repo_files(folder: Path) -> dict[str, bytes]:
    """The repository files of a model folder as the hub serves them: everything but our
    manifest and dot-files (e.g. the encoder's .verified.json), by posix relative path."""
    from app.core.model.info import is_ours

    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "photoseek.json" and not is_ours(p.relative_to(folder))
    }


def install_manifest(folder: Path, *, commit: str = "0" * 40) -> Any:
    """Add photoseek.json to a published-layout folder, as installing it from the hub does
    (app.core.model.install: name "<arch>__<tag>", the id a hash of the core files)."""
    from app.core.model.info import describe, published_manifest, write_manifest

    folder = Path(folder)
    source = {"kind": "hub", "repo": f"immich-app/{folder.name}", "commit": commit}
    manifest = published_manifest(folder, folder.name, source, random_init=True)
    describe(folder, manifest)  # the config files make sense, or ModelError now
    write_manifest(folder, manifest)
    return manifest


# --- Immich's exporter (immich-app/immich machine-learning/export/.../models/openclip.py) --------


def export_immich_style(fam: Family, out: Path) -> None:
    """Write `fam` as Immich's exporter does: config.json = open_clip's model config,
    visual/preprocess_cfg.json = open_clip's preprocess cfg, both towers exported with the
    TorchScript exporter from an example of batch 1 and no dynamic axes (so the batch, and the
    text's token count, are fixed), text ids int32, and the tokenizer saved with
    save_pretrained (CLIP: Hugging Face's CLIP tokenizer of the same BPE)."""
    import open_clip
    import torch

    out = Path(out)
    (out / "visual").mkdir(parents=True)
    (out / "textual").mkdir()
    _save_json(open_clip.get_model_preprocess_cfg(fam.model), out / "visual/preprocess_cfg.json")
    _save_json(fam.config, out / "config.json")
    _hf_tokenizer(fam).save_pretrained(str(out / "textual"))
    size = int(fam.preprocess["size"])
    ctx = int(fam.config["text_cfg"].get("context_length", 77))
    model = fam.model
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        _immich_export(
            _Tower(model, "image"), torch.randn(1, 3, size, size), "image", out / "visual"
        )
        _immich_export(
            _Tower(model, "text"), torch.ones(1, ctx, dtype=torch.int32), "text", out / "textual"
        )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _immich_export(module: Any, example: Any, name: str, folder: Path) -> None:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(folder / "model.onnx"),
            dynamo=False,
            input_names=[name],
            output_names=["embedding"],
            opset_version=OPSET,
        )


def _Tower(model: Any, which: str) -> Any:
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            if which == "image":
                return self.model.encode_image(x, normalize=True)
            return self.model.encode_text(x, normalize=True)

    return Tower().eval()


def _hf_tokenizer(fam: Family) -> Any:
    """The transformers tokenizer Immich saves: AutoTokenizer of hf_tokenizer_name, or for CLIP
    (no HF name) Hugging Face's CLIP tokenizer, here built from open_clip's own BPE."""
    from transformers import AutoTokenizer, CLIPTokenizerFast

    if fam.tokenizer_dir is not None:
        return AutoTokenizer.from_pretrained(str(fam.tokenizer_dir))
    from open_clip.tokenizer import default_bpe

    from app.core.model.export.tokenizer_files import write_clip_bpe

    tmp = fam.work / "clip-bpe"
    tmp.mkdir(parents=True, exist_ok=True)
    write_clip_bpe(Path(default_bpe()), tmp, int(fam.tokenizer.context_length))
    return CLIPTokenizerFast(
        vocab_file=str(tmp / "vocab.json"),
        merges_file=str(tmp / "merges.txt"),
        model_max_length=int(fam.tokenizer.context_length),
    )


def _save_json(data: Any, path: Path) -> None:
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


# --- the families -----------------------------------------------------------------------------


def _family_config(kind: str, work: Path) -> tuple[dict[str, Any], dict[str, Any], Path | None]:
    if kind == "clip":
        text = {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}
        return (
            {"embed_dim": EMBED_DIM, "vision_cfg": dict(_VIT), "text_cfg": text},
            dict(CLIP_PREPROCESS),
            None,
        )
    if kind in ("siglip", "siglip2"):
        tok_dir = (make_t5_tokenizer if kind == "siglip" else make_gemma_tokenizer)(
            work / f"{kind}-tokenizer"
        )
        text = {
            **_SIGLIP_TEXT,
            "vocab_size": _vocab_size(tok_dir),
            "hf_tokenizer_name": str(tok_dir),
        }
        if kind == "siglip2":
            text["act_kwargs"] = {"approximate": "tanh"}
        config = {
            "embed_dim": EMBED_DIM,
            "init_logit_bias": -10,
            "custom_text": True,
            "vision_cfg": dict(_TIMM_VISION),
            "text_cfg": text,
        }
        return config, dict(SIGLIP_PREPROCESS), tok_dir
    if kind == "xlm-roberta":
        hf_dir = make_tiny_xlmr(work / "xlmr")
        text = {
            "hf_model_name": str(hf_dir),
            "hf_tokenizer_name": str(hf_dir),
            "hf_pooler_type": "mean_pooler",
        }
        config = {"embed_dim": EMBED_DIM, "vision_cfg": {**_VIT, "layers": 1}, "text_cfg": text}
        return config, dict(CLIP_PREPROCESS), hf_dir
    hf_dir = make_tiny_nllb(work / "nllb")
    text = {
        "hf_model_name": str(hf_dir),
        "hf_tokenizer_name": str(hf_dir),
        "hf_proj_type": "linear",
        "hf_pooler_type": "cls_pooler",
    }
    config = {
        "embed_dim": EMBED_DIM,
        "custom_text": True,
        "init_logit_bias": -10,
        "vision_cfg": dict(_TIMM_VISION),
        "text_cfg": text,
    }
    return config, dict(SIGLIP_PREPROCESS), hf_dir


def _vocab_size(tok_dir: Path) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(tok_dir)))


def register_timm_siglip() -> None:
    """A tiny timm ViT shaped like SigLIP's vision tower (vit_base_patch16_siglip_224: no class
    token, attention-pool "map" head), at IMAGE_SIZE px with EMBED_DIM features."""
    from timm.models import VisionTransformer, is_model, register_model

    if is_model(TIMM_SIGLIP):
        return

    def photoseek_test_vit_siglip_tiny(pretrained: bool = False, **kwargs: Any) -> Any:
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(key, None)
        args = dict(
            img_size=IMAGE_SIZE,
            patch_size=8,
            embed_dim=EMBED_DIM,
            depth=2,
            num_heads=2,
            class_token=False,
            global_pool="map",
        )
        return VisionTransformer(**{**args, **kwargs})

    register_model(photoseek_test_vit_siglip_tiny)


def _train_unigram(specials: list[str], vocab_size: int = 300) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.trainers import UnigramTrainer

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(CORPUS * 20, trainer)
    return tok


def make_t5_tokenizer(folder: Path) -> Path:
    """SigLIP's tokenizer: T5-style sentencepiece Unigram, </s> appended, padding with </s>
    (pad id 1, as open_clip's SigLipTokenizer and timm's SigLIP tokenizers have it)."""
    from tokenizers import processors
    from transformers import T5TokenizerFast

    tok = _train_unigram(["<pad>", "</s>", "<unk>"])
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = T5TokenizerFast(tokenizer_object=tok, extra_ids=0, pad_token="</s>", eos_token="</s>")
    assert fast.pad_token_id == 1
    fast.save_pretrained(str(folder))
    return folder


def make_gemma_tokenizer(folder: Path) -> Path:
    """SigLIP 2's tokenizer: Gemma-style byte-fallback BPE, saved with add_bos_token=False and
    add_eos_token=True (open_clip's SigLipTokenizer "gemma"), padded on the right with <pad> 0."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.trainers import BpeTrainer
    from transformers import GemmaTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("▁"), behavior="merged_with_next")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tok.train_from_iterator(CORPUS * 20, BpeTrainer(vocab_size=600, special_tokens=specials))
    fast = GemmaTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        add_bos_token=False,
        add_eos_token=True,
        padding_side="right",
    )
    assert (fast.pad_token_id, fast.eos_token_id) == (0, 1)
    fast.save_pretrained(str(folder))
    return folder


def make_tiny_xlmr(folder: Path) -> Path:
    """A tiny XLM-RoBERTa-like model folder: config.json + a Unigram tokenizer trained here."""
    import transformers
    from tokenizers import processors

    tok = _train_unigram(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], vocab_size=250)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    fast = transformers.XLMRobertaTokenizerFast(tokenizer_object=tok)
    assert fast.pad_token_id == 1
    fast.save_pretrained(str(folder))
    transformers.XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,  # 77 tokens + XLM-R's position offset (padding_idx + 1)
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    ).save_pretrained(str(folder))
    return folder


def make_tiny_nllb(folder: Path) -> Path:
    """A tiny NLLB-200-like text model folder: an M2M100 config and a sentencepiece-style
    Unigram tokenizer in NllbTokenizerFast, which adds the FLORES-200 language codes."""
    import transformers

    tok = _train_unigram(["<s>", "<pad>", "</s>", "<unk>"])
    fast = transformers.NllbTokenizerFast(tokenizer_object=tok, src_lang="eng_Latn")
    assert fast.pad_token_id == 1 and fast.convert_tokens_to_ids("fra_Latn") > 3
    fast.save_pretrained(str(folder))
    transformers.M2M100Config(
        vocab_size=len(fast),
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=128,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        scale_embedding=True,
    ).save_pretrained(str(folder))
    return folder
