"""The torch-free side of the classical methods: a :class:`PictureMethod` fills one ``uint8`` picture.

Classical backends (OpenCV, pypatchmatch) work on one ``(H, W, 3)`` ``uint8`` picture and one
``(H, W)`` ``uint8`` mask (255 = hole) at a time. A method keeps the model contract of
:mod:`inpaintkit.models.contract` (``pipeline``, ``postprocess``, ``needs_prior``, ``size_rule``)
without being a network, so the pipeline runs it on the picture's arrays and ``inpaintkit remove
--model telea`` never imports torch. :class:`~inpaintkit.classical.modules.PictureInpainter` turns a
method into a module on ``(B, 3, H, W)`` tensors for everything else (priors, evaluation, training).
"""

from __future__ import annotations

import numpy as np

from ..types import SizeRule

#: What a picture without a single known pixel is filled with (there is nothing to propagate).
ALL_HOLE_FILL = 128


class PictureMethod:
    """Base class of the classical methods: subclasses fill one ``uint8`` picture in :meth:`fill`."""

    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def size_rule(self) -> SizeRule:
        """Any size: the methods work on the picture as it is."""
        return SizeRule()

    def for_pipeline(self) -> PictureMethod:
        """What a pipeline runs: the method itself."""
        return self

    def fill(self, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Fill one picture: ``(H,W,3)`` ``uint8`` and ``(H,W)`` ``uint8`` with 255 = hole -> ``(H,W,3)`` ``uint8``."""
        raise NotImplementedError

    def fill_picture(self, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """:meth:`fill`, except that a picture with an empty hole comes back as it is and one that is
        all hole is filled with mid-grey (``128``): OpenCV would return the hole's content unchanged
        and pypatchmatch black.

        Shape: picture ``(H,W,3)`` ``uint8``, hole ``(H,W)`` (non-zero = hole) -> ``(H,W,3)`` ``uint8``.
        """
        hole = np.where(hole > 0, np.uint8(255), np.uint8(0))
        if not hole.any():
            return picture.copy()
        if hole.all():
            return np.full_like(picture, ALL_HOLE_FILL)
        return self.fill(np.ascontiguousarray(picture), hole)

    def predict(self, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Fill a float picture: quantised to ``uint8`` (round to nearest), filled, back in ``[0, 1]``.

        Shape: rgb ``(H,W,3)`` float in ``[0,1]``, hole ``(H,W)`` bool -> ``(H,W,3)`` float32.
        """
        picture = np.clip(np.round(rgb.astype(np.float32) * np.float32(255.0)), 0, 255).astype(np.uint8)
        return self.fill_picture(picture, hole).astype(np.float32) / np.float32(255.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        """The settings shown by ``repr``."""
        return ""
