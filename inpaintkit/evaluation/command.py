"""``inpaintkit eval``'s work: :func:`run_eval` (the command line is :mod:`inpaintkit.cli.evaluate`).

Example::

    inpaintkit eval --data photos/ --masks thin,medium,thick --models big-lama,telea --size 512 -o report/
"""

from __future__ import annotations

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
