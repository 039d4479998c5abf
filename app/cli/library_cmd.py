"""`photoseek folders|index|watch|search|similar|status`: the library from the command line.

Everything goes through `app.core.library.Library` and the dataclasses it returns; no Qt here.

Exit codes (every `photoseek` command; README "Exit codes" has the same table):
    0    success (an index run that skipped unreadable files still succeeds)
    1    a problem you can fix: a missing folder or file, a folder already added, a system
         folder, photos not indexed for this model or precision yet, ... (UserError)
    2    bad command-line usage: unknown option, malformed --region, --year or --month
    3    no usable model: install one with `photoseek model install`
    4    the disk is full, or PhotoSeek's data folder cannot be written (StorageError)
    5    the catalog file is damaged: `photoseek repair` moves it aside and rebuilds it
    70   a bug in PhotoSeek: one line on stderr, the traceback in the log file it names
    130  interrupted with Ctrl+C (an index run stops cleanly; run it again to resume)
    141  the output went into a closed pipe (`photoseek search x | head -1`): quiet, as Unix
         tools are (128 + SIGPIPE)

Every failure is one line on stderr, `photoseek: ...`, that names the problem and the fix.
`watch` runs until Ctrl+C and then exits with 0: that is how it is meant to end. A second
Ctrl+C during an index run aborts at once (still safe: every committed batch is kept).
`ModelError` (a missing or broken model) is mapped to 3 here, whichever layer raises it.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any

from app.cli.progress import ProgressLine, format_duration
from app.core.api import GUESSED_SOURCES, Paths, UserError

EXIT_USER = 1
EXIT_USAGE = 2
EXIT_NO_MODEL = 3
EXIT_INTERRUPTED = 130
SKIPPED_SHOWN = 10
YEARS = (1800, 2999)  # capture years the catalog keeps; others are treated as unknown dates
MAX_PIXELS = 1_000_000  # no photo is this wide or tall: a larger region number is a typo
# Folders that hold the system, never photos; adding one (or a subfolder) is refused.
SYSTEM_FOLDERS = tuple(
    Path(p) for p in ("/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64",
                      "/usr", "/snap", "/System")
)  # fmt: skip

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


# ---------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("folders", help="add, remove or list the folders PhotoSeek watches")
    fsub = p.add_subparsers(dest="folders_command", metavar="ACTION", required=True)
    q = fsub.add_parser("add", help="watch these folders (run `photoseek index` afterwards)")
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    q.add_argument(
        "--force",
        action="store_true",
        help="allow a whole disk (/ or a drive's root): everything on it gets indexed",
    )
    q.set_defaults(func=cmd_folders_add)
    q = fsub.add_parser("remove", help="stop watching; forgets their index, never touches files")
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    q.set_defaults(func=cmd_folders_remove)
    q = fsub.add_parser("list", help="the watched folders, their photo counts and availability")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_folders_list)

    p = sub.add_parser("index", help="index new and changed photos (Ctrl+C stops; rerun resumes)")
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="only these watched folders (default: all)",
    )
    _model_options(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("watch", help="index, then keep the index up to date until Ctrl+C")
    _model_options(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("search", help="find photos by text, by an example image, or both")
    p.add_argument(
        "text",
        nargs="?",
        default=None,
        help='what to look for; "-word" excludes, e.g. "beach -people" (a query that is '
        "only exclusions works too: search -people, or search -- -people)",
    )
    p.add_argument("--image", type=Path, default=None, help="an example image (any file)")
    p.add_argument(
        "--image-weight",
        type=parse_weight,
        default=None,
        metavar="W",
        help="0..1: how much the example image counts against the text (default 0.5)",
    )
    p.add_argument(
        "--region",
        type=parse_region,
        default=None,
        metavar="X,Y,W,H",
        help="search for this part of --image only (pixels)",
    )
    p.add_argument("--year", type=parse_year, default=None, metavar="YYYY")
    p.add_argument(
        "--month",
        type=parse_month,
        default=None,
        metavar="M",
        help="1-12 or a name; without --year: that month in every year",
    )
    p.add_argument(
        "--folder",
        type=Path,
        default=None,
        metavar="PATH",
        help="only photos in this watched folder",
    )
    p.add_argument("--order", choices=("relevance", "date"), default="relevance")
    _result_options(p)
    _model_options(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", help="photos that look like this one (a library photo or a file)")
    p.add_argument("photo", type=Path, metavar="PHOTO")
    _result_options(p)
    _model_options(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("status", help="counts, skipped files and why, model, device, folders")
    p.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _model_options(p)
    p.set_defaults(func=cmd_status)


def _model_options(p: argparse.ArgumentParser) -> None:
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


def _result_options(p: argparse.ArgumentParser) -> None:
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


def _command(fn: Callable[[argparse.Namespace, Paths], int]) -> Callable[..., int]:
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
) -> Iterator[Any]:
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


def _resolve(path: Path) -> Path:
    return path.expanduser().resolve()


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


# ---------------------------------------------------------------- folders


def check_photo_folder(path: Path, force: bool) -> None:
    """Refuse the system's own folders, and a whole disk unless --force."""
    for system in SYSTEM_FOLDERS:
        if path == system or system in path.parents:
            raise UserError(
                f"{path} is a system folder, not a photo folder: add the folder that holds "
                "your photos, e.g. photoseek folders add ~/Pictures"
            )
    if path == Path(path.anchor) and not force:
        raise UserError(
            f"{path} is a whole disk: indexing all of it takes long and finds more than photos. "
            "Add your photo folders instead, or pass --force to add it anyway."
        )


@_command
def cmd_folders_add(args: argparse.Namespace, paths: Paths) -> int:
    for p in args.paths:
        check_photo_folder(_resolve(p), args.force)
    with open_library(args, paths) as lib:
        for p in args.paths:
            folder = lib.add_folder(_resolve(p))
            print(f"Added {folder.path}")
    print("Run `photoseek index` to index the photos in it.")
    return 0


@_command
def cmd_folders_remove(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        for p in args.paths:
            lib.remove_folder(_resolve(p))
            print(f"Removed {_resolve(p)} (its photos were not touched)")
    return 0


@_command
def cmd_folders_list(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        folders = lib.folders()
    if args.json:
        _print_json([_folder_dict(f) for f in folders])
        return 0
    if not folders:
        print("No folders yet. Add one with `photoseek folders add PATH`.")
    for f in folders:
        state = "" if f.available else "  (unavailable: drive unplugged or folder missing)"
        print(f"{f.photo_count:>8}  {f.path}{state}")
    return 0


def _folder_dict(f: Any) -> dict[str, Any]:
    return {"id": f.id, "path": str(f.path), "available": f.available, "photo_count": f.photo_count}


# ---------------------------------------------------------------- index and watch


class _Interrupts:
    """First Ctrl+C cancels the job cleanly (at the next batch); a second one aborts at once."""

    def __init__(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel
        self.count = 0
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        sys.stderr.write("\nStopping after the current batch… (Ctrl+C again to abort now)\n")
        self._cancel()


def run_index(lib: Any, folders: list[Path] | None) -> tuple[Any, bool]:
    """Index with a progress line; returns (report, interrupted)."""
    from app.core.api import JobCancelled, JobControl

    control = JobControl()
    bar = ProgressLine()

    def progress(p: Any) -> None:
        bar.update(
            p.done,
            p.total,
            p.rate,
            p.eta_s,
            p.current,
            phase=p.phase,
            skipped=p.skipped,
            force=p.phase == "done",
        )

    with _Interrupts(control.cancel) as intr:
        try:
            report = lib.index(folders, progress=progress, control=control)
        except JobCancelled:
            report = None
        finally:
            bar.clear()
    interrupted = intr.count > 0 or report is None or report.cancelled
    return report, interrupted


def describe_report(r: Any) -> str:
    parts = [
        f"{r.added} new",
        f"{r.updated} changed",
        f"{r.moved} moved",
        f"{r.deleted} removed",
        f"{r.unchanged} unchanged",
        f"{r.skipped} skipped",
    ]
    still = getattr(r, "still_skipped", 0)
    if still:
        parts.append(f"{still} still skipped (`photoseek status --skipped` says why)")
    rate = f", {r.encoded / r.elapsed_s:.1f} photos/s" if r.encoded and r.elapsed_s > 0 else ""
    return f"{', '.join(parts)} in {format_duration(r.elapsed_s)}{rate}"


@_command
def cmd_index(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths, need_model=True) as lib:
        if not lib.folders():
            raise UserError("No folders to index. Add one with `photoseek folders add PATH`.")
        folders = [_resolve(p) for p in args.paths] or None
        report, interrupted = run_index(lib, folders)
    if interrupted:
        done = f" ({describe_report(report)})" if report is not None else ""
        print(
            f"Indexing stopped{done}. Nothing is lost: run `photoseek index` again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"Indexed: {describe_report(report)}")
    for root in report.unavailable:
        print(f"{root} is unavailable (drive unplugged or folder missing); its photos are kept.")
    if report.skipped:
        print(
            f"{report.skipped} files could not be read; `photoseek status --skipped` "
            "lists them with the reason."
        )
    return 0


def describe_change(c: Any) -> str:
    parts = [
        f"{n} {what}"
        for n, what in (
            (c.added, "added"),
            (c.updated, "changed"),
            (c.moved, "moved"),
            (c.deleted, "removed"),
            (c.skipped, "skipped"),
        )
        if n
    ]
    if c.unavailable:
        parts.append("unavailable (photos kept): " + ", ".join(str(u) for u in c.unavailable))
    if c.restored:
        parts.append("available again: " + ", ".join(str(u) for u in c.restored))
    return ", ".join(parts) or "no changes"


@_command
def cmd_watch(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths, need_model=True) as lib:
        if not lib.folders():
            raise UserError("No folders to watch. Add one with `photoseek folders add PATH`.")
        report, interrupted = run_index(lib, None)
        if interrupted:
            print(
                "Stopped before watching. Run `photoseek watch` again to resume.", file=sys.stderr
            )
            return EXIT_INTERRUPTED
        print(f"Up to date: {describe_report(report)}")

        def on_change(c: Any) -> None:
            print(f"{time.strftime('%H:%M:%S')}  {describe_change(c)}", flush=True)

        watcher = lib.watch(on_change=on_change)  # already running
        names = ", ".join(str(f.path) for f in lib.folders())
        print(f"Watching {names}. Press Ctrl+C to stop.", flush=True)
        stop = threading.Event()
        with _Interrupts(stop.set):
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                watcher.stop()
    print("Stopped watching.")
    return 0


# ---------------------------------------------------------------- search and similar


@_command
def cmd_search(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import Query

    text = (args.text or "").strip() or None
    if args.image is not None:
        _check_file(args.image, "--image")
    if args.region is not None and args.image is None:
        raise UserError(
            "--region needs --image: it picks the part of that image to search for.",
            exit_code=EXIT_USAGE,
        )
    if args.image_weight is not None and (args.image is None or text is None):
        raise UserError(
            "--image-weight balances the text against --image; give both.", exit_code=EXIT_USAGE
        )
    if (
        text is None
        and args.image is None
        and args.year is None
        and args.month is None
        and args.folder is None
    ):
        raise UserError(
            'Nothing to search for: give some text ("a red car"), --image FILE, '
            "or a filter such as --year 2021 to list photos newest first.",
            exit_code=EXIT_USAGE,
        )
    with open_library(args, paths, need_model=text is not None or args.image is not None) as lib:
        folder = _folder_filter(lib, args.folder) if args.folder is not None else None
        if text is not None or args.image is not None:
            _check_indexed(lib, args)
        query = Query(
            text=text,
            image=_resolve(args.image) if args.image else None,
            image_weight=0.5 if args.image_weight is None else args.image_weight,
            region=args.region,
            year=args.year,
            month=args.month,
            folder=folder,
            order=args.order,
            top_k=args.top,
            **_floor_options(args),
        )
        result = lib.search(query)
    echo = {
        "text": text,
        "image": str(query.image) if query.image else None,
        "image_weight": query.image_weight if text and query.image else None,
        "region": list(args.region) if args.region else None,
        "year": args.year,
        "month": args.month,
        "folder": str(folder) if folder else None,
        "order": args.order,
        "top": args.top,
    }
    return _print_hits(result, result.hits, args, echo)


@_command
def cmd_similar(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import Query

    _check_file(args.photo, "PHOTO")
    target = _resolve(args.photo)
    with open_library(args, paths, need_model=True) as lib:
        _check_indexed(lib, args)
        photo = lib.catalog.photo_by_path(target)
        if photo is not None and photo.state == "indexed":
            # From its stored embedding: nothing is decoded or encoded. The photo itself would
            # be the first hit; leave it out.
            query = Query(like_photo_id=photo.id, top_k=args.top + 1, **_floor_options(args))
            result = lib.search(query)
            hits = [h for h in result.hits if h.photo_id != photo.id][: args.top]
            echo: dict[str, Any] = {"like_photo_id": photo.id, "path": str(target)}
        else:
            result = lib.search(Query(image=target, top_k=args.top, **_floor_options(args)))
            hits = result.hits
            echo = {"image": str(target)}
    return _print_hits(result, hits, args, echo)


def _check_indexed(lib: Any, args: argparse.Namespace) -> None:
    """Photos catalogued but none encoded by this model (or --precision): say how to index."""
    st = lib.status()
    if st.indexed == 0 and st.pending > 0:
        options = " ".join(
            f"--{name} {value}"
            for name, value in (("model", args.model), ("precision", args.precision))
            if value is not None
        )
        command = f"photoseek index {options}".strip()
        raise UserError(
            f"Your {st.pending} photos are not indexed for {st.model_id} yet: run `{command}` "
            "first."
        )


def _floor_options(args: argparse.Namespace) -> dict[str, float]:
    """--all and --min-score as Query fields (neither: the model's floor)."""
    if args.all:
        return {"min_score": -math.inf}
    if args.min_score is not None:
        return {"min_cosine": args.min_score}
    return {}


def _check_file(path: Path, what: str) -> None:
    p = path.expanduser()
    if not p.exists():
        raise UserError(f"{what} {p}: no such file. Check the path.")
    if not p.is_file():
        raise UserError(f"{what} {p} is not a file: give the path of an image.")


def _folder_filter(lib: Any, path: Path) -> Path:
    """--folder must be a library folder or lie inside one."""
    target = _resolve(path)
    for f in lib.folders():
        root = Path(f.path)
        if target == root or root in target.parents:
            return target
    raise UserError(
        f"--folder {target} is not in your library. `photoseek folders list` shows "
        "the folders; add one with `photoseek folders add PATH`."
    )


def _hit_date(hit: Any) -> str:
    """ "2021-06-01", or "2021-06-01 (file date)" where the photo records no capture date."""
    if hit.capture_time is None:
        return "----------"
    when = hit.capture_time.strftime("%Y-%m-%d")
    return f"{when} (file date)" if hit.capture_source in GUESSED_SOURCES else when


def _print_hits(
    result: Any,
    hits: list[Any],
    args: argparse.Namespace,
    echo: dict[str, Any],
) -> int:
    if args.json:
        _print_json(
            {
                "query": echo,
                "count": len(hits),
                "candidates": result.total_candidates,
                "method": result.used,
                "elapsed_ms": round(result.elapsed_ms, 3),
                "floor": _finite(result.floor),
                "cosine_floor": result.cosine_floor,
                "weaker": result.weaker,
                "negative_terms": list(result.negative_terms),
                "hits": [
                    {
                        "photo_id": h.photo_id,
                        "path": str(h.path),
                        "score": round(h.score, 6),
                        "capture_time": _iso(h.capture_time),
                        "capture_source": h.capture_source,
                    }
                    for h in hits
                ],
            }
        )
        return 0
    if result.negative_terms:
        print(f"(excluding: {', '.join(result.negative_terms)})", file=sys.stderr)
    if not hits:
        hint = " above the relevance floor" if _finite(result.floor) is not None else ""
        print(f"No matching photos{hint} among {result.total_candidates}.", file=sys.stderr)
    dates = [_hit_date(h) for h in hits]
    width = max(map(len, dates), default=0)
    for h, when in zip(hits, dates, strict=True):
        print(f"{h.score:7.3f}  {when:<{width}}  {h.path}")
    if result.weaker:
        n = result.weaker
        print(
            f"{n} weaker match{'es' if n != 1 else ''} hidden under the relevance floor "
            "(--all shows them; --min-score COS sets a floor of your own).",
            file=sys.stderr,
        )
    return 0


# ---------------------------------------------------------------- status


@_command
def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        st = lib.status()
        skipped = lib.skipped()
    data = {
        "photos": st.photos,
        "indexed": st.indexed,
        "pending": st.pending,
        "skipped": st.skipped,
        "model": st.model_id,
        "model_error": st.model_error,
        "provider": st.provider,
        "device": st.device,
        "index_size": st.index_size,
        "data": str(paths.data),
        "cache": str(paths.cache),
        "folders": [_folder_dict(f) for f in st.folders],
        "skipped_files": [
            {"path": str(s.path), "reason": s.reason, "when": _iso(s.when)} for s in skipped
        ],
    }
    if args.json:
        _print_json(data)
        return 0
    rows = [
        ("photos", st.photos),
        ("indexed", st.indexed),
        ("pending", st.pending),
        ("skipped", st.skipped),
        ("model", st.model_id or "none: run `photoseek model install`"),
        ("device", f"{st.provider} (asked for {st.device})" if st.provider else None),
        ("data", paths.data),
        ("cache", paths.cache),
    ]
    for key, value in rows:
        if value is not None:
            print(f"{key:<10}{value}")
    if st.model_error and not st.model_id:
        print(f"{'':<10}{st.model_error.splitlines()[0]}")
    if not st.folders:
        print("folders   none yet: add one with `photoseek folders add PATH`")
    else:
        print("folders")
        for f in st.folders:
            state = "" if f.available else "  UNAVAILABLE (drive unplugged or folder missing)"
            print(f"  {f.photo_count:>8}  {f.path}{state}")
    if skipped:
        shown = skipped if args.skipped else skipped[:SKIPPED_SHOWN]
        print(f"skipped files ({len(skipped)}), not searchable:")
        for s in shown:
            print(f"  {s.path}: {s.reason}")
        if len(shown) < len(skipped):
            print(
                f"  … and {len(skipped) - len(shown)} more: `photoseek status --skipped` "
                "lists them all"
            )
    return 0


def _finite(value: float | None) -> float | None:
    """JSON has no infinities: an unbounded floor is written as null."""
    return value if value is not None and math.isfinite(value) else None
