"""Select an object in a picture from a box or a click: the mask a user would otherwise paint.

* :func:`select_box`: GrabCut (C. Rother, V. Kolmogorov, A. Blake, "GrabCut: interactive foreground
  extraction using iterated graph cuts", SIGGRAPH 2004; OpenCV's ``cv2.grabCut``) started from the
  rectangle: outside it is background, inside it probable foreground, :data:`GRABCUT_ITERATIONS`
  rounds. On a picture whose long side exceeds :data:`GRABCUT_SIDE` it runs on a copy shrunk to that
  (area interpolation) and the mask is scaled back (bilinear on 0/1, then ``> 0.5``), which bounds
  its time and memory whatever the picture's size.
* :func:`select_point`: the region connected to the click (4-neighbours) whose colour lies within
  ``tolerance`` of the clicked colour on every channel, on the picture blurred lightly (Gaussian,
  sigma 1) and converted to CIE Lab (8-bit: each channel 0..255). ``cv2.floodFill`` with
  ``FLOODFILL_FIXED_RANGE``: every pixel is compared with the clicked one, not with its neighbour,
  so a slow gradient cannot carry the region across the picture.

Both clean the mask of specks (a morphological opening then closing with an ellipse about 1/150
of the short side, at least 3 px) and keep one connected component: the one holding the click, or
the largest for a box. Pictures over the pixel limit are refused (:func:`~inpaintkit.io.check_pixel_limit`).

:data:`SELECTORS` names each way to select and the values it reads (the web app's ``/api/select``
is built from it): a segmentation model can answer through the same endpoint by adding an entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from ..io import check_pixel_limit
from ..types import InputError

#: GrabCut runs on a copy whose long side is at most this.
GRABCUT_SIDE = 1024
#: GrabCut's rounds of colour-model fitting and graph cut.
GRABCUT_ITERATIONS = 5
#: Largest difference to the clicked colour, per Lab channel (0..255), that :func:`select_point` takes in.
DEFAULT_TOLERANCE = 24

Point = tuple[int, int]
Box = tuple[int, int, int, int]


def select_box(rgb: np.ndarray, box: Box, *, max_pixels: int | None = None) -> np.ndarray:
    """The object inside ``box``, separated from its surroundings by GrabCut.

    Args:
        rgb: ``(H, W, 3)`` uint8.
        box: ``(x0, y0, x1, y1)`` in pixels, right and bottom edges excluded; clipped to the picture.
        max_pixels: refuse larger pictures; ``None`` = ``$INPAINTKIT_MAX_PIXELS`` or the default.

    Returns:
        ``(H, W)`` bool, True on the object (inside the box only).

    Raises:
        InputError: an empty or inverted box, a box outside the picture or covering all of it, or one
            too small for GrabCut.
    """
    image = _check_rgb(rgb, max_pixels)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    told = f"the box ({x0}, {y0}, {x1}, {y1})"
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"{told} is empty: give x0 < x1 and y0 < y1 (right and bottom edges excluded)")
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"{told} lies outside the {width}x{height} picture")
    if (x0, y0, x1, y1) == (0, 0, width, height):
        raise InputError(f"{told} covers the whole picture: draw it around one object, with background outside")
    scale = min(1.0, GRABCUT_SIDE / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    sx0, sy0 = int(x0 * scale), int(y0 * scale)
    rect = (sx0, sy0, max(1, round(x1 * scale) - sx0), max(1, round(y1 * scale) - sy0))
    labels = np.zeros(small.shape[:2], np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(small, labels, rect, *models, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        raise InputError(f"GrabCut cannot separate {told} from its surroundings; draw a larger box") from None
    selected = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if scale < 1.0:
        selected = cv2.resize(selected.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
        inside = np.zeros_like(selected)
        inside[y0:y1, x0:x1] = True
        selected &= inside
    return _clean(selected)


def select_point(
    rgb: np.ndarray, point: Point, tolerance: int = DEFAULT_TOLERANCE, *, max_pixels: int | None = None
) -> np.ndarray:
    """The region around a click whose colour is close to the clicked one (see the module docstring).

    Args:
        rgb: ``(H, W, 3)`` uint8.
        point: ``(x, y)`` in pixels, inside the picture.
        tolerance: largest difference to the clicked colour per Lab channel, 0..255.
        max_pixels: refuse larger pictures; ``None`` = ``$INPAINTKIT_MAX_PIXELS`` or the default.

    Returns:
        ``(H, W)`` bool, True on the region (it holds the click).

    Raises:
        InputError: a point outside the picture or a tolerance outside 0..255.
    """
    image = _check_rgb(rgb, max_pixels)
    height, width = image.shape[:2]
    x, y = (int(v) for v in point)
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(f"the point ({x}, {y}) lies outside the {width}x{height} picture")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, np.integer)) or not 0 <= tolerance <= 255:
        raise InputError(f"tolerance must be a whole number in [0, 255], got {tolerance!r}")
    lab = cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), 1.0), cv2.COLOR_RGB2LAB)
    flood = np.zeros((height + 2, width + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    difference = (int(tolerance),) * 3
    cv2.floodFill(lab, flood, (x, y), (0, 0, 0), difference, difference, flags)
    return _clean(flood[1:-1, 1:-1] > 0, keep=(x, y))


def _check_rgb(rgb: np.ndarray, max_pixels: int | None) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise InputError(f"the picture must be a uint8 array (H, W, 3), got {type(rgb).__name__} {shape}")
    check_pixel_limit(rgb.shape[1], rgb.shape[0], max_pixels)
    return np.ascontiguousarray(rgb)


def _clean(mask: np.ndarray, keep: Point | None = None) -> np.ndarray:
    """``mask`` opened then closed, reduced to the component holding ``keep`` (else the largest)."""
    side = max(3, round(min(mask.shape) / 150) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    cleaned = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cleaned, connectivity=8)
    if keep is not None:
        label = labels[keep[1], keep[0]]
        if label == 0:  # the click's region is thinner than the kernel: keep it uncleaned
            labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[1]
            label = labels[keep[1], keep[0]]
        return labels == label
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


# ----------------------------------------------------------------------------------- selectors
@dataclass(frozen=True)
class Selector:
    """One way to select an object.

    Attributes:
        description: one line for listings and the web app's OpenAPI page.
        coordinates: names of the integer picture coordinates it needs.
        options: names of the optional whole numbers it takes.
        run: ``run(rgb, values, max_pixels) -> (H, W) bool``, ``values`` by name.
        meaning: one phrase per coordinate and option (the web app documents its form fields with them).
    """

    description: str
    coordinates: tuple[str, ...]
    options: tuple[str, ...]
    run: Callable[[np.ndarray, Mapping[str, int], int | None], np.ndarray]
    meaning: Mapping[str, str]


def _by_box(rgb: np.ndarray, values: Mapping[str, int], max_pixels: int | None) -> np.ndarray:
    return select_box(rgb, (values["x0"], values["y0"], values["x1"], values["y1"]), max_pixels=max_pixels)


def _by_point(rgb: np.ndarray, values: Mapping[str, int], max_pixels: int | None) -> np.ndarray:
    tolerance = values.get("tolerance", DEFAULT_TOLERANCE)
    return select_point(rgb, (values["x"], values["y"]), tolerance, max_pixels=max_pixels)


#: The ways to select an object, by mode name.
SELECTORS: dict[str, Selector] = {
    "box": Selector(
        "GrabCut inside the box (x0, y0)-(x1, y1)",
        ("x0", "y0", "x1", "y1"),
        (),
        _by_box,
        {
            "x0": "left edge of the box, in pixels (included)",
            "y0": "top edge of the box, in pixels (included)",
            "x1": "right edge of the box, in pixels (excluded)",
            "y1": "bottom edge of the box, in pixels (excluded)",
        },
    ),
    "point": Selector(
        f"the region of colour close to the click (x, y), within tolerance (default {DEFAULT_TOLERANCE})",
        ("x", "y"),
        ("tolerance",),
        _by_point,
        {
            "x": "column of the click, in pixels",
            "y": "row of the click, in pixels",
            "tolerance": f"largest difference to the clicked colour per Lab channel, 0 to 255 "
            f"(default {DEFAULT_TOLERANCE})",
        },
    ),
}


def select(rgb: np.ndarray, mode: str, *, max_pixels: int | None = None, **values: int | None) -> np.ndarray:
    """Select an object with the selector ``mode`` of :data:`SELECTORS`.

    Args:
        rgb: ``(H, W, 3)`` uint8.
        mode: a key of :data:`SELECTORS`.
        max_pixels: refuse larger pictures; ``None`` = the default limit.
        values: its coordinates and options by name; ``None`` values count as absent.

    Returns:
        ``(H, W)`` bool, True on the selection.

    Raises:
        InputError: an unknown mode, a missing coordinate or a value the mode does not take.
    """
    if mode not in SELECTORS:
        raise InputError(f"unknown selection mode {mode!r}; valid: {', '.join(SELECTORS)}")
    selector = SELECTORS[mode]
    given = {name: value for name, value in values.items() if value is not None}
    missing = [name for name in selector.coordinates if name not in given]
    if missing:
        raise InputError(f"mode {mode} needs {', '.join(selector.coordinates)}; missing {', '.join(missing)}")
    accepted = (*selector.coordinates, *selector.options)
    extra = [name for name in given if name not in accepted]
    if extra:
        raise InputError(f"mode {mode} takes {', '.join(accepted)}, not {', '.join(extra)}")
    return selector.run(rgb, given, max_pixels)
