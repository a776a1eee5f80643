"""GLCIC: the completion network and the global + local context discriminators.

Paper: S. Iizuka, E. Simo-Serra, H. Ishikawa, "Globally and Locally Consistent Image Completion",
ACM Transactions on Graphics 36(4), SIGGRAPH 2017. Reference code (Torch7 inference only, CC BY-NC-SA
4.0): https://github.com/satoshiiizuka/siggraph2017_inpainting (``inpaint.lua``). This is an
independent implementation; the completion network is one flat ``nn.Sequential`` in the reference's
order (``conv -> BatchNorm -> ReLU`` per layer, last layer ``conv -> Sigmoid``) so the released
``completionnet_*.t7`` models map onto it module by module (see :mod:`inpaintkit.torch7`).

Conversion done here (the official inference convention): the network sees
``cat([(image - mean) * (1 - mask), mask])``, i.e. the image centred on the training set's mean
colour with the hole set to 0 (= filled with the mean), plus the mask channel (1 = hole). ``mean``
is part of :class:`GlcicConfig` (the released files store theirs next to the model). The sigmoid
output is an image in [0, 1]; compositing, padding to a multiple of 4 and the official
post-processing (Telea + Poisson blending, :data:`GlcicCompletionNet.postprocess`) are the
pipeline's job.

Completion network (:data:`COMPLETION_LAYERS`, ``w`` = :attr:`GlcicConfig.width`, 64 in the paper;
every layer but the last is followed by BatchNorm and ReLU; "same" padding):

    conv5 w | conv3 s2 2w | conv3 2w | conv3 s2 4w | 2 x conv3 4w | dilated conv3 4w (2, 4, 8, 16)
    | 2 x conv3 4w | deconv4 s1/2 2w | conv3 2w | deconv4 s1/2 w | conv3 w/2 | conv3 3 + Sigmoid

Discriminators (training only): a local branch on a ``local_size`` patch around the hole (5 x
conv5 s2 with BN + ReLU, widths w, 2w, 4w, 8w, 8w, then FC 16w = 1024) and a global branch on the
whole image (6 such convs, widths w, 2w, 4w, 8w, 8w, 8w, then FC 16w); their outputs are
concatenated and a last FC gives one logit (the paper's sigmoid is applied in the loss).

Deliberate deviations: the fully-connected 1024-d outputs of both branches pass through a ReLU
before the concatenation (the paper does not say); the default ``mean`` of our own presets is the
ImageNet mean colour (the paper fills holes with its training set's mean pixel; the released
Places2 value is read from the ``.t7`` file when one is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn as nn
from torch import Tensor

from ..catalog import WEIGHT_SPECS
from ..registry import TRAINED_HERE, ModelSpec, register_models
from ..types import InputError, SizeRule
from ._layers import StridedConvBranch, check_spatial_size, conv_block, fill_holes
from .backbones import IMAGENET_MEAN  # the hole fill of our own presets (see the module docstring)
from .contract import Family, Inpainter, register_family


class LayerSpec(NamedTuple):
    """One row of the completion-network table.

    Attributes:
        kind: ``"conv"`` or ``"deconv"`` (4x4 transposed convolution, stride 1/2).
        kernel: kernel side.
        stride: 2 for a downsampling conv, 2 for a deconv (which upsamples by 2), else 1.
        dilation: dilation of a conv (1 = ordinary).
        width: output channels as a multiple of :attr:`GlcicConfig.width` (``0`` = the 3 RGB channels).
    """

    kind: str
    kernel: int
    stride: int
    dilation: int
    width: float


#: The 17 layers of the completion network (paper, Table 1).
COMPLETION_LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("conv", 5, 1, 1, 1),
    LayerSpec("conv", 3, 2, 1, 2),
    LayerSpec("conv", 3, 1, 1, 2),
    LayerSpec("conv", 3, 2, 1, 4),
    LayerSpec("conv", 3, 1, 1, 4),
    LayerSpec("conv", 3, 1, 1, 4),
    LayerSpec("conv", 3, 1, 2, 4),
    LayerSpec("conv", 3, 1, 4, 4),
    LayerSpec("conv", 3, 1, 8, 4),
    LayerSpec("conv", 3, 1, 16, 4),
    LayerSpec("conv", 3, 1, 1, 4),
    LayerSpec("conv", 3, 1, 1, 4),
    LayerSpec("deconv", 4, 2, 1, 2),
    LayerSpec("conv", 3, 1, 1, 2),
    LayerSpec("deconv", 4, 2, 1, 1),
    LayerSpec("conv", 3, 1, 1, 0.5),
    LayerSpec("conv", 3, 1, 1, 0),
)


@dataclass
class GlcicConfig:
    """Size and input convention of a GLCIC completion network.

    Attributes:
        width: channels of the first layer (paper: 64); layers use 1/2, 1, 2 and 4 times it, so it
            must be even.
        mean: the RGB colour (in [0, 1]) subtracted from the input and used to fill holes.
        bn_eps: epsilon of every BatchNorm (Torch7's and PyTorch's default 1e-5).
    """

    width: int = 64
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.width < 2 or self.width % 2:
            raise InputError(f"GlcicConfig: width must be an even number >= 2, got {self.width}")
        if len(self.mean) != 3 or not all(0.0 <= float(v) <= 1.0 for v in self.mean):
            raise InputError(f"GlcicConfig: mean must be three values in [0, 1], got {self.mean}")
        if not self.bn_eps > 0:
            raise InputError(f"GlcicConfig: bn_eps must be > 0, got {self.bn_eps}")
        self.mean = [float(v) for v in self.mean]

    def channels(self, spec: LayerSpec) -> int:
        """Output channels of the layer ``spec`` (3 for the RGB output layer)."""
        return int(spec.width * self.width) if spec.width else 3


#: glcic: the paper's network, 6,072,131 parameters (its discriminators: 45,063,681 at 256 / 128).
#: glcic-small: a quarter of the widths for CPU training, 382,547 parameters (discriminators 2,820,993).
PRESETS: dict[str, GlcicConfig] = {
    "glcic": GlcicConfig(width=64),
    "glcic-small": GlcicConfig(width=16),
}


class GlcicCompletionNet(Inpainter):
    """The GLCIC completion network (generator).

    Args:
        config: width, mean colour and BatchNorm epsilon; see :data:`PRESETS`.

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` with 1 = hole -> ``(B, 3, H, W)`` in
        [0, 1]. H and W must be multiples of :attr:`pad_multiple`.
    """

    #: Two stride-2 layers: inputs are padded to a multiple of 4 (the reference rounds to one).
    pad_multiple = 4
    #: The official post-processing, by its name in :data:`inpaintkit.classical.POSTPROCESSORS`.
    postprocess = "telea-seamless-clone"
    pipeline = "inpaint"
    needs_prior = False

    def __init__(self, config: GlcicConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        in_channels = 4
        for spec in COMPLETION_LAYERS[:-1]:
            out_channels = config.channels(spec)
            layers += conv_block(
                in_channels,
                out_channels,
                spec.kernel,
                spec.stride,
                spec.dilation,
                batch_norm=True,
                transposed=spec.kind == "deconv",
                bn_eps=config.bn_eps,
            )
            in_channels = out_channels
        last = COMPLETION_LAYERS[-1]
        layers += [nn.Conv2d(in_channels, 3, last.kernel, padding=last.kernel // 2), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)

    @property
    def min_size(self) -> int:
        """Smallest H and W accepted (one pixel at the quarter-resolution bottleneck)."""
        return self.pad_multiple

    def size_rule(self) -> SizeRule:
        """Inputs padded to :attr:`pad_multiple`, at least :attr:`min_size` on each side."""
        return SizeRule(self.pad_multiple, self.min_size)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Predict the whole frame (not composited).

        Args:
            image: ``(B, 3, H, W)`` in [0, 1].
            mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.

        Returns:
            ``(B, 3, H, W)`` prediction in [0, 1].

        Raises:
            InputError: if H or W is not a positive multiple of :attr:`pad_multiple`.
        """
        check_spatial_size(image, "GLCIC", multiple=self.pad_multiple, min_size=self.min_size)
        mean = self.mean.to(image.dtype)
        return self.model(torch.cat([fill_holes(image, mask, mean) - mean, mask], dim=1))


class GlcicDiscriminator(nn.Module):
    """The global + local context discriminators with their concatenating FC (training only).

    Args:
        ndf: channels of the first convolution of each branch (paper: 64); the branches end in
            FC layers of ``16 * ndf`` features (paper: 1024).
        image_size: side of the (square) images the global branch sees (paper: 256).
        local_size: side of the patch around the hole the local branch sees (paper: 128).

    Shape:
        image ``(B, 3, image_size, image_size)``, patch ``(B, 3, local_size, local_size)`` ->
        logits ``(B,)`` (real > 0 > fake; apply a sigmoid for the paper's probability).
    """

    def __init__(self, ndf: int = 64, image_size: int = 256, local_size: int = 128) -> None:
        super().__init__()
        if local_size > image_size:
            raise InputError(f"the local patch ({local_size}) cannot be larger than the image ({image_size})")
        features = 16 * ndf
        self.image_size, self.local_size = image_size, local_size
        self.local_branch = StridedConvBranch(
            3, [ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf], (local_size, local_size), features, batch_norm=True
        )
        self.global_branch = StridedConvBranch(
            3, [ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 8 * ndf], (image_size, image_size), features, batch_norm=True
        )
        self.fc = nn.Linear(2 * features, 1)

    def forward(self, image: Tensor, patch: Tensor) -> Tensor:
        """One real/fake logit per image from its global view and its local patch."""
        both = torch.cat([self.global_branch(image), self.local_branch(patch)], dim=1)
        return self.fc(both).squeeze(1)


#: The family as weight files name it (``arch``), with its presets and training objective.
FAMILY = register_family(
    Family("glcic", GlcicConfig, GlcicCompletionNet, PRESETS, objective="glcic", tiny=GlcicConfig(width=2))
)

register_models(
    ModelSpec(
        "glcic",
        "learned",
        "GLCIC completion network (Iizuka et al. 2017), paper widths; the authors' completionnet_*.t7 loads "
        "with --weights",
        "CC BY-NC-SA 4.0 (authors' weights)",
        arch="glcic",
        config=PRESETS["glcic"],
        weights=WEIGHT_SPECS["glcic"],
    ),
    ModelSpec(
        "glcic-small",
        "learned",
        "GLCIC completion network at a quarter of the widths, trained here",
        TRAINED_HERE,
        arch="glcic",
        config=PRESETS["glcic-small"],
        bundled="glcic-small.safetensors",
        recipe="configs/glcic-small-cpu-refine.yaml",
    ),
)
