"""Pixel reconstruction losses.

:func:`masked_l1_loss` follows LaMa's ``masked_l1_loss`` (``saicinpainting/training/losses/
feature_matching.py`` in https://github.com/advimman/lama): every pixel's absolute error is
weighted by ``weight_missing`` in the hole and ``weight_known`` elsewhere, then the mean is taken
over **all** elements (batch, channels, pixels). The term is therefore not normalised by the hole
area: a known-only L1 on an image with a 40% hole is 0.6 times the mean error of the known pixels.
That is the reference's scaling, which the published loss weights (L1 known 10) assume.
(``inpaintkit.metrics.hole_l1`` is the area-normalised metric.)

:func:`masked_mse` is normalised by area instead: the weighted squared error over the pixels with a
non-zero weight, as GLCIC, image outpainting (weights = the hole mask) and the Context Encoder
(weights 1 in the hole, 10 on a band around it) train.
"""

from __future__ import annotations

import torch.nn as nn
from torch import Tensor


def masked_l1_loss(
    pred: Tensor, target: Tensor, mask: Tensor, weight_known: float = 1.0, weight_missing: float = 0.0
) -> Tensor:
    """``mean(|pred - target| * (mask * weight_missing + (1 - mask) * weight_known))``.

    Args:
        pred: predicted images.
        target: reference images.
        mask: 1 = hole, 0 = known (broadcast over channels).
        weight_known: weight of the known pixels.
        weight_missing: weight of the hole pixels.

    Returns:
        A scalar: the weighted error averaged over every element.

    Shape:
        pred, target ``(B, C, H, W)``; mask ``(B, 1, H, W)``.
    """
    weights = mask * weight_missing + (1 - mask) * weight_known
    return ((pred - target).abs() * weights).mean()


def masked_mse(pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """``sum(weights * (pred - target)^2) / (C * #{pixels with weight > 0})``; 0 when no weight is positive.

    With a {0, 1} hole mask as ``weights`` this is the mean squared error over the hole pixels and
    every channel.

    Args:
        pred: predicted images.
        target: reference images.
        weights: per-pixel weights >= 0 (broadcast over channels), e.g. the hole mask.

    Returns:
        A scalar.

    Shape:
        pred, target ``(B, C, H, W)``; weights ``(B, 1, H, W)``.
    """
    count = (weights > 0).to(weights.dtype).sum() * pred.shape[1]
    return ((pred - target).pow(2) * weights).sum() / count.clamp(min=1)


class MaskedL1Loss(nn.Module):
    """Module form of :func:`masked_l1_loss`."""

    def __init__(self, weight_known: float = 1.0, weight_missing: float = 0.0) -> None:
        super().__init__()
        self.weight_known = weight_known
        self.weight_missing = weight_missing

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        return masked_l1_loss(pred, target, mask, self.weight_known, self.weight_missing)


class MaskedMSELoss(nn.Module):
    """Module form of :func:`masked_mse`."""

    def forward(self, pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
        return masked_mse(pred, target, weights)
