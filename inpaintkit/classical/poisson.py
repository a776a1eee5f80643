"""Poisson blending with OpenCV's ``seamlessClone`` (P. Perez, M. Gangnet, A. Blake, "Poisson Image
Editing", SIGGRAPH 2003), and the two post-processing steps built on it.

* :func:`telea_then_seamless_clone`: GLCIC's official post-processing (``inpaint.lua --postproc`` of
  satoshiiizuka/siggraph2017_inpainting): the composite is inpainted with OpenCV's Telea method
  (radius 1), then the composite's hole is cloned into that with ``NORMAL_CLONE``. OpenCV solves
  the Poisson equation over the mask's bounding box with the box's outermost ring fixed, taking the
  source's gradients where the mask eroded by 3 pixels (3x3, three times) is set and the target's
  elsewhere. So the hole's outermost ring keeps Telea's values, a 3-pixel band follows Telea's
  gradients, and deeper inside the result is the network output plus a harmonic (smooth) correction.
* :func:`clone_known_region`: the outpainting blend (Sabini & Rusak 2018): the *known* source
  region is cloned into the generated image, the reverse direction.

Placement. ``cv2.seamlessClone(src, dst, mask, p)`` zeroes the outermost pixel ring of ``mask``,
takes the bounding box of what is left and pastes it into ``dst`` centred on ``p``; the box must lie
inside ``dst``. Here all three images are first padded by :data:`PAD` pixels (edge values repeated,
mask 0), so a hole touching the image border keeps its border pixels, the box always lies inside,
and ``p = (x0 + w // 2, y0 + h // 2)`` puts the clone exactly over the mask's bounding box
``(x0, y0, w, h)``; the padding is cut off afterwards. (The reference computes the centre as
``floor(min + (max - min) / 2)``, which lands one pixel left of or above the hole when its side is
even.) Only the mask's pixels are taken from the clone: every other pixel is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..types import InputError

#: Pixels of padding around the images before cloning (OpenCV ignores the mask's outermost ring).
PAD = 2

#: A post-processing step: ``(raw prediction, image, hole) -> result``, all ``(H, W[, 3])`` numpy,
#: pictures float in [0, 1], hole boolean.
Postprocess = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _to_uint8(picture: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> ``uint8`` (round to nearest, clipped)."""
    return np.clip(np.rint(picture * 255.0), 0, 255).astype(np.uint8)


def _check(name: str, picture: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    picture = np.asarray(picture, dtype=np.float32)
    if picture.shape != (*shape, 3):
        raise InputError(f"{name} must have shape ({shape[0]}, {shape[1]}, 3), got {picture.shape}")
    return picture


def seamless_clone(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Clone the ``mask`` region of ``source`` into ``target`` at the same place (``NORMAL_CLONE``).

    Args:
        source: ``(H, W, 3)`` float in [0, 1]: whose gradients fill the mask.
        target: ``(H, W, 3)`` float in [0, 1]: the picture cloned into.
        mask: ``(H, W)``, non-zero = the region to clone.

    Returns:
        ``(H, W, 3)`` float32: ``target`` outside the mask (exactly), inside the solution of the
        Poisson equation with ``source``'s gradients, quantised to multiples of 1/255 (OpenCV works on
        ``uint8``). An empty mask returns ``target``; a full one returns ``source`` (no boundary); a
        mask whose bounding box is less than 3 pixels wide or high returns ``target`` (its pixels all
        lie on the box's fixed outer ring).
    """
    region = np.asarray(mask) > 0
    src = _check("source", source, region.shape)
    dst = _check("target", target, region.shape)
    if not region.any():
        return dst.copy()
    if region.all():
        return src.copy()
    pad = [(PAD, PAD), (PAD, PAD), (0, 0)]
    src_u8 = np.pad(_to_uint8(src), pad, mode="edge")
    dst_u8 = np.pad(_to_uint8(dst), pad, mode="edge")
    mask_u8 = np.pad(region.astype(np.uint8) * 255, pad[:2])
    x0, y0, w, h = cv2.boundingRect(mask_u8)
    if min(w, h) < 3:  # the box's outer ring is all there is: fixed to the target (OpenCV fails on it)
        return dst.copy()
    cloned = cv2.seamlessClone(src_u8, dst_u8, mask_u8, (x0 + w // 2, y0 + h // 2), cv2.NORMAL_CLONE)
    cloned = cloned[PAD:-PAD, PAD:-PAD].astype(np.float32) / 255.0
    return np.where(region[..., None], cloned, dst)


def telea_then_seamless_clone(raw: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """GLCIC's post-processing: Telea (radius 1) on the composite, then clone the composite's hole into it.

    Args:
        raw: ``(H, W, 3)`` float in [0, 1], the network's prediction.
        image: ``(H, W, 3)`` float in [0, 1], the input (its hole pixels are ignored).
        mask: ``(H, W)``, non-zero = hole.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1]; known pixels are ``image`` exactly.
    """
    hole = np.asarray(mask) > 0
    raw, image = _check("raw", raw, hole.shape), _check("image", image, hole.shape)
    composite = np.where(hole[..., None], raw, image)
    if not hole.any() or hole.all():
        return composite
    hole_u8 = hole.astype(np.uint8) * 255
    telea = cv2.inpaint(_to_uint8(composite), hole_u8, 1, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    blended = seamless_clone(composite, telea, hole)
    return np.where(hole[..., None], blended, image)


def clone_known_region(generated: np.ndarray, source: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The outpainting blend: clone the known pixels of ``source`` into the ``generated`` picture.

    Args:
        generated: ``(H, W, 3)`` float in [0, 1], the model's output on the whole canvas.
        source: ``(H, W, 3)`` float in [0, 1], the canvas with the original pixels where ``hole`` is 0.
        hole: ``(H, W)``, non-zero = generated area.

    Returns:
        ``(H, W, 3)`` float32: ``generated`` in the generated area; in the known area the original's
        gradients, shifted by a harmonic correction so that it meets the generated pixels smoothly
        (its outermost ring takes the generated values).
    """
    return seamless_clone(source, generated, ~(np.asarray(hole) > 0))
