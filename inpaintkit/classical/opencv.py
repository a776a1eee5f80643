"""OpenCV's diffusion-style inpainting: Telea's fast marching and the Navier-Stokes method.

* A. Telea, "An Image Inpainting Technique Based on the Fast Marching Method", Journal of Graphics
  Tools 9(1), 2004.
* M. Bertalmio, A. L. Bertozzi, G. Sapiro, "Navier-Stokes, Fluid Dynamics, and Image and Video
  Inpainting", CVPR 2001.

Both run ``cv2.inpaint`` (OpenCV, Apache-2.0) on the ``uint8`` picture; known pixels come back
unchanged. Both treat channels independently, so RGB order needs no conversion to BGR.
Measured property of OpenCV's Telea: it adds 0.5 before its round-to-nearest cast and adds a
normalised gradient term, so a flat colour drifts by a few levels (up to about 4/255) inside the
hole; Navier-Stokes reproduces a flat colour exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..registry import ModelSpec, register_models
from ..types import InputError
from .picture import PictureMethod


class _OpenCVMethod(PictureMethod):
    """``cv2.inpaint`` with the method given by the subclass's ``flag``."""

    flag: int

    def __init__(self, radius: int = 3) -> None:
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
            raise InputError(f"radius must be a positive integer (pixels), got {radius!r}")
        self.radius = radius

    def fill(self, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return cv2.inpaint(picture, hole, self.radius, self.flag)

    def extra_repr(self) -> str:
        return f"radius={self.radius}"


class Telea(_OpenCVMethod):
    """Telea (2004) fast-marching inpainting; ``radius`` is the neighbourhood used per pixel."""

    flag = cv2.INPAINT_TELEA


class NavierStokes(_OpenCVMethod):
    """Bertalmio et al. (2001) Navier-Stokes inpainting; ``radius`` is the neighbourhood per pixel."""

    flag = cv2.INPAINT_NS


register_models(
    ModelSpec("telea", "classical", "OpenCV fast marching (Telea 2004)", "Apache-2.0 (OpenCV)", factory=Telea),
    ModelSpec(
        "navier-stokes",
        "classical",
        "OpenCV Navier-Stokes (Bertalmio et al. 2001)",
        "Apache-2.0 (OpenCV)",
        factory=NavierStokes,
    ),
)
