"""Rebuild resources/calibration/ from the wheels its photos come from (see LICENSES.md).

    pip download --no-deps scikit-image==0.26.0 matplotlib==3.11.2 scikit-learn==1.9.1 \
        PyWavelets==1.9.0 arcade==3.3.3 -d WHEELS
    pip download --no-deps --only-binary=:all: --python-version 3.10 \
        --platform manylinux2014_x86_64 scipy==1.9.3 -d WHEELS
    python scripts/make_calibration_set.py WHEELS

Each image is read straight out of its wheel, flattened onto white where it has transparency,
scaled so its short side is 256 px and written as a JPEG; captions.json is written beside them.
"""

from __future__ import annotations

import bz2
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "resources" / "calibration"
SHORT_SIDE = 256
QUALITY = 85

SKIMAGE = ("scikit-image", "0.26.0", "skimage/data/")
MPL = ("matplotlib", "3.11.2", "matplotlib/mpl-data/sample_data/")
SKLEARN = ("scikit-learn", "1.9.1", "sklearn/datasets/images/")
PYWT = ("PyWavelets", "1.9.0", "pywt/data/")
SCIPY = ("scipy", "1.9.3", "scipy/misc/")
ARCADE = ("arcade", "3.3.3", "arcade/resources/assets/images/")

KENNEY = ("CC0-1.0", "Kenney (www.kenney.nl)",
          "arcade/resources/assets/images/License.txt: everything licensed CC0")  # fmt: skip

# (file written, caption, source, original name, licence, author, where the licence is stated)
ENTRIES: list[tuple[str, str, tuple[str, str, str], str, str, str, str]] = [
    ("astronaut.jpg", "an astronaut in a spacesuit", SKIMAGE, "astronaut.png",
     "Public domain", "NASA", "skimage.data.astronaut docstring"),
    ("cat.jpg", "a tabby cat", SKIMAGE, "chelsea.png",
     "CC0-1.0", "Stefan van der Walt", "skimage.data.chelsea docstring"),
    ("coffee.jpg", "a cup of coffee", SKIMAGE, "coffee.png",
     "CC0-1.0", "Rachel Michetti", "skimage.data.coffee docstring"),
    ("rocket.jpg", "a rocket on a launch pad", SKIMAGE, "rocket.jpg",
     "Public domain", "SpaceX", "skimage.data.rocket docstring"),
    ("galaxies.jpg", "galaxies in deep space", SKIMAGE, "hubble_deep_field.jpg",
     "Public domain", "NASA", "skimage.data.hubble_deep_field docstring"),
    ("photographer.jpg", "a black and white photo of a man with a camera on a tripod", SKIMAGE,
     "camera.png", "CC0-1.0", "Lav Varshney", "skimage.data.camera docstring"),
    ("brick_wall.jpg", "a brick wall", SKIMAGE, "brick.png",
     "CC0-1.0", "CC0Textures", "skimage.data.brick docstring"),
    ("grass.jpg", "a black and white close-up of grass", SKIMAGE, "grass.png",
     "CC0-1.0", "linolafett (DeviantArt)", "skimage.data.grass docstring"),
    ("gravel.jpg", "a close-up of gravel", SKIMAGE, "gravel.png",
     "CC0-1.0", "CC0Textures", "skimage.data.gravel docstring"),
    ("horse.jpg", "a black silhouette of a horse", SKIMAGE, "horse.png",
     "CC0-1.0", "Andreas Preuss (marauder)", "skimage.data.horse docstring"),
    ("retina.jpg", "a medical photograph of the retina of an eye", SKIMAGE, "retina.jpg",
     "CC0-1.0", "Mikael Häggström", "skimage.data.retina docstring"),
    ("clock.jpg", "a motion-blurred clock on a wall", SKIMAGE, "clock_motion.png",
     "Public domain", "Stefan van der Walt", "skimage.data.clock docstring"),
    ("grace_hopper.jpg", "a portrait of a woman in a navy uniform", MPL, "grace_hopper.jpg",
     "Public domain", "U.S. Navy (official portrait of Grace Hopper)",
     "a U.S. federal government work; matplotlib's sample data"),
    ("gift.jpg", "a blue gift box with a ribbon", MPL, "Minduka_Present_Blue_Pack.png",
     "Public domain", "Minduka (openclipart.org)",
     "openclipart.org releases all its clip art into the public domain"),
    ("temple.jpg", "a Chinese temple", SKLEARN, "china.jpg",
     "CC-BY-2.0", "danielbuechele (Flickr)", "sklearn/datasets/images/README.txt"),
    ("flower.jpg", "an orange dahlia flower", SKLEARN, "flower.jpg",
     "CC-BY-2.0", "vultilion (Flickr)", "sklearn/datasets/images/README.txt"),
    ("raccoon.jpg", "a raccoon", SCIPY, "face.dat",
     "Public domain", "public-domain-image.com (raccoon-procyon-lotor.jpg)",
     "scipy.misc.face docstring"),
    ("staircase.jpg", "a black and white photo of an outdoor staircase", PYWT, "ascent.npz",
     "Public domain", "public-domain-image.com (accent-to-the-top.jpg)",
     "pywt.data.ascent docstring"),
    ("bee.jpg", "a cartoon bee", ARCADE, "enemies/bee.png", *KENNEY),
    ("frog.jpg", "a cartoon frog", ARCADE, "enemies/frog.png", *KENNEY),
    ("ladybug.jpg", "a cartoon ladybug", ARCADE, "enemies/ladybug.png", *KENNEY),
    ("mouse.jpg", "a cartoon mouse", ARCADE, "enemies/mouse.png", *KENNEY),
    ("coin.jpg", "a gold coin", ARCADE, "items/coinGold.png", *KENNEY),
    ("key.jpg", "a blue key", ARCADE, "items/keyBlue.png", *KENNEY),
    ("card.jpg", "the ace of hearts playing card", ARCADE, "cards/cardHeartsA.png", *KENNEY),
    ("spaceship.jpg", "a cartoon spaceship", ARCADE, "space_shooter/playerShip1_orange.png",
     *KENNEY),
    ("cactus.jpg", "a cartoon cactus", ARCADE, "tiles/cactus.png", *KENNEY),
    ("crate.jpg", "a wooden crate", ARCADE, "tiles/boxCrate.png", *KENNEY),
    ("robot.jpg", "a cartoon robot", ARCADE, "animated_characters/robot/robot_idle.png",
     *KENNEY),
]  # fmt: skip


def wheel_for(wheels: Path, package: str, version: str) -> zipfile.ZipFile:
    stem = package.lower().replace("-", "_")
    for p in sorted(wheels.glob("*.whl")):
        name = p.name.lower()
        if name.startswith(f"{stem}-{version}-"):
            return zipfile.ZipFile(p)
    raise SystemExit(f"no {package} {version} wheel in {wheels}")


def read_image(data: bytes, original: str) -> Image.Image:
    if original.endswith(".dat"):  # scipy.misc.face: bz2-compressed raw 768 x 1024 RGB bytes
        arr: Any = np.frombuffer(bz2.decompress(data), dtype=np.uint8).reshape(768, 1024, 3)
        return Image.fromarray(arr)
    if original.endswith(".npz"):
        with np.load(io.BytesIO(data)) as npz:
            arr = npz[npz.files[0]]
        return Image.fromarray(np.asarray(arr, dtype=np.uint8))
    img = Image.open(io.BytesIO(data))
    img.load()
    if img.mode in ("RGBA", "LA", "P", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


LICENCE_TEXT = {
    "Public domain": "no copyright restrictions: use, change and share freely",
    "CC0-1.0": "Creative Commons Zero 1.0, https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-2.0": "Creative Commons Attribution 2.0, https://creativecommons.org/licenses/by/2.0/ "
    "(credit the author; these copies are scaled down and recompressed)",
}


def licenses_md(records: list[dict[str, str]]) -> str:
    lines = [
        "# Calibration photos: sources and licences",
        "",
        "These photos calibrate a model's relevance floor at install (`app/core/model/calibrate.py`).",
        "Each was taken from a package on PyPI that ships it inside its wheel, scaled so its short",
        "side is 256 px and saved as a JPEG (`scripts/make_calibration_set.py` rebuilds them).",
        "Only public-domain, CC0 and CC-BY images are used; the licence of each is stated where",
        "the last column says.",
        "",
        "Licences:",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in LICENCE_TEXT.items()]
    lines += [
        "",
        "| File | Caption | Source (package, file) | Licence | Author | Licence stated in |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        lines.append(
            f"| {r['file']} | {r['caption']} | {r['source']}, `{r['original']}` | "
            f"{r['license']} | {r['author']} | {r['license_stated_in']} |"
        )
    lines += [
        "",
        'Attribution for the CC-BY photos: temple.jpg is "china.jpg" by danielbuechele',
        '(https://www.flickr.com/photos/danielbuechele/6061409035), flower.jpg is "flower.jpg"',
        "by vultilion (https://www.flickr.com/photos/vultilion/6056698931), both under CC BY 2.0",
        "as distributed by scikit-learn (its README credits both to danielbuechele; the Flickr",
        "address of flower.jpg is vultilion's). The cartoon images are from Kenney's",
        "(www.kenney.nl) CC0 asset packs as shipped by arcade.",
        "",
    ]
    return "\n".join(lines)


def main(wheels: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    records = []
    for file, text, (package, version, prefix), original, licence, author, note in ENTRIES:
        with wheel_for(wheels, package, version) as whl:
            img = read_image(whl.read(prefix + original), original)
        scale = SHORT_SIDE / min(img.size)
        size = (round(img.width * scale), round(img.height * scale))
        img.resize(size, Image.Resampling.LANCZOS).save(OUT / file, quality=QUALITY)
        records.append(
            {
                "file": file,
                "caption": text,
                "source": f"{package} {version}",
                "original": prefix + original,
                "license": licence,
                "author": author,
                "license_stated_in": note,
            }
        )
    doc = {
        "about": "Captioned photos for calibrating a model's relevance floor "
        "(app/core/model/calibrate.py); licences in LICENSES.md.",
        "photos": records,
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    (OUT / "captions.json").write_text(text, encoding="utf-8")
    (OUT / "LICENSES.md").write_text(licenses_md(records), encoding="utf-8")
    print(f"{len(records)} photos in {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
