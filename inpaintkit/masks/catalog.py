"""Mask generators chosen by name (training configs and the CLI select masks by a string)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ..types import InputError
from ._common import MaskGenerator
from .lama import EVAL_PRESETS, eval_mask_generator, lama_training_generator
from .shapes import BorderMaskGenerator, GlcicHoleGenerator, RandomBorderGenerator

MASK_GENERATORS: dict[str, Callable[[], MaskGenerator]] = {
    "lama-train": lama_training_generator,
    **{f"{preset}-{size}": partial(eval_mask_generator, preset, size) for preset, size in EVAL_PRESETS},
    "glcic": GlcicHoleGenerator,
    "outpaint-sides": partial(BorderMaskGenerator, left=0.25, right=0.25),
    "outpaint-random": RandomBorderGenerator,
}
"""Name -> factory of a mask generator ``gen(height, width, rng) -> (H, W) float32 {0, 1}``.

``lama-train``: LaMa's 256 training mix; ``thin-256`` ... ``thick-512``: LaMa evaluation presets;
``glcic``: one 96..128 px rectangle; ``outpaint-sides``: the left and right quarters (Sabini & Rusak);
``outpaint-random``: LaMa's random outpainting strips.
"""


def mask_generator(name: str) -> MaskGenerator:
    """Build the mask generator registered under ``name`` in :data:`MASK_GENERATORS`.

    Raises:
        InputError: unknown name (the message lists the valid ones).
    """
    if name not in MASK_GENERATORS:
        raise InputError(f"unknown mask generator {name!r}; valid: {', '.join(MASK_GENERATORS)}")
    return MASK_GENERATORS[name]()
