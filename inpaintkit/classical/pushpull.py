"""Push-pull hole filling: a smooth, resolution-independent interpolation of the known pixels.

Pure tensor operations (no OpenCV), so it runs on any device, inside a network's forward pass
(LaMa's ``prefill="pushpull"``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pushpull_fill(image: Tensor, mask: Tensor) -> Tensor:
    """Fill the holes of ``image`` smoothly from the known pixels around them (push-pull).

    Push: the known pixels (and their coverage) are averaged down a pyramid of 2x2 cells to 1x1.
    Pull: from the coarsest level up, each cell keeps its own average in proportion to how much of
    it is known (fully from a quarter upwards) and takes the rest from the upsampled coarser level.
    The result is a smooth, resolution-independent interpolation (cost O(H W), no iterations); a
    whole image with no known pixel becomes 0. Reference: S. Gortler et al., "The Lumigraph",
    SIGGRAPH 1996, section 3.3.

    Args:
        image: ``(B, C, H, W)``.
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.

    Returns:
        ``(B, C, H, W)``: ``image`` where ``mask == 0``, the interpolation where ``mask == 1``.
    """
    known = 1 - mask
    sums, weights = [image * known], [known]
    while max(sums[-1].shape[-2:]) > 1:
        sums.append(F.avg_pool2d(sums[-1], 2, ceil_mode=True))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
    fill = sums[-1] / weights[-1].clamp(min=1e-8)
    for total, weight in zip(reversed(sums[:-1]), reversed(weights[:-1])):
        coarse = F.interpolate(fill, size=total.shape[-2:], mode="bilinear", align_corners=False)
        trust = (4 * weight).clamp(max=1)
        fill = trust * (total / weight.clamp(min=1e-8)) + (1 - trust) * coarse
    return image * known + fill * mask
