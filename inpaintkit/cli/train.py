"""``train`` and ``export``: run a recipe, turn a checkpoint into a model file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..types import InpaintKitError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the commands of this module on ``sub``."""
    p = sub.add_parser(
        "train",
        help="train a model from a recipe (configs/*.yaml); torchrun-ready",
        description="Extra --section.key=value arguments override the recipe (type-checked).",
    )
    p.add_argument("config", help="recipe YAML, e.g. configs/lama-small-cpu.yaml")
    p.add_argument("--resume", action="store_true", help="continue the run in the recipe's out_dir exactly")
    p.set_defaults(func=cmd_train, overrides=[])

    p = sub.add_parser("export", help="write a training checkpoint's generator as a .safetensors model file")
    p.add_argument("checkpoint", help="last.pt or best.pt of a run")
    p.add_argument("target", help="output .safetensors")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator, not its EMA")
    p.add_argument("--licence", default="", help="licence note stored in the file")
    p.add_argument("--card", action="store_true", help="also write the model card TARGET.md from the training notes")
    p.add_argument("--name", default="", help="model name in the card (default: the target's file name)")
    p.add_argument("--evidence", default="", help="Markdown file appended to the card (e.g. an eval summary.md)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    """Run (or resume) a training recipe."""
    from ..training.trainer import run_training

    run = run_training(args.config, args.overrides, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {run}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a checkpoint's generator (its EMA by default) as a model file, with its card if asked."""
    from ..io import write_file
    from ..training.export import export_checkpoint, model_card

    target = Path(args.target)
    card = target.with_suffix(".md")
    for path in (target, card) if args.card else (target,):
        if path.exists() and not args.overwrite:
            raise InpaintKitError(f"{path} exists; pass --overwrite to replace it")
    evidence = ""
    if args.evidence:
        try:
            evidence = Path(args.evidence).read_text()
        except OSError as err:
            raise InpaintKitError(f"cannot read --evidence {args.evidence}: {err.strerror}") from None
    notes = {"licence": args.licence} if args.licence else None
    export_checkpoint(args.checkpoint, target, ema=not args.no_ema, metadata=notes)
    print(f"wrote {target}")
    if args.card:
        write_file(card, model_card(target, name=args.name or target.stem, evidence=evidence))
        print(f"wrote {card}")
    return 0
