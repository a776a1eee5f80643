"""Shape checks and batch reduction shared by the metrics."""

from __future__ import annotations

import torch

from ..types import InputError

REDUCTIONS = ("mean", "none")


def check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``pred`` and ``target`` are ``(B,C,H,W)`` tensors of one shape."""
    for name, tensor in (("pred", pred), ("target", target)):
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise InputError(f"{name} must be a tensor of shape (B,3,H,W), got {shape}")
    if pred.shape != target.shape:
        raise InputError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")


def check_reduction(reduction: str) -> None:
    """Raise :class:`InputError` unless ``reduction`` is ``"mean"`` or ``"none"``."""
    if reduction not in REDUCTIONS:
        raise InputError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")


def reduce_batch(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    """Average ``(B,)`` per-image values over the batch (``"mean"``) or return them (``"none"``)."""
    return per_image.mean() if reduction == "mean" else per_image
