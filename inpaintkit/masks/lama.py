"""LaMa's random masks: irregular strokes, boxes, their mixture, training mix and evaluation presets.

Semantics follow the LaMa reference code (``advimman/lama``, Apache-2.0:
``saicinpainting/training/data/masks.py``, ``bin/gen_mask_dataset.py``, ``configs/data_gen/*.yaml``
and ``configs/training/data/abl-04-256-mh-dist.yaml``), re-drawn with a ``numpy.random.Generator``
(so never bit-identical to theirs). All parameters are in pixels and do not scale with the canvas:
the reference has separate configs for 256 and 512, reproduced in :data:`EVAL_PRESETS`.

Deliberate deviations:

* Counts are the inclusive ranges written in the configs (``min_times..max_times``). The reference
  stroke generator passes ``max_times + 1`` through its ramp formula, so it actually draws up to one
  stroke more than its config says; its box generator matches the config.
* Evaluation masks are drawn directly on the square ``size x size`` canvas; the reference draws them
  on the image resized to short side ``size`` and then takes a square crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ..types import InputError
from ._common import MaskGenerator, check_canvas, check_count_range, check_positive
from .ops import mask_area


class StrokeSegment(NamedTuple):
    """One straight piece of a stroke: from ``(x0, y0)`` to ``(x1, y1)`` drawn ``width`` pixels thick."""

    x0: int
    y0: int
    x1: int
    y1: int
    width: int


Box = tuple[int, int, int, int]
"""A rectangle ``(y0, x0, y1, x1)`` with exclusive ends: ``mask[y0:y1, x0:x1]``."""


@dataclass(frozen=True)
class StrokeMaskGenerator:
    """LaMa irregular strokes (``make_random_irregular_mask`` with ``DrawMethod.LINE``).

    ``min_times..max_times`` strokes; each starts at a uniform random pixel and has
    ``1..max_segments`` segments chained end to start. Per segment: ``angle = 0.01 + randint(max_angle)``
    radians (``2*pi - angle`` on the 1st, 3rd, ... stroke), ``length = 10 + randint(max_len)``,
    ``width = 5 + randint(max_width)``; the end point ``start + length * (sin, cos)(angle)`` (x, y) is
    clipped to the image and the segment drawn with ``cv2.line`` of that thickness.
    """

    max_angle: int = 4
    max_len: int = 60
    max_width: int = 20
    min_times: int = 0
    max_times: int = 10
    max_segments: int = 5

    def __post_init__(self) -> None:
        check_positive(
            max_angle=self.max_angle, max_len=self.max_len, max_width=self.max_width, max_segments=self.max_segments
        )
        check_count_range("stroke count", self.min_times, self.max_times)

    def segments(self, height: int, width: int, rng: np.random.Generator) -> list[StrokeSegment]:
        """Draw the random stroke geometry without rasterising it.

        Returns:
            every segment of every stroke, in drawing order.
        """
        check_canvas(height, width)
        out: list[StrokeSegment] = []
        for stroke in range(int(rng.integers(self.min_times, self.max_times + 1))):
            x, y = int(rng.integers(width)), int(rng.integers(height))
            for _ in range(1 + int(rng.integers(self.max_segments))):
                angle = 0.01 + int(rng.integers(self.max_angle))
                if stroke % 2 == 0:
                    angle = 2 * math.pi - angle
                length = 10 + int(rng.integers(self.max_len))
                thickness = 5 + int(rng.integers(self.max_width))
                x_end = min(max(int(x + length * math.sin(angle)), 0), width - 1)
                y_end = min(max(int(y + length * math.cos(angle)), 0), height - 1)
                out.append(StrokeSegment(x, y, x_end, y_end, thickness))
                x, y = x_end, y_end
        return out

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw a stroke mask.

        Returns:
            mask ``(height, width)`` float32 in ``{0, 1}``, 1 = hole.
        """
        return draw_segments(self.segments(height, width, rng), height, width)


def draw_segments(segments: list[StrokeSegment], height: int, width: int) -> np.ndarray:
    """Rasterise stroke segments with ``cv2.line`` (round caps, thickness = segment width).

    Returns:
        mask ``(height, width)`` float32 in ``{0, 1}``, 1 = hole.
    """
    check_canvas(height, width)
    mask = np.zeros((height, width), np.float32)
    for seg in segments:
        cv2.line(mask, (seg.x0, seg.y0), (seg.x1, seg.y1), 1.0, seg.width)
    return mask


@dataclass(frozen=True)
class BoxMaskGenerator:
    """LaMa random rectangles (``make_random_rectangle_mask``).

    ``min_times..max_times`` boxes; each side uniform in ``bbox_min_size..bbox_max_size`` (the maximum
    is lowered to what fits inside the margins), placed uniformly so it stays ``margin`` pixels away
    from every image edge. Boxes may overlap.
    """

    margin: int = 10
    bbox_min_size: int = 30
    bbox_max_size: int = 100
    min_times: int = 0
    max_times: int = 3

    def __post_init__(self) -> None:
        if self.margin < 0:
            raise InputError(f"box margin must be >= 0, got {self.margin}")
        check_count_range("box size", self.bbox_min_size, self.bbox_max_size, minimum=1)
        check_count_range("box count", self.min_times, self.max_times)

    def boxes(self, height: int, width: int, rng: np.random.Generator) -> list[Box]:
        """Draw the random rectangles without rasterising them.

        Returns:
            boxes ``(y0, x0, y1, x1)`` with exclusive ends.
        """
        check_canvas(height, width)
        largest = min(self.bbox_max_size, height - 2 * self.margin, width - 2 * self.margin)
        if largest < self.bbox_min_size:
            raise InputError(
                f"a {height}x{width} mask cannot hold a box of {self.bbox_min_size} px "
                f"with a margin of {self.margin} px"
            )
        out: list[Box] = []
        for _ in range(int(rng.integers(self.min_times, self.max_times + 1))):
            box_w = int(rng.integers(self.bbox_min_size, largest + 1))
            box_h = int(rng.integers(self.bbox_min_size, largest + 1))
            x0 = int(rng.integers(self.margin, width - self.margin - box_w + 1))
            y0 = int(rng.integers(self.margin, height - self.margin - box_h + 1))
            out.append((y0, x0, y0 + box_h, x0 + box_w))
        return out

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw a box mask.

        Returns:
            mask ``(height, width)`` float32 in ``{0, 1}``, 1 = hole.
        """
        mask = np.zeros((height, width), np.float32)
        for y0, x0, y1, x1 in self.boxes(height, width, rng):
            mask[y0:y1, x0:x1] = 1.0
        return mask


@dataclass(frozen=True)
class MixedMaskGenerator:
    """Pick one generator per mask with the given probabilities (renormalised to sum to 1)."""

    generators: tuple[MaskGenerator, ...]
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.generators or len(self.generators) != len(self.probabilities):
            raise InputError("a mask mixture needs one probability per generator, and at least one")
        if min(self.probabilities) < 0 or sum(self.probabilities) <= 0:
            raise InputError(f"mixture probabilities must be >= 0 with a positive sum, got {self.probabilities}")

    @property
    def weights(self) -> np.ndarray:
        """The renormalised probabilities, summing to 1."""
        p = np.asarray(self.probabilities, dtype=np.float64)
        return p / p.sum()

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw a mask from one generator chosen at random."""
        kind = int(rng.choice(len(self.generators), p=self.weights))
        return self.generators[kind](height, width, rng)


@dataclass(frozen=True)
class MaxAreaFilter:
    """Redraw until the mask covers at most ``max_area`` of the image (LaMa's ``max_tamper_area``).

    The reference draws 5 variants and keeps a random accepted one, which has the same distribution
    as drawing until one is accepted. After ``max_attempts`` rejections this raises :class:`InputError`
    (the generator's shapes are too large for the canvas).
    """

    generator: MaskGenerator
    max_area: float = 0.5
    max_attempts: int = 100

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw a mask whose hole fraction is ``<= max_area``."""
        for _ in range(self.max_attempts):
            mask = self.generator(height, width, rng)
            if mask_area(mask) <= self.max_area:
                return mask
        raise InputError(
            f"no {height}x{width} mask covering <= {self.max_area:.0%} in {self.max_attempts} attempts: "
            "the strokes or boxes are too large for this size"
        )


# Evaluation sets (configs/data_gen/random_{thin,medium,thick}_{256,512}.yaml): strokes, optional boxes.
EVAL_PRESETS: dict[tuple[str, int], tuple[StrokeMaskGenerator, BoxMaskGenerator | None]] = {
    ("thin", 256): (StrokeMaskGenerator(max_angle=4, max_len=40, max_width=10, min_times=4, max_times=50), None),
    ("thin", 512): (StrokeMaskGenerator(max_angle=4, max_len=100, max_width=20, min_times=4, max_times=70), None),
    ("medium", 256): (
        StrokeMaskGenerator(max_angle=4, max_len=100, max_width=50, min_times=4, max_times=5),
        BoxMaskGenerator(margin=0, bbox_min_size=10, bbox_max_size=50, min_times=1, max_times=5),
    ),
    ("medium", 512): (
        StrokeMaskGenerator(max_angle=4, max_len=200, max_width=100, min_times=4, max_times=10),
        BoxMaskGenerator(margin=0, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=5),
    ),
    ("thick", 256): (
        StrokeMaskGenerator(max_angle=4, max_len=200, max_width=100, min_times=1, max_times=5),
        BoxMaskGenerator(margin=10, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=3),
    ),
    ("thick", 512): (
        StrokeMaskGenerator(max_angle=4, max_len=450, max_width=250, min_times=1, max_times=5),
        BoxMaskGenerator(margin=10, bbox_min_size=30, bbox_max_size=300, min_times=1, max_times=4),
    ),
}
EVAL_BOX_PROBABILITY = 0.3  # against stroke probability 1, renormalised: boxes 0.3 / 1.3 of the time
EVAL_MAX_AREA = 0.5


def eval_mask_generator(preset: str, size: int) -> MaskGenerator:
    """The LaMa evaluation mask generator ``thin``/``medium``/``thick`` at 256 or 512.

    Args:
        preset: ``"thin"``, ``"medium"`` or ``"thick"``.
        size: 256 or 512, the canvas the preset's pixel parameters were chosen for.
    Returns:
        a generator mixing strokes (probability 1) and boxes (0.3, renormalised) whose masks cover at
        most 50% of the image.
    """
    key = (preset, size)
    if key not in EVAL_PRESETS:
        valid = ", ".join(f"{p}-{s}" for p, s in EVAL_PRESETS)
        raise InputError(f"unknown evaluation mask preset {preset!r} at size {size!r}; valid: {valid}")
    strokes, boxes = EVAL_PRESETS[key]
    if boxes is None:
        mixture = MixedMaskGenerator((strokes,), (1.0,))
    else:
        mixture = MixedMaskGenerator((strokes, boxes), (1.0, EVAL_BOX_PROBABILITY))
    return MaxAreaFilter(mixture, max_area=EVAL_MAX_AREA)


def lama_training_generator() -> MixedMaskGenerator:
    """LaMa's training masks at 256 (big-lama / lama-fourier, ``abl-04-256-mh-dist``).

    Half irregular strokes (``max_angle 4, max_len 200, max_width 100``, 1..5 strokes), half boxes
    (``margin 10``, sides 30..150, 1..4 boxes); no area limit. Parameters are pixels at any canvas.
    """
    strokes = StrokeMaskGenerator(max_angle=4, max_len=200, max_width=100, min_times=1, max_times=5)
    boxes = BoxMaskGenerator(margin=10, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=4)
    return MixedMaskGenerator((strokes, boxes), (1.0, 1.0))
