"""Classical (non-learned) inpainting methods and the post-processing steps a model may name:
Poisson blending (``poisson``) and patch synthesis (``patch_synthesis``, Wexler et al. with PatchMatch).

Each method is a torch-free :class:`~inpaintkit.classical.picture.PictureMethod` (``Telea``,
``NavierStokes``, ``PatchMatch``) that the pipeline runs on the picture's arrays, and a module on
tensors with the same ``forward(image, mask)`` as the networks (``TeleaInpainter`` ...). The modules
need torch, so they are imported when first used: ``import inpaintkit.classical`` stays light (the
patch-synthesis kernels are compiled by numba on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .opencv import NavierStokes, Telea
from .patch_match import PatchMatch, patchmatch_available
from .patch_synthesis import SynthesisConfig, network_with_texture, synthesize
from .picture import PictureMethod
from .poisson import Postprocess, clone_known_region, seamless_clone, telea_then_seamless_clone

if TYPE_CHECKING:
    from .modules import NavierStokesInpainter, PatchMatchInpainter, PictureInpainter, TeleaInpainter

#: Where each lazily imported name lives (these need torch).
_LAZY = {
    "PictureInpainter": "modules",
    "TeleaInpainter": "modules",
    "NavierStokesInpainter": "modules",
    "PatchMatchInpainter": "modules",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Post-processing steps by name (a model's ``postprocess``, or its registry entry's).
POSTPROCESSORS: dict[str, Postprocess] = {
    "telea-seamless-clone": telea_then_seamless_clone,
    "patch-synthesis": network_with_texture,
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
    "SynthesisConfig",
    "synthesize",
    "network_with_texture",
]
