"""Structural similarity (SSIM).

Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image Quality Assessment: From Error
Visibility to Structural Similarity", IEEE TIP 2004: Gaussian window 11x11 with sigma 1.5,
``K1 = 0.01``, ``K2 = 0.03``, population (not sample) covariances, each channel separately, averaged.

The local statistics are computed only where the window lies inside the image (a "valid"
convolution), which is exactly the region ``skimage.metrics.structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` averages after cropping
``(win - 1) / 2`` pixels from each border, so the two agree whenever ``window_size`` equals
scikit-image's ``2 * int(3.5 * sigma + 0.5) + 1`` (11 for sigma 1.5).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..types import InputError
from ._common import check_pair, check_reduction, reduce_batch

K1 = 0.01
K2 = 0.03


def gaussian_window(window_size: int, sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian weights, centred, of length ``window_size``.

    Shape:
        ``(window_size,)``.
    """
    offsets = torch.arange(window_size, dtype=dtype) - (window_size - 1) / 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Mean structural similarity of each image pair (1 = identical).

    Computed in at least float32 (float64 inputs stay float64).

    Args:
        pred: predicted images.
        target: reference images.
        window_size: odd side of the Gaussian window; H and W must be at least this.
        sigma: standard deviation of the Gaussian window in pixels.
        data_range: difference between the largest and smallest possible value (1 for ``[0,1]``).
        reduction: ``"mean"`` over the batch or ``"none"`` for one value per image.

    Returns:
        A scalar, or ``(B,)`` per image.

    Shape:
        pred, target ``(B,C,H,W)``.
    """
    check_pair(pred, target)
    check_reduction(reduction)
    if not isinstance(window_size, int) or window_size < 1 or window_size % 2 == 0:
        raise InputError(f"window_size must be a positive odd integer, got {window_size!r}")
    if sigma <= 0 or data_range <= 0:
        raise InputError(f"sigma and data_range must be positive, got sigma={sigma}, data_range={data_range}")
    b, c, h, w = pred.shape
    if h < window_size or w < window_size:
        raise InputError(f"ssim needs images of at least {window_size}x{window_size} (window_size), got {h}x{w}")

    dtype = torch.promote_types(pred.dtype, torch.float32)
    x = pred.to(dtype)
    y = target.to(dtype)
    # local means of x, y, x^2, y^2, xy in one separable depthwise convolution
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    window = gaussian_window(window_size, sigma, dtype).to(pred.device)
    groups = stack.shape[1]
    filtered = F.conv2d(stack, window.view(1, 1, 1, -1).expand(groups, 1, 1, window_size), groups=groups)
    filtered = F.conv2d(filtered, window.view(1, 1, -1, 1).expand(groups, 1, window_size, 1), groups=groups)
    mu_x, mu_y, mean_xx, mean_yy, mean_xy = filtered.chunk(5, dim=1)

    var_x = mean_xx - mu_x * mu_x
    var_y = mean_yy - mu_y * mu_y
    cov_xy = mean_xy - mu_x * mu_y
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    # every channel has the same number of valid positions, so this is the mean of channel means
    per_image = (numerator / denominator).flatten(1).mean(dim=1)
    return reduce_batch(per_image, reduction)


class SSIM(nn.Module):
    """Module form of :func:`ssim`."""

    def __init__(
        self, window_size: int = 11, sigma: float = 1.5, data_range: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        self.window_size = window_size
        self.sigma = sigma
        self.data_range = data_range
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ssim(pred, target, self.window_size, self.sigma, self.data_range, self.reduction)
