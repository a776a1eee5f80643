"""Image outpainting: the Sabini & Rusak generator and its global (+ optional local) discriminator.

Paper: M. Sabini, G. Rusak, "Painting Outside the Box: Image Outpainting with GANs", 2018,
arXiv:1808.08483. Reference code (TensorFlow, no licence stated, no released weights):
https://github.com/ShinyCode/image-outpainting (``src/model.py``, ``src/model_ld.py``). This is an
independent implementation; module names are ours.

Conversion done here: the generator sees ``cat([image with the hole filled by m, mask])`` where
``m`` is one scalar per image, the mean of its visible pixels over all three channels (the
reference fills with the mean of the whole image during training and of the visible source at
inference; we use the visible pixels in both), and mask 1 = pixels to generate (the project
convention). The sigmoid output is an image in [0, 1]. Any mask works, not only the paper's two
side strips; canvas expansion, seamless cloning and recursion are the pipeline's job
(:mod:`inpaintkit.pipelines.outpaint`).

Two options of ours, as for LaMa (:attr:`OutpaintConfig.prefill`, :attr:`OutpaintConfig.residual`;
neither adds a tensor): ``prefill="telea"`` shows the generator the strips filled by OpenCV's Telea
(the known edge carried outwards) instead of the mean, and ``residual=True`` makes the last layer
predict a correction added to that fill (clamped to [0, 1], zero-initialised, so an untrained
network returns the Telea fill). The ``outpaint-small`` preset uses both (see its recipes).

Generator (``w`` = :attr:`OutpaintConfig.width`, 64 in the paper; ReLU after every layer but the
last; "same" padding; no normalisation):

    conv5 w | conv3 s2 2w | conv3 4w | dilated conv3 4w (2, 4, 8) | conv3 4w | deconv4 s1/2 2w
    | conv3 w | conv3 3 + Sigmoid

Discriminator (training only; ``d`` = its ``ndf``, 32 in the paper): a global branch (5 x conv5 s2 +
ReLU, widths d, 2d, 2d, 2d, 2d, then FC 16d = 512 + ReLU) and, optionally, one local branch (4 x
conv5 s2 + ReLU, widths d, 2d, 2d, 2d, then FC 512 + ReLU) applied with shared weights to the left
half and to the horizontally flipped right half; the features are concatenated and a last FC gives
one logit (the paper's sigmoid is applied in the loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from ..registry import TRAINED_HERE, ModelSpec, register_models
from ..types import InputError, SizeRule
from ._layers import StridedConvBranch, check_spatial_size, conv_block, fill_holes, finish_output, init_head, telea_fill
from .contract import Family, Inpainter, register_family

#: Dilations of the middle layers; the paper reports that 1, 1, 2 or 1, 2, 4 fail.
DILATIONS = (2, 4, 8)

#: What the generator may see in the pixels to generate (:attr:`OutpaintConfig.prefill`).
PREFILLS = ("mean", "telea")


@dataclass
class OutpaintConfig:
    """Size of an outpainting generator.

    Attributes:
        width: channels of the first layer (paper: 64); the others use 2 and 4 times it.
        prefill: what the generator sees in the strips: ``"mean"`` (the paper: the mean of the
            visible pixels) or ``"telea"`` (OpenCV's Telea fill).
        residual: the last layer predicts a correction added to the prefilled image (clamped to
            [0, 1]; zero-initialised) instead of the whole frame through a sigmoid.
    """

    width: int = 64
    prefill: str = "mean"
    residual: bool = False

    def __post_init__(self) -> None:
        if self.width < 1:
            raise InputError(f"OutpaintConfig: width must be >= 1, got {self.width}")
        if self.prefill not in PREFILLS:
            raise InputError(f"OutpaintConfig: prefill must be one of {', '.join(PREFILLS)}, got {self.prefill!r}")


#: outpaint: the paper's generator, 3,335,747 parameters. outpaint-small: a quarter of the widths for
#: CPU training, 210,323 parameters.
PRESETS: dict[str, OutpaintConfig] = {
    "outpaint": OutpaintConfig(width=64),
    "outpaint-small": OutpaintConfig(width=16, prefill="telea", residual=True),
}


def visible_mean(image: Tensor, mask: Tensor) -> Tensor:
    """The mean of each image's visible pixels over all channels (0.5 when nothing is visible).

    Args:
        image: ``(B, C, H, W)``.
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.

    Returns:
        ``(B, 1, 1, 1)`` means.
    """
    known = 1 - mask
    count = known.sum(dim=(1, 2, 3), keepdim=True) * image.shape[1]
    total = (image * known).sum(dim=(1, 2, 3), keepdim=True)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, 0.5))


class OutpaintGenerator(Inpainter):
    """The Sabini & Rusak generator.

    Args:
        config: width; see :data:`PRESETS`.

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` with 1 = pixels to generate ->
        ``(B, 3, H, W)`` in [0, 1]. H and W must be multiples of :attr:`pad_multiple`.
    """

    #: One stride-2 layer: inputs are padded to even sizes.
    pad_multiple = 2
    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def __init__(self, config: OutpaintConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        layers = [
            *conv_block(4, w, 5, batch_norm=False),
            *conv_block(w, 2 * w, 3, stride=2, batch_norm=False),
            *conv_block(2 * w, 4 * w, 3, batch_norm=False),
        ]
        for dilation in DILATIONS:
            layers += conv_block(4 * w, 4 * w, 3, dilation=dilation, batch_norm=False)
        layers += [
            *conv_block(4 * w, 4 * w, 3, batch_norm=False),
            *conv_block(4 * w, 2 * w, 4, stride=2, batch_norm=False, transposed=True),
            *conv_block(2 * w, w, 3, batch_norm=False),
        ]
        head = init_head(nn.Conv2d(w, 3, 3, padding=1), config.residual)
        self.model = nn.Sequential(*layers, head)  # the sigmoid (or the residual sum) is in forward

    @property
    def min_size(self) -> int:
        """Smallest H and W accepted."""
        return self.pad_multiple

    def size_rule(self) -> SizeRule:
        """Inputs padded to :attr:`pad_multiple`, at least :attr:`min_size` on each side."""
        return SizeRule(self.pad_multiple, self.min_size)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Predict the whole frame (not composited).

        Args:
            image: ``(B, 3, H, W)`` in [0, 1].
            mask: ``(B, 1, H, W)`` in {0, 1}, 1 = pixels to generate.

        Returns:
            ``(B, 3, H, W)`` prediction in [0, 1].

        Raises:
            InputError: if H or W is not a positive multiple of :attr:`pad_multiple`.
        """
        check_spatial_size(image, "the outpainting generator", multiple=self.pad_multiple, min_size=self.min_size)
        if self.config.prefill == "telea":
            filled = telea_fill(image, mask)
        else:
            filled = fill_holes(image, mask, visible_mean(image, mask))
        return finish_output(self.model(torch.cat([filled, mask], dim=1)), filled, self.config.residual)


class OutpaintDiscriminator(nn.Module):
    """Global discriminator with the optional shared-weight local branch on the two halves.

    Args:
        ndf: channels of the first convolution of each branch (paper: 32); the branches end in
            FC layers of ``16 * ndf`` features (paper: 512).
        image_size: side of the square images (paper: 128); a multiple of 32.
        local: add the local branch on the left half and the flipped right half.

    Shape:
        ``(B, 3, image_size, image_size)`` -> logits ``(B,)`` (real > 0 > fake).
    """

    def __init__(self, ndf: int = 32, image_size: int = 128, local: bool = False) -> None:
        super().__init__()
        features = 16 * ndf
        self.global_branch = StridedConvBranch(
            3, [ndf] + [2 * ndf] * 4, (image_size, image_size), features, batch_norm=False
        )
        self.local_branch = (
            StridedConvBranch(3, [ndf] + [2 * ndf] * 3, (image_size, image_size // 2), features, batch_norm=False)
            if local
            else None
        )
        self.fc = nn.Linear((3 if local else 1) * features, 1)

    def forward(self, image: Tensor) -> Tensor:
        """One real/fake logit per image."""
        parts = [self.global_branch(image)]
        if self.local_branch is not None:
            half = image.shape[-1] // 2
            parts += [self.local_branch(image[..., :half]), self.local_branch(image[..., -half:].flip(-1))]
        return self.fc(torch.cat(parts, dim=1)).squeeze(1)


#: The family as weight files name it (``arch``), with its presets and training objective.
FAMILY = register_family(
    Family(
        "outpaint",
        OutpaintConfig,
        OutpaintGenerator,
        PRESETS,
        objective="outpaint",
        tiny=OutpaintConfig(width=4, prefill="telea", residual=True),
    )
)

register_models(
    ModelSpec(
        "outpaint",
        "learned",
        "Image outpainting generator (Sabini & Rusak 2018), paper widths",
        "Apache-2.0",
        arch="outpaint",
        config=PRESETS["outpaint"],
    ),
    ModelSpec(
        "outpaint-small",
        "learned",
        "Outpainting generator at a quarter of the widths, correcting a Telea fill, trained here",
        TRAINED_HERE,
        arch="outpaint",
        config=PRESETS["outpaint-small"],
        bundled="outpaint-small.safetensors",
        recipe="configs/outpaint-small-cpu-refine.yaml",
    ),
)
