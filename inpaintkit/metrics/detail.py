"""Hole detail ratio: how much fine structure a fill has inside the hole, relative to the real photo.

Unlike the other metrics this one works on one ``(H, W, 3)`` uint8 image (the format of the
evaluation run), since it is built from OpenCV's Sobel filter and erosion.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..io import LUMA_WEIGHTS
from ..types import InputError

GREY = np.array(LUMA_WEIGHTS)
ERODE = np.ones((5, 5), np.uint8)


def gradient_magnitude(pixels: np.ndarray) -> np.ndarray:
    """3x3 Sobel gradient magnitude ``sqrt(gx^2 + gy^2)`` of the grey image, in 0-255 units.

    Grey = 0.299 R + 0.587 G + 0.114 B in float64; OpenCV's default border (reflect 101).

    Shape: pixels ``(H, W, 3)`` uint8 -> ``(H, W)`` float64.
    """
    grey = pixels.astype(np.float64) @ GREY
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def hole_detail(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude of ``pred`` over the eroded hole divided by that of ``target``.

    1.0 means the fill has as much fine structure (edges, texture) as the real photo there; below 1
    it is blurrier or flatter (a constant fill gives 0); above 1 it invents noise or edges the photo
    lacks. The hole is eroded by a 5x5 square first, so the 3x3 Sobel never reaches known pixels and
    the seam between fill and photo does not count (the image border does not erode a hole that
    touches it). It measures the amount of detail, not whether it
    is the right detail: pair it with a reference metric (L1, LPIPS, HaarPSI).

    Args:
        pred: the inpainted image.
        target: the ground truth.
        mask: the hole, nonzero = hole.

    Returns:
        The ratio; NaN when the eroded hole is empty (no pixel 2 px or more inside the hole) or the
        ground truth is flat there (mean gradient 0).

    Shape:
        pred, target ``(H, W, 3)`` uint8; mask ``(H, W)``.
    """
    for name, image in (("pred", pred), ("target", target)):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            shape = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise InputError(f"{name} must be a uint8 array of shape (H,W,3), got {shape}")
    if pred.shape != target.shape:
        raise InputError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    mask = np.asarray(mask)
    if mask.shape != pred.shape[:2]:
        raise InputError(f"mask must have shape {pred.shape[:2]} to match pred, got {mask.shape}")
    inner = cv2.erode((mask > 0).astype(np.uint8), ERODE) > 0
    if not inner.any():
        return math.nan
    truth = float(gradient_magnitude(target)[inner].mean())
    if truth == 0:
        return math.nan
    return float(gradient_magnitude(pred)[inner].mean()) / truth


#: Periods (pixels) of the block grids :func:`seam_score` looks for.
SEAM_PERIODS = range(2, 17)
#: A phase needs at least this many steps to count (fewer make its mean mostly chance).
SEAM_MIN_STEPS = 64


def seam_score(pixels: np.ndarray, mask: np.ndarray) -> float:
    """How strongly a fill shows a block grid: the largest ratio of a grid's steps to the mean step.

    Inside the hole eroded by 2 px, for every period ``p`` in 2..16 and every phase ``0 <= f < p``,
    the mean absolute horizontal grey-level step between columns ``x`` and ``x + 1`` over the
    columns with ``x % p == f`` is divided by the mean over all columns; the same for vertical steps
    and rows. The score is the largest of these ratios (phases with fewer than
    :data:`SEAM_MIN_STEPS` steps are skipped). A photo scores about 1.2 by chance; a fill pasted in
    grid-aligned blocks scores much more, since its block edges are larger steps than its insides.

    Args:
        pixels: the image, ``(H, W, 3)`` uint8.
        mask: the hole, ``(H, W)``, nonzero = hole.

    Returns:
        The ratio (>= 1 when defined); NaN when the eroded hole holds too few steps or no step at all.
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        shape = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise InputError(f"pixels must be a uint8 array of shape (H,W,3), got {shape}")
    mask = np.asarray(mask)
    if mask.shape != pixels.shape[:2]:
        raise InputError(f"mask must have shape {pixels.shape[:2]} to match pixels, got {mask.shape}")
    inner = cv2.erode((mask > 0).astype(np.uint8), ERODE) > 0
    grey = pixels.astype(np.float64) @ GREY
    best = math.nan
    for axis in (1, 0):  # steps along x (grid columns), then along y (grid rows)
        steps = np.abs(np.diff(grey, axis=axis))
        inside = inner[:, :-1] & inner[:, 1:] if axis == 1 else inner[:-1] & inner[1:]
        if inside.sum() < SEAM_MIN_STEPS:
            continue
        overall = steps[inside].mean()
        if overall == 0:
            continue
        position = np.arange(steps.shape[axis])
        # per line index (column for axis 1, row for axis 0): sum and count of the steps inside
        sums = np.where(inside, steps, 0).sum(axis=1 - axis)
        counts = inside.sum(axis=1 - axis)
        for period in SEAM_PERIODS:
            phase_sums = np.bincount(position % period, weights=sums, minlength=period)
            phase_counts = np.bincount(position % period, weights=counts, minlength=period)
            enough = phase_counts >= SEAM_MIN_STEPS
            if enough.any():
                ratio = float((phase_sums[enough] / phase_counts[enough]).max() / overall)
                best = ratio if math.isnan(best) else max(best, ratio)
    return best
