"""What every `photoseek` library command shares: exit codes, argument types, the model and
result options, opening the library, and JSON output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.api import Paths, UserError

if TYPE_CHECKING:
    from app.core.api import Folder, Library

EXIT_USER = 1
EXIT_USAGE = 2
EXIT_NO_MODEL = 3
EXIT_INTERRUPTED = 130
YEARS = (1800, 2999)  # capture years the catalog keeps; others are treated as unknown dates
MAX_PIXELS = 1_000_000  # no photo is this wide or tall: a larger region number is a typo
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


# ---------------------------------------------------------------- argument types


def parse_year(text: str) -> int:
    """`2021` → 2021; anything else is a usage error that shows the expected form."""
    t = text.strip()
    if not (t.isdigit() and len(t) == 4) or not YEARS[0] <= int(t) <= YEARS[1]:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a year PhotoSeek knows: give one from {YEARS[0]} to {YEARS[1]}, "
            "e.g. --year 2021"
        )
    return int(t)


def parse_month(text: str) -> int:
    """`5`, `05`, `may` or `May` → 5."""
    t = text.strip().lower()
    if t.isdigit() and 1 <= int(t) <= 12:
        return int(t)
    if len(t) >= 3:
        for i, name in enumerate(MONTHS, start=1):
            if name.startswith(t):
                return i
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a month: use 1-12 or a name, e.g. --month 7 or --month july"
    )


def parse_region(text: str) -> tuple[int, int, int, int]:
    """`x,y,w,h` in pixels of the (EXIF-rotated) image: `120,80,400,300`."""
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [float(p) for p in parts]
        if len(numbers) != 4:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a region: give x,y,w,h in pixels, e.g. --region 120,80,400,300"
        ) from None
    if not all(math.isfinite(n) and abs(n) <= MAX_PIXELS for n in numbers):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a region: each of x,y,w,h must be a number of pixels "
            f"from 0 to {MAX_PIXELS:,}"
        )
    x, y, w, h = (int(n) for n in numbers)
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a region: x and y must be ≥ 0, width and height > 0"
        )
    return (x, y, w, h)


def parse_weight(text: str) -> float:
    try:
        w = float(text)
    except ValueError:
        w = -1.0
    if not 0.0 <= w <= 1.0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a weight: use a number from 0 (text only) to 1 (image only)"
        )
    return w


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def parse_moment(text: str) -> int:
    """A time in a video ("0:12", "1:02:03", "12.5" seconds) as milliseconds."""
    try:
        parts = [float(x) for x in text.strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(x < 0 or not math.isfinite(x) for x in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: use 0:12, 1:02:03 or 12.5")
    seconds = 0.0
    for x in parts:
        seconds = seconds * 60 + x
    return round(seconds * 1000)


def format_moment(ms: int) -> str:
    """A time in a video as people write it: "0:12", "1:02:03"."""
    s = max(0, int(ms)) // 1000
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


# ---------------------------------------------------------------- options


def type_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--type",
        choices=("photo", "video", "all"),
        default="all",
        help="only photos, only videos, or both (default)",
    )


def model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default=None,
        help="where the model runs: auto, cpu, cuda, coreml, directml (default: the setting "
        "chosen in the window, else auto)",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="DIR",
        help="an exported model folder or an installed model's name "
        "(default: the active installed model)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default=None,
        help="fp32 or the model's int8 variant (default: the setting chosen in the window, "
        "else fp32): int8 is faster on CPU; its vectors "
        "are kept apart, so switching means indexing again",
    )


def result_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--top", type=positive_int, default=20, metavar="N", help="how many results (default 20)"
    )
    floor = p.add_mutually_exclusive_group()
    floor.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="COS",
        help="hide photos whose cosine with the query is under COS (a raw model cosine, e.g. "
        "0.2 for CLIP), instead of the model's calibrated relevance floor",
    )
    floor.add_argument(
        "--all",
        action="store_true",
        help="no relevance floor: the --top closest photos, however weak the match",
    )
    p.epilog = (
        "By default only photos above the model's calibrated relevance floor are shown (the "
        "cosine its model card or calibration set as 'relevant'); --min-score or --all change it."
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


# ---------------------------------------------------------------- plumbing


def command(fn: Callable[[argparse.Namespace, Paths], int]) -> Callable[..., int]:
    """Map a missing or broken model to exit code 3, whichever layer noticed it."""

    @wraps(fn)
    def run(args: argparse.Namespace, paths: Paths) -> int:
        from app.core.api import ModelError

        try:
            return fn(args, paths)
        except ModelError as e:
            raise UserError(str(e), exit_code=EXIT_NO_MODEL) from e

    return run


@contextmanager
def open_library(
    args: argparse.Namespace, paths: Paths, *, need_model: bool = False
) -> Iterator[Library]:
    from app.core.api import Library

    options = vars(args)  # `folders` has no model options: it never runs the model
    lib = Library.open(
        paths.ensure(),
        device=options.get("device"),
        model_dir=_model_dir(args, paths),
        precision=options.get("precision"),
    )
    try:
        if need_model and not lib.has_model:
            how = (
                f"No model is installed in {paths.models}. Install one with `photoseek model "
                "install` (`photoseek model list` shows the choice), or `photoseek model "
                "install --from FOLDER` for a model folder you already have."
            )
            raise UserError(
                f"{lib.model_error or how} Or pass an exported model folder with --model DIR.",
                exit_code=EXIT_NO_MODEL,
            )
        yield lib
    finally:
        lib.close()


def _model_dir(args: argparse.Namespace, paths: Paths) -> Path | None:
    """--model: an exported model folder, or the name of an installed model."""
    given: Path | None = vars(args).get("model")
    if given is None:
        return None
    if given.expanduser().is_dir():
        return given.expanduser().resolve()
    if len(given.parts) == 1:
        from app.core.api import resolve_model_dir

        return resolve_model_dir(paths, str(given))
    raise UserError(
        f"--model {given}: no such model folder. Installed models are the folders "
        f"in {paths.models}.",
        exit_code=EXIT_NO_MODEL,
    )


def resolve(path: Path) -> Path:
    return path.expanduser().resolve()


def iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def folder_dict(f: Folder) -> dict[str, Any]:
    return {"id": f.id, "path": str(f.path), "available": f.available, "photo_count": f.photo_count}


def finite(value: float | None) -> float | None:
    """JSON has no infinities: an unbounded floor is written as null."""
    return value if value is not None and math.isfinite(value) else None
