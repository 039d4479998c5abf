"""`photoseek model export|install|info|list`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.api import Paths

DEFAULT_MODEL = "ViT-B-32__openai"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = sub.add_parser("model", help="install, export and inspect the CLIP model")
    msub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    p = msub.add_parser("export", help="export an open_clip model to ONNX (needs the export extra)")
    p.add_argument("--arch", default="ViT-B-32", help="open_clip architecture (default ViT-B-32)")
    p.add_argument("--pretrained", default="openai", help="open_clip pretrained tag")
    p.add_argument(
        "--random-init",
        action="store_true",
        help="random weights instead of pretrained ones (tests and benchmarks)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a JSON open_clip model config for a custom (e.g. tiny) architecture",
    )
    p.add_argument(
        "--no-int8", dest="int8", action="store_false", help="skip the int8 quantized variant"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: the models folder in the data dir)",
    )
    p.set_defaults(func=cmd_export)

    p = msub.add_parser(
        "list", help="the model catalog: languages, size, RAM, speed, recall; what is installed"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = msub.add_parser(
        "install",
        help="download a model from the catalog (Hugging Face, immich-app/NAME) or install a "
        "model folder or archive you have",
    )
    p.add_argument(
        "name",
        nargs="?",
        default=None,
        help=f"model name from `photoseek model list` (default {DEFAULT_MODEL}); with --from, "
        "the name to install it under (default: the name its files carry)",
    )
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="a model folder (exported, or an immich-app repository's files) or a .tar/.tar.gz/"
        ".zip archive of one, instead of downloading",
    )
    p.add_argument("--force", action="store_true", help="replace an installed model")
    p.add_argument("--revision", default="main", help="hub revision (branch, tag or commit)")
    p.add_argument(
        "--no-activate", dest="activate", action="store_false", help="install without using it"
    )
    p.set_defaults(func=cmd_install)

    p = msub.add_parser("use", help="make an installed model the active one")
    p.add_argument("name")
    p.set_defaults(func=cmd_use)

    p = msub.add_parser("remove", help="delete an installed model (its stored vectors are kept)")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)

    p = msub.add_parser("info", help="show the installed model and the execution provider")
    p.add_argument("--model", type=Path, default=None, help="a model folder (default: installed)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, coreml, directml")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)


def cmd_export(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import UserError

    try:
        from app.core.model.export.exporter import (
            export_model,  # torch lives only behind this import
        )
    except ImportError as e:
        raise UserError(
            f"Exporting a model needs torch and open_clip ({e.name or e} is not installed). "
            "Install the export extra (pip install 'photoseek[export]', or pipx install "
            "'photoseek[export]'), or get a ready model with `photoseek model install`."
        ) from e

    out = args.out
    if out is None:
        tag = "random" if args.random_init else args.pretrained
        out = paths.ensure().models / f"{args.arch}__{tag}"
    info = export_model(
        args.arch,
        None if args.random_init else args.pretrained,
        out,
        random_init=args.random_init,
        config=args.config,
        int8=args.int8,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"Exported {info.arch} ({info.model_id}) to {out}")
    return 0


def cmd_list(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import (
        active_model_name,
        format_table,
        installed_models,
        load_catalog,
        migrate_installed,
    )

    migrate_installed(paths)
    entries = load_catalog()
    installed = {m.name: m for m in installed_models(paths)}
    active = active_model_name(paths) if installed else None
    if args.json:
        known = {e.name for e in entries}
        rows = [
            {
                **_entry_dict(e),
                "installed": e.name in installed,
                "active": e.name == active,
            }
            for e in entries
        ]
        rows += [
            {
                "name": m.name,
                "installed": True,
                "active": m.name == active,
                "in_catalog": False,
                "problem": m.problem,
            }
            for m in installed.values()
            if m.name not in known
        ]
        print(json.dumps(rows, indent=2))
        return 0
    print(format_table(entries, set(installed), active))
    others = [m for m in installed.values() if m.name not in {e.name for e in entries}]
    if others:
        print("\nAlso installed:")
        for m in others:
            mark = " (active)" if m.name == active else ""
            what = m.problem or f"{m.info.arch if m.info else ''} {m.info.family if m.info else ''}"
            print(f"  {m.name}{mark}  {what}")
    print(
        "\nInstall one with `photoseek model install NAME` (downloaded from Hugging Face, "
        "immich-app/NAME; checked against its SHA-256)."
    )
    return 0


def _entry_dict(e: Any) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(e)
    d["in_catalog"] = True
    return d


def cmd_install(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import install_model, set_active_model

    target = install_model(
        paths,
        args.name,
        source=args.source,
        force=args.force,
        progress=_progress_bar(),
        revision=args.revision,
    )
    sys.stderr.write("\n")
    if args.activate:
        set_active_model(paths, target.name)
    print(f"Installed {target.name} in {target}" + (" (active)" if args.activate else ""))
    return 0


def cmd_use(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import migrate_installed, set_active_model

    migrate_installed(paths)
    set_active_model(paths, args.name)
    print(
        f"{args.name} is now the active model. The library is re-encoded with it when the "
        "window or `photoseek index` runs next; until then search keeps using the previous model."
    )
    return 0


def cmd_remove(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import remove_model

    target = remove_model(paths, args.name)
    print(
        f"Removed {args.name} ({target}); its vectors stay, so reinstalling needs no re-encoding."
    )
    return 0


def cmd_info(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.api import Encoder, available_providers, migrate_installed, resolve_model_dir

    migrate_installed(paths)
    model_dir = args.model or resolve_model_dir(paths)
    enc = Encoder(model_dir, device=args.device)
    try:
        info = enc.info
        data = {
            "model_dir": str(model_dir),
            "model_id": enc.model_id,
            "name": info.name,
            "family": info.family,
            "source": info.source,
            "relevance_floor": info.relevance_floor,
            "arch": info.arch,
            "pretrained": info.pretrained,
            "random_init": info.random_init,
            "embed_dim": info.embed_dim,
            "image_size": info.image_size,
            "context_length": info.context_length,
            "precision": enc.precision,
            "provider": enc.provider,
            "threads": enc.threads,
            "available_providers": available_providers(),
        }
    finally:
        enc.close()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        width = max(len(k) for k in data)
        for k, v in data.items():
            print(f"{k.replace('_', ' '):<{width}}  {v}")
    return 0


def _progress_bar() -> Callable[[int, int, str], None]:
    """A plain-text progress bar on stderr: `done` and `total` are bytes (total 0 = unknown).

    On a terminal it redraws in place; to a file or a pipe it writes a line each 10 % (each
    100 MB when the size is unknown), never a stream of carriage-return redraws."""
    tty = sys.stderr.isatty()
    last: dict[str, int] = {}

    def report(done: int, total: int, what: str = "") -> None:
        if total > 0:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * 30)
            line = f"{what[:40]:<40} [{bar:<30}] {frac:6.1%} {done / 1e6:8.1f}/{total / 1e6:.1f} MB"
            step = int(frac * 10)
        else:
            line = f"{what[:40]:<40} {done / 1e6:8.1f} MB"
            step = done // 100_000_000
        if tty:
            sys.stderr.write("\r" + line)
        elif last.get(what) != step:
            last[what] = step
            sys.stderr.write(line.rstrip() + "\n")
        else:
            return
        sys.stderr.flush()

    return report
