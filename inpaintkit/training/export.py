"""Trained generator -> our safetensors weight file, with the training notes in its metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..registry import build_architecture
from ..types import WeightsError
from ..weights import save_model_file
from ._checkpoint import load_checkpoint
from ._typed import parse_section
from .config import TrainConfig, generator_config


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
    notes = {"steps": state["step"], "wall_time_s": round(state["wall_time"], 1), "method": config.method,
             "train_dir": config.data.train_dir, "val_dir": config.data.val_dir, "commands": state["commands"],
             "metrics": state["last_metrics"], "best": state["best"], "ema": bool(ema and state["ema"]),
             "ema_decay": config.run.ema_decay}  # fmt: skip
    extra = {"trained": json.dumps(notes, sort_keys=True, default=str), **(metadata or {})}
    return save_model_file(path, arch, gen_config, weights, metadata=extra, overwrite=True)


def export_checkpoint(
    checkpoint: str | Path, path: str | Path, *, ema: bool = True, metadata: Mapping[str, str] | None = None
) -> Path:
    """Export the (EMA) generator of a checkpoint file (``last.pt`` or ``best.pt``); see :func:`export_state`."""
    return export_state(load_checkpoint(checkpoint), path, ema=ema, metadata=metadata)


def _check_layout(arch: str, config: object, weights: Mapping[str, torch.Tensor]) -> None:
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_architecture(arch, config).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != found:
        wrong = sorted(set(expected) ^ set(found)) or sorted(k for k in expected if expected[k] != found[k])
        raise WeightsError(f"the trained generator does not match arch {arch!r} with config {config}: "
                           f"{len(wrong)} keys differ, e.g. {wrong[0]}")  # fmt: skip
