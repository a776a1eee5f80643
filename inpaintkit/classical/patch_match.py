"""PatchMatch inpainting through the ``pypatchmatch`` package (optional dependency).

C. Barnes, E. Shechtman, A. Finkelstein, D. B. Goldman, "PatchMatch: A Randomized Correspondence
Algorithm for Structural Image Editing", SIGGRAPH 2009. Implementation: PyPI ``pypatchmatch``
(import name ``patchmatch``, MIT, github.com/mauwii/PyPatchMatch), a ctypes binding to a prebuilt
library shipped in its wheels (nothing is compiled on import).

``pypatchmatch`` takes the mask as non-zero = hole, keeps known pixels unchanged, compares channels
independently (RGB order needs no conversion) and seeds its randomised search from a seed held in
the native library. :class:`PatchMatch` sets that seed before every picture, so a result
depends only on the picture, the mask, ``patch_size`` and ``seed``. The seed is process-wide
state of the library: calls from several threads at once with different seeds may interfere.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..catalog import patchmatch_available
from ..registry import ModelSpec, register_models
from ..types import InpaintKitError, InputError
from .picture import PictureMethod


class PatchMatch(PictureMethod):
    """Fill holes by copying the best-matching patches of the known area (PatchMatch, multi-scale).

    Args:
        patch_size: patch *radius* as in ``pypatchmatch``: compared patches span
            ``(2 * patch_size + 1)`` pixels per side (5 -> 11x11).
        seed: seed of the randomised nearest-neighbour search.

    Raises:
        InpaintKitError: ``pypatchmatch`` is missing or its native library does not load.
    """

    def __init__(self, patch_size: int = 5, seed: int = 0) -> None:
        if not patchmatch_available():
            raise InpaintKitError(
                "PatchMatch needs the pypatchmatch package: pip install pypatchmatch "
                "(or pip install inpaintkit[patchmatch])"
            )
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
            raise InputError(f"patch_size must be a positive integer (patch radius), got {patch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise InputError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        self.patch_size = patch_size
        self.seed = seed

    def fill(self, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        library = importlib.import_module("patchmatch")
        library.set_random_seed(self.seed)
        return library.inpaint(picture, hole, patch_size=self.patch_size)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, seed={self.seed}"


register_models(
    ModelSpec(
        "patchmatch",
        "classical",
        "PatchMatch (Barnes et al. 2009) via pypatchmatch",
        "MIT (pypatchmatch)",
        factory=PatchMatch,
        requires="patchmatch",
    )
)
