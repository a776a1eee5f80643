"""LPIPS, the learned perceptual image patch similarity (VGG variant, v0.1).

R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018, arXiv:1801.03924; reference code
https://github.com/richzhang/PerceptualSimilarity (the ``lpips`` package, BSD-2-Clause).

The distance between two images: map ``[0,1]`` to ``[-1,1]``, apply the fixed per-channel shift and
scale of LPIPS v0.1, take VGG16's ``relu1_2``, ``relu2_2``, ``relu3_3``, ``relu4_3`` and ``relu5_3``
maps, normalise each feature vector to unit length over channels, square the difference, weight the
channels with a learned 1x1 convolution (``lin0`` ... ``lin4``, no bias), average over space and sum
over the five layers.

Written here because the ``lpips`` package imports torchvision, which does not install next to this
project's torch. Key names follow the published files, so both load unchanged: torchvision's
``vgg16-397923af.pth`` (``features.<index>.*``) and LPIPS's ``vgg.pth`` (``lin<k>.model.1.weight``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .._state import fetch_published, load_state_exact, read_state_dict
from ..models.backbones import vgg_layers

#: LPIPS v0.1 input shift and scale per RGB channel (on ``[-1, 1]`` images).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: VGG16 (configuration "D") up to ``relu5_3``: output channels of each 3x3 conv, "M" = 2x2 max pooling.
VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
#: Indices in ``features`` of ``relu1_2``, ``relu2_2``, ``relu3_3``, ``relu4_3``, ``relu5_3``.
VGG16_TAPS = (3, 8, 15, 22, 29)
VGG16_CHANNELS = (64, 128, 256, 512, 512)


class VGG16Features(nn.Module):
    """VGG16's convolutional layers up to ``relu5_3``, in torchvision's ``features.<index>`` layout.

    Shape:
        ``(B, 3, H, W)`` (already normalised) -> five maps ``(B, C_k, H / 2**k, W / 2**k)``,
        ``C = 64, 128, 256, 512, 512`` (sizes rounded down).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg_layers(VGG16_CFG)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the outputs of the five LPIPS taps."""
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in VGG16_TAPS:
                taps.append(x)
        return taps


def unit_normalize(features: Tensor, eps: float = 1e-10) -> Tensor:
    """Divide each feature vector by its Euclidean length over channels (plus ``eps``).

    Shape: ``(B, C, H, W)`` -> same.
    """
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_distance(features0: Sequence[Tensor], features1: Sequence[Tensor], weights: Sequence[Tensor]) -> Tensor:
    """Combine two images' feature maps into LPIPS distances.

    For each layer: unit-normalise both maps over channels, square their difference, weight the
    channels with the layer's 1x1 convolution, average over space; then sum over layers.

    Args:
        features0, features1: one map per layer for each image.
        weights: one 1x1 convolution weight per layer.

    Returns:
        ``(B,)`` distances.

    Shape:
        ``features*[k]`` ``(B, C_k, H_k, W_k)``; ``weights[k]`` ``(1, C_k, 1, 1)``.
    """
    if not len(features0) == len(features1) == len(weights):
        raise ValueError(
            f"lpips_distance: {len(features0)}, {len(features1)} feature maps and {len(weights)} "
            "weights; one of each per layer is needed"
        )
    total = features0[0].new_zeros(features0[0].shape[0])
    for f0, f1, weight in zip(features0, features1, weights):
        squared = (unit_normalize(f0) - unit_normalize(f1)).pow(2)
        total = total + F.conv2d(squared, weight.to(squared.dtype)).mean(dim=(1, 2, 3))
    return total


class LinearHead(nn.Module):
    """One LPIPS layer weight: dropout (active only in training) then a 1x1 conv to one channel, no bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))


class LPIPS(nn.Module):
    """LPIPS distance between image pairs.

    Args:
        net: backbone mapping a normalised ``(B,3,H,W)`` batch to one map per layer.
        channels: channels of each of ``net``'s maps (one ``lin<k>`` head per map).

    Shape:
        pred, target ``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B,)``.
    """

    def __init__(self, net: nn.Module, channels: Sequence[int]) -> None:
        super().__init__()
        self.net = net
        for index, count in enumerate(channels):
            self.add_module(f"lin{index}", LinearHead(count))
        self.layers = len(channels)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def weights(self) -> list[Tensor]:
        """The 1x1 conv weight of each layer, ``(1, C_k, 1, 1)``."""
        return [getattr(self, f"lin{index}").model[1].weight for index in range(self.layers)]

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """LPIPS distance of each pair of ``[0, 1]`` images (0 = identical)."""
        features0 = self.net((pred * 2 - 1 - self.shift) / self.scale)
        features1 = self.net((target * 2 - 1 - self.shift) / self.scale)
        return lpips_distance(features0, features1, self.weights())


def lpips_vgg() -> LPIPS:
    """An LPIPS-VGG network with untrained weights (see :func:`load_lpips` for the published ones)."""
    return LPIPS(VGG16Features(), VGG16_CHANNELS)


def load_lpips(
    backbone_path: str | os.PathLike | None = None,
    lin_path: str | os.PathLike | None = None,
    *,
    progress: bool = True,
) -> LPIPS:
    """LPIPS-VGG v0.1 with the published weights.

    Args:
        backbone_path: torchvision's ``vgg16-397923af.pth``; ``None`` = the registered download
            (``WEIGHT_SPECS["vgg16"]``, cached in ``<cache_dir()>/weights/``).
        lin_path: LPIPS's ``weights/v0.1/vgg.pth``; ``None`` = ``WEIGHT_SPECS["lpips-vgg-v0.1"]``.
        progress: show a progress bar while downloading.

    Returns:
        The network in eval mode, without parameter gradients.

    Raises:
        WeightsError: a file is absent and cannot be downloaded (the message names the file, its URL
            and where to put it), fails its checksum, or does not hold exactly the expected tensors.
    """
    backbone_file = fetch_published("vgg16", progress=progress) if backbone_path is None else Path(backbone_path)
    lin_file = fetch_published("lpips-vgg-v0.1", progress=progress) if lin_path is None else Path(lin_path)
    model = lpips_vgg()
    load_state_exact(
        model.net, read_state_dict(backbone_file, "VGG16"), f"{backbone_file} (VGG16 weights)", ignore=("classifier.",)
    )
    heads = nn.ModuleDict({f"lin{index}": getattr(model, f"lin{index}") for index in range(model.layers)})
    load_state_exact(heads, read_state_dict(lin_file, "LPIPS"), f"{lin_file} (LPIPS linear layers)")
    return model
