"""``inpaintkit eval``: :func:`run_eval` and the argument parsing the CLI plugs in.

Example::

    inpaintkit eval --data photos/ --masks thin,medium,thick --models big-lama,telea --size 512 -o report/
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..types import InpaintKitError, InputError, UnknownModelError
from .networks import load_metric_networks
from .protocol import build_protocol
from .runner import EvalReport, Inpainter, evaluate


def format_command(
    data: Path,
    masks: str,
    models: Sequence[str],
    out: Path,
    *,
    size: int,
    seed: int,
    limit: int | None,
    weights: Mapping[str, str],
    lpips: bool,
    fid: bool,
    samples: int,
    device: str,
) -> str:
    """The ``inpaintkit eval`` command line that repeats a run (defaults included, so nothing is implicit)."""
    parts = [
        "inpaintkit",
        "eval",
        "--data",
        os.fspath(data),
        "--masks",
        masks,
        "--models",
        ",".join(models),
        "--size",
        str(size),
        "--seed",
        str(seed),
    ]
    if limit is not None:
        parts += ["--limit", str(limit)]
    for name, path in weights.items():
        parts += ["--weights", f"{name}={path}"]
    parts += [] if lpips else ["--no-lpips"]
    parts += [] if fid else ["--no-fid"]
    parts += ["--samples", str(samples), "--device", device, "-o", os.fspath(out)]
    return shlex.join(parts)


def run_eval(
    data: Path,
    masks: str,
    models: list[str],
    out: Path,
    *,
    size: int = 512,
    seed: int = 0,
    limit: int | None = None,
    weights: dict[str, str] | None = None,
    lpips: bool = True,
    fid: bool = True,
    device: str = "cpu",
    samples: int = 4,
    progress: bool = True,
) -> EvalReport:
    """Evaluate models on a folder of images with the standard protocols and write a report folder.

    Args:
        data: folder of ground-truth images (searched recursively).
        masks: comma-separated mask sets: ``thin``, ``medium``, ``thick``, ``glcic``, ``outpaint`` or
            folders of masks (see :mod:`inpaintkit.evaluation.protocol`).
        models: registered names or weight files; every one runs on the same images and masks.
        out: report folder (``results.csv``, ``summary.md``, ``index.html``, grids); an earlier run
            of the same protocol there is resumed.
        size: side of the square evaluation images.
        seed: seed of the random mask sets.
        limit: evaluate only the first ``limit`` images.
        weights: model name -> weight file to use instead of its registered download.
        lpips: compute LPIPS (skipped with a note when its weights are absent).
        fid: compute FID (skipped with a note when its weights are absent).
        device: where models and metric networks run.
        samples: completions per image for the diversity of models that give several.
        progress: show progress bars.

    Returns:
        The report; ``report.exit_code`` is 1 when any model, image or mask failed.

    Raises:
        InputError: bad arguments, no images, an unknown mask set, or a report folder of another run.
        UnknownModelError: a model that is neither registered nor a file (before any work is done).
    """
    from ..api import (
        load,  # the registry pulls in every model: loaded only when a run starts
    )

    weights = dict(weights or {})
    if not models:
        raise InputError("--models needs at least one model")
    repeated = sorted({name for name in models if models.count(name) > 1})
    if repeated:
        raise InputError(f"model {repeated[0]!r} is given twice")
    stray = [name for name in weights if name not in models]
    if stray:
        raise InputError(f"--weights names {stray[0]!r}, which is not one of --models")
    protocol = build_protocol(data, masks, size=size, seed=seed, limit=limit)
    loaded: dict[str, Inpainter] = {}
    failures = []
    for name in models:
        try:
            loaded[name] = load(name, weights=weights.get(name), device=device)
        except UnknownModelError:
            raise
        except InpaintKitError as err:
            failures.append(f"model {name} not evaluated: {err}")
    networks = load_metric_networks(lpips, fid, device, progress)
    command = format_command(
        Path(data),
        masks,
        models,
        Path(out),
        size=size,
        seed=seed,
        limit=limit,
        weights=weights,
        lpips=lpips,
        fid=fid,
        samples=samples,
        device=device,
    )
    return evaluate(
        protocol,
        loaded,
        out,
        networks=networks,
        command=command,
        model_failures=failures,
        samples=samples,
        progress=progress,
    )


def _weight_pair(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected MODEL=PATH, got {text!r}")
    return name, path


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``inpaintkit eval`` options to ``parser`` and make :func:`cmd_eval` its handler."""
    parser.add_argument("--data", required=True, help="folder of ground-truth images (searched recursively)")
    parser.add_argument(
        "--masks",
        required=True,
        metavar="SETS",
        help="comma-separated mask sets: thin, medium, thick, glcic, outpaint, or a folder of masks",
    )
    parser.add_argument("--models", required=True, help="comma-separated registered names or weight files")
    parser.add_argument("--size", type=int, default=512, help="side of the square evaluation images (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random masks (default 0)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate only the first N images")
    parser.add_argument(
        "--weights",
        type=_weight_pair,
        action="append",
        default=[],
        metavar="MODEL=PATH",
        help="weight file for one of the models (repeatable)",
    )
    parser.add_argument("--no-lpips", dest="lpips", action="store_false", help="do not compute LPIPS")
    parser.add_argument("--no-fid", dest="fid", action="store_false", help="do not compute FID")
    parser.add_argument(
        "--samples",
        type=int,
        default=4,
        help="completions per image for models that give several (diversity; default 4)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("-o", "--output", required=True, help="report folder (resumed if it holds this run)")
    parser.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the evaluation described by ``args``; 0 when everything ran, 1 when anything failed."""
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
