"""``eval``: models on standard mask protocols -> CSV, summary, HTML (:func:`inpaintkit.evaluation.run_eval`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _weight_pair(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected MODEL=PATH, got {text!r}")
    return name, path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``eval`` on ``sub``."""
    p = sub.add_parser("eval", help="evaluate models on standard mask protocols -> CSV, summary, HTML")
    p.add_argument("--data", required=True, help="folder of ground-truth images (searched recursively)")
    p.add_argument(
        "--masks",
        required=True,
        metavar="SETS",
        help="comma-separated mask sets: thin, medium, thick, glcic, outpaint, or a folder of masks",
    )
    p.add_argument("--models", required=True, help="comma-separated registered names or weight files")
    p.add_argument("--size", type=int, default=512, help="side of the square evaluation images (default 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks (default 0)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate only the first N images")
    p.add_argument(
        "--weights",
        type=_weight_pair,
        action="append",
        default=[],
        metavar="MODEL=PATH",
        help="weight file for one of the models (repeatable)",
    )
    p.add_argument("--no-lpips", dest="lpips", action="store_false", help="do not compute LPIPS")
    p.add_argument("--no-fid", dest="fid", action="store_false", help="do not compute FID")
    p.add_argument(
        "--samples",
        type=int,
        default=4,
        help="completions per image for models that give several (diversity; default 4)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output", required=True, help="report folder (resumed if it holds this run)")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the evaluation described by ``args``; 0 when everything ran, 1 when anything failed."""
    from ..evaluation import run_eval

    models = [name.strip() for name in args.models.split(",") if name.strip()]
    report = run_eval(
        Path(args.data),
        args.masks,
        models,
        Path(args.output),
        size=args.size,
        seed=args.seed,
        limit=args.limit,
        weights=dict(args.weights),
        lpips=args.lpips,
        fid=args.fid,
        device=args.device,
        samples=args.samples,
    )
    print(f"wrote {report.summary_md} and {report.index_html}")
    for note in report.notes:
        print(f"note: {note}")
    if report.failed:
        print(f"{len(report.failures)} failure(s), listed in {report.summary_md}")
    return report.exit_code
