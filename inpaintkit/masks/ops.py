"""User masks: reading them from files, PIL images or arrays; dilation, feathering and area."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..io import open_image
from ..types import InputError

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def load_mask(source: str | Path | Image.Image | np.ndarray, *, max_pixels: int | None = None) -> np.ndarray:
    """Read a user mask as a hole map.

    Rules (1 = hole):

    * greyscale (``1``, ``L``, ``I``, ``I;16``, ``F``): any non-zero value is a hole;
    * colour (``RGB`` and other modes, palette images without transparency): a pixel is a hole when
      any channel is non-zero, so black means "keep" whatever the brush colour;
    * with an alpha channel (``RGBA``, ``LA``, palette with transparency, ``(H, W, 4)`` arrays):
      **alpha > 0 is a hole**, which is how masks painted on a transparent layer work. When the alpha
      is fully opaque everywhere it carries no information and the colour rule is used instead.

    EXIF orientation is applied to files and PIL images, so the mask lines up with a photo read the
    same way.

    Args:
        source: a file path, a PIL image, or an array ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or
            ``(H, W, 4)`` of any numeric or bool dtype.
        max_pixels: a file with more pixels is refused before it is decoded (as for images, see
            :func:`inpaintkit.io.resolve_max_pixels`).
    Returns:
        mask ``(H, W)`` float32 in ``{0, 1}``.
    Raises:
        InputError: missing, unreadable or too large file (naming it), or an array of another shape.
    """
    if isinstance(source, np.ndarray):
        return _mask_from_array(source)
    if isinstance(source, Image.Image):
        return _mask_from_pil(source)
    if not isinstance(source, (str, Path)):
        raise InputError(f"a mask must be a file path, PIL image or numpy array, got {type(source).__name__}")
    path = Path(source)
    with open_image(path, max_pixels=max_pixels, what="mask") as image:
        try:
            image.load()
            return _mask_from_pil(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read mask {path}: {err}") from None


def _mask_from_pil(image: Image.Image) -> np.ndarray:
    """Apply EXIF orientation, then the mode rules of :func:`load_mask`."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in _ALPHA_MODES:
        return _mask_from_array(np.asarray(image.convert("RGBA")))
    if image.mode in {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}:
        return _mask_from_array(np.asarray(image))
    return _mask_from_array(np.asarray(image.convert("RGB")))


def _mask_from_array(array: np.ndarray) -> np.ndarray:
    """Apply the rules of :func:`load_mask` to an ``(H, W[, C])`` array."""
    if np.issubdtype(array.dtype, np.floating) and not bool(np.isfinite(array).all()):
        raise InputError("a mask array must hold finite numbers; it has NaN or infinite values")
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3]
        opaque = np.iinfo(alpha.dtype).max if np.issubdtype(alpha.dtype, np.integer) else 1
        if alpha.size and bool((alpha >= opaque).all()):
            array = array[..., :3]  # fully opaque: the alpha says nothing, use the colour
        else:
            return (alpha > 0).astype(np.float32)
    if array.ndim == 3 and array.shape[2] in (1, 3):
        return (array != 0).any(axis=2).astype(np.float32)
    if array.ndim == 2:
        return (array != 0).astype(np.float32)
    raise InputError(f"a mask array must have shape (H,W), (H,W,1), (H,W,3) or (H,W,4), got {array.shape}")


def _check_hw(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"{name} must have shape (H,W), got {mask.shape}")
    return mask


def _check_pixels(pixels: int, what: str) -> int:
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 0:
        raise InputError(f"{what} must be a whole number of pixels >= 0, got {pixels!r}")
    return int(pixels)


def disk(radius: int) -> np.ndarray:
    """Euclidean disk ``x**2 + y**2 <= radius**2`` as a ``(2r+1, 2r+1)`` uint8 kernel."""
    radius = _check_pixels(radius, "disk radius")
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (yy * yy + xx * xx <= radius * radius).astype(np.uint8)


#: Above this radius :func:`dilate` thresholds the exact Euclidean distance to the hole instead of
#: convolving with a disk: the same hole up to float rounding where a distance equals the radius,
#: in time and memory independent of the radius (``--dilate 1000000`` grows the hole over the image).
_DISK_LIMIT = 64


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the hole by ``pixels`` in every direction (dilation with a disk of that radius).

    Args:
        mask: ``(H, W)``, non-zero = hole.
        pixels: radius of the disk; 0 returns the binarised mask unchanged; any size works.
    Returns:
        mask ``(H, W)`` float32 in ``{0, 1}``.
    """
    mask = _check_hw(mask)
    pixels = _check_pixels(pixels, "dilation")
    hole = (mask != 0).astype(np.uint8)
    if not pixels or not hole.any():
        return hole.astype(np.float32)
    if pixels > _DISK_LIMIT:  # a (2r+1)^2 kernel would be huge: threshold the distance to the hole
        distance = cv2.distanceTransform(1 - hole, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        hole = (distance <= pixels).astype(np.uint8)
    else:
        hole = cv2.dilate(hole, disk(pixels), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return hole.astype(np.float32)


def feather(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Soft blending weights: 1 in the hole, falling linearly to 0 over ``pixels`` outside it.

    A pixel at Euclidean distance ``d`` from the nearest hole pixel gets ``max(0, 1 - d / (pixels + 1))``,
    so the last non-zero ring is ``pixels`` away. Use it as ``out = w * pred + (1 - w) * image``.

    Args:
        mask: ``(H, W)``, non-zero = hole.
        pixels: width of the ramp; 0 returns the hard mask.
    Returns:
        weights ``(H, W)`` float32 in ``[0, 1]``.
    """
    mask = _check_hw(mask)
    pixels = _check_pixels(pixels, "feathering")
    hole = mask != 0
    if pixels == 0 or not hole.any():
        return hole.astype(np.float32)
    distance = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(1.0 - distance / (pixels + 1), 0.0, 1.0).astype(np.float32)


def mask_area(mask: np.ndarray) -> float:
    """Fraction of pixels that are holes (non-zero), in ``[0, 1]``."""
    mask = np.asarray(mask)
    if mask.size == 0:
        raise InputError("cannot measure the area of an empty mask")
    return float(np.count_nonzero(mask)) / mask.size
