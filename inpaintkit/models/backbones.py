"""Frozen, pretrained feature extractors used by training losses.

* :class:`ResNet50Dilated`: the encoder of the MIT scene-parsing model
  ``ade20k-resnet50dilated-ppm_deepsup`` (B. Zhou et al., "Semantic Understanding of Scenes through
  the ADE20K Dataset", IJCV 2019, arXiv:1608.05442; code
  https://github.com/CSAILVision/semantic-segmentation-pytorch, BSD-3-Clause,
  ``mit_semseg/models/resnet.py`` and ``models.py``). LaMa's high-receptive-field
  perceptual loss compares its four stage outputs. Module names follow the reference, so the
  released ``encoder_epoch_20.pth`` loads unchanged.
* :class:`VGG19Features`: the convolutional part of VGG-19 (K. Simonyan and A. Zisserman, "Very Deep
  Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, arXiv:1409.1556) in
  torchvision's layout (``features.<index>.weight``), so torchvision's ``vgg19-dcbb9e9d.pth`` loads
  unchanged (its ``classifier.*`` tensors are not used). Its layers come from :func:`vgg_layers`,
  which also builds the VGG-16 trunk of LPIPS (:mod:`inpaintkit.evaluation.lpips`).

Both take images in the project's ``[0, 1]`` range and apply the ImageNet mean/std normalisation
themselves. They stay in eval mode (``train()`` does not switch them) and their parameters never
require gradients; gradients still flow through them to their input.

:func:`inpaintkit.losses.perceptual.load_backbone` builds one with its published weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..types import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrozenBackbone(nn.Module):
    """Base of the feature extractors: ImageNet normalisation, always eval, no parameter gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def freeze(self) -> FrozenBackbone:
        """Stop parameter gradients and switch to eval mode; returns ``self``."""
        self.requires_grad_(False)
        return super().train(False)

    def train(self, mode: bool = True) -> FrozenBackbone:
        """Stay in eval mode whatever ``mode`` is: BatchNorm keeps its pretrained statistics."""
        return super().train(False)

    def normalize(self, image: Tensor) -> Tensor:
        """``[0, 1]`` images -> ImageNet-normalised input."""
        return (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)


# ---------------------------------------------------------------------------- ResNet50 dilated
class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 -> 1x1, 4x expansion), stride on the 3x3 conv as in the reference."""

    expansion = 4

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet50Dilated(FrozenBackbone):
    """The ADE20k ``resnet50dilated`` encoder (output stride 8).

    Deep stem ``conv1`` (3->64, stride 2), ``conv2`` (64->64), ``conv3`` (64->128), each with BN and
    ReLU, then 3x3 max pooling (stride 2) and ResNet-50's four stages of 3, 4, 6 and 3 bottlenecks.
    ``layer3`` and ``layer4`` are dilated instead of strided (the reference's ``dilate_scale=8``):
    their first 3x3 conv has stride 1 and dilation 1 (``layer3``) or 2 (``layer4``), the other 3x3
    convs dilation 2 (``layer3``) or 4 (``layer4``), and the 1x1 shortcut convs stride 1.

    Shape:
        ``(B, 3, H, W)`` in ``[0, 1]`` -> four maps: ``(B, 256, H/4, W/4)``, ``(B, 512, H/8, W/8)``,
        ``(B, 1024, H/8, W/8)``, ``(B, 2048, H/8, W/8)`` (sizes rounded up).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(128)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _stage(128, 64, blocks=3, stride=1, first_dilation=1, dilation=1)
        self.layer2 = _stage(256, 128, blocks=4, stride=2, first_dilation=1, dilation=1)
        self.layer3 = _stage(512, 256, blocks=6, stride=1, first_dilation=1, dilation=2)
        self.layer4 = _stage(1024, 512, blocks=3, stride=1, first_dilation=2, dilation=4)

    def forward(self, image: Tensor) -> list[Tensor]:
        """Return the outputs of ``layer1`` .. ``layer4`` for ``[0, 1]`` images."""
        x = self.normalize(image)
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = self.relu(bn(conv(x)))
        x = self.maxpool(x)
        stages = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            stages.append(x)
        return stages


def _stage(
    in_channels: int, planes: int, blocks: int, stride: int, first_dilation: int, dilation: int
) -> nn.Sequential:
    out_channels = planes * Bottleneck.expansion
    downsample = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
    )
    layers = [Bottleneck(in_channels, planes, stride, first_dilation, downsample)]
    layers += [Bottleneck(out_channels, planes, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------- VGG-19
#: VGG-19 configuration "E": output channels of each 3x3 conv, "M" = 2x2 max pooling.
_VGG19_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)


def vgg_layers(cfg: Sequence[int | str]) -> nn.Sequential:
    """VGG's convolutional layers in torchvision's ``features.<index>`` order.

    Args:
        cfg: output channels of each 3x3 conv (padding 1, each followed by a ReLU), ``"M"`` for a
            2x2 max pooling (e.g. VGG-19 configuration "E").

    Returns:
        ``Sequential(conv, relu, ..., pool, ...)`` on 3-channel input, with untrained weights.
    """
    layers: list[nn.Module] = []
    channels = 3
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    return nn.Sequential(*layers)


def _vgg19_layer_names() -> tuple[str, ...]:
    names, block, conv = [], 1, 1
    for item in _VGG19_CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


#: Name of every module of ``VGG19Features.features`` by index (``conv1_1``, ``relu1_1``, ... ``pool5``).
VGG19_LAYERS: tuple[str, ...] = _vgg19_layer_names()


class VGG19Features(FrozenBackbone):
    """VGG-19's convolutional layers with named taps.

    Args:
        taps: layer names (see :data:`VGG19_LAYERS`, e.g. ``relu3_1``) whose outputs ``forward``
            returns; it stops after the deepest one.

    Shape:
        ``(B, 3, H, W)`` in ``[0, 1]`` -> ``{tap: (B, C, H / 2**k, W / 2**k)}`` in the order of ``taps``,
        ``k`` the number of poolings before the tap.
    """

    def __init__(self, taps: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> None:
        super().__init__()
        unknown = [tap for tap in taps if tap not in VGG19_LAYERS]
        if unknown or not taps:
            raise InputError(
                f"VGG19Features: unknown taps {unknown or '(none given)'}; layers are {', '.join(VGG19_LAYERS)}"
            )
        self.taps = tuple(taps)
        self.features = vgg_layers(_VGG19_CFG)
        self._last = max(VGG19_LAYERS.index(tap) for tap in self.taps)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Return the requested taps for ``[0, 1]`` images."""
        x = self.normalize(image)
        found: dict[str, Tensor] = {}
        for index in range(self._last + 1):
            x = self.features[index](x)
            if VGG19_LAYERS[index] in self.taps:
                found[VGG19_LAYERS[index]] = x
        return {tap: found[tap] for tap in self.taps}
