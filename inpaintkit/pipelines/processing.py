"""Small pure functions the pipelines are made of: pad/unpad, resize, boxes around mask blobs,
composite, blend, and the numpy <-> tensor conversions.

Tensors follow the project convention ``(B, C, H, W)``; numpy pictures are ``(H, W, C)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np

from ..classical.picture import PictureMethod
from ..types import InputError, RegionTooLarge

if TYPE_CHECKING:  # torch is imported by the functions that take tensors: a classical method needs none
    import torch
    import torch.nn as nn

Box = tuple[int, int, int, int]
"""``(y0, x0, y1, x1)``, ends exclusive: ``array[y0:y1, x0:x1]``."""

ArrayOrTensor = TypeVar("ArrayOrTensor", "np.ndarray", "torch.Tensor")

#: Full-resolution post-processing may run on this many times a pipeline's ``max_run_pixels``.
POSTPROCESS_FACTOR = 4

PAD_MODES = ("symmetric", "reflect", "edge")


# ------------------------------------------------------------------------------------- padding
def _pad_index(size: int, total: int, mode: str) -> torch.Tensor:
    """Source index of each of ``total`` positions when ``size`` values are padded at the end.

    ``symmetric`` repeats the edge value (``abc|cba``), ``reflect`` does not (``abc|ba``), ``edge``
    repeats the last value; all as in :func:`numpy.pad`, including pads longer than ``size``.
    """
    import torch

    i = torch.arange(total)
    if mode == "edge" or size == 1:
        return i.clamp(max=size - 1)
    period = 2 * size if mode == "symmetric" else 2 * size - 2
    j = i % period
    mirror = period - 1 - j if mode == "symmetric" else period - j
    return torch.where(j >= size, mirror, j)


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "symmetric", min_size: int = 0
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right of ``x`` so H and W become multiples of ``multiple`` (as LaMa does).

    Args:
        x: tensor whose last two dimensions are H and W.
        multiple: the stride to reach; 1 leaves ``x`` as is.
        mode: ``symmetric`` (edge pixel repeated, numpy's ``symmetric``), ``reflect`` or ``edge``.
        min_size: H and W are padded to at least this (networks with a smallest input size).

    Returns:
        ``(padded, (pad_bottom, pad_right))``; ``x`` itself when no padding is needed.

    Shape:
        ``(..., H, W)`` -> ``(..., H + pad_bottom, W + pad_right)``.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise InputError(f"pad multiple must be a positive integer, got {multiple!r}")
    if mode not in PAD_MODES:
        raise InputError(f"unknown pad mode {mode!r}; valid: {', '.join(PAD_MODES)}")
    height, width = x.shape[-2:]
    pad_bottom = max(height, min_size) + (-max(height, min_size) % multiple) - height
    pad_right = max(width, min_size) + (-max(width, min_size) % multiple) - width
    if pad_bottom:
        x = x.index_select(-2, _pad_index(height, height + pad_bottom, mode).to(x.device))
    if pad_right:
        x = x.index_select(-1, _pad_index(width, width + pad_right, mode).to(x.device))
    return x, (pad_bottom, pad_right)


def unpad(x: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """Crop away the ``(pad_bottom, pad_right)`` returned by :func:`pad_to_multiple` (a view)."""
    pad_bottom, pad_right = padding
    return x[..., : x.shape[-2] - pad_bottom, : x.shape[-1] - pad_right]


# -------------------------------------------------------------------------------------- resizing


def run_padded(
    model: nn.Module,
    image: torch.Tensor,
    mask: torch.Tensor,
    multiple: int,
    minimum: int,
    device: torch.device,
    name: str,
) -> torch.Tensor:
    """Pad ``image`` and ``mask`` to ``model``'s size rule, run it without autograd, crop back (float32).

    Raises:
        RuntimeError: the model answered with another shape than its input's.
    """
    import torch

    padded, padding = pad_to_multiple(image, multiple, min_size=minimum)
    padded_mask, _ = pad_to_multiple(mask, multiple, min_size=minimum)
    with torch.inference_mode():
        pred = model(padded.to(device), padded_mask.to(device))
    if pred.shape != padded.shape:
        raise RuntimeError(f"{name} returned shape {tuple(pred.shape)} for input {tuple(padded.shape)}")
    return unpad(pred.float(), padding)


def place(model: nn.Module | PictureMethod, device: str | torch.device) -> tuple[object, object]:
    """``(model, device)`` as a pipeline keeps them: a network moved to ``device`` in eval mode; a
    classical method as it is (it runs on the CPU's arrays, and torch is not imported)."""
    if isinstance(model, PictureMethod):
        return model, device
    import torch

    device = torch.device(device)
    return model.to(device).eval(), device


def predict(
    model: nn.Module | PictureMethod,
    rgb: np.ndarray,
    hole: np.ndarray,
    multiple: int,
    minimum: int,
    device: torch.device | str,
    name: str,
) -> np.ndarray:
    """The raw prediction of ``model`` for one picture (not composited, not clamped).

    A classical method fills the picture's arrays itself; a network runs on tensors through
    :func:`run_padded`.

    Shape: rgb ``(H,W,3)`` float in ``[0,1]``, hole ``(H,W)`` (non-zero = hole) -> ``(H,W,3)`` float32.
    """
    if isinstance(model, PictureMethod):
        return model.predict(rgb, np.asarray(hole) > 0)
    return to_numpy(run_padded(model, to_tensor(rgb), to_tensor(hole), multiple, minimum, device, name))


def check_run(name: str, width: int, height: int, limit: int | None, slack: int = 0) -> None:
    """Refuse a model run on a ``width`` x ``height`` region of more than ``limit`` pixels in one piece.

    Args:
        slack: rows and columns not counted (the padding to a model's multiple adds up to
            ``multiple - 1``); ``limit=None`` allows any size.

    Raises:
        RegionTooLarge: the region is larger.
    """
    if limit is not None and max(height - slack, 0) * max(width - slack, 0) > limit:
        raise RegionTooLarge(
            f"{name} would run on a {width}x{height} region in one piece ({width * height:,} pixels)",
            limit,
            "hd_strategy=resize (downscales the picture), or smaller holes with crop",
            limit,
        )


def check_postprocess(name: str, width: int, height: int, limit: int | None) -> None:
    """Refuse full-resolution post-processing of a region of more than ``POSTPROCESS_FACTOR * limit`` pixels.

    Raises:
        RegionTooLarge: the region is larger.
    """
    if limit is not None and width * height > POSTPROCESS_FACTOR * limit:
        raise RegionTooLarge(
            f"{name}'s post-processing would run on a {width}x{height} region ({width * height:,} pixels)",
            POSTPROCESS_FACTOR * limit,
            "hd_strategy=crop with smaller holes, or a smaller picture",
            limit,
        )


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize ``(B,C,H,W)`` to ``size = (height, width)``.

    ``bilinear`` and ``bicubic`` are antialiased when shrinking; ``area`` averages (use it with
    ``> 0`` to shrink a mask without losing thin holes); ``nearest`` uses exact pixel centres.
    """
    import torch.nn.functional as F

    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest-exact")
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    raise InputError(f"unknown resize mode {mode!r}; valid: bilinear, bicubic, area, nearest")


def resize_long_side(x: torch.Tensor, max_side: int, mode: str = "bilinear") -> torch.Tensor:
    """Resize ``(B,C,H,W)`` so its longer side is ``max_side``, keeping the aspect ratio (rounded)."""
    height, width = x.shape[-2:]
    scale = max_side / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize(x, size, mode)


# ---------------------------------------------------------------------------------------- boxes
def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def mask_boxes(mask: np.ndarray, margin: int) -> list[Box]:
    """Boxes around the blobs of a mask: one per 8-connected component, grown by ``margin``,
    clipped to the mask, and merged until no two overlap.

    Args:
        mask: ``(H, W)``, non-zero = hole.
        margin: pixels of context added on each side.

    Returns:
        Disjoint boxes ``(y0, x0, y1, x1)`` (ends exclusive), sorted; empty for an empty mask.
    """
    height, width = mask.shape[:2]
    _, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    boxes = [
        (max(0, y - margin), max(0, x - margin), min(height, y + h + margin), min(width, x + w + margin))
        for x, y, w, h, _ in stats[1:].tolist()
    ]
    merged = True
    while merged:
        merged = False
        kept: list[Box] = []
        for box in boxes:
            for i, other in enumerate(kept):
                if _overlap(box, other):
                    kept[i] = _union(box, other)
                    merged = True
                    break
            else:
                kept.append(box)
        boxes = kept
    return sorted(boxes)


# ---------------------------------------------------------------------------------- compositing
def composite(pred: ArrayOrTensor, image: ArrayOrTensor, mask: ArrayOrTensor) -> ArrayOrTensor:
    """``mask * pred + (1 - mask) * image`` for a hard mask, as a selection: known pixels are exact
    copies of ``image`` (even when ``pred`` holds NaN there).

    Shape: broadcastable, e.g. ``(B,3,H,W), (B,3,H,W), (B,1,H,W)`` or ``(H,W,3), (H,W,3), (H,W,1)``.
    """
    if isinstance(pred, np.ndarray):
        return np.where(mask > 0.5, pred, image)
    import torch

    return torch.where(mask > 0.5, pred, image)


def blend(pred: ArrayOrTensor, image: ArrayOrTensor, weights: ArrayOrTensor) -> ArrayOrTensor:
    """Soft composite ``weights * pred + (1 - weights) * image`` with weights in ``[0, 1]``
    (e.g. :func:`inpaintkit.masks.feather`); a weight of exactly 1 gives ``pred`` exactly.

    Shape: broadcastable, as in :func:`composite`.
    """
    return weights * pred + (1 - weights) * image


# ---------------------------------------------------------------------------------- conversions
def to_tensor(array: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` or ``(H, W)`` numpy picture -> contiguous ``(1, C, H, W)`` float32 tensor."""
    import torch

    if array.ndim == 2:
        array = array[..., None]
    chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(chw)[None]


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` tensor -> ``(H, W, C)`` float32 numpy array on the CPU."""
    import torch

    return tensor[0].detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()


def side_by_side(image: np.ndarray, mask: np.ndarray, result: np.ndarray, gap: int = 8) -> np.ndarray:
    """A comparison picture: the input with its hole tinted red, a white gap, then the result.

    Shape: image, result ``(H, W, 3)`` float in ``[0,1]``, mask ``(H, W)`` -> ``(H, 2W + gap, 3)`` float32.
    """
    hole = (np.asarray(mask) > 0)[..., None]
    red = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    shown = np.where(hole, 0.5 * image + 0.5 * red, image).astype(np.float32)
    spacer = np.ones((image.shape[0], gap, 3), dtype=np.float32)
    return np.concatenate([shown, spacer, np.asarray(result, dtype=np.float32)], axis=1)
