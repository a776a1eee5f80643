"""Perceptual losses on frozen pretrained networks, and loading those networks' published weights.

* :func:`perceptual_loss` / :class:`PerceptualLoss`: the **sum** over a backbone's feature maps of
  the mean squared error between the prediction's and the target's features (each map averaged
  over all its elements). With :class:`~inpaintkit.models.backbones.ResNet50Dilated` this is LaMa's
  high-receptive-field perceptual loss (``ResNetPL`` in ``saicinpainting/training/losses/
  perceptual.py`` of https://github.com/advimman/lama: the four stage outputs of the ADE20k
  encoder, ImageNet-normalised inputs, unmasked). With
  :class:`~inpaintkit.models.backbones.VGG19Features` (taps ``relu1_1`` .. ``relu5_1``) it is a
  plain VGG perceptual loss over the whole image. (LaMa's own VGG loss, off in all its released
  configs, differs: known area only, average pooling, every ReLU of the first four blocks.)
* :func:`load_backbone`: build a backbone with its published weights (never random ones).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .._state import fetch_published, load_state_exact, read_state_dict
from ..models.backbones import FrozenBackbone, ResNet50Dilated, VGG19Features
from ..types import InputError, WeightsError


def as_feature_list(features: Sequence[Tensor] | Mapping[str, Tensor]) -> list[Tensor]:
    """A feature extractor's output (a list, or a dict such as :class:`VGG19Features` returns) as a list."""
    return list(features.values()) if isinstance(features, Mapping) else list(features)


def check_feature_pairs(first: Sequence[Tensor], second: Sequence[Tensor], caller: str) -> None:
    """Raise :class:`InputError` naming ``caller`` unless both lists hold the same non-zero number of maps."""
    if len(first) != len(second) or not first:
        raise InputError(f"{caller} needs the same non-zero number of feature maps, got {len(first)} and {len(second)}")


def layer_mse(pred_features: Sequence[Tensor], target_features: Sequence[Tensor], caller: str) -> Tensor:
    """``MSE(pred_l, target_l)`` for each layer ``l`` (targets detached), each averaged over its elements.

    Args:
        pred_features: feature maps of the prediction.
        target_features: feature maps of the target, same number and shapes.
        caller: the loss named in the error message.

    Returns:
        ``(L,)``, one value per layer.
    """
    check_feature_pairs(pred_features, target_features, caller)
    return torch.stack([F.mse_loss(p, t.detach()) for p, t in zip(pred_features, target_features)])


def perceptual_loss(pred_features: Sequence[Tensor], target_features: Sequence[Tensor]) -> Tensor:
    """``sum over layers of MSE(pred_l, target_l)`` (targets detached).

    Args:
        pred_features: feature maps of the prediction.
        target_features: feature maps of the target, same number and shapes.

    Returns:
        A scalar.
    """
    return layer_mse(pred_features, target_features, "perceptual_loss").sum()


class PerceptualLoss(nn.Module):
    """:func:`perceptual_loss` on the features of a frozen backbone.

    Args:
        backbone: maps ``[0, 1]`` images to a list or a dict of feature maps (a
            :class:`~inpaintkit.models.backbones.FrozenBackbone`).

    Shape:
        pred, target ``(B, 3, H, W)`` in ``[0, 1]`` -> scalar.
    """

    def __init__(self, backbone: FrozenBackbone) -> None:
        super().__init__()
        self.backbone = backbone

    def features(self, image: Tensor) -> list[Tensor]:
        """The backbone's feature maps of ``image`` as a list."""
        return as_feature_list(self.backbone(image))

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_features = self.features(target)
        return perceptual_loss(self.features(pred), target_features)


# --------------------------------------------------------------------------------- loading
#: Backbones by weight name (a key of ``weights.WEIGHT_SPECS``): constructor, and the prefixes of
#: tensors in the published file that the backbone does not use.
BACKBONES: dict[str, tuple[Callable[[], FrozenBackbone], tuple[str, ...]]] = {
    "ade20k-resnet50dilated": (ResNet50Dilated, ()),
    "vgg19": (VGG19Features, ("classifier.",)),
}


def load_backbone(name: str, path: str | os.PathLike | None = None, *, progress: bool = True) -> FrozenBackbone:
    """Build backbone ``name`` with its published weights, frozen.

    Args:
        name: a key of :data:`BACKBONES` (``"ade20k-resnet50dilated"`` or ``"vgg19"``).
        path: a local copy of the weight file; ``None`` = the registered download (cached in
            ``<cache_dir()>/weights/``, fetched on first use).
        progress: show a progress bar while downloading.

    Returns:
        The backbone in eval mode, its parameters not requiring gradients.

    Raises:
        WeightsError: the file is absent and cannot be downloaded (the message names the file, its
            URL and where to put it), fails its checksum, or does not hold exactly this backbone's
            tensors (``num_batches_tracked`` counters may be absent).
    """
    if name not in BACKBONES:
        raise WeightsError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    file = fetch_published(name, progress=progress) if path is None else Path(path)
    build, unused = BACKBONES[name]
    backbone = build()
    load_state_exact(backbone, read_state_dict(file, name), f"{file} ({name} weights)", ignore=unused)
    return backbone.freeze()
