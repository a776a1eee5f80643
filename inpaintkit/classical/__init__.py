"""Classical (non-learned) inpainting methods with the same ``forward(image, mask)`` as the models,
and Poisson blending (``poisson``) for post-processing."""

from .opencv import NavierStokesInpainter, TeleaInpainter
from .patch_match import PatchMatchInpainter, patchmatch_available
from .poisson import POSTPROCESSORS, clone_known_region, seamless_clone, telea_then_seamless_clone

__all__ = [
    "NavierStokesInpainter", "PatchMatchInpainter", "TeleaInpainter", "patchmatch_available",
    "POSTPROCESSORS", "clone_known_region", "seamless_clone", "telea_then_seamless_clone",
]
