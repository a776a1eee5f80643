"""Per-pixel error metrics: PSNR, L1 and L1 over the hole only."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..types import InputError
from ._common import check_pair, check_reduction, reduce_batch


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)`` with the MSE of each image.

    Identical images have MSE 0 and a PSNR of ``inf``; with ``reduction="mean"`` one such image
    makes the mean ``inf`` too.

    Args:
        pred: predicted images.
        target: reference images.
        data_range: difference between the largest and smallest possible value (1 for ``[0,1]``).
        reduction: ``"mean"`` over the batch or ``"none"`` for one value per image.

    Returns:
        A scalar, or ``(B,)`` per image.

    Shape:
        pred, target ``(B,C,H,W)``.
    """
    check_pair(pred, target)
    check_reduction(reduction)
    if data_range <= 0:
        raise InputError(f"data_range must be positive, got {data_range}")
    mse = (pred - target).pow(2).flatten(1).mean(dim=1)
    return reduce_batch(10.0 * torch.log10(data_range**2 / mse), reduction)


def l1(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error over all pixels and channels of each image.

    Args:
        pred: predicted images.
        target: reference images.
        reduction: ``"mean"`` over the batch or ``"none"`` for one value per image.

    Returns:
        A scalar, or ``(B,)`` per image.

    Shape:
        pred, target ``(B,C,H,W)``.
    """
    check_pair(pred, target)
    check_reduction(reduction)
    return reduce_batch((pred - target).abs().flatten(1).mean(dim=1), reduction)


def hole_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error over the hole pixels (all channels) of each image.

    An image whose mask is empty has no hole to measure: its value is NaN, and
    ``reduction="mean"`` averages over the images that do have a hole (NaN if none has).

    Args:
        pred: predicted images.
        target: reference images.
        mask: holes, 1 = hole (a soft mask weights the pixels).
        reduction: ``"mean"`` over the batch or ``"none"`` for one value per image.

    Returns:
        A scalar, or ``(B,)`` per image.

    Shape:
        pred, target ``(B,C,H,W)``; mask ``(B,1,H,W)``.
    """
    check_pair(pred, target)
    check_reduction(reduction)
    b, c, h, w = pred.shape
    if not isinstance(mask, torch.Tensor) or mask.shape != (b, 1, h, w):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"mask must have shape ({b},1,{h},{w}) to match pred, got {shape}")
    mask = mask.to(pred.dtype)
    error = ((pred - target).abs() * mask).flatten(1).sum(dim=1)
    count = mask.flatten(1).sum(dim=1) * c
    has_hole = count > 0
    per_image = torch.where(has_hole, error / count.clamp_min(torch.finfo(count.dtype).tiny), torch.nan)
    return per_image[has_hole].mean() if reduction == "mean" else per_image


class PSNR(nn.Module):
    """Module form of :func:`psnr`."""

    def __init__(self, data_range: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(reduction)
        self.data_range = data_range
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return psnr(pred, target, self.data_range, self.reduction)


class L1(nn.Module):
    """Module form of :func:`l1`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l1(pred, target, self.reduction)


class HoleL1(nn.Module):
    """Module form of :func:`hole_l1`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return hole_l1(pred, target, mask, self.reduction)
