"""Classical (non-learned) inpainting methods and the post-processing steps a model may name:
Poisson blending (``poisson``) and guided texture transfer (``texture_transfer``).

Each method is a torch-free :class:`~inpaintkit.classical.picture.PictureMethod` (``Telea``,
``NavierStokes``, ``PatchMatch``) that the pipeline runs on the picture's arrays, and a module on
tensors with the same ``forward(image, mask)`` as the networks (``TeleaInpainter`` ...). The modules
and the guided texture transfer need torch, so they are imported when first used: ``import
inpaintkit.classical`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import numpy as np

from .opencv import NavierStokes, Telea
from .patch_match import PatchMatch, patchmatch_available
from .picture import PictureMethod
from .poisson import Postprocess, clone_known_region, seamless_clone, telea_then_seamless_clone

if TYPE_CHECKING:
    from .modules import NavierStokesInpainter, PatchMatchInpainter, PictureInpainter, TeleaInpainter
    from .texture_transfer import GuidedTextureConfig, guided_texture, guided_texture_postprocess

#: Where each lazily imported name lives (these need torch).
_LAZY = {
    "GuidedTextureConfig": "texture_transfer",
    "guided_texture": "texture_transfer",
    "guided_texture_postprocess": "texture_transfer",
    "PictureInpainter": "modules",
    "TeleaInpainter": "modules",
    "NavierStokesInpainter": "modules",
    "PatchMatchInpainter": "modules",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _guided_texture_step(raw: np.ndarray, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """:func:`~inpaintkit.classical.texture_transfer.guided_texture_postprocess`, imported on first use."""
    from .texture_transfer import guided_texture_postprocess

    return guided_texture_postprocess(raw, image, hole)


#: Post-processing steps by name (a model's ``postprocess``, or its registry entry's).
POSTPROCESSORS: dict[str, Postprocess] = {
    "telea-seamless-clone": telea_then_seamless_clone,
    "guided-texture": _guided_texture_step,
}

__all__ = [
    "PictureMethod",
    "Telea",
    "NavierStokes",
    "PatchMatch",
    "PictureInpainter",
    "NavierStokesInpainter",
    "PatchMatchInpainter",
    "TeleaInpainter",
    "patchmatch_available",
    "POSTPROCESSORS",
    "Postprocess",
    "clone_known_region",
    "seamless_clone",
    "telea_then_seamless_clone",
    "GuidedTextureConfig",
    "guided_texture",
    "guided_texture_postprocess",
]
