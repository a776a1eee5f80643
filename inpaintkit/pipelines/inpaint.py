"""``InpaintPipeline``: fill the holes of one picture with any registered model.

Steps of a call:

1. decode the image (PIL, numpy, tensor, :class:`~inpaintkit.io.Picture` or file) and the mask;
2. binarise the mask (non-zero = hole) and dilate it;
3. an empty mask returns the input unchanged, with a warning;
4. choose the HD strategy: ``original`` (whole frame), ``resize`` (shrink the frame to
   ``hd_resize_limit`` on its long side, upsample the prediction) or ``crop`` (one crop per mask
   blob with ``hd_margin`` pixels of context, when the long side exceeds ``hd_trigger``);
5. for each region: pad to the model's multiple (symmetric, bottom/right), run the model, unpad,
   then the optional post-processing (e.g. GLCIC's Telea + Poisson blending) on the region;
6. paste the prediction into a copy of the input, in the input's own dtype, at hole pixels only
   (or across the feather ring): every other pixel stays bit-exact;
7. return an :class:`~inpaintkit.types.InpaintResult` in the caller's format.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps
from tqdm import tqdm

from .. import masks
from ..classical.picture import PictureMethod
from ..io import Picture, check_pixel_limit, from_array, luma, read_image, to_pil, to_uint8, to_uint16
from ..types import InpaintResult, InputError, Job, check_image
from .processing import (
    Box,
    blend,
    check_postprocess,
    check_run,
    mask_boxes,
    place,
    predict,
    resize,
    resize_long_side,
    to_numpy,
    to_tensor,
)

if TYPE_CHECKING:  # a classical method runs without torch; networks and tensors import it
    import torch
    import torch.nn as nn

HD_STRATEGIES = ("original", "resize", "crop")
_PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16")


@dataclass
class _Frame:
    """The caller's picture: what the model sees and what the output is pasted into."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]: the model's input
    native: np.ndarray  # (H, W, C) the caller's values and dtype, colour channels first
    channels: int  # how many leading channels of ``native`` hold colour (1 or 3)
    grey: bool  # colour channels receive the luma of the prediction
    restore: Callable[[np.ndarray], object]  # native-shaped array -> the caller's format
    notes: list[str]


class InpaintPipeline:
    """Fill the holes of a picture with ``model`` and return it in the caller's format.

    Args:
        model: any ``nn.Module`` with ``forward(image (B,3,H,W), mask (B,1,H,W)) -> (B,3,H,W)``, or a
            classical :class:`~inpaintkit.classical.picture.PictureMethod` (run on the arrays, no torch).
        name: registry name or file shown in results.
        pad_multiple: H and W given to the model are padded to a multiple of this.
        min_size: H and W given to the model are padded to at least this.
        device: where the model runs.
        hd_strategy: default strategy, one of :data:`HD_STRATEGIES`.
        hd_trigger: ``crop`` works on crops only when the long side exceeds this.
        hd_margin: context pixels around each mask blob for ``crop``.
        hd_resize_limit: ``resize`` shrinks frames whose long side exceeds this to it.
        max_pixels: refuse larger images; ``None`` = ``$INPAINTKIT_MAX_PIXELS`` or the default.
        postprocess: applied to each region's prediction before pasting:
            ``(prediction (h,w,3), input (h,w,3), hole (h,w) bool) -> (h,w,3)``, float in [0, 1]
            (see :data:`inpaintkit.classical.POSTPROCESSORS`); ``None`` = none.
        max_run_pixels: refuse (:class:`~inpaintkit.types.RegionTooLarge`) to run the model on a region
            of more pixels in one piece (padding to the multiple not counted), and the post-processing
            on more than ``POSTPROCESS_FACTOR`` times that; ``None`` = no limit.
        precision: how the model runs, as shown with timings (``"fp32 (auto)"``; :func:`inpaintkit.load`
            sets it); ``""`` when it does not apply (a classical method).
    """

    def __init__(
        self,
        model: nn.Module | PictureMethod,
        *,
        name: str,
        pad_multiple: int = 8,
        min_size: int = 0,
        device: str | torch.device = "cpu",
        hd_strategy: str = "crop",
        hd_trigger: int = 800,
        hd_margin: int = 128,
        hd_resize_limit: int = 1280,
        max_pixels: int | None = None,
        postprocess: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
        max_run_pixels: int | None = None,
        precision: str = "",
    ) -> None:
        if max_run_pixels is not None and (
            isinstance(max_run_pixels, bool) or not isinstance(max_run_pixels, int) or max_run_pixels < 1
        ):
            raise InputError(f"max_run_pixels must be a positive integer or None, got {max_run_pixels!r}")
        for label, value, low in (
            ("pad_multiple", pad_multiple, 1),
            ("hd_trigger", hd_trigger, 1),
            ("hd_margin", hd_margin, 0),
            ("hd_resize_limit", hd_resize_limit, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{label} must be an integer >= {low}, got {value!r}")
        self.model, self.device = place(model, device)
        self.name = name
        self.pad_multiple = pad_multiple
        self.min_size = min_size
        self.hd_strategy = _check_strategy(hd_strategy)
        self.hd_trigger = hd_trigger
        self.hd_margin = hd_margin
        self.hd_resize_limit = hd_resize_limit
        self.max_pixels = max_pixels
        self.postprocess = postprocess
        self.max_run_pixels = max_run_pixels
        self.precision = precision

    def __call__(
        self,
        image: object,
        mask: object,
        *,
        dilate: int = 0,
        feather: int = 0,
        hd_strategy: str | None = None,
        resize_mask: bool = False,
        progress: bool = False,
        job: Job | None = None,
    ) -> InpaintResult:
        """Fill the holes of ``image``.

        Args:
            image: PIL image, numpy array ``(H,W)``/``(H,W,3)``/``(H,W,4)`` (uint8, uint16 or float
                in [0,1]), float tensor ``(3,H,W)``/``(1,3,H,W)`` in [0,1], a ``Picture`` or a file path.
            mask: PIL image, numpy array, tensor or file path; non-zero (or non-transparent) = hole.
                PIL images and files are turned upright by their EXIF orientation first.
            dilate: grow the hole by this many pixels first.
            feather: blend the fill into its surroundings over this many pixels.
            hd_strategy: override the pipeline's strategy for this call.
            resize_mask: resize a mask of another size to the image (nearest) instead of failing.
            progress: show a progress bar when several crops are filled.
            job: reports ``(done, total)`` after each region (crop) and stops the call between
                regions once cancelled (see :class:`~inpaintkit.types.Job`).

        Returns:
            The result; ``result.image`` has the type (and mode, dtype, shape) of ``image``, with
            ``Picture`` for a file path.

        Raises:
            Cancelled: ``job`` was cancelled before the last region was filled.
        """
        start = time.perf_counter()
        strategy = _check_strategy(hd_strategy or self.hd_strategy)
        # 1. decode
        frame = _decode_image(image, self.max_pixels)
        hole = _decode_mask(mask, frame.rgb.shape[:2], resize_mask, self.max_pixels)
        # 2. binarise + dilate
        hole = masks.dilate(hole, dilate) > 0
        warnings = list(frame.notes)
        # 3. nothing to fill
        if not hole.any():
            warnings.append("the mask is empty: nothing to fill, image returned unchanged")
            return InpaintResult(
                frame.restore(frame.native.copy()), hole, self.name, "original", time.perf_counter() - start, warnings
            )
        if hole.all():
            raise InputError(
                "the mask covers the whole picture: nothing is left to fill it from; leave part of the photo unmasked"
            )
        weights = masks.feather(hole, feather)
        # 4. choose regions
        strategy, boxes, shrink_to = self._plan(strategy, weights > 0)
        out = frame.native.copy()
        job = job or Job()
        with job.units(len(boxes)):
            for box in tqdm(boxes, desc="crops", unit="crop", disable=not progress or len(boxes) < 2):
                y0, x0, y1, x1 = box
                # 5. model on the region
                pred = self._predict(frame.rgb[y0:y1, x0:x1], hole[y0:y1, x0:x1], shrink_to)
                # 6. paste
                _paste(out, frame, pred, weights, box)
                job.advance()
        # 7. result
        return InpaintResult(frame.restore(out), hole, self.name, strategy, time.perf_counter() - start, warnings)

    def _plan(self, strategy: str, changed: np.ndarray) -> tuple[str, list[Box], int | None]:
        """Return the strategy that runs, its regions and the long side to shrink them to."""
        height, width = changed.shape
        whole = [(0, 0, height, width)]
        if strategy == "resize" and max(height, width) > self.hd_resize_limit:
            return "resize", whole, self.hd_resize_limit
        if strategy == "crop" and max(height, width) > self.hd_trigger:
            return "crop", mask_boxes(changed, self.hd_margin), None
        return "original", whole, None

    def _predict(self, rgb: np.ndarray, hole: np.ndarray, shrink_to: int | None) -> np.ndarray:
        """Run the model on one region (shrunk first if asked), then the post-processing; ``(h,w,3)``."""
        image, mask = rgb, hole
        if shrink_to is not None:
            image = to_numpy(resize_long_side(to_tensor(rgb), shrink_to, "bilinear"))
            mask = to_numpy(resize_long_side(to_tensor(hole), shrink_to, "area"))[..., 0] > 0
        check_run(self.name, image.shape[1], image.shape[0], self.max_run_pixels, self.pad_multiple - 1)
        pred = self._run_model(image, mask)
        if shrink_to is not None:
            pred = to_numpy(resize(to_tensor(pred), rgb.shape[:2], "bilinear"))
        pred = np.clip(pred, 0.0, 1.0)
        if self.postprocess is None:
            return pred
        check_postprocess(self.name, rgb.shape[1], rgb.shape[0], self.max_run_pixels)
        return self.postprocess(pred, rgb, hole > 0)

    def _run_model(self, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """The model's raw prediction for one region, padded to its multiple (see :func:`~.processing.predict`)."""
        return predict(self.model, rgb, hole, self.pad_multiple, self.min_size, self.device, self.name)


def _check_strategy(strategy: str) -> str:
    if strategy not in HD_STRATEGIES:
        raise InputError(f"unknown hd_strategy {strategy!r}; valid: {', '.join(HD_STRATEGIES)}")
    return strategy


# ------------------------------------------------------------------------------- 1. decoding
def _is_tensor(value: object) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch: if it is not loaded, nothing is one)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _decode_image(image: object, max_pixels: int | None) -> _Frame:
    """Split the caller's picture into the model input and the native array the output goes into."""
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image, max_pixels=max_pixels)
    if isinstance(image, Picture):
        frame = _Frame(image.rgb, image.rgb, 3, image.is_grey, lambda out: replace(image, rgb=out), [])
    elif isinstance(image, Image.Image):
        frame = _frame_from_pil(image)
    elif isinstance(image, np.ndarray):
        frame = _frame_from_numpy(image)
    elif _is_tensor(image):
        frame = _frame_from_tensor(image)
    else:
        raise InputError(
            f"image must be a PIL image, numpy array, torch tensor, Picture or path, got {type(image).__name__}"
        )
    check_pixel_limit(frame.rgb.shape[1], frame.rgb.shape[0], max_pixels)
    return frame


def _frame_from_numpy(
    array: np.ndarray, notes: list[str] | None = None, wrap: Callable[[np.ndarray], object] = lambda out: out
) -> _Frame:
    picture = from_array(array)  # validates shape, dtype and range
    native = array if array.ndim == 3 else array[..., None]
    channels = 1 if native.shape[2] <= 2 else 3
    unwrap = (lambda out: out[..., 0]) if array.ndim == 2 else (lambda out: out)
    return _Frame(picture.rgb, native, channels, channels == 1, lambda out: wrap(unwrap(out)), notes or [])


def _frame_from_pil(image: Image.Image) -> _Frame:
    notes = []
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation != 1:  # turned upright, as masks.load_mask does with PIL masks
        image = ImageOps.exif_transpose(image)
        notes.append(f"EXIF orientation {orientation} applied: the result is upright")
    if image.mode not in _PIL_MODES:
        converted = to_pil(from_array(image))
        notes.append(f"{image.mode} image returned as {converted.mode}")
        image = converted
    return _frame_from_numpy(np.asarray(image), notes, Image.fromarray)


def _frame_from_tensor(tensor: torch.Tensor) -> _Frame:
    if tensor.ndim not in (3, 4) or (tensor.ndim == 4 and tensor.shape[0] != 1):
        raise InputError(f"an image tensor must have shape (3,H,W) or (1,3,H,W), got {tuple(tensor.shape)}")
    batch = tensor if tensor.ndim == 4 else tensor[None]
    check_image(batch)
    import torch

    compute = batch.detach().cpu()
    if compute.dtype == torch.bfloat16:  # numpy has no bfloat16; the round trip is exact
        compute = compute.float()
    native = compute[0].permute(1, 2, 0).numpy()

    def restore(out: np.ndarray) -> torch.Tensor:
        result = torch.from_numpy(out).permute(2, 0, 1).to(device=tensor.device, dtype=tensor.dtype)
        return result if tensor.ndim == 3 else result[None]

    return _Frame(native.astype(np.float32, copy=False), native, 3, False, restore, [])


def _decode_mask(mask: object, shape: tuple[int, int], resize_mask: bool, max_pixels: int | None) -> np.ndarray:
    """Read the mask with :func:`inpaintkit.masks.load_mask` and match it to the image size."""
    if _is_tensor(mask):
        mask = mask.detach().to("cpu").float().numpy()
        while mask.ndim > 2 and mask.shape[0] == 1:
            mask = mask[0]
    elif isinstance(mask, os.PathLike):
        mask = os.fspath(mask)
    hole = masks.load_mask(mask, max_pixels=max_pixels)
    height, width = shape
    if hole.shape != (height, width):
        if not resize_mask:
            raise InputError(
                f"mask is {hole.shape[1]}x{hole.shape[0]} but image is {width}x{height}; "
                "pass resize_mask=True (--resize-mask) to resize it"
            )
        hole = cv2.resize(hole, (width, height), interpolation=cv2.INTER_NEAREST)
    return hole


# ---------------------------------------------------------------------------------- 6. pasting
def _paste(out: np.ndarray, frame: _Frame, pred: np.ndarray, weights: np.ndarray, box: Box) -> None:
    """Write ``pred`` into ``out[box]`` where ``weights > 0``, blended with the input, in ``out``'s dtype."""
    y0, x0, y1, x1 = box
    region_weights = weights[y0:y1, x0:x1]
    selected = region_weights > 0
    values = blend(pred[selected], frame.rgb[y0:y1, x0:x1][selected], region_weights[selected][:, None])
    if frame.grey:
        values = luma(values)[:, None]
    out[y0:y1, x0:x1][selected, : frame.channels] = _to_dtype(values, out.dtype)


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return to_uint8(values)
    if dtype == np.uint16:
        return to_uint16(values)
    return values.astype(dtype)
