"""`photoseek search` and `photoseek similar`: ranked photos, as a table or --json."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.common import (
    EXIT_USAGE,
    command,
    finite,
    format_moment,
    iso,
    model_options,
    open_library,
    parse_moment,
    parse_month,
    parse_region,
    parse_weight,
    parse_year,
    print_json,
    resolve,
    result_options,
    type_option,
)
from app.core.api import GUESSED_SOURCES, Paths, UserError

if TYPE_CHECKING:
    from app.core.api import Chip, Hit, Library, PlaceFilter, SearchResult


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    p.add_argument(
        "--place",
        default=None,
        metavar="PLACE",
        help='only photos taken there: a city, region or country ("Lisbon", "Lisbon, '
        'Portugal", "Portugal", "PT"); `photoseek places` lists them',
    )
    p.add_argument(
        "--literal",
        action="store_true",
        help="search the words as typed: do not read places, years and months out of the text "
        '("beach in Lisbon 2019" is otherwise "beach" with --place Lisbon --year 2019)',
    )
    p.add_argument("--order", choices=("relevance", "date"), default="relevance")
    type_option(p)
    result_options(p)
    model_options(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", help="photos that look like this one (a library photo or a file)")
    p.add_argument("photo", type=Path, metavar="PHOTO")
    p.add_argument(
        "--at",
        type=parse_moment,
        default=None,
        metavar="TIME",
        help="for a video: like the moment at TIME (0:12) rather than the whole video",
    )
    type_option(p)
    result_options(p)
    model_options(p)
    p.set_defaults(func=cmd_similar)


# ---------------------------------------------------------------- search and similar


@command
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
        and args.place is None
        and args.type == "all"
    ):
        raise UserError(
            'Nothing to search for: give some text ("a red car"), --image FILE, '
            "or a filter such as --year 2021 to list photos newest first.",
            exit_code=EXIT_USAGE,
        )
    with open_library(args, paths) as lib:  # no model: lib.search raises ModelError (exit 3)
        folder = _folder_filter(lib, args.folder) if args.folder is not None else None
        place = _place_filter(lib, args.place) if args.place is not None else None
        year, month = args.year, args.month
        chips: tuple[Chip, ...] = ()
        if text is not None and not args.literal:
            given = {"place": args.place, "year": args.year, "month": args.month}
            seen = lib.understand(text, take=[k for k, v in given.items() if v is None])
            text, chips = seen.text or None, seen.chips
            place = seen.place or place
            year = seen.year if seen.year is not None else year
            month = seen.month if seen.month is not None else month
        if text is not None or args.image is not None:
            _check_indexed(lib, args)
        min_score, min_cosine = _floor_options(args)
        query = Query(
            text=text,
            image=resolve(args.image) if args.image else None,
            image_weight=0.5 if args.image_weight is None else args.image_weight,
            region=args.region,
            year=year,
            month=month,
            folder=folder,
            order=args.order,
            top_k=args.top,
            # Under the model's own floor, nothing close shows the nearest instead (noted).
            nearest_k=args.top if min_score is None and min_cosine is None else 0,
            min_score=min_score,
            min_cosine=min_cosine,
            kind=args.type,
            place=place,
        )
        result = lib.search(query)
        where = lib.place_label(place) if place is not None else None
        labels = _place_labels(lib, result) if args.json else {}
    if chips and not args.json:
        said = ", ".join(f"{c.kind} {c.label}" for c in chips)
        print(f"understood: {said} (--literal searches the words as typed)", file=sys.stderr)
    echo = {
        "text": text,
        "typed": args.text,
        "understood": [{"kind": c.kind, "label": c.label, "span": c.span} for c in chips],
        "image": str(query.image) if query.image else None,
        "image_weight": query.image_weight if text and query.image else None,
        "region": list(args.region) if args.region else None,
        "year": year,
        "month": month,
        "folder": str(folder) if folder else None,
        "place": _place_json(place, where) if place is not None else None,
        "order": args.order,
        "type": args.type,
        "top": args.top,
    }
    return _print_hits(result, result.hits, args, echo, labels)


@command
def cmd_similar(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import Query

    _check_file(args.photo, "PHOTO")
    target = resolve(args.photo)
    with open_library(args, paths) as lib:  # no model: lib.search raises ModelError (exit 3)
        _check_indexed(lib, args)
        photo = lib.photo_by_path(target)
        if args.at is not None and (photo is None or photo.kind != "video"):
            raise UserError(
                f"--at picks a moment of a video in the library; {target} is not one.",
                exit_code=EXIT_USAGE,
            )
        min_score, min_cosine = _floor_options(args)
        common = {"top_k": args.top, "min_score": min_score, "min_cosine": min_cosine}
        echo: dict[str, Any]
        if photo is not None and photo.state == "indexed":
            # From its stored embedding: nothing is decoded or encoded. The engine pins the
            # photo itself apart (result.source), printed first and labelled.
            query = Query(like_photo_id=photo.id, like_moment_ms=args.at, kind=args.type, **common)
            echo = {"like_photo_id": photo.id, "path": str(target)}
            if args.at is not None:
                echo["at_ms"] = args.at
        else:
            query = Query(image=target, kind=args.type, **common)
            echo = {"image": str(target)}
        result = lib.search(query)
        labels = _place_labels(lib, result) if args.json else {}
    return _print_hits(result, result.hits, args, echo, labels)


def _check_indexed(lib: Library, args: argparse.Namespace) -> None:
    """Photos catalogued but none encoded by this model (or --precision): say how to index."""
    if not lib.has_model:
        return  # the search itself says how to get a model
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


def _floor_options(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """--all and --min-score as the Query's (min_score, min_cosine) (neither: the model's floor)."""
    if args.all:
        return -math.inf, None
    return None, args.min_score


def _check_file(path: Path, what: str) -> None:
    p = path.expanduser()
    if not p.exists():
        raise UserError(f"{what} {p}: no such file. Check the path.")
    if not p.is_file():
        raise UserError(f"{what} {p} is not a file: give the path of an image.")


def _folder_filter(lib: Library, path: Path) -> Path:
    """--folder must be a library folder or lie inside one."""
    target = resolve(path)
    for f in lib.folders():
        root = Path(f.path)
        if target == root or root in target.parents:
            return target
    raise UserError(
        f"--folder {target} is not in your library. `photoseek folders list` shows "
        "the folders; add one with `photoseek folders add PATH`."
    )


def _place_filter(lib: Library, text: str) -> PlaceFilter:
    """--place as the library's place filter; a name no photo was taken at is a usage error
    naming the closest places."""
    try:
        return lib.resolve_place(text)
    except UserError as e:
        given = text.strip() or '""'
        raise UserError(f"--place {given}: {e}", exit_code=EXIT_USAGE) from e


def _place_json(place: PlaceFilter, label: str | None) -> dict[str, Any]:
    return {
        "country": place.country,
        "region": place.region,
        "city": place.city,
        "near_km": round(place.near[2], 1) if place.near else None,  # a big city's surroundings
        "label": label,
    }


def _hit_date(hit: Hit) -> str:
    """ "2021-06-01", or "2021-06-01 (file date)" where the photo records no capture date."""
    if hit.capture_time is None:
        return "----------"
    when = hit.capture_time.strftime("%Y-%m-%d")
    return f"{when} (file date)" if hit.capture_source in GUESSED_SOURCES else when


def _place_labels(lib: Library, result: SearchResult) -> dict[PlaceFilter, str]:
    """ "Lisbon, Portugal" for each place among the hits (and the source photo)."""
    hits = [*result.hits, *([result.source] if result.source else [])]
    places = {h.place for h in hits if h.place is not None}
    return {p: lib.place_label(p) for p in places}


def _hit_json(h: Hit, labels: dict[PlaceFilter, str]) -> dict[str, Any]:
    return {
        "photo_id": h.photo_id,
        "path": str(h.path),
        "score": round(h.score, 6),
        "capture_time": iso(h.capture_time),
        "capture_offset": h.capture_offset,
        "offset_derived": h.offset_derived,
        "capture_source": h.capture_source,
        "kind": h.kind,
        "duration_ms": h.duration_ms,
        "moment_ms": h.moment_ms,
        "moments": [[t, round(score, 6)] for t, score in h.moments],
        "place": _place_json(h.place, labels.get(h.place)) if h.place is not None else None,
        "lat": h.lat,
        "lon": h.lon,
    }


def _hit_path(h: Hit) -> str:
    """The path, and for a video the moment that matched ("0:12")."""
    return f"{h.path}  {format_moment(h.moment_ms)}" if h.moment_ms is not None else str(h.path)


def _print_hits(
    result: SearchResult,
    hits: list[Hit],
    args: argparse.Namespace,
    echo: dict[str, Any],
    labels: dict[PlaceFilter, str] | None = None,
) -> int:
    labels = labels or {}
    if args.json:
        print_json(
            {
                "query": echo,
                "count": len(hits),
                "candidates": result.total_candidates,
                "method": result.used,
                "elapsed_ms": round(result.elapsed_ms, 3),
                "floor": finite(result.floor),
                "cosine_floor": result.cosine_floor,
                "weaker": result.weaker,
                "nearest": result.nearest,
                "negative_terms": list(result.negative_terms),
                "source": _hit_json(result.source, labels) if result.source else None,
                "hits": [_hit_json(h, labels) for h in hits],
            }
        )
        return 0
    if result.negative_terms:
        print(f"(excluding: {', '.join(result.negative_terms)})", file=sys.stderr)
    if result.nearest:
        print(
            f"Nothing matches closely among {result.total_candidates}; these are the "
            f"{len(hits)} nearest photos, not close matches.",
            file=sys.stderr,
        )
    if not hits:
        hint = " above the relevance floor" if finite(result.floor) is not None else ""
        print(f"No matching photos{hint} among {result.total_candidates}.", file=sys.stderr)
    dates = [_hit_date(h) for h in hits]
    width = max(map(len, dates), default=0)
    if result.source is not None:  # the photo a `similar` started from: first, labelled
        when = _hit_date(result.source)
        width = max(width, len(when))
        print(f"{'source':>7}  {when:<{width}}  {result.source.path}")
    for h, when in zip(hits, dates, strict=True):
        print(f"{h.score:7.3f}  {when:<{width}}  {_hit_path(h)}")
    if result.weaker:
        n = result.weaker
        print(
            f"{n} weaker match{'es' if n != 1 else ''} hidden under the relevance floor "
            "(--all shows them; --min-score COS sets a floor of your own).",
            file=sys.stderr,
        )
    return 0
