"""``OutpaintPipeline``: extend a picture on any of its four sides with any registered model.

Steps of a call:

1. decode the picture (PIL image, numpy array, :class:`~inpaintkit.io.Picture` or file) and turn
   the four amounts into pixels (an int is pixels, a float in ``[0, 1)`` a fraction of the
   original width or height);
2. split each amount over ``steps`` steps (recursive outpainting, Sabini & Rusak 2018: each step
   extends by about ``1/steps`` of the request and feeds its output to the next);
3. per step: expand the canvas (new pixels: the picture's mean colour, for display only; every model
   fills holes in its own convention, set by its config: the outpainting generator with the mean
   of the visible pixels (the paper) or Telea's fill (outpaint-small), LaMa with zeros or Telea's
   fill (lama-small), GLCIC with its stored mean) and mask the new area;
4. run the model on the whole canvas (padded to its multiple, then cropped back): its raw output;
5. blend: clone the known region into the raw output with Poisson blending (the paper's
   ``seamlessClone``: the known pixels keep their gradients and their outermost ring takes the
   model's values there, so they meet the generated pixels smoothly) or, with ``blend=False``,
   composite (known pixels copied exactly);
6. return an :class:`OutpaintResult` whose picture is exactly ``(H + top + bottom, W + left + right)``.

Any inpainting model works: the outpainting generator, LaMa (border masks are part of its training
mix), GLCIC or the classical methods.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..classical.picture import PictureMethod
from ..classical.poisson import clone_known_region
from ..io import Picture, check_pixel_limit, from_array, read_image
from ..masks import expand_canvas
from ..masks.shapes import border_pixels
from ..types import SIDES, InputError, Job, SizeRule
from .processing import check_run, composite, place, predict

if TYPE_CHECKING:  # a classical method runs without torch
    import torch
    import torch.nn as nn


@dataclass
class OutpaintResult:
    """What :class:`OutpaintPipeline` returns.

    Attributes:
        image: the extended picture (alpha, if any, opaque on the new area; bit depth and mode kept).
        mask: ``(H', W')`` bool, True on every generated pixel.
        model: registry name (or file) of the model used.
        steps: how many extension steps ran.
        seconds: wall time of the call.
        warnings: anything the caller should know.
    """

    image: Picture
    mask: np.ndarray
    model: str
    steps: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


def split_amount(total: int, steps: int) -> list[int]:
    """``total`` pixels in ``steps`` near-equal whole parts (the larger ones last); they sum to ``total``."""
    return [total * (i + 1) // steps - total * i // steps for i in range(steps)]


class OutpaintPipeline:
    """Extend pictures with ``model``.

    Args:
        model: any ``nn.Module`` with ``forward(image (B,3,H,W), mask (B,1,H,W)) -> (B,3,H,W)``, or a
            classical :class:`~inpaintkit.classical.picture.PictureMethod`.
        name: registry name or file shown in results.
        pad_multiple: the canvas given to the model is padded (symmetric, bottom/right) to a
            multiple of this.
        min_size: and to at least this size.
        device: where the model runs.
        max_pixels: refuse larger inputs and results; ``None`` = the library default.
        max_run_pixels: refuse (:class:`~inpaintkit.types.RegionTooLarge`) a canvas of more pixels than
            this (padding not counted); ``None`` = no limit.
        precision: how the model runs, as shown with timings (see :class:`~.inpaint.InpaintPipeline`).
    """

    def __init__(
        self,
        model: nn.Module | PictureMethod,
        *,
        name: str,
        pad_multiple: int = 8,
        min_size: int = 0,
        device: str | torch.device = "cpu",
        max_pixels: int | None = None,
        max_run_pixels: int | None = None,
        precision: str = "",
    ) -> None:
        if isinstance(pad_multiple, bool) or not isinstance(pad_multiple, int) or pad_multiple < 1:
            raise InputError(f"pad_multiple must be an integer >= 1, got {pad_multiple!r}")
        self.model, self.device = place(model, device)
        self.name = name
        self.pad_multiple, self.min_size = pad_multiple, min_size
        self.max_pixels, self.max_run_pixels = max_pixels, max_run_pixels
        self.precision = precision

    def __call__(
        self,
        image: object,
        left: int | float = 0,
        right: int | float = 0,
        top: int | float = 0,
        bottom: int | float = 0,
        *,
        steps: int = 1,
        blend: bool = True,
        job: Job | None = None,
    ) -> OutpaintResult:
        """Extend ``image`` by ``left``, ``right``, ``top`` and ``bottom`` pixels.

        Args:
            image: PIL image, numpy array (``uint8``, ``uint16`` or float in [0, 1]), ``Picture`` or path.
            left, right, top, bottom: pixels (int) or fractions in ``[0, 1)`` of the original width
                (left/right) or height (top/bottom).
            steps: extend in this many steps, each feeding its output to the next.
            blend: Poisson-clone the known region into each step's result (the paper; OpenCV works
                in 8 bits, so 16-bit pictures lose precision there); ``False`` keeps the known
                pixels exactly.
            job: reports ``(done, total)`` after each step and stops the call between steps once
                cancelled (see :class:`~inpaintkit.types.Job`).

        Returns:
            The extended picture and the mask of generated pixels.

        Raises:
            InputError: negative amounts, ``steps < 1``, an amount smaller than ``steps`` on a side
                that is extended, or a result over the pixel limit.
            Cancelled: ``job`` was cancelled before the last step.
        """
        start = time.perf_counter()
        # 1. decode
        if isinstance(image, (str, os.PathLike)):
            picture = read_image(image, max_pixels=self.max_pixels)
        else:
            picture = from_array(image)
        height, width = picture.rgb.shape[:2]
        amounts = {
            side: border_pixels(value, width if side in ("left", "right") else height, side)
            for side, value in zip(SIDES, (left, right, top, bottom))
        }
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InputError(f"steps must be an integer >= 1, got {steps!r}")
        short = [side for side, n in amounts.items() if 0 < n < steps]
        if short:
            raise InputError(f"{short[0]} = {amounts[short[0]]} px cannot be split over {steps} steps")
        new_h, new_w = height + amounts["top"] + amounts["bottom"], width + amounts["left"] + amounts["right"]
        check_pixel_limit(new_w, new_h, self.max_pixels, "outpainted image")
        generated = np.ones((new_h, new_w), bool)
        generated[amounts["top"] : amounts["top"] + height, amounts["left"] : amounts["left"] + width] = False
        if not generated.any():
            return OutpaintResult(
                picture,
                generated,
                self.name,
                0,
                time.perf_counter() - start,
                ["nothing to extend: every amount is 0, image returned unchanged"],
            )
        # 2. split over the steps
        parts = {side: split_amount(n, steps) for side, n in amounts.items()}
        rgb = picture.rgb
        job = job or Job()
        with job.units(steps):
            for step in range(steps):
                pads = {side: parts[side][step] for side in SIDES}
                # 3. expand
                canvas, hole = expand_canvas(rgb, **pads, fill="mean")
                # 4. model
                raw = self._run_model(canvas, hole)
                # 5. blend
                rgb = clone_known_region(raw, canvas, hole) if blend else composite(raw, canvas, hole[..., None])
                job.advance()
        # 6. result
        alpha = None
        if picture.alpha is not None:
            alpha = expand_canvas(picture.alpha, **amounts, fill=1.0)[0]
        result = Picture(np.clip(rgb, 0.0, 1.0).astype(np.float32), alpha, picture.bit_depth, picture.mode)
        return OutpaintResult(result, generated, self.name, steps, time.perf_counter() - start)

    def _run_model(self, canvas: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """The model's raw output on the whole canvas, ``(H, W, 3)`` float32 in [0, 1]."""
        check_run(self.name, canvas.shape[1], canvas.shape[0], self.max_run_pixels, self.pad_multiple - 1)
        pred = predict(self.model, canvas, hole, self.pad_multiple, self.min_size, self.device, self.name)
        return np.clip(pred, 0.0, 1.0)


def outpaint(
    image: object,
    model: nn.Module | PictureMethod,
    left: int | float = 0,
    right: int | float = 0,
    top: int | float = 0,
    bottom: int | float = 0,
    steps: int = 1,
    *,
    blend: bool = True,
    name: str = "model",
    device: str | torch.device = "cpu",
) -> OutpaintResult:
    """Extend ``image`` with ``model`` in one call; see :meth:`OutpaintPipeline.__call__`.

    A model that keeps the contract (an :class:`~inpaintkit.models.contract.Inpainter` or a classical
    method) sets the padding by its size rule; any other module is taken to fill any size. Use
    :func:`inpaintkit.api.load_outpainter` to get a pipeline for a registered name or weight file.
    """
    from ..models.contract import Inpainter

    sizes = model.size_rule() if isinstance(model, (Inpainter, PictureMethod)) else SizeRule()
    pipe = OutpaintPipeline(model, name=name, pad_multiple=sizes.multiple, min_size=sizes.minimum, device=device)
    return pipe(image, left, right, top, bottom, steps=steps, blend=blend)
