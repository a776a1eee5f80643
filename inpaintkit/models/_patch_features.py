"""Feature spaces for the texture energy of neural patch synthesis (:mod:`inpaintkit.models.neural_patch`).

A feature space maps one image ``(1, 3, H, W)`` in [0, 1] to a list of feature maps ``(C, H // s,
W // s)``, one per layer with stride ``s`` (a cell of a map covers an ``s x s`` block of pixels). It
also says how patches are compared when they are matched (``metric``), how many pixels around the
hole its patches depend on (``margin``) and its default settings (``iterations``,
``texture_weight``, ``tv_weight``).

* ``vgg`` (:class:`VggPatchFeatures`): VGG-19 ``relu3_1`` and ``relu4_1`` (stride 4 and 8) with
  torchvision's ImageNet weights, compared by normalised cross-correlation, as in the paper.
* ``pixel`` (:class:`PixelPatchFeatures`): the ImageNet-normalised pixels regrouped into 2 x 2 and
  4 x 4 blocks (``pixel_unshuffle``, stride 2 and 4), so a 3 x 3 patch is a 6 x 6 or 12 x 12 pixel
  patch at full detail. It needs no weights. Patches are compared by Euclidean distance: the cosine
  similarity ignores brightness (a grey patch would match a white one).

Default settings: the ``pixel`` weights were tuned on Kodak photos (256 x 256, a 128 x 128 hole,
squared error in the hole and visual checks). The VGG weights could not be tuned here (no VGG
weights offline); the texture energy of each layer is divided by the mean square of its matched
patches (:mod:`inpaintkit.models.neural_patch`), which keeps the feature scale (torchvision's vs
caffe's VGG) out of the weight, and the VGG defaults reuse the pixel space's. VGG's iteration count
is lower so that a 512 x 512 photo stays well under 30 s on two CPU cores (one VGG pass over the crop
around a 256 x 256 hole costs ~1.5 s).
"""

from __future__ import annotations

import logging
import os

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..losses.perceptual import load_backbone
from ..types import InputError
from ..weights import WEIGHT_SPECS, cached_path
from .backbones import VGG19_LAYERS, FrozenBackbone, VGG19Features

log = logging.getLogger(__name__)

FEATURE_SPACES = ("auto", "vgg", "pixel")


class PixelPatchFeatures(FrozenBackbone):
    """The ``pixel`` feature space: ImageNet-normalised pixels (:meth:`FrozenBackbone.normalize`) in
    ``f x f`` blocks, for ``f`` in ``factors``.

    Shape: ``(1, 3, H, W)`` in [0, 1] -> one ``(3 f^2, H // f, W // f)`` map per factor.
    """

    name = "pixel"
    metric = "l2"
    iterations = 100
    texture_weight = 3.0
    tv_weight = 0.1

    def __init__(self, factors: tuple[int, ...] = (2, 4)) -> None:
        super().__init__()
        self.strides = tuple(factors)
        self.margin = 2 * max(factors)

    def forward(self, image: Tensor) -> list[Tensor]:
        x = self.normalize(image)
        h, w = x.shape[-2:]
        return [F.pixel_unshuffle(x[..., : h // f * f, : w // f * f], f)[0] for f in self.strides]


class VggPatchFeatures(nn.Module):
    """The ``vgg`` feature space: VGG-19 ``relu3_1`` (stride 4) and ``relu4_1`` (stride 8).

    Args:
        vgg: a VGG-19 with pretrained weights (:func:`inpaintkit.losses.perceptual.load_backbone`).

    Shape: ``(1, 3, H, W)`` in [0, 1] -> ``[(256, H // 4, W // 4), (512, H // 8, W // 8)]``.
    """

    name = "vgg"
    metric = "ncc"
    layers = ("relu3_1", "relu4_1")
    strides = (4, 8)
    #: The receptive field of a 3 x 3 relu4_1 patch reaches 42 px; rounded up to the stride.
    margin = 48
    iterations = 10
    texture_weight = 3.0
    tv_weight = 0.1

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = VGG19Features(taps=self.layers)
        self.vgg.load_state_dict(vgg.state_dict())
        del self.vgg.features[VGG19_LAYERS.index(self.layers[-1]) + 1 :]  # never run: free their memory
        self.vgg.freeze()

    def forward(self, image: Tensor) -> list[Tensor]:
        return [fmap[0] for fmap in self.vgg(image).values()]


def load_feature_space(name: str = "auto", vgg_weights: str | os.PathLike | None = None) -> tuple[nn.Module, str]:
    """Build a feature space for the texture energy.

    Args:
        name: ``vgg`` (downloads the VGG-19 weights when they are not cached), ``pixel`` (no
            weights), or ``auto``: ``vgg`` when ``vgg_weights`` is given or the weights are in the
            cache, else ``pixel`` (never a download).
        vgg_weights: a local copy of torchvision's ``vgg19-dcbb9e9d.pth``.

    Returns:
        ``(features, note)``; ``note`` says that ``auto`` fell back to ``pixel`` and why (empty
        otherwise; it is also logged as a warning).

    Raises:
        InputError: unknown name.
        WeightsError: VGG weights that are missing (for ``vgg``) or do not load.
    """
    if name not in FEATURE_SPACES:
        raise InputError(f"unknown feature space {name!r}; valid: {', '.join(FEATURE_SPACES)}")
    cached = cached_path(WEIGHT_SPECS["vgg19"])
    if name == "vgg" or (name == "auto" and (vgg_weights is not None or cached.is_file())):
        return VggPatchFeatures(load_backbone("vgg19", vgg_weights)), ""
    note = ""
    if name == "auto":
        note = (
            f"neural-patch: no VGG-19 weights (none at {cached}, no --vgg-weights), so the texture term "
            "uses the 'pixel' feature space instead of VGG features"
        )
        log.warning(note)
    return PixelPatchFeatures(), note
