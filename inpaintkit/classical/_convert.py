"""Run a numpy ``uint8`` inpainting backend over a batch of project-convention tensors.

Classical backends (OpenCV, pypatchmatch) work on one ``(H, W, 3)`` ``uint8`` picture and one
``(H, W)`` ``uint8`` mask at a time. :func:`inpaint_per_item` does the conversion both ways and the
loop over the batch once, for all of them; :class:`PictureInpainter` is the module they share.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..models.contract import Inpainter, SizeRule
from ..types import check_image, check_mask

#: A backend: ``(image (H,W,3) uint8, mask (H,W) uint8 with 255 = hole) -> (H,W,3) uint8``.
Backend = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: What a picture without a single known pixel is filled with (there is nothing to propagate).
ALL_HOLE_FILL = 128


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """Quantise a ``(B,3,H,W)`` float image in ``[0,1]`` to ``(B,H,W,3)`` ``uint8`` (round to nearest)."""
    scaled = image.detach().to(device="cpu", dtype=torch.float32).mul(255.0).round().clamp(0, 255)
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def mask_to_uint8(mask: torch.Tensor) -> np.ndarray:
    """Turn a ``(B,1,H,W)`` {0,1} mask into ``(B,H,W)`` ``uint8`` with 255 = hole."""
    hole = mask.detach().to("cpu")[:, 0] > 0.5
    return hole.to(torch.uint8).mul(255).numpy()


def inpaint_per_item(image: torch.Tensor, mask: torch.Tensor, backend: Backend) -> torch.Tensor:
    """Apply ``backend`` to each picture of the batch and return the result as a float tensor.

    A picture whose mask is empty is returned quantised, without calling the backend; one whose
    mask covers every pixel is filled with mid-grey (``128/255``), since there is no known pixel to
    propagate (OpenCV would return the hole's content unchanged and pypatchmatch black).

    Args:
        image: pictures in ``[0,1]``.
        mask: holes, 1 = hole.
        backend: fills one picture, see :data:`Backend`.

    Returns:
        The filled pictures, ``k/255`` values on ``image``'s device and dtype.

    Shape:
        image ``(B,3,H,W)``, mask ``(B,1,H,W)`` -> ``(B,3,H,W)``.
    """
    check_image(image)
    check_mask(mask, image)
    pictures = image_to_uint8(image)
    holes = mask_to_uint8(mask)
    filled = np.empty_like(pictures)
    for i, (picture, hole) in enumerate(zip(pictures, holes)):
        if not hole.any():
            filled[i] = picture
        elif hole.all():
            filled[i] = ALL_HOLE_FILL
        else:
            filled[i] = backend(picture, hole)
    result = torch.from_numpy(filled).permute(0, 3, 1, 2).to(device=image.device, dtype=image.dtype)
    return result / 255.0


class PictureInpainter(Inpainter):
    """A classical method as a module: subclasses fill one ``uint8`` picture in :meth:`_fill`."""

    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def size_rule(self) -> SizeRule:
        """Any size: the methods work on the picture as it is."""
        return SizeRule()

    def _fill(self, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Fill one picture; see :data:`Backend`."""
        raise NotImplementedError

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill the holes of each picture.

        Args:
            image: pictures in ``[0,1]``; they are quantised to ``uint8`` first.
            mask: holes, 1 = hole.

        Returns:
            The filled pictures in ``[0,1]`` (multiples of ``1/255``), raw (not composited).

        Shape:
            image ``(B,3,H,W)``, mask ``(B,1,H,W)`` -> ``(B,3,H,W)``.
        """
        return inpaint_per_item(image, mask, self._fill)
