"""The content network of multi-scale neural patch synthesis, and its training discriminator.

Paper: C. Yang, X. Lu, Z. Lin, E. Shechtman, O. Wang, H. Li, "High-Resolution Image Inpainting using
Multi-Scale Neural Patch Synthesis", CVPR 2017, arXiv:1611.09969. Reference code (Torch7, MIT,
"research purpose only"): https://github.com/leehomyc/Faster-High-Res-Neural-Inpainting. The content
network is a variant of the Context Encoder (D. Pathak et al., "Context Encoders: Feature Learning by
Inpainting", CVPR 2016, arXiv:1604.07379; code https://github.com/pathak22/context-encoder, BSD) with
a standard fully-connected bottleneck and ELU activations, as Yang et al. describe. This is an
independent implementation; the texture optimisation that refines its output lives in
:mod:`inpaintkit.pipelines.neural_patch`.

Layout (``w0 .. w4`` = :attr:`ContentConfig.widths`, paper 64, 64, 128, 256, 512; ``s`` =
:attr:`ContentConfig.size`, 128; every layer but the last is followed by BatchNorm and ELU, except
the first, which has no BatchNorm):

    encoder     conv4 s2 w0 | conv4 s2 w1 | ... | conv4 s2 w4          s -> s / 32
    bottleneck  FC (w4 * (s/32)^2 -> bottleneck 4000) | FC (-> w4 * (s/32)^2)
    decoder     deconv4 s2 w3 | deconv4 s2 w2 | deconv4 s2 w1 | deconv4 s2 w0 | deconv4 s2 3 + tanh

Deliberate deviation (the reason the paper's method only handled a centred square): the network
sees the whole frame with a hole of any shape and position and predicts the whole ``s x s`` frame
(the original decodes only the central 64 x 64 patch). Conversion done here: the input is the image
with the hole filled by the Context Encoder's mean colour (117, 104, 123) / 255, mapped to [-1, 1],
plus the mask channel (1 = hole); the tanh output is mapped back to [0, 1]. H and W must equal
:attr:`ContentConfig.size` (the pipeline resizes).

The discriminator (training only) is DCGAN's: 4x4 stride-2 convolutions (BatchNorm except on the
first, LeakyReLU 0.2) down to 4 x 4, then a 4x4 convolution to one logit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch import Tensor

from ..types import InputError
from ._layers import fill_holes
from .contract import Family, Inpainter, SizeRule, register_family

#: The Context Encoder's hole colour (its training set's mean pixel), in [0, 1].
CONTENT_MEAN = (117 / 255, 104 / 255, 123 / 255)


@dataclass
class ContentConfig:
    """Size of a content network.

    Attributes:
        widths: output channels of the stride-2 encoder convolutions (the decoder mirrors them).
        bottleneck: width of the fully-connected bottleneck (paper: 4000).
        size: side of the square frames the network takes and returns (paper: 128); a multiple of
            ``2 ** len(widths)``.
        mean: RGB hole colour in [0, 1].
    """

    widths: list[int] = field(default_factory=lambda: [64, 64, 128, 256, 512])
    bottleneck: int = 4000
    size: int = 128
    mean: list[float] = field(default_factory=lambda: list(CONTENT_MEAN))

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"ContentConfig: widths must be a non-empty list of positive numbers, got {self.widths}")
        factor = 2 ** len(self.widths)
        if self.size < factor or self.size % factor:
            raise ValueError(f"ContentConfig: size must be a multiple of 2 ** len(widths) = {factor}, got {self.size}")
        if self.bottleneck < 1:
            raise ValueError(f"ContentConfig: bottleneck must be >= 1, got {self.bottleneck}")
        if len(self.mean) != 3 or not all(0.0 <= float(v) <= 1.0 for v in self.mean):
            raise ValueError(f"ContentConfig: mean must be three values in [0, 1], got {self.mean}")
        self.widths = [int(w) for w in self.widths]
        self.mean = [float(v) for v in self.mean]

    @property
    def bottom(self) -> int:
        """Side of the encoder's last feature map (``size / 2 ** len(widths)``)."""
        return self.size // 2 ** len(self.widths)


#: content: the paper's widths, 71,220,323 parameters, 0.43 G multiply-adds per 128 x 128 frame.
#: content-small: sized for a 2-core CPU, 2,976,771 parameters, 0.068 G multiply-adds per frame (one
#: training step at batch 16 with a width-16 discriminator: ~0.3 s on one thread).
PRESETS: dict[str, ContentConfig] = {
    "content": ContentConfig(),
    "content-small": ContentConfig(widths=[16, 32, 64, 128, 128], bottleneck=512),
}


def _down(in_channels: int, out_channels: int, batch_norm: bool, activation: nn.Module) -> list[nn.Module]:
    norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
    return [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1), *norm, activation]


class ContentNetwork(Inpainter):
    """Encoder - FC bottleneck - decoder predicting the whole frame (see the module docstring).

    Args:
        config: widths, bottleneck, frame size and hole colour; see :data:`PRESETS`.

    Shape:
        image ``(B, 3, s, s)`` in [0, 1], mask ``(B, 1, s, s)`` with 1 = hole -> ``(B, 3, s, s)`` in
        [0, 1], ``s`` = ``config.size``.
    """

    #: Inputs are not padded to a multiple; they must be exactly ``config.size`` square.
    pad_multiple = 1
    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def __init__(self, config: ContentConfig) -> None:
        super().__init__()
        self.config = config
        widths, bottom = config.widths, config.bottom
        layers: list[nn.Module] = []
        in_channels = 4
        for index, width in enumerate(widths):
            layers += _down(in_channels, width, batch_norm=index > 0, activation=nn.ELU())
            in_channels = width
        self.encoder = nn.Sequential(*layers)
        flat = widths[-1] * bottom * bottom
        self.bottleneck = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, config.bottleneck),
            nn.BatchNorm1d(config.bottleneck),
            nn.ELU(),
            nn.Linear(config.bottleneck, flat),
            nn.BatchNorm1d(flat),
            nn.ELU(),
            nn.Unflatten(1, (widths[-1], bottom, bottom)),
        )
        layers = []
        for width in [*reversed(widths[:-1])]:
            layers += [nn.ConvTranspose2d(in_channels, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ELU()]
            in_channels = width
        layers += [nn.ConvTranspose2d(in_channels, 3, 4, stride=2, padding=1), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)

    @property
    def min_size(self) -> int:
        """Smallest H and W accepted: the frame size (a smaller input is padded up to it)."""
        return self.config.size

    def size_rule(self) -> SizeRule:
        """Only ``config.size`` squares (:func:`~inpaintkit.pipelines.neural_patch.content_alone` fills any size)."""
        return SizeRule(1, self.config.size, fixed=self.config.size)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Predict the whole frame (not composited).

        Args:
            image: ``(B, 3, s, s)`` in [0, 1].
            mask: ``(B, 1, s, s)`` in {0, 1}, 1 = hole.

        Returns:
            ``(B, 3, s, s)`` prediction in [0, 1].

        Raises:
            InputError: if H or W differs from ``config.size``.
        """
        size = self.config.size
        if tuple(image.shape[-2:]) != (size, size):
            raise InputError(
                f"the content network needs {size}x{size} input, got "
                f"{image.shape[-2]}x{image.shape[-1]}; resize the image first"
            )
        filled = fill_holes(image, mask, self.mean.to(image.dtype)) * 2 - 1
        out = self.decoder(self.bottleneck(self.encoder(torch.cat([filled, mask], dim=1))))
        return (out + 1) / 2


class ContentDiscriminator(nn.Module):
    """DCGAN discriminator: one real/fake logit per image (training only).

    Args:
        width: channels of the first convolution (doubling per layer, at most ``8 * width``).
        size: side of the square images it scores; ``size / 4`` must be a power of two >= 2.

    Shape:
        ``(B, 3, size, size)`` in [0, 1] -> logits ``(B,)`` (real > 0 > fake).
    """

    def __init__(self, width: int = 64, size: int = 128) -> None:
        super().__init__()
        steps = (size // 4).bit_length() - 1
        if width < 1 or size % 4 or size // 4 != 2**steps or steps < 1:
            raise ValueError(
                f"ContentDiscriminator: size / 4 must be a power of two >= 2 and width >= 1, "
                f"got size {size}, width {width}"
            )
        self.size = size
        layers: list[nn.Module] = []
        in_channels = 3
        for index in range(steps):
            out_channels = width * min(2**index, 8)
            layers += _down(in_channels, out_channels, batch_norm=index > 0, activation=nn.LeakyReLU(0.2))
            in_channels = out_channels
        layers.append(nn.Conv2d(in_channels, 1, 4))
        self.model = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        if tuple(image.shape[-2:]) != (self.size, self.size):
            raise ValueError(
                f"this discriminator takes {self.size}x{self.size} images, got {image.shape[-2]}x{image.shape[-1]}"
            )
        return self.model(image * 2 - 1).flatten()


#: The family as weight files name it (``arch``), with its presets and training objective.
FAMILY = register_family(
    Family(
        "content",
        ContentConfig,
        ContentNetwork,
        PRESETS,
        objective="neural-patch-content",
        tiny=ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32),
    )
)
