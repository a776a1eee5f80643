"""Per-image scores of one prediction against its ground truth, and LaMa-style mask-area bins."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .. import metrics

#: Mask-area bins of 10 % (LaMa's evaluation reports its metrics per bin): ``"0-10%"`` ... ``"90-100%"``.
AREA_BINS: tuple[str, ...] = tuple(f"{10 * k}-{10 * k + 10}%" for k in range(10))


PerceptualDistance = Callable[[Tensor, Tensor], Tensor]
"""``(pred, target) -> (B,)`` on ``(B,3,H,W)`` images in ``[0,1]`` (LPIPS)."""


def area_bin(mask: np.ndarray) -> str:
    """The 10 % bin of the mask's hole fraction; exact boundaries belong to the upper bin (10 % -> ``10-20%``).

    The fraction is compared in integers (hole pixels x 10 // pixels), so no rounding moves a mask
    across a boundary; a full mask is in ``90-100%``.
    """
    mask = np.asarray(mask)
    return AREA_BINS[min(np.count_nonzero(mask) * 10 // mask.size, 9)]


def to_batch(pixels: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div(255.0)[None]


def hole_rmse_255(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Root mean squared error in 0-255 units over the hole pixels (all channels); NaN without a hole.

    With the ``outpaint`` masks this is Sabini & Rusak's RMSE over the generated columns.

    Shape: pred, target ``(H, W, 3)`` uint8; mask ``(H, W)``.
    """
    hole = np.asarray(mask) > 0
    if not hole.any():
        return math.nan
    diff = pred[hole].astype(np.float64) - target[hole].astype(np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def pixel_scores(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM, L1, hole L1, HaarPSI (images in ``[0, 1]``), hole RMSE (0-255) and hole detail of one prediction.

    These are the scores that need no network; their keys are :data:`~._files.PIXEL_COLUMNS`.

    Shape: pred, target ``(H, W, 3)`` uint8; mask ``(H, W)`` in ``{0, 1}``.
    """
    p, t = to_batch(pred), to_batch(target)
    hole = torch.from_numpy((np.asarray(mask) > 0).astype(np.float32))[None, None]
    return {
        "psnr": float(metrics.psnr(p, t)),
        "ssim": float(metrics.ssim(p, t)),
        "l1": float(metrics.l1(p, t)),
        "hole_l1": float(metrics.hole_l1(p, t, hole, reduction="none")[0]),
        "hole_rmse_255": hole_rmse_255(pred, target, mask),
        "haarpsi": float(metrics.haarpsi(p, t)),
        "hole_detail": metrics.hole_detail(pred, target, mask),
        "seam": metrics.seam_score(pred, mask),
        "seam_truth": metrics.seam_score(target, mask),
    }
