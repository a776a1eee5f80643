"""Classical (non-learned) inpainting methods with the same ``forward(image, mask)`` as the models,
and the post-processing steps a model may name: Poisson blending (``poisson``) and guided texture
transfer (``guided_texture``)."""

from .guided_texture import GuidedTextureConfig, guided_texture, guided_texture_postprocess
from .opencv import NavierStokesInpainter, TeleaInpainter
from .patch_match import PatchMatchInpainter, patchmatch_available
from .poisson import Postprocess, clone_known_region, seamless_clone, telea_then_seamless_clone

#: Post-processing steps by name (a model's ``postprocess``, or its registry entry's).
POSTPROCESSORS: dict[str, Postprocess] = {
    "telea-seamless-clone": telea_then_seamless_clone,
    "guided-texture": guided_texture_postprocess,
}

__all__ = [
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
