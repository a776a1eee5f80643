"""Masks as numpy ``(H, W)`` float32 arrays in ``{0, 1}``, 1 = hole; every random generator takes an
explicit ``numpy.random.Generator``.

* :mod:`.lama`: LaMa strokes, boxes, training mix and the thin/medium/thick evaluation presets;
* :mod:`.shapes`: GLCIC's rectangular hole, outpainting borders and canvas expansion;
* :mod:`.ops`: reading user masks, dilation, feathering, area;
* :mod:`.evalset`: seeded evaluation sets on disk;
* :mod:`.catalog`: generators chosen by name;
* :mod:`.select`: an object's mask from a box (GrabCut) or a click (colour region), ``(H, W)`` bool.
"""

from ._common import MaskGenerator
from .catalog import MASK_GENERATORS, mask_generator
from .evalset import EvalSet, read_eval_set, write_eval_set
from .lama import (
    EVAL_PRESETS,
    BoxMaskGenerator,
    MaxAreaFilter,
    MixedMaskGenerator,
    StrokeMaskGenerator,
    StrokeSegment,
    draw_segments,
    eval_mask_generator,
    lama_training_generator,
)
from .ops import dilate, disk, feather, load_mask, mask_area
from .select import SELECTORS, select_box, select_point
from .shapes import (
    BorderMaskGenerator,
    GlcicHoleGenerator,
    RandomBorderGenerator,
    border_mask,
    expand_canvas,
    glcic_hole,
)

__all__ = [
    "MaskGenerator",
    "MASK_GENERATORS",
    "mask_generator",
    "EvalSet",
    "read_eval_set",
    "write_eval_set",
    "EVAL_PRESETS",
    "BoxMaskGenerator",
    "MaxAreaFilter",
    "MixedMaskGenerator",
    "StrokeMaskGenerator",
    "StrokeSegment",
    "draw_segments",
    "eval_mask_generator",
    "lama_training_generator",
    "dilate",
    "disk",
    "feather",
    "load_mask",
    "mask_area",
    "SELECTORS",
    "select_box",
    "select_point",
    "BorderMaskGenerator",
    "GlcicHoleGenerator",
    "RandomBorderGenerator",
    "border_mask",
    "expand_canvas",
    "glcic_hole",
]
