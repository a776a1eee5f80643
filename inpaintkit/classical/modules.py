"""The classical methods as modules on ``(B, 3, H, W)`` tensors, for everything that takes a network:
a PD-GAN prior, evaluation, the training prefill, ``inpaintkit.load_model``.

:class:`PictureInpainter` quantises each picture of the batch to ``uint8``, fills it with its
:class:`~inpaintkit.classical.picture.PictureMethod` and converts back; a pipeline runs the method
itself on the picture's arrays (:meth:`PictureInpainter.for_pipeline`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from ..models.contract import Inpainter
from ..types import SizeRule, check_image, check_mask
from .opencv import NavierStokes, Telea
from .patch_match import PatchMatch
from .picture import PictureMethod


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """Quantise a ``(B,3,H,W)`` float image in ``[0,1]`` to ``(B,H,W,3)`` ``uint8`` (round to nearest)."""
    scaled = image.detach().to(device="cpu", dtype=torch.float32).mul(255.0).round().clamp(0, 255)
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def inpaint_per_item(image: torch.Tensor, mask: torch.Tensor, method: PictureMethod) -> torch.Tensor:
    """Fill each picture of the batch with ``method`` and return the result as a float tensor.

    Args:
        image: pictures in ``[0,1]``.
        mask: holes, 1 = hole.
        method: fills one picture (:meth:`PictureMethod.fill_picture`: an empty hole leaves the
            picture as it is, an all-hole picture becomes mid-grey).

    Returns:
        The filled pictures, ``k/255`` values on ``image``'s device and dtype.

    Shape:
        image ``(B,3,H,W)``, mask ``(B,1,H,W)`` -> ``(B,3,H,W)``.
    """
    check_image(image)
    check_mask(mask, image)
    pictures = image_to_uint8(image)
    holes = (mask.detach().to("cpu")[:, 0] > 0.5).numpy()
    filled = np.stack([method.fill_picture(picture, hole) for picture, hole in zip(pictures, holes)])
    result = torch.from_numpy(filled).permute(0, 3, 1, 2).to(device=image.device, dtype=image.dtype)
    return result / 255.0


class PictureInpainter(Inpainter):
    """A classical method as a module: ``method`` (default ``method_cls(**settings)``) fills each
    picture of the batch.

    A subclass names its ``method_cls``, or (a stand-in in tests, say) overrides :meth:`forward`.
    """

    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False
    method_cls: ClassVar[type[PictureMethod] | None] = None

    def __init__(self, method: PictureMethod | None = None, **settings: Any) -> None:
        super().__init__()
        if method is None and self.method_cls is not None:
            method = self.method_cls(**settings)
        self.method = method

    def size_rule(self) -> SizeRule:
        """Any size: the methods work on the picture as it is."""
        return SizeRule()

    def for_pipeline(self) -> PictureInpainter | PictureMethod:
        """The method itself: a pipeline runs it on the picture's arrays, without tensors."""
        return self if self.method is None else self.method

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
        return inpaint_per_item(image, mask, self.method)

    def __getattr__(self, name: str) -> Any:
        """The method's settings read through the module (``TeleaInpainter(radius=5).radius``)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            method = self.__dict__.get("method")
            if method is None or name.startswith("_") or name not in vars(method):
                raise
            return vars(method)[name]

    def extra_repr(self) -> str:
        return "" if self.method is None else self.method.extra_repr()


class TeleaInpainter(PictureInpainter):
    """:class:`~inpaintkit.classical.opencv.Telea` on tensors (``radius=3``)."""

    method_cls = Telea


class NavierStokesInpainter(PictureInpainter):
    """:class:`~inpaintkit.classical.opencv.NavierStokes` on tensors (``radius=3``)."""

    method_cls = NavierStokes


class PatchMatchInpainter(PictureInpainter):
    """:class:`~inpaintkit.classical.patch_match.PatchMatch` on tensors (``patch_size=5, seed=0``)."""

    method_cls = PatchMatch


_MODULES: dict[type[PictureMethod], type[PictureInpainter]] = {
    cls.method_cls: cls for cls in (TeleaInpainter, NavierStokesInpainter, PatchMatchInpainter)
}


def as_module(method: PictureMethod | Inpainter) -> Inpainter:
    """``method`` on tensors: its module class (``TeleaInpainter`` for ``Telea`` ...) running that very
    method; a module (a registered stand-in) is returned as it is."""
    if isinstance(method, Inpainter):
        return method
    return _MODULES.get(type(method), PictureInpainter)(method)
