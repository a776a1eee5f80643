"""Image quality metrics (function + thin ``nn.Module``), on ``(B,3,H,W)`` images in ``[0,1]``.

:func:`hole_detail` is the exception: a function on one ``(H,W,3)`` uint8 image, as the evaluation uses it.
"""

from .detail import hole_detail, seam_score
from .perceptual import HaarPSI, haarpsi
from .pixel import L1, PSNR, HoleL1, hole_l1, l1, psnr
from .structural import SSIM, ssim

__all__ = [
    "psnr",
    "ssim",
    "l1",
    "hole_l1",
    "haarpsi",
    "hole_detail",
    "seam_score",
    "PSNR",
    "SSIM",
    "L1",
    "HoleL1",
    "HaarPSI",
]
