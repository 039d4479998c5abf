"""End to end: a micro CLIP trained on "a red circle"-style pictures, exported with our exporter,
finds matching photos through the runtime path only (JPEG files, app.core.photos.decode,
app.core.model.tokenizer, onnxruntime via app.core.model.encoder). This proves the tokenizer, both towers
and the preprocessing are wired consistently; a mismatch anywhere drops accuracy to chance."""

from __future__ import annotations

from pathlib import Path

import microclip
import numpy as np
import pytest

from app.core.model.encoder import Encoder
from app.core.photos.decode import open_image

MIN_TOP1 = 0.9
PER_PAIR = 3  # fresh pictures per colour/shape pair in the searched gallery


def write_gallery(folder: Path, seed: int) -> tuple[list[Path], np.ndarray]:
    """JPEG files of every pair, from a seed training never used, in assorted sizes and shapes."""
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for k, (color, shape) in enumerate(microclip.all_pairs()):
        for i in range(PER_PAIR):
            w = int(rng.integers(60, 400))
            h = int(w * rng.uniform(0.75, 1.33))
            img = microclip.make_shape_image(color, shape, (w, h), rng)
            path = folder / f"{color}-{shape}-{i}.jpg"
            img.save(path, quality=int(rng.integers(80, 96)))
            paths.append(path)
            labels.append(k)
    return paths, np.array(labels)


def rank_accuracy(model_dir: Path, folder: Path, precision: str = "fp32") -> tuple[float, float]:
    """(text→image top-1 accuracy over all pairs, image→caption accuracy over all pictures)."""
    paths, labels = write_gallery(folder, seed=20_240)
    captions = [microclip.caption(c, s) for c, s in microclip.all_pairs()]
    with Encoder(model_dir, device="cpu", threads=2, precision=precision) as enc:
        images = [open_image(p, min_side=enc.info.image_size) for p in paths]
        img_vecs = enc.encode_images(images)
        txt_vecs = enc.encode_text(captions)
    assert img_vecs.dtype == np.float32 and txt_vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img_vecs, axis=1), 1.0, atol=1e-4)
    sim = txt_vecs @ img_vecs.T  # [queries, images]
    top1 = float(np.mean(labels[sim.argmax(axis=1)] == np.arange(len(captions))))
    classify = float(np.mean(sim.argmax(axis=0) == labels))
    return top1, classify


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_text_queries_find_matching_photos(
    tiny_model_dir: Path, tmp_path: Path, precision: str
) -> None:
    top1, classify = rank_accuracy(tiny_model_dir, tmp_path, precision)
    assert top1 >= MIN_TOP1, f"text→image top-1 {top1:.2f}"
    assert classify >= MIN_TOP1, f"image→caption {classify:.2f}"


def test_untrained_model_fails_the_same_check(tmp_path: Path) -> None:
    """The check has teeth: the same architecture with its initial weights is near chance."""
    pytest.importorskip("torch", reason="exporting needs the export extra")
    from app.core.model.export.exporter import export_from_model

    out = tmp_path / "untrained"
    export_from_model(
        microclip.build_micro_clip(seed=0),
        arch="micro-clip",
        pretrained=None,
        out_dir=out,
        preprocess_cfg=microclip.preprocess_cfg(),
        int8=False,
        random_init=True,
    )
    (tmp_path / "gallery").mkdir()
    top1, classify = rank_accuracy(out, tmp_path / "gallery")
    assert top1 < 0.5 and classify < 0.5
