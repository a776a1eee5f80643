"""Trained generator -> our safetensors weight file (training notes in its metadata) and its model card."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._state import state_mismatch
from ..registry import build_architecture
from ..types import WeightsError
from ..weights import load_weights, save_model_file
from ._checkpoint import load_checkpoint
from .config import TrainConfig, generator_config, parse_section


def export_state(
    state: Mapping[str, Any], path: str | Path, *, ema: bool = True, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write the generator of a trainer state (``Trainer.state_dict()`` or a loaded checkpoint).

    The file's ``arch`` and ``config`` are those of the recipe's ``model`` section; the ``trained``
    metadata is a JSON object with steps, wall time, method, data folders, the commands of every
    (resumed) run, the last and best validation metrics and the EMA decay.

    Args:
        state: the trainer state.
        path: destination ``.safetensors`` (replaced if it exists).
        ema: take the EMA weights when the run kept them.
        metadata: extra string notes (``licence`` ...).

    Returns:
        ``path``.

    Raises:
        WeightsError: the generator's tensors do not fit the recipe's architecture.
    """
    config = parse_section(TrainConfig, state["config"])
    arch, gen_config = generator_config(config.model)
    weights = state["ema"] if ema and state["ema"] else state["nets"][state["generator_name"]]
    _check_layout(arch, gen_config, weights)
    notes = {
        "steps": state["step"],
        "wall_time_s": round(state["wall_time"], 1),
        "method": config.method,
        "train_dir": config.data.train_dir,
        "val_dir": config.data.val_dir,
        "commands": state["commands"],
        "metrics": state["last_metrics"],
        "best": state["best"],
        "ema": bool(ema and state["ema"]),
        "ema_decay": config.run.ema_decay,
        "init_from": state.get("origin"),
        "ema_bn_batches": state.get("ema_bn_batches", 0) if ema and state["ema"] else 0,
    }
    extra = {"trained": json.dumps(notes, sort_keys=True, default=str), **(metadata or {})}
    return save_model_file(path, arch, gen_config, weights, metadata=extra, overwrite=True)


def export_checkpoint(
    checkpoint: str | Path, path: str | Path, *, ema: bool = True, metadata: Mapping[str, str] | None = None
) -> Path:
    """Export the (EMA) generator of a checkpoint file (``last.pt`` or ``best.pt``); see :func:`export_state`."""
    return export_state(load_checkpoint(checkpoint), path, ema=ema, metadata=metadata)


def _weights_line(notes: Mapping[str, Any]) -> str:
    if not notes["ema"]:
        return "raw generator"
    line = f"EMA of the generator (decay {notes['ema_decay']})"
    batches = notes.get("ema_bn_batches", 0)
    if batches:
        line += f", batch-norm statistics measured for these weights on {batches} training batches"
    return line


def _check_layout(arch: str, config: object, weights: Mapping[str, torch.Tensor]) -> None:
    with torch.device("meta"):
        expected = build_architecture(arch, config).state_dict()
    problems = state_mismatch(expected, weights)
    if problems:
        raise WeightsError(f"the trained generator does not match arch {arch!r} with config {config}: {problems}")


def model_card(weights: str | Path, *, name: str, evidence: str = "") -> str:
    """A Markdown model card for an exported weight file, from the notes stored in it.

    Args:
        weights: a ``.safetensors`` file written by :func:`export_state`.
        name: the model's name (title of the card).
        evidence: Markdown appended under "Evaluation" (e.g. the ``summary.md`` of ``inpaintkit eval``).

    Returns:
        The card: file (size, sha256), architecture, data and licence, training (steps, wall time,
        commands), validation metrics, evaluation.

    Raises:
        WeightsError: the file has no training notes.
    """
    path = Path(weights)
    loaded = load_weights(path)
    if "trained" not in loaded.metadata:
        raise WeightsError(f"{path} holds no training notes (was it written by `inpaintkit export`?)")
    notes = json.loads(loaded.metadata["trained"])
    with torch.device("meta"):
        params = sum(p.numel() for p in build_architecture(loaded.arch, loaded.config).parameters())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    best = notes.get("best") or {}
    lines = [
        f"# Model card: {name}",
        "",
        f"- file: `{path.name}`, {path.stat().st_size / 2**20:.1f} MiB, sha256 `{digest}`",
        f"- architecture: `{loaded.arch}`, {params:,} parameters, config `{json.dumps(loaded.config, sort_keys=True)}`",
        f"- weights: {_weights_line(notes)}",
        f"- licence: {loaded.metadata.get('licence', 'not stated')}",
        "",
        "## Training",
        "",
        f"- method: `{notes['method']}`; data: `{notes['train_dir']}` (validation: `{notes['val_dir']}`)",
        f"- steps: {notes['steps']:,}; wall time: {_duration(notes['wall_time_s'])} (sum over the runs below)",
        "- commands (one per run; `--resume` continues the same run):",
        "",
        *[f"      {_command(command)}" for command in notes["commands"]],
        "",
        *_origin_lines(notes),
        f"## Validation during training (`{notes['val_dir']}`, the recipe's fixed masks)",
        "",
        *_metric_rows(
            notes["metrics"],
            best.get("metrics") if isinstance(best, Mapping) else None,
            best.get("step") if isinstance(best, Mapping) else None,
        ),
    ]
    if evidence:
        lines += ["", "## Evaluation", "", evidence.strip()]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def _origin_lines(notes: Mapping[str, Any]) -> list[str]:
    """The card's account of the weights a run started from (``run.init_from``), stage by stage,
    and the totals over all stages."""
    lines: list[str] = []
    steps, seconds = notes["steps"], notes["wall_time_s"]
    origin = notes.get("init_from")
    while origin:
        trained = origin.get("trained")
        lines.append(
            f"- started from `{origin['file']}` (sha256 `{origin['sha256']}`)"
            + (", itself trained here:" if trained else ", weights not trained here")
        )
        if not trained:
            break
        lines += [
            f"  - steps: {trained['steps']:,}; wall time: {_duration(trained['wall_time_s'])}; commands:",
            "",
            *[f"          {_command(command)}" for command in trained["commands"]],
            "",
        ]
        steps, seconds = steps + trained["steps"], seconds + trained["wall_time_s"]
        origin = trained.get("init_from")
    if lines:
        lines += [f"- all stages together: {steps:,} steps, {_duration(seconds)} wall time", ""]
    return lines


def _metric_rows(last: Mapping[str, Any], best: Mapping[str, Any] | None, best_step: int | None) -> list[str]:
    names = sorted(k for k in last if k != "step")
    if not names:
        return ["No validation ran."]
    rows = ["| checkpoint | step | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for label, values, step in (("last", last, last.get("step")), ("best", best, best_step)):
        if values:
            rows.append(f"| {label} | {step} | " + " | ".join(f"{values[k]:.4g}" for k in names) + " |")
    return rows


def _command(command: str) -> str:
    """A recorded command line as a user would type it (``.../inpaintkit/__main__.py`` -> ``inpaintkit``)."""
    program, _, rest = command.partition(" ")
    return f"inpaintkit {rest}" if program.endswith("inpaintkit/__main__.py") else command
