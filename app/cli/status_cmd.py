"""`photoseek status`: counts, the model and device, folders and the skipped files."""

from __future__ import annotations

import argparse

from app.cli.common import (
    command,
    folder_dict,
    iso,
    model_options,
    open_library,
    print_json,
)
from app.core.api import LOG_NAME, Paths

SKIPPED_SHOWN = 10  # skipped files listed without --skipped


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="counts, skipped files and why, model, device, folders")
    p.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    model_options(p)
    p.set_defaults(func=cmd_status)


# ---------------------------------------------------------------- status


@command
def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        st = lib.status()
        skipped = lib.skipped()
        partly = lib.partly_indexed()
        places = lib.places()
    placed = sum(p.count for p in places)
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
        "with_place": placed,
        "places": len(places),
        "data": str(paths.data),
        "cache": str(paths.cache),
        "log": str(paths.logs / LOG_NAME),
        "folders": [folder_dict(f) for f in st.folders],
        "partly_indexed": [
            {"path": str(s.path), "reason": s.reason, "when": iso(s.when)} for s in partly
        ],
        "skipped_files": [
            {"path": str(s.path), "reason": s.reason, "when": iso(s.when)} for s in skipped
        ],
    }
    if args.json:
        print_json(data)
        return 0
    rows = [
        ("photos", st.photos),
        ("indexed", st.indexed),
        ("pending", st.pending),
        ("skipped", st.skipped),
        (
            "places",
            f"{placed} taken in {len(places)} places (`photoseek places`)" if places else None,
        ),
        ("model", st.model_id or "none: run `photoseek model install`"),
        ("device", f"{st.provider} (asked for {st.device})" if st.provider else None),
        ("data", paths.data),
        ("cache", paths.cache),
        ("log", paths.logs / LOG_NAME),
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
    if partly:
        print(f"videos indexed in part ({len(partly)}), searchable up to there:")
        for s in partly:
            print(f"  {s.path}: {s.reason}")
    return 0
