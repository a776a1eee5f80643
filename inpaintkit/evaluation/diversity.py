"""Diversity of models that give several completions of one input (PD-GAN and other pluralistic methods).

A model takes part when it has a ``samples`` method (:class:`MultiSampleInpainter`); the evaluation
then draws ``n`` completions per image and reports the mean over all pairs of their hole L1 and,
when LPIPS weights are available, their LPIPS distance (PD-GAN's diversity score).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .. import metrics
from ..types import InputError
from .scores import PerceptualDistance, to_batch


@runtime_checkable
class MultiSampleInpainter(Protocol):
    """A model that returns several completions of one input."""

    def samples(self, image: np.ndarray, mask: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
        """``n`` completions of ``image``, reproducible from ``seed``.

        Shape: image ``(H, W, 3)`` uint8, mask ``(H, W)`` in ``{0, 1}`` -> ``n`` arrays ``(H, W, 3)`` uint8.
        """
        ...


def pairwise_diversity(
    samples: Sequence[np.ndarray], mask: np.ndarray, lpips: PerceptualDistance | None = None
) -> tuple[float, float | None]:
    """Mean hole L1 and mean LPIPS over all unordered pairs of samples.

    Args:
        samples: at least two completions ``(H, W, 3)`` uint8 of the same input.
        mask: the hole ``(H, W)``, 1 = hole.
        lpips: perceptual distance on ``[0,1]`` batches; ``None`` skips the LPIPS score.

    Returns:
        ``(mean hole L1, mean LPIPS or None)``.
    """
    if len(samples) < 2:
        raise InputError(f"diversity needs at least 2 samples, got {len(samples)}")
    batch = torch.cat([to_batch(sample) for sample in samples])
    first, second = (list(side) for side in zip(*combinations(range(len(samples)), 2)))
    hole = torch.from_numpy((np.asarray(mask) > 0).astype(np.float32))[None, None].expand(len(first), 1, -1, -1)
    l1 = float(metrics.hole_l1(batch[first], batch[second], hole))
    if lpips is None:
        return l1, None
    return l1, float(lpips(batch[first], batch[second]).mean())
