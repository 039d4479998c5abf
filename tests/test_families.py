"""Every family the catalog needs, as tiny random-init models, read by our runtime with exact
parity against open_clip itself: the same token ids as open_clip's tokenizer on hard strings,
and image / text embeddings at cosine >= 0.9999 to torch (images through open_clip's own
preprocess transform vs ours). Each family is checked in both forms a model folder arrives in:
exported here, and written exactly as Immich's exporter writes its published repositories."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

open_clip = pytest.importorskip("open_clip", reason="the exporter needs the export extra")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("timm")

from families import (  # noqa: E402
    KINDS,
    Family,
    build_family,
    export_immich_style,
    export_ours,
    immich_repo_files,
    install_manifest,
)
from PIL import Image, ImageDraw  # noqa: E402
from test_tokenizer import STRINGS  # noqa: E402

from app.core.model.encoder import Encoder  # noqa: E402
from app.core.model.info import ModelError, read_model_info, verify_model_dir  # noqa: E402
from app.core.model.installed import model_languages  # noqa: E402
from app.core.model.preprocess import to_pixels  # noqa: E402
from app.core.model.tokenizer import load_tokenizer  # noqa: E402

pytestmark = pytest.mark.export
MIN_COSINE = 0.9999
STYLES = ("export", "immich")
# Photo-like pictures of many shapes: wide, tall, square, smaller and larger than the model
# input, so squash vs shortest-side resizing and the centre crop all matter.
IMAGE_SIZES = [(64, 48), (48, 80), (32, 32), (20, 13), (300, 120), (97, 211)]


@dataclass
class Built:
    fam: Family
    folders: dict[str, Path]  # style -> model folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Built]]:
    """One torch model per family, exported both ways; built on first use."""
    cache: dict[str, Built] = {}

    def get(kind: str) -> Built:
        if kind not in cache:
            root = tmp_path_factory.mktemp(kind)
            fam = build_family(kind, root / "work")
            ours = export_ours(fam, root / f"{fam.arch}__random")
            immich = root / "immich" / f"{fam.arch}__random"
            export_immich_style(fam, immich)
            install_manifest(immich)
            cache[kind] = Built(fam, {"export": ours, "immich": immich})
        return cache[kind]

    yield get


def _photos(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for w, h in IMAGE_SIZES:
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        arr = np.stack([255 * x / w, 255 * y / h, 128 + 90 * np.sin(x / 5 + y / 7)], -1)
        arr += rng.normal(0, 10, arr.shape)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(2, max(3, min(w, h) // 3)))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=fill)
        out.append(img)
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def _torch_text(fam: Family, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = fam.tokenizer(texts)
    with torch.no_grad():
        return ids.numpy(), fam.model.encode_text(ids).numpy()


def _transform(fam: Family) -> Any:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(**fam.preprocess), is_train=False)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", KINDS)
def test_text_matches_open_clip(built: Callable[[str], Built], kind: str, style: str) -> None:
    b = built(kind)
    folder = b.folders[style]
    ref_ids, ref = _torch_text(b.fam, STRINGS)
    ours_ids = load_tokenizer(folder, read_model_info(folder)).encode(STRINGS)
    assert ours_ids.shape == ref_ids.shape
    for s, a, r in zip(STRINGS, ours_ids, ref_ids, strict=True):
        assert a.tolist() == r.tolist(), f"{kind}: ids differ for {s!r}"
    with Encoder(folder, device="cpu", threads=1) as enc:
        got = enc.encode_text(STRINGS)
        alone = np.concatenate([enc.encode_text([s]) for s in STRINGS[:6]])
    cos = _cosines(ref, got)
    assert cos.min() >= MIN_COSINE, f"{kind}/{style}: text cosine {cos.min():.6f}"
    assert _cosines(ref[:6], alone).min() >= MIN_COSINE  # batch of one, cut to its own length


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", KINDS)
def test_images_match_open_clip(built: Callable[[str], Built], kind: str, style: str) -> None:
    b = built(kind)
    folder = b.folders[style]
    info = read_model_info(folder)
    pre = b.fam.preprocess
    assert (info.resize_mode, info.interpolation) == (pre["resize_mode"], pre["interpolation"])
    assert info.mean == pytest.approx(pre["mean"]) and info.std == pytest.approx(pre["std"])
    photos = _photos()
    transform = _transform(b.fam)
    ref_px = torch.stack([transform(p) for p in photos])
    for p, want in zip(photos, ref_px, strict=True):  # our preprocessing is open_clip's
        assert np.abs(to_pixels(p, info) - want.numpy()).max() <= 1e-5
    with torch.no_grad():
        ref = b.fam.model.encode_image(ref_px).numpy()
    with Encoder(folder, device="cpu", threads=1, max_batch=4) as enc:
        got = enc.encode_images(photos)
    cos = _cosines(ref, got)
    assert cos.min() >= MIN_COSINE, f"{kind}/{style}: image cosine {cos.min():.6f}"


@pytest.mark.parametrize("kind", KINDS)
def test_graph_signatures(built: Callable[[str], Built], kind: str) -> None:
    """Ours: dynamic batch (and tokens where exact), int64 ids. Immich's: batch 1, int32."""
    b = built(kind)
    size = b.fam.preprocess["size"]
    ctx = int(b.fam.tokenizer.context_length)
    dynamic = kind in ("clip", "xlm-roberta", "nllb")  # SigLIP's text tower reads its padding
    want = {
        "export": (["batch", 3, size, size], "tensor(int64)", ["batch", "tokens" if dynamic else ctx]),
        "immich": ([1, 3, size, size], "tensor(int32)", [1, ctx]),
    }  # fmt: skip
    for style, (img_shape, id_type, txt_shape) in want.items():
        folder = b.folders[style]
        info = verify_model_dir(folder)
        img = ort.InferenceSession(str(folder / info.image_model)).get_inputs()
        txt = ort.InferenceSession(str(folder / info.text_model)).get_inputs()
        assert [(i.name, i.shape) for i in img] == [("image", img_shape)]
        assert [(i.name, i.type, i.shape) for i in txt] == [("text", id_type, txt_shape)]
        assert json.loads((folder / "config.json").read_text()) == b.fam.config
        files = immich_repo_files(folder)
        assert "photoseek.json" not in files and set(files) == set(info.files)


def test_siglip2_follows_add_bos_add_eos(built: Callable[[str], Built], tmp_path: Path) -> None:
    """A Gemma tokenizer.json can say "<bos> $A" while tokenizer_config.json says
    add_bos_token=False, add_eos_token=True (SigLIP 2): transformers rebuilds the template from
    the flags on loading, and so must we."""
    from tokenizers import Tokenizer, processors

    b = built("siglip2")
    folder = b.folders["immich"]
    tok_file = folder / "textual" / "tokenizer.json"
    raw = Tokenizer.from_file(str(tok_file))
    bos = raw.token_to_id("<bos>")
    raw.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
    )
    hf_dir = tmp_path / "gemma"
    hf_dir.mkdir()
    for p in (folder / "textual").glob("*.json"):
        (hf_dir / p.name).write_bytes(p.read_bytes())
    raw.save(str(hf_dir / "tokenizer.json"))
    ref = open_clip.tokenizer.HFTokenizer(str(hf_dir), context_length=64, clean="canonicalize")
    want = ref(STRINGS).numpy()
    assert (want == 1).any(axis=1).all() and not (want == bos).any()  # <eos> yes, <bos> no

    model = tmp_path / "model"
    (model / "textual").mkdir(parents=True)
    for rel in ("config.json", "visual/preprocess_cfg.json"):
        (model / rel).parent.mkdir(parents=True, exist_ok=True)
        (model / rel).write_bytes((folder / rel).read_bytes())
    for p in hf_dir.iterdir():
        (model / "textual" / p.name).write_bytes(p.read_bytes())
    info = read_model_info(folder)
    np.testing.assert_array_equal(load_tokenizer(model, info).encode(STRINGS), want)


def test_nllb_languages(built: Callable[[str], Built]) -> None:
    b = built("nllb")
    oc_tok = b.fam.tokenizer
    for style, folder in b.folders.items():
        with Encoder(folder, device="cpu", threads=1) as enc:
            langs = enc.languages()
            assert langs is not None and len(langs) >= 200, style
            assert {"eng_Latn", "fra_Latn", "zho_Hans", "arb_Arab"} <= set(langs)
            assert enc.language == "eng_Latn"
            english = enc.encode_text(STRINGS[:6])
        assert model_languages(folder) == langs, style  # the same, without an Encoder
        # open_clip's HFTokenizer.set_language calls set_src_lang_special_tokens, which
        # transformers 4.57 undoes on every call (_switch_to_input_mode restores src_lang):
        # setting src_lang is what it means, and what NLLB's tokenizer does per text.
        try:
            oc_tok.tokenizer.src_lang = "fra_Latn"
            ref_ids, ref = _torch_text(b.fam, STRINGS)
        finally:
            oc_tok.tokenizer.src_lang = "eng_Latn"
        with Encoder(folder, device="cpu", threads=1, language="fra_Latn") as enc:
            assert enc.language == "fra_Latn"
            ids = enc._get_tokenizer().encode(STRINGS)
            np.testing.assert_array_equal(ids, ref_ids)
            assert (ids[:, 0] == oc_tok.tokenizer.convert_tokens_to_ids("fra_Latn")).all()
            french = enc.encode_text(STRINGS)
        assert _cosines(ref, french).min() >= MIN_COSINE
        assert _cosines(english, french[:6]).max() < 0.99999  # the language token counts
        with (
            Encoder(folder, device="cpu", threads=1, language="xx_Nope") as enc,
            pytest.raises(ModelError, match="xx_Nope"),
        ):
            enc.encode_text(["a dog"])


@pytest.mark.parametrize("kind", ["clip", "siglip", "xlm-roberta"])
def test_languages_is_none_without_a_language_token(
    built: Callable[[str], Built], kind: str
) -> None:
    with Encoder(built(kind).folders["immich"], device="cpu", threads=1, language="fra_Latn") as e:
        assert e.languages() is None and e.language is None
        assert e.encode_text(["a dog"]).shape == (1, e.dim)
    assert model_languages(built(kind).folders["immich"]) is None


@pytest.mark.parametrize("kind", KINDS)
def test_cached_family_folders(family_model_dir: Callable[..., Path], kind: str) -> None:
    """The cached builds other tests reuse (conftest.family_model_dir) are whole, installed
    models; their repository files are what the hub would serve."""
    for immich_style in (True, False):
        folder = family_model_dir(kind, immich_style=immich_style)
        info = verify_model_dir(folder)
        files = immich_repo_files(folder)
        assert {"config.json", "visual/model.onnx", "textual/model.onnx"} <= set(files)
        assert "visual/preprocess_cfg.json" in files
        assert info.source["kind"] == ("hub" if immich_style else "export")
        with Encoder(folder, device="cpu", threads=1) as enc:
            assert enc.encode_text(["a dog"]).shape == (1, enc.dim)
