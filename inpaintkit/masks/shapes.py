"""Fixed-shape masks: GLCIC's rectangular hole and outpainting borders (plus canvas expansion)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..types import SIDES, InputError
from ._common import check_canvas

MAX_CANVAS_SIDE = 1 << 15  # sanity limit for expand_canvas; far beyond any model's working size


def glcic_hole(
    height: int, width: int, rng: np.random.Generator, min_side: int = 96, max_side: int = 128
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One rectangular hole as in GLCIC training (each side uniform in ``[min_side, max_side]``).

    The hole lies fully inside the image; sides longer than the image are capped to it. The local
    discriminator of GLCIC takes a 128x128 patch around the returned box.

    Args:
        height, width: canvas size.
        rng: random generator.
        min_side, max_side: inclusive range of each side, drawn independently for height and width.
    Returns:
        mask ``(height, width)`` float32 in ``{0, 1}``, and the box ``(y0, x0, y1, x1)`` with exclusive ends.
    """
    check_canvas(height, width)
    if not 1 <= min_side <= max_side:
        raise InputError(f"GLCIC hole sides must satisfy 1 <= min_side <= max_side, got {min_side}..{max_side}")
    if min_side > min(height, width):
        raise InputError(f"a {height}x{width} image cannot hold a GLCIC hole of side {min_side}")
    hole_h = int(rng.integers(min_side, min(max_side, height) + 1))
    hole_w = int(rng.integers(min_side, min(max_side, width) + 1))
    y0 = int(rng.integers(0, height - hole_h + 1))
    x0 = int(rng.integers(0, width - hole_w + 1))
    mask = np.zeros((height, width), np.float32)
    mask[y0 : y0 + hole_h, x0 : x0 + hole_w] = 1.0
    return mask, (y0, x0, y0 + hole_h, x0 + hole_w)


@dataclass(frozen=True)
class GlcicHoleGenerator:
    """Mask generator form of :func:`glcic_hole` (mask only)."""

    min_side: int = 96
    max_side: int = 128

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw one GLCIC hole; ``(height, width)`` float32 in ``{0, 1}``."""
        return glcic_hole(height, width, rng, self.min_side, self.max_side)[0]


def border_pixels(value: int | float, extent: int, name: str) -> int:
    """Convert a border size to pixels: an int is pixels, a float in ``[0, 1)`` a fraction of ``extent``.

    Raises:
        InputError: negative values, floats outside ``[0, 1)``, or other types.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} border must be pixels (int) or a fraction (float), got {value!r}")
    if value < 0:
        raise InputError(f"{name} border must be >= 0, got {value}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if value >= 1:
        raise InputError(f"{name} border {value} as a float is a fraction and must be < 1; use an int for pixels")
    return int(round(float(value) * extent))


def _borders(height: int, width: int, left, right, top, bottom) -> tuple[int, int, int, int]:
    """Pixel sizes ``(left, right, top, bottom)``; left/right relative to width, top/bottom to height."""
    return (
        border_pixels(left, width, "left"),
        border_pixels(right, width, "right"),
        border_pixels(top, height, "top"),
        border_pixels(bottom, height, "bottom"),
    )


def border_mask(
    height: int,
    width: int,
    left: int | float = 0,
    right: int | float = 0,
    top: int | float = 0,
    bottom: int | float = 0,
) -> np.ndarray:
    """Mask the outer strips of an image (outpainting inside a fixed frame).

    Args:
        height, width: canvas size.
        left, right, top, bottom: strip sizes; an int is pixels, a float in ``[0, 1)`` a fraction of
            the width (left/right) or height (top/bottom), rounded to the nearest pixel.
    Returns:
        mask ``(height, width)`` float32 in ``{0, 1}``, 1 on the strips.
    Raises:
        InputError: negative or too-large sizes (at least one known row and column must remain).
    """
    check_canvas(height, width)
    px_left, px_right, px_top, px_bottom = _borders(height, width, left, right, top, bottom)
    if px_left + px_right >= width:
        raise InputError(f"left + right borders ({px_left + px_right} px) leave nothing of a {width} px wide image")
    if px_top + px_bottom >= height:
        raise InputError(f"top + bottom borders ({px_top + px_bottom} px) leave nothing of a {height} px tall image")
    mask = np.zeros((height, width), np.float32)
    mask[:, :px_left] = 1.0
    mask[:, width - px_right :] = 1.0
    mask[:px_top, :] = 1.0
    mask[height - px_bottom :, :] = 1.0
    return mask


def expand_canvas(
    image: np.ndarray,
    left: int | float = 0,
    right: int | float = 0,
    top: int | float = 0,
    bottom: int | float = 0,
    fill: float | Sequence[float] | str = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad an image for outpainting and mask the new area.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array of any dtype.
        left, right, top, bottom: how much to add; an int is pixels, a float in ``[0, 1)`` a fraction
            of the original width (left/right) or height (top/bottom).
        fill: value of the new pixels: a number, one number per channel, ``"mean"`` (per-channel mean
            of the image, as the outpainting paper fills its input) or ``"edge"`` (repeat the border).
    Returns:
        the canvas ``(H + top + bottom, W + left + right[, C])`` of the image's dtype, and its mask
        ``(H', W')`` float32, 1 on the added area.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image must have shape (H,W) or (H,W,C), got {image.shape}")
    height, width = image.shape[:2]
    px_left, px_right, px_top, px_bottom = _borders(height, width, left, right, top, bottom)
    new_h, new_w = height + px_top + px_bottom, width + px_left + px_right
    if max(new_h, new_w) > MAX_CANVAS_SIDE:
        raise InputError(f"expanded canvas {new_h}x{new_w} exceeds the {MAX_CANVAS_SIDE} px limit per side")
    pad = ((px_top, px_bottom), (px_left, px_right)) + (((0, 0),) if image.ndim == 3 else ())
    if isinstance(fill, str):
        if fill == "edge":
            canvas = np.pad(image, pad, mode="edge")
        elif fill == "mean":
            canvas = _pad_constant(image, pad, image.reshape(height * width, -1).mean(axis=0))
        else:
            raise InputError(f"fill must be a number, one number per channel, 'mean' or 'edge', got {fill!r}")
    else:
        canvas = _pad_constant(image, pad, np.asarray(fill, dtype=np.float64))
    mask = np.ones((new_h, new_w), np.float32)
    mask[px_top : px_top + height, px_left : px_left + width] = 0.0
    return canvas, mask


def _pad_constant(image: np.ndarray, pad: tuple, value: np.ndarray) -> np.ndarray:
    """Pad with a scalar or per-channel value, cast (rounded for integer images) to the image dtype."""
    channels = image.shape[2] if image.ndim == 3 else 1
    value = value.reshape(-1)
    if value.size not in (1, channels):
        raise InputError(f"fill needs 1 or {channels} values, got {value.size}")
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        value = np.clip(np.round(value), info.min, info.max)
    new_shape = (image.shape[0] + sum(pad[0]), image.shape[1] + sum(pad[1])) + image.shape[2:]
    canvas = np.empty(new_shape, image.dtype)
    canvas[...] = value.astype(image.dtype)  # (1,) or (C,) broadcasts over (H', W'[, C])
    top, left = pad[0][0], pad[1][0]
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


@dataclass(frozen=True)
class BorderMaskGenerator:
    """Fixed outpainting strips as a mask generator (``rng`` is unused); sizes as in :func:`border_mask`.

    ``BorderMaskGenerator(left=0.25, right=0.25)`` is Sabini & Rusak's setting: 32 columns each side of
    a 128-wide image.
    """

    left: int | float = 0
    right: int | float = 0
    top: int | float = 0
    bottom: int | float = 0

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """The strips for this canvas; ``(height, width)`` float32 in ``{0, 1}``."""
        return border_mask(height, width, self.left, self.right, self.top, self.bottom)


@dataclass(frozen=True)
class RandomBorderGenerator:
    """Random outpainting strips (LaMa's ``OutpaintingMaskGenerator``).

    Each side is masked with probability ``side_probability``, with a strip of a uniform whole number of
    pixels between ``min_fraction`` and ``max_fraction`` of the image's width (left/right) or height
    (top/bottom); when no side was chosen, one side is picked uniformly.
    """

    min_fraction: float = 0.04
    max_fraction: float = 0.25
    side_probability: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.min_fraction <= self.max_fraction < 0.5:
            raise InputError(
                f"border fractions must satisfy 0 <= min <= max < 0.5, got {self.min_fraction}..{self.max_fraction}"
            )
        if not 0 <= self.side_probability <= 1:
            raise InputError(f"side_probability must be in [0, 1], got {self.side_probability}")

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw random strips; ``(height, width)`` float32 in ``{0, 1}``."""
        check_canvas(height, width)
        chosen = rng.random(len(SIDES)) < self.side_probability
        if not chosen.any():
            chosen[int(rng.integers(len(SIDES)))] = True
        sizes = {}
        for side, on in zip(SIDES, chosen):
            extent = width if side in ("left", "right") else height
            low, high = round(self.min_fraction * extent), round(self.max_fraction * extent)
            sizes[side] = int(rng.integers(low, high + 1)) if on else 0
        return border_mask(height, width, **sizes)
