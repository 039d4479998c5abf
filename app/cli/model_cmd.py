"""`photoseek model export|install|info|list`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.core.paths import Paths

DEFAULT_MODEL = "ViT-B-32-openai"


def register(sub: argparse._SubParsersAction) -> None:
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

    p = msub.add_parser("install", help="install a model: export it, download it or copy a folder")
    p.add_argument(
        "name",
        nargs="?",
        default=None,
        help=f"model name (default {DEFAULT_MODEL}; with --from FOLDER, the folder's "
        "architecture and weights)",
    )
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="an exported model folder, a model archive, or a URL to download from",
    )
    p.add_argument("--force", action="store_true", help="replace an installed model")
    p.set_defaults(func=cmd_install)

    p = msub.add_parser("info", help="show the installed model and the execution provider")
    p.add_argument("--model", type=Path, default=None, help="a model folder (default: installed)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, coreml, directml")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)


def cmd_export(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.errors import UserError

    try:
        from app.core.export import export_model  # torch lives only behind this import
    except ImportError as e:
        raise UserError(
            f"Exporting a model needs torch and open_clip ({e.name or e} is not installed). "
            "Install the export extra (pip install 'photoseek[export]', or pipx install "
            "'photoseek[export]'), or get a ready model with `photoseek model install`."
        ) from e

    out = args.out
    if out is None:
        tag = "random" if args.random_init else args.pretrained
        out = paths.ensure().models / f"{args.arch}-{tag}"
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


def cmd_install(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.install import install_model
    from app.core.modelinfo import read_model_info
    from app.core.models import installed_model_dirs

    name = args.name
    if name is None and args.source and Path(args.source).is_dir():
        info = read_model_info(Path(args.source))  # name a copied folder after what it holds
        name = f"{info.arch}-{info.pretrained or 'random'}"
    name = name or DEFAULT_MODEL
    if name in installed_model_dirs(paths) and not args.force:
        print(f"{name} is already installed in {paths.models / name} (use --force to replace it)")
        return 0
    target = install_model(
        paths, name, source=args.source, force=args.force, progress=_progress_bar()
    )
    print(f"\nInstalled {name} in {target}")
    return 0


def cmd_info(args: argparse.Namespace, paths: Paths) -> int:
    from app.core.encoder import Encoder, available_providers
    from app.core.models import resolve_model_dir

    model_dir = args.model or resolve_model_dir(paths)
    enc = Encoder(model_dir, device=args.device)
    try:
        info = enc.info
        data = {
            "model_dir": str(model_dir),
            "model_id": enc.model_id,
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


def _progress_bar():
    """A plain-text progress bar on stderr: `done` and `total` are bytes (total 0 = unknown)."""

    def report(done: int, total: int, what: str = "") -> None:
        if total > 0:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * 30)
            sys.stderr.write(
                f"\r{what[:40]:<40} [{bar:<30}] {frac:6.1%} {done / 1e6:8.1f}/{total / 1e6:.1f} MB"
            )
        else:
            sys.stderr.write(f"\r{what[:40]:<40} {done / 1e6:8.1f} MB")
        sys.stderr.flush()

    return report
