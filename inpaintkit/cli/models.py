"""``models``, ``convert`` and ``masks``: what is registered, weight files, evaluation masks."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._options import add_output


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the commands of this module on ``sub``."""
    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(func=cmd_models)

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
    from ..catalog import listing

    rows = listing()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
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
