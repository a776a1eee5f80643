"""``models``, ``download``, ``convert`` and ``masks``: what is registered, weight files, evaluation masks."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._options import add_output


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the commands of this module on ``sub``."""
    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "download",
        help="download a model's published weights into the cache (e.g. big-lama)",
        description="Fetches the file with a progress bar and checks its checksum; says what to do instead "
        "for a model whose weights are bundled or must be trained.",
    )
    p.add_argument("name", help="registered model name, or a published feature network such as vgg19")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("masks", help="write a fixed, seeded evaluation mask set")
    p.add_argument("--preset", required=True, help="thin, medium or thick")
    p.add_argument("--size", type=int, default=512, help="256 or 512")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    add_output(p, "output folder")
    p.set_defaults(func=cmd_masks)

    p = sub.add_parser("convert", help="convert official LaMa weights (.ckpt or TorchScript) to safetensors")
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--trust", action="store_true", help="allow full unpickling of a .ckpt you trust")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_convert)


def cmd_models(args: argparse.Namespace) -> int:
    """Print the model table from the catalog (no torch, no network built)."""
    from ..catalog import default_line, listing

    rows = listing()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(default_line())
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch a model's published weights into the cache, or say in one line why there is nothing to fetch."""
    from ..catalog import ASSETS_DIR, INSTALL_COMMANDS, WEIGHT_SPECS, cached_path, read_catalog, row_state
    from ..types import UnknownModelError, WeightsError

    name = args.name
    rows = {row["name"]: row for row in read_catalog()}
    spec = WEIGHT_SPECS.get(name)
    if spec is not None:
        from .._state import fetch_published  # imports torch: only when there is something to fetch

        present = cached_path(spec).is_file()
        path = fetch_published(spec, progress=True)  # one line naming the URL and where to put the file if offline
        pinned = [label for label, value in (("sha256", spec.sha256), ("md5", spec.md5)) if value]
        if not pinned and spec.sha256_prefix:
            pinned = ["sha256 prefix"]
        checked = " and ".join(pinned) + " ok" if pinned else "no published checksum"
        print(
            f"{name} is already downloaded: {path} ({checked})"
            if present
            else f"downloaded {name} to {path} ({checked})"
        )
        return 0
    if name not in rows:
        others = sorted(set(WEIGHT_SPECS) - set(rows))
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(rows)}; other published files: {', '.join(others)}"
        )
    row = rows[name]
    available, bundled, _ = row_state(row)
    if not available:
        raise WeightsError(f"{name} needs no weights but a package: {INSTALL_COMMANDS[row['requires']]}")
    if row["kind"] == "classical":
        print(f"{name} needs no weights: it is ready")
    elif bundled:
        print(f"{name} is already bundled with inpaintkit: {ASSETS_DIR / row['bundled']}")
    elif row["recipe"]:
        raise WeightsError(f"{name} has no published weights; train them: inpaintkit train {row['recipe']}")
    else:
        raise WeightsError(f"{name} has no published weights or recipe; load weights you trained by their path")
    return 0


def cmd_masks(args: argparse.Namespace) -> int:
    """Write the seeded mask set."""
    from ..masks import write_eval_set

    paths = write_eval_set(args.preset, args.size, args.count, args.seed, Path(args.output), overwrite=args.overwrite)
    print(f"wrote {len(paths)} {args.preset} masks at {args.size} to {args.output}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Read a weight file in any supported format and write our safetensors file."""
    from ..weights import convert

    loaded = convert(args.source, args.target, trust=args.trust, overwrite=args.overwrite)
    print(f"wrote {args.target} ({loaded.arch}, {len(loaded.state_dict)} tensors, from {loaded.source_format})")
    return 0
