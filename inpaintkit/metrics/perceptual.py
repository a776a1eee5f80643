"""HaarPSI, the Haar wavelet-based perceptual similarity index (RGB version with YIQ chroma).

Reference: R. Reisenhofer, S. Bosse, G. Kutyniok, T. Wiegand, "A Haar wavelet-based perceptual
similarity index for image quality assessment", Signal Processing: Image Communication 61 (2018).
The settings and border handling follow piq 0.8.0's ``piq.haarpsi`` (scales 3, 2x2 subsampling,
``c = 30``, ``alpha = 4.2``), whose values the tests reproduce within 1e-3.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..types import InputError
from ._common import check_pair, check_reduction, reduce_batch

#: RGB -> YIQ (NTSC) rows: luminance Y, chroma I and Q.
_YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def _haar_kernels(size: int, like: torch.Tensor) -> torch.Tensor:
    """Two ``size x size`` Haar filters, ``(2, 1, size, size)``: the top half ``+1/size``, the bottom
    half ``-1/size`` (responds to horizontal edges), then its transpose (vertical edges)."""
    rows = torch.ones(size, dtype=like.dtype, device=like.device) / size
    rows[size // 2 :] *= -1
    first = rows[:, None].expand(size, size)
    return torch.stack([first, first.T])[:, None]


def _haar_responses(luma: torch.Tensor, scales: int) -> torch.Tensor:
    """Haar responses of ``(B,1,H,W)`` luminance, ``(B, 2*scales, H, W)``: per scale, both orientations.

    Filters of even size ``k = 2^(scale+1)`` are centred like MATLAB's ``conv2(..., 'same')``:
    ``k/2 - 1`` zeros before and ``k/2`` after, on both axes.
    """
    out = []
    for scale in range(scales):
        size = 2 ** (scale + 1)
        before, after = size // 2 - 1, size // 2
        padded = F.pad(luma, (before, after, before, after))
        out.append(F.conv2d(padded, _haar_kernels(size, luma)))
    return torch.cat(out, dim=1)


def _similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """``(2ab + c) / (a^2 + b^2 + c)``, 1 where ``a == b``."""
    return (2 * a * b + c) / (a * a + b * b + c)


def haarpsi(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    scales: int = 3,
    subsample: bool = True,
    c: float = 30.0,
    alpha: float = 4.2,
) -> torch.Tensor:
    """HaarPSI of each image against its reference: 1 for identical images, lower for worse ones.

    Steps: scale to 0-255; average 2x2 blocks (``subsample``, zero-padding an odd side); YIQ; Haar
    filters of sizes 2, 4, ..., 2^scales on Y. Local similarity per orientation = mean over the two
    finest scales of ``(2|a||b| + c) / (a^2 + b^2 + c)``; chroma similarity = mean of that over I and
    Q after a 2x2 mean filter. Weights: the larger of the two images' coarsest-scale magnitudes per orientation,
    their mean for the chroma map. Score = ``(logit(weighted mean of sigmoid(alpha * similarity)) /
    alpha)^2``, so the sigmoid's logit undoes the pooling for a map of constant similarity.

    Args:
        pred: distorted (e.g. inpainted) images, RGB.
        target: reference images, RGB.
        data_range: difference between the largest and smallest possible value (1 for ``[0,1]``).
        reduction: ``"mean"`` over the batch or ``"none"`` for one value per image.
        scales: number of Haar scales (the coarsest gives the weights; needs at least 2).
        subsample: average 2x2 blocks first (the paper's viewing distance).
        c: stability constant of the similarity, in 0-255 units.
        alpha: slope of the sigmoid used in the pooling.

    Returns:
        A scalar, or ``(B,)`` per image.

    Shape:
        pred, target ``(B,3,H,W)``.
    """
    check_pair(pred, target)
    check_reduction(reduction)
    if pred.shape[1] != 3:
        raise InputError(f"haarpsi needs RGB images (B,3,H,W), got {pred.shape[1]} channels")
    if data_range <= 0:
        raise InputError(f"data_range must be positive, got {data_range}")
    if scales < 2:
        raise InputError(f"scales must be at least 2, got {scales}")
    x, y = pred * (255.0 / data_range), target * (255.0 / data_range)
    if subsample:
        pad = (0, x.shape[3] % 2, 0, x.shape[2] % 2)
        x, y = F.avg_pool2d(F.pad(x, pad), 2), F.avg_pool2d(F.pad(y, pad), 2)
    yiq = torch.tensor(_YIQ, dtype=x.dtype, device=x.device)
    x, y = torch.einsum("kc,bchw->bkhw", yiq, x), torch.einsum("kc,bchw->bkhw", yiq, y)

    haar_x, haar_y = _haar_responses(x[:, :1], scales).abs(), _haar_responses(y[:, :1], scales).abs()
    coarsest = slice(2 * scales - 2, 2 * scales)
    weights = torch.maximum(haar_x[:, coarsest], haar_y[:, coarsest])  # (B,2,H,W): per orientation
    maps = [_similarity(haar_x[:, o : o + 3 : 2], haar_y[:, o : o + 3 : 2], c).mean(dim=1) for o in (0, 1)]

    # chroma: absolute 2x2 means (zero beyond the right and bottom edges), similarity averaged over I and Q
    chroma_x = F.avg_pool2d(F.pad(x[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
    chroma_y = F.avg_pool2d(F.pad(y[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
    maps.append(_similarity(chroma_x, chroma_y, c).mean(dim=1))
    weights = torch.cat([weights, weights.mean(dim=1, keepdim=True)], dim=1)

    similarity = torch.stack(maps, dim=1)
    eps = torch.finfo(similarity.dtype).eps
    pooled = ((torch.sigmoid(alpha * similarity) * weights).sum(dim=(1, 2, 3)) + eps) / (
        weights.sum(dim=(1, 2, 3)) + eps
    )
    per_image = (torch.logit(pooled) / alpha) ** 2
    return reduce_batch(per_image, reduction)


class HaarPSI(nn.Module):
    """Module form of :func:`haarpsi`."""

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: str = "mean",
        scales: int = 3,
        subsample: bool = True,
        c: float = 30.0,
        alpha: float = 4.2,
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        self.data_range, self.reduction = data_range, reduction
        self.scales, self.subsample, self.c, self.alpha = scales, subsample, c, alpha

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return haarpsi(pred, target, self.data_range, self.reduction, self.scales, self.subsample, self.c, self.alpha)
