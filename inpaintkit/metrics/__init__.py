"""Image quality metrics (function + thin ``nn.Module``), on ``(B,3,H,W)`` images in ``[0,1]``."""

from .pixel import L1, PSNR, HoleL1, hole_l1, l1, psnr
from .structural import SSIM, ssim

__all__ = ["psnr", "ssim", "l1", "hole_l1", "PSNR", "SSIM", "L1", "HoleL1"]
