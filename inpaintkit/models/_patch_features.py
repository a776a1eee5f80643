"""Feature spaces of neural patch synthesis's texture stage (:mod:`inpaintkit.models.neural_patch`).

The texture stage is patch synthesis (:mod:`inpaintkit.classical.patch_synthesis`): a hole patch
copies the known patch nearest to it in colour, in voted texture features and in a *guide*, the
channels a feature space computes once from the picture with the content network's first guess in
its hole (the paper's content term: the fill should keep the guess's layout).

* ``pixel`` (:class:`PixelGuide`): the picture blurred by a Gaussian of sigma 4 px: the layout and
  colours of the guess, none of its (absent) texture. Needs no weights.
* ``vgg`` (:class:`VggGuide`): the same plus VGG-19 ``relu3_1`` features of the picture (stride 4,
  upsampled), projected on their 8 principal components over the picture and scaled to the
  colours' spread, as in the paper's neural patches (Yang et al. match ``relu3_1`` / ``relu4_1``
  patches). Needs torchvision's ImageNet weights for VGG-19.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..losses.perceptual import load_backbone
from ..types import InputError
from ..weights import WEIGHT_SPECS, cached_path
from .backbones import VGG19_LAYERS, VGG19Features

log = logging.getLogger(__name__)

FEATURE_SPACES = ("auto", "vgg", "pixel")
#: Gaussian sigma (pixels) of the guide's colours: the layout of the content network's guess.
GUIDE_BLUR = 4.0
#: Principal components of the VGG features kept in the guide.
VGG_COMPONENTS = 8


class PixelGuide(nn.Module):
    """The ``pixel`` feature space: the picture's colours blurred by :data:`GUIDE_BLUR`.

    Shape: ``(1, 3, H, W)`` in [0, 1] -> ``(H, W, 3)`` float32 numpy array.
    """

    name = "pixel"

    def forward(self, picture: Tensor) -> np.ndarray:
        rgb = np.ascontiguousarray(picture[0].permute(1, 2, 0).float().cpu().numpy())
        return cv2.GaussianBlur(rgb, (0, 0), GUIDE_BLUR)


class VggGuide(PixelGuide):
    """The ``vgg`` feature space: :class:`PixelGuide`'s colours plus VGG-19 ``relu3_1`` features.

    Args:
        vgg: a VGG-19 with pretrained weights (:func:`inpaintkit.losses.perceptual.load_backbone`).

    Shape: ``(1, 3, H, W)`` in [0, 1] -> ``(H, W, 3 + VGG_COMPONENTS)`` float32 numpy array.
    """

    name = "vgg"
    layer = "relu3_1"

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = VGG19Features(taps=(self.layer,))
        self.vgg.load_state_dict(vgg.state_dict())
        del self.vgg.features[VGG19_LAYERS.index(self.layer) + 1 :]  # never run: free their memory
        self.vgg.freeze()

    def forward(self, picture: Tensor) -> np.ndarray:
        colours = super().forward(picture)
        h, w = colours.shape[:2]
        with torch.no_grad():
            fmap = self.vgg(picture.float())[self.layer][0]  # (C, h / 4, w / 4)
            flat = fmap.reshape(fmap.shape[0], -1).T  # (cells, C)
            flat = flat - flat.mean(0)
            # the principal directions from the C x C covariance, at the features' own resolution
            _, vectors = torch.linalg.eigh((flat.T @ flat).double())
            projected = (flat @ vectors[:, -VGG_COMPONENTS:].float()).T.reshape(1, -1, *fmap.shape[1:])
            projected = F.interpolate(projected, size=(h, w), mode="bilinear", align_corners=False)[0]
        deep = projected.permute(1, 2, 0).numpy()
        spread = float(deep.std()) or 1.0
        return np.concatenate([colours, deep * (float(colours.std()) / spread)], -1).astype(np.float32)


def load_feature_space(name: str = "auto", vgg_weights: str | os.PathLike | None = None) -> tuple[PixelGuide, str]:
    """Build a feature space for the texture stage.

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
        return VggGuide(load_backbone("vgg19", vgg_weights)), ""
    note = ""
    if name == "auto":
        note = (
            f"neural-patch: no VGG-19 weights (none at {cached}, no --vgg-weights), so the texture stage "
            "matches patches in the 'pixel' feature space instead of VGG features"
        )
        log.warning(note)
    return PixelGuide(), note
