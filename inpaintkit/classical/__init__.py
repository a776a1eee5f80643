"""Classical (non-learned) inpainting methods with the same ``forward(image, mask)`` as the models."""

from .opencv import NavierStokesInpainter, TeleaInpainter
from .patch_match import PatchMatchInpainter, patchmatch_available

__all__ = ["NavierStokesInpainter", "PatchMatchInpainter", "TeleaInpainter", "patchmatch_available"]
