"""PD-GAN: probabilistic diverse GAN for image inpainting.

Paper: H. Liu, Z. Wan, W. Huang, Y. Song, X. Han, J. Liao, "PD-GAN: Probabilistic Diverse GAN for
Image Inpainting", CVPR 2021, arXiv:2105.02201. Reference code: https://github.com/KumapowerLIU/PD-GAN
(MIT; ``models/network/pdgan.py``, ``models/blocks/SPDNorm.py``, ``models/network/Discriminator.py``;
its PD-GAN weights were never released). This is an independent implementation.

The generator starts from noise ``z`` and is modulated, block by block, by a *prior* ``P``: the
composited output of another, frozen inpainting network (the authors used a partial-convolution
net; here any registered model, :attr:`PdganConfig.prior`)::

    z (latent_dim) -> Linear -> channels[0] x 4 x 4
    -> len(channels) units of [SPDResBlock(c_in -> channels[i]) + ConvTranspose2d(k4, s2, p1)]
    -> LeakyReLU(0.2) -> conv3x3 -> tanh             (size = 4 * 2 ** len(channels))

* SPDNorm: ``x_hat * (1 + gamma(P) * D) + beta(P) * D`` with ``x_hat`` the per-pixel normalisation
  of ``x`` across channels and ``gamma, beta = conv3x3(ReLU(conv3x3(P, hidden)))``.
* Hard probability map ``D_h`` (from the mask alone): the known region is dilated step by step
  into the hole; the ring added at step ``i`` gets ``1 / k**i`` (``k = hard_base``); known pixels 1.
* Soft map ``D_s = sigmoid(conv3x3([F_p, x])) * (1 - M) + M``, ``F_p`` = features of ``P``
  (conv3x3 -> InstanceNorm -> ReLU -> conv3x3), one map per channel of ``x``.
* SPDResBlock: ``conv3x3(LReLU(SPDNorm_h(conv3x3(LReLU(SPDNorm_h(x)))))) + conv1x1(SPDNorm_s(x))``
  with spectral norm on the three convolutions and ``min(c_in, c_out)`` middle channels.
* Discriminator: two-scale PatchGAN on ``[mask, image]`` (the second scale sees the input
  average-pooled by 2), spectral norm + InstanceNorm on the inner convolutions (the shared
  :class:`~inpaintkit.models.discriminators.NLayerDiscriminator`).

Conventions: the module takes the project's image in ``[0, 1]`` and mask with 1 = hole; inside,
``M = 1 - mask`` (1 = known, the paper's convention), ``P`` and the output are in ``[-1, 1]`` and
the output is mapped back to ``[0, 1]``. The generator makes ``size x size`` images only: the
diverse pipeline (:mod:`inpaintkit.pipelines.diverse`) resizes regions to that size and back.

The prior is a companion, not part of this network: :meth:`PdganGenerator.attach_prior` holds it
outside the module tree, so ``state_dict``, ``parameters``, ``train()`` and optimisers never see it
(weight files hold the generator alone and record the prior's name in the config); ``.to()``
moves it along. ``inpaintkit.api.load_model`` and ``registry.create_model`` attach it.

Deliberate choices where paper and code differ: ``1 + gamma`` (the code; the paper omits the 1);
``k = 4`` (the paper; the code uses e); the hard map gives the hole pixels beyond the last ring the
last ring's value ``1 / k**n`` (the code); the per-pixel variance is the unbiased one with
``eps = 1e-5`` (the code's positional normalisation). The code's unused scalar ``v`` is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.parametrizations import spectral_norm

from ..registry import TRAINED_HERE, ModelSpec, register_models
from ..types import InputError, SizeRule
from ._layers import check_spatial_size, finish_output
from .contract import Family, Inpainter, register_family
from .discriminators import NLayerDiscriminator

#: Side of the feature map the linear layer produces.
BASE_SIZE = 4


@dataclass
class PdganConfig:
    """Size of a PD-GAN generator and the name of its prior.

    Attributes:
        channels: output channels of each SPDResBlock, one per 2x upsampling unit (paper: 1024,
            1024, 512, 256, 128, 64); the output side is ``4 * 2 ** len(channels)``.
        latent_dim: size of the noise vector ``z`` (paper: 256).
        hidden: width of the prior's hidden layer in every SPDNorm and soft map (paper: 128).
        hard_iterations: dilation steps of the hard probability map, per unit (paper: 2 ... 7).
        hard_kernels: dilation kernel size per unit (paper: 3, 3, 3, 3, 5, 5).
        hard_base: ``k``: the ring added at step ``i`` gets ``1 / k**i`` (paper: 4).
        prior: the frozen inpainting model that gives ``P``: a registered name or a weight file.
        prior_weights: weight file of the prior ("" = its registered or bundled weights).
    """

    channels: list[int] = field(default_factory=lambda: [1024, 1024, 512, 256, 128, 64])
    latent_dim: int = 256
    hidden: int = 128
    hard_iterations: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6, 7])
    hard_kernels: list[int] = field(default_factory=lambda: [3, 3, 3, 3, 5, 5])
    hard_base: float = 4.0
    prior: str = "lama-small"
    prior_weights: str = ""

    def __post_init__(self) -> None:
        self.channels = [int(c) for c in self.channels]
        self.hard_iterations = [int(n) for n in self.hard_iterations]
        self.hard_kernels = [int(k) for k in self.hard_kernels]
        units = len(self.channels)
        if units < 1 or min(self.channels) < 2 or self.latent_dim < 1 or self.hidden < 1:
            raise InputError(
                f"PdganConfig: channels (>= 2 each, at least one unit), latent_dim and hidden "
                f"must be positive, got {self.channels}, {self.latent_dim}, {self.hidden}"
            )
        if len(self.hard_iterations) != units or len(self.hard_kernels) != units:
            raise InputError(
                f"PdganConfig: hard_iterations and hard_kernels need one entry per unit ({units}), "
                f"got {self.hard_iterations} and {self.hard_kernels}"
            )
        if min(self.hard_iterations) < 1 or any(k < 3 or k % 2 == 0 for k in self.hard_kernels):
            raise InputError(
                f"PdganConfig: hard_iterations must be >= 1 and hard_kernels odd and >= 3, "
                f"got {self.hard_iterations} and {self.hard_kernels}"
            )
        if not self.hard_base > 1:
            raise InputError(f"PdganConfig: hard_base must be > 1, got {self.hard_base}")
        if not self.prior or self.prior in PDGAN_NAMES:
            raise InputError(f"PdganConfig: prior must name another inpainting model, got {self.prior!r}")

    @property
    def size(self) -> int:
        """Side of the square images the generator makes."""
        return BASE_SIZE * 2 ** len(self.channels)


#: Registry names of PD-GAN presets (a PD-GAN cannot be its own prior).
PDGAN_NAMES = ("pdgan", "pdgan-small")

#: pdgan: the paper at 256x256, 186,007,171 parameters (its discriminator, ndf 64, 4 layers, 2 scales:
#: 5,529,730). pdgan-small: sized to train on a 2-core CPU at 128x128 (widths 128 ... 16, hidden 16),
#: 3,357,731 parameters, 1.33 GFLOPs per image for the generator proper (the lama-small prior adds 3.2).
PRESETS: dict[str, PdganConfig] = {
    "pdgan": PdganConfig(),
    "pdgan-small": PdganConfig(
        channels=[128, 128, 64, 32, 16], hidden=16, hard_iterations=[2, 3, 4, 5, 6], hard_kernels=[3, 3, 3, 3, 5]
    ),
}


# ------------------------------------------------------------------------------ pure functions
def positional_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise every pixel across channels: ``(x - mean_c) / sqrt(var_c + eps)`` (unbiased var).

    Shape: ``(B, C, H, W)`` with ``C >= 2`` -> same.
    """
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True, correction=1)
    return (x - mean) / torch.sqrt(var + eps)


def dilate(known: Tensor, kernel: int) -> Tensor:
    """Grow the 1-region of a binary map by a ``kernel x kernel`` square (zero outside the image)."""
    return F.max_pool2d(known, kernel, stride=1, padding=kernel // 2)


def hard_probability_map(known: Tensor, iterations: int, kernel: int, base: float = 4.0) -> Tensor:
    """PD-GAN's hard probability map from the known region alone.

    Known pixels get 1; the ring the ``i``-th dilation adds (``i = 1 .. iterations``) gets
    ``base ** -i``; hole pixels still unreached after the last dilation get ``base ** -iterations``.

    Args:
        known: ``(B, 1, H, W)`` in {0, 1}, 1 = known.
        iterations: number of dilations.
        kernel: odd side of the square dilation kernel.
        base: ``k`` of the paper.

    Returns:
        ``(B, 1, H, W)`` in ``(0, 1]``.
    """
    probability = known.clone()
    reached = known
    for step in range(1, iterations + 1):
        grown = dilate(reached, kernel)
        probability = probability + (grown - reached) * base**-step
        reached = grown
    return probability + (1 - reached) * base**-iterations


# ------------------------------------------------------------------------------------- layers
class SPDNorm(nn.Module):
    """Spatial probabilistic diversity normalisation.

    Args:
        channels: channels of the normalised features.
        hidden: width of the prior's hidden layer.

    Shape:
        x ``(B, C, H, W)``, prior ``(B, 3, H, W)`` in [-1, 1], probability ``(B, 1 or C, H, W)``
        -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.shared = nn.Conv2d(3, hidden, 3, padding=1)
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: Tensor, prior: Tensor, probability: Tensor) -> Tensor:
        hidden = F.relu(self.shared(prior))
        return positional_norm(x) * (1 + self.gamma(hidden) * probability) + self.beta(hidden) * probability


class SoftProbability(nn.Module):
    """The learned soft probability map ``sigmoid(conv3x3([F_p, x])) * (1 - M) + M``.

    Shape: x ``(B, C, H, W)``, prior ``(B, 3, H, W)``, known ``(B, 1, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.prior_features = nn.Sequential(
            nn.Conv2d(3, hidden, 3, padding=1),
            nn.InstanceNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 3, padding=1),
        )
        self.attention = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, x: Tensor, prior: Tensor, known: Tensor) -> Tensor:
        soft = torch.sigmoid(self.attention(torch.cat([self.prior_features(prior), x], dim=1)))
        return soft * (1 - known) + known


class SPDResBlock(nn.Module):
    """Residual block: hard-map SPDNorm path plus a soft-map SPDNorm shortcut (spectral-normed convs).

    Args:
        in_channels, out_channels: widths; the middle width is their minimum.
        hidden: width of the prior's hidden layers.
        iterations, kernel, base: of this block's :func:`hard_probability_map`.

    Shape:
        x ``(B, in, H, W)``, prior ``(B, 3, H, W)`` in [-1, 1], known ``(B, 1, H, W)`` -> ``(B, out, H, W)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int, iterations: int, kernel: int, base: float
    ) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.iterations, self.kernel, self.base = iterations, kernel, base
        self.norm_0 = SPDNorm(in_channels, hidden)
        self.conv_0 = spectral_norm(nn.Conv2d(in_channels, middle, 3, padding=1))
        self.norm_1 = SPDNorm(middle, hidden)
        self.conv_1 = spectral_norm(nn.Conv2d(middle, out_channels, 3, padding=1))
        self.soft = SoftProbability(in_channels, hidden)
        self.norm_s = SPDNorm(in_channels, hidden)
        self.conv_s = spectral_norm(nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: Tensor, prior: Tensor, known: Tensor) -> Tensor:
        hard = hard_probability_map(known, self.iterations, self.kernel, self.base)
        out = self.conv_0(F.leaky_relu(self.norm_0(x, prior, hard), 0.2))
        out = self.conv_1(F.leaky_relu(self.norm_1(out, prior, hard), 0.2))
        return out + self.conv_s(self.norm_s(x, prior, self.soft(x, prior, known)))


# ---------------------------------------------------------------------------------- generator
class PdganGenerator(Inpainter):
    """The PD-GAN generator with its (attached) frozen prior.

    Args:
        config: network size and prior name; see :data:`PRESETS`.

    Shape:
        image ``(B, 3, S, S)`` in [0, 1], mask ``(B, 1, S, S)`` with 1 = hole, noise
        ``(B, latent_dim)`` -> ``(B, 3, S, S)`` in [0, 1], ``S = config.size``.
    """

    #: Noise-driven: one input has several completions (``inpaintkit.load`` gives it the diverse
    #: pipeline; the registry and the web app offer samples).
    pipeline = "diverse"
    postprocess = ""
    needs_prior = True
    #: H and W need no padding to a multiple; they must equal :attr:`size` (the pipeline resizes).
    pad_multiple = 1

    def __init__(self, config: PdganConfig) -> None:
        super().__init__()
        self.config = config
        self.size = config.size
        self.latent_dim = config.latent_dim
        c = config.channels
        self.fc = nn.Linear(config.latent_dim, c[0] * BASE_SIZE * BASE_SIZE)
        widths = [c[0], *c]
        self.blocks = nn.ModuleList(
            SPDResBlock(widths[i], widths[i + 1], config.hidden, n, k, config.hard_base)
            for i, (n, k) in enumerate(zip(config.hard_iterations, config.hard_kernels))
        )
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w, w, 4, stride=2, padding=1) for w in c)
        self.to_rgb = nn.Conv2d(c[-1], 3, 3, padding=1)
        self.__dict__["_prior"] = None

    def size_rule(self) -> SizeRule:
        """Only ``size x size`` inputs (the diverse pipeline resizes regions to it and back)."""
        return SizeRule(fixed=self.size)

    # -- the prior companion
    @property
    def prior(self) -> nn.Module | None:
        """The attached prior network (``None`` until :meth:`attach_prior`)."""
        return self.__dict__["_prior"]

    def attach_prior(self, prior: nn.Module) -> PdganGenerator:
        """Use ``prior`` (frozen, eval mode, kept out of this module's state) for ``P``; returns ``self``."""
        self.__dict__["_prior"] = prior.eval().requires_grad_(False)
        return self

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> PdganGenerator:
        super()._apply(fn, recurse)
        if self.prior is not None:  # .to(), .float() ... move the companion too
            self.prior._apply(fn, recurse)
        return self

    # -- forward
    def forward(self, image: Tensor, mask: Tensor, noise: Tensor | None = None) -> Tensor:
        """Complete ``image`` from ``noise`` (``None``: ``z = 0``, the mean of the noise distribution).

        Returns the raw output for the whole frame (not composited).
        """
        check_spatial_size(
            image,
            "this PD-GAN",
            fixed=self.size,
            expects="generates {size} images",
            hint="resize the input first (the diverse pipeline does)",
        )
        if noise is None:
            noise = image.new_zeros(image.shape[0], self.latent_dim)
        return self.synthesize(noise, self.prior_image(image, mask), mask)

    def prior_image(self, image: Tensor, mask: Tensor) -> Tensor:
        """``P``: the prior's fill in the hole, ``image`` elsewhere; no gradients.

        Shape: image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` -> ``(B, 3, H, W)`` in [0, 1].
        """
        if self.prior is None:
            raise RuntimeError("no prior attached: load PD-GAN with inpaintkit.api.load_model, or call attach_prior")
        with torch.no_grad():
            filled = self.prior(image, mask).to(image.dtype).clamp(0.0, 1.0)
        return torch.where(mask > 0.5, filled, image)

    def synthesize(self, noise: Tensor, prior: Tensor, mask: Tensor) -> Tensor:
        """The generator proper: ``noise`` modulated by the prior image ``prior`` (differentiable).

        Shape: noise ``(B, latent_dim)``, prior ``(B, 3, S, S)`` in [0, 1], mask ``(B, 1, S, S)``
        with 1 = hole -> ``(B, 3, S, S)`` in [0, 1].
        """
        known = 1 - mask
        prior = prior * 2 - 1
        x = self.fc(noise).view(noise.shape[0], -1, BASE_SIZE, BASE_SIZE)
        for block, up in zip(self.blocks, self.ups):
            size = x.shape[-2:]
            x = up(
                block(
                    x, F.interpolate(prior, size=size, mode="nearest"), F.interpolate(known, size=size, mode="nearest")
                )
            )
        return finish_output(self.to_rgb(F.leaky_relu(x, 0.2)), activation="tanh")

    def sample_noise(
        self, batch: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> Tensor:
        """``z ~ N(0, I)``: ``(batch, latent_dim)`` drawn from ``generator``."""
        return torch.randn(batch, self.latent_dim, generator=generator, device=device)


# ------------------------------------------------------------------------------ discriminator
class PdganDiscriminator(nn.Module):
    """Multi-scale PatchGAN on ``[mask, 2 * image - 1]``; scale ``s`` sees the input pooled ``s`` times
    (3x3 average, stride 2, padding not counted).

    Each scale is the shared :class:`~inpaintkit.models.discriminators.NLayerDiscriminator` with
    spectral norm + InstanceNorm (``norm="spectral-instance"``, widths up to 512): ``model0``
    stride 2 (no norm), ``model1 .. model{n-2}`` stride 2, ``model{n-1}`` stride 1, then the logit
    layer ``model{n}``, ``n = n_layers``.

    Args:
        ndf: width of each scale's first layer (paper: 64).
        n_layers: convolutions before the logit layer (paper: 4; the reference's count, one more
            than ``NLayerDiscriminator``'s ``n_layers``).
        scales: number of scales (paper: 2).

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` -> per scale ``(logits, n_layers feature maps)``.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 4, scales: int = 2) -> None:
        super().__init__()
        if min(ndf, n_layers, scales) < 1:
            raise InputError(
                f"PdganDiscriminator: ndf, n_layers and scales must be >= 1, got {ndf}, {n_layers}, {scales}"
            )
        self.scales = nn.ModuleList(
            NLayerDiscriminator(4, ndf, n_layers - 1, norm="spectral-instance") for _ in range(scales)
        )

    def forward(self, image: Tensor, mask: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        x = torch.cat([mask, image * 2 - 1], dim=1)
        outputs = []
        for index, scale in enumerate(self.scales):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(scale(x))
        return outputs


#: The family as weight files name it (``arch``), with its presets and training objective.
FAMILY = register_family(
    Family(
        "pdgan",
        PdganConfig,
        PdganGenerator,
        PRESETS,
        objective="pdgan",
        tiny=PdganConfig(
            channels=[8, 8, 8], hidden=4, hard_iterations=[2, 3, 4], hard_kernels=[3, 3, 3], prior="telea"
        ),
    )
)

register_models(
    ModelSpec(
        "pdgan",
        "learned",
        "PD-GAN diverse inpainting (Liu et al. 2021), paper widths at 256; prior lama-small",
        "Apache-2.0",
        arch="pdgan",
        config=PRESETS["pdgan"],
        recipe="configs/pdgan-paper.yaml",
    ),
    ModelSpec(
        "pdgan-small",
        "learned",
        "PD-GAN at 128x128 sized for CPU, prior lama-small, trained here",
        TRAINED_HERE,
        arch="pdgan",
        config=PRESETS["pdgan-small"],
        bundled="pdgan-small.safetensors",
        recipe="configs/pdgan-small-cpu.yaml",
    ),
)
