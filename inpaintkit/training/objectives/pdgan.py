"""PD-GAN's training objective (Liu et al., CVPR 2021, arXiv:2105.02201, Sec. 3.3).

Reference: https://github.com/KumapowerLIU/PD-GAN (MIT), ``models/PDGAN.py``. Every step draws two
noise vectors per image and completes the image twice with the same prior ``P`` (computed once per
batch by the frozen prior network). With ``out_1``, ``out_2`` the two raw outputs and ``M`` the hole:

* ``diversity * 1 / (sum_l mean|F_l(out_1) * M - F_l(out_2) * M| + eps)`` over the layers ``l`` from
  ``diversity_skip`` on (paper: all);
* ``adversarial *`` hinge generator loss, ``feature_matching *`` L1 discriminator feature matching,
  ``perceptual * sum_l mean|F_l(out_k) - F_l(image)|`` and ``tv *`` total variation of the
  completion ``M * out_k + (1 - M) * image`` over the hole: each summed over the two samples ``k``
  (the authors' code adds the terms of both samples);
* discriminator: hinge loss on ``[mask, image]``, real once per sample, not weighted.

See :mod:`inpaintkit.losses.pdgan` for the terms. ``F`` is the feature space ``features``:
``vgg19`` (the paper; ``relu1_1`` ... ``relu5_1``, its weights must be present or downloadable, else
building the objective stops with a message naming the file and the alternatives) or ``pyramid``
(:class:`~inpaintkit.losses.pdgan.GradientPyramid`: pixels and gradients at 4 scales, no download;
not the paper's perceptual space). The choice is logged.

The noise comes from torch's default generator, which the trainer seeds with ``run.seed`` and
stores in every checkpoint, so ``--resume`` draws the same noise. :meth:`PdganObjective.generate`
draws the two completions once per step and both networks' terms use them (the discriminator's
detached), as the authors' code does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ...losses import hinge_discriminator_loss, hinge_generator_loss, load_backbone, mean_over_scales
from ...losses.pdgan import (
    GradientPyramid,
    ScaleOutput,
    diversity_loss,
    feature_l1,
    hole_tv_loss,
    l1_feature_matching,
)
from ...losses.perceptual import as_feature_list
from ...models import pdgan
from ...types import InpaintKitError, InputError, UnknownModelError, WeightsError
from ..config import ModelConfig, parse_section
from ._base import GanObjective, check_non_negative, frozen, generator_for

log = logging.getLogger(__name__)

#: Feature spaces of the diversity and perceptual terms.
FEATURE_SPACES = {
    "vgg19": "VGG-19 relu1_1 ... relu5_1 (ImageNet weights)",
    "pyramid": "the pixel/gradient pyramid (4 scales, no pretrained weights; not the paper's VGG-19)",
}
#: Noise samples per image and step.
SAMPLES = 2


@dataclass
class PdganLossConfig:
    """The ``objective:`` section of a PD-GAN recipe. Defaults = the paper.

    Attributes:
        diversity: weight of the perceptual diversity loss.
        diversity_eps: the ``eps`` of that loss.
        diversity_skip: the diversity loss ignores the first this many feature maps (the finest;
            paper: 0). In the pixel/gradient pyramid, differences at full and half size are cheapest
            to make with noise; skipping those two levels leaves only differences that survive 4x4
            averaging (colour and layout).
        adversarial: hinge adversarial loss of the generator.
        feature_matching: L1 discriminator feature matching.
        perceptual: L1 perceptual reconstruction loss.
        tv: total variation over the hole.
        features: feature space of the diversity and perceptual terms: ``vgg19`` or ``pyramid``.
        vgg_weights: local VGG-19 file ("" = the registered download).
        discriminator_ndf: width of each discriminator scale's first layer (paper: 64).
        discriminator_layers: convolutions before each scale's logit layer (paper: 4).
        discriminator_scales: scales of the discriminator (paper: 2).
    """

    diversity: float = 1.0
    diversity_eps: float = 1e-5
    diversity_skip: int = 0
    adversarial: float = 1.0
    feature_matching: float = 10.0
    perceptual: float = 10.0
    tv: float = 0.1
    features: str = "vgg19"
    vgg_weights: str = ""
    discriminator_ndf: int = 64
    discriminator_layers: int = 4
    discriminator_scales: int = 2

    def __post_init__(self) -> None:
        check_non_negative(self)
        if self.features not in FEATURE_SPACES:
            raise InputError(f"objective.features must be one of {', '.join(FEATURE_SPACES)}, got {self.features!r}")
        if min(self.discriminator_ndf, self.discriminator_layers, self.discriminator_scales) < 1:
            raise InputError("objective.discriminator_ndf, discriminator_layers and discriminator_scales must be >= 1")
        if not self.diversity_eps > 0:
            raise InputError(f"objective.diversity_eps must be > 0, got {self.diversity_eps}")


class PdganObjective(GanObjective):
    """PD-GAN's generator (with its frozen prior) and multi-scale discriminator with their losses.

    Args:
        generator_config: size of the generator.
        config: loss weights and discriminator size.
        prior: the frozen inpainting network that gives ``P`` (attached to the generator).
        features: the feature space: ``[0,1]`` images -> a list or dict of feature maps.
    """

    method = "pdgan"

    def __init__(
        self, generator_config: pdgan.PdganConfig, config: PdganLossConfig, *, prior: nn.Module, features: nn.Module
    ) -> None:
        super().__init__()
        self.config = config
        self.generator = pdgan.PdganGenerator(generator_config).attach_prior(prior)
        self.discriminator = pdgan.PdganDiscriminator(
            config.discriminator_ndf, config.discriminator_layers, config.discriminator_scales
        )
        self.features = features.eval().requires_grad_(False)

    def generate(self, batch: dict[str, Tensor]) -> Tensor:
        """Two completions per image (:meth:`sample_pair`), ``(2B, 3, H, W)``."""
        return self.sample_pair(batch["image"], batch["mask"])

    def sample_pair(self, image: Tensor, mask: Tensor) -> Tensor:
        """Two completions per image: ``(2B, 3, H, W)``, the first B from one noise draw, the rest from another."""
        prior = self.generator.prior_image(image, mask)
        noise = self.generator.sample_noise(SAMPLES * image.shape[0], device=image.device)  # trainer-seeded RNG
        return self.generator.synthesize(noise, prior.repeat(SAMPLES, 1, 1, 1), mask.repeat(SAMPLES, 1, 1, 1))

    def _features(self, image: Tensor) -> list[Tensor]:
        return as_feature_list(self.features(image))

    def generator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``diversity``, ``adversarial``, ``feature_matching``, ``perceptual``, ``tv`` (zero-weight terms
        left out) on the two completions ``output``; every phase alike."""
        c, image, mask, out = self.config, batch["image"], batch["mask"], output
        masks, images = mask.repeat(SAMPLES, 1, 1, 1), image.repeat(SAMPLES, 1, 1, 1)
        terms: dict[str, Tensor] = {}
        if c.adversarial > 0 or c.feature_matching > 0:
            with frozen(self.discriminator):
                fake = self.discriminator(out, masks)
                real = self.discriminator(images, masks) if c.feature_matching > 0 else []
            if c.adversarial > 0:
                terms["adversarial"] = c.adversarial * SAMPLES * mean_over_scales(hinge_generator_loss, _logits(fake))
            if c.feature_matching > 0:
                terms["feature_matching"] = c.feature_matching * SAMPLES * l1_feature_matching(fake, real)
        if c.perceptual > 0 or c.diversity > 0:
            out_features = self._features(out)
            if c.perceptual > 0:
                with torch.no_grad():
                    target = [f.repeat(SAMPLES, 1, 1, 1) for f in self._features(image)]
                terms["perceptual"] = c.perceptual * SAMPLES * feature_l1(out_features, target)
            if c.diversity > 0:
                if c.diversity_skip >= len(out_features):
                    raise InputError(
                        f"objective.diversity_skip={c.diversity_skip} leaves none of the feature "
                        f"space's {len(out_features)} maps for the diversity loss"
                    )
                halves = [f.chunk(SAMPLES) for f in out_features[c.diversity_skip :]]
                terms["diversity"] = c.diversity * diversity_loss(
                    [h[0] for h in halves], [h[1] for h in halves], mask, c.diversity_eps
                )
        if c.tv > 0:
            terms["tv"] = c.tv * SAMPLES * hole_tv_loss(masks * out + (1 - masks) * images, masks)
        return terms

    def discriminator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``adversarial``: the hinge loss on real images and the two detached completions ``output``."""
        image, mask = batch["image"], batch["mask"]
        real = self.discriminator(image, mask)
        fake = self.discriminator(output, mask.repeat(SAMPLES, 1, 1, 1))
        return {"adversarial": SAMPLES * mean_over_scales(hinge_discriminator_loss, _logits(real), _logits(fake))}


def _logits(scales: Sequence[ScaleOutput]) -> list[Tensor]:
    """The logits of each scale of a multi-scale discriminator's output."""
    return [logits for logits, _ in scales]


def build_pdgan_objective(model: ModelConfig, objective: Mapping[str, Any], *, progress: bool = True) -> PdganObjective:
    """Build the PD-GAN objective from a recipe's ``model`` and ``objective`` sections.

    The prior is loaded with :func:`inpaintkit.api.load_model` from ``model.overrides.prior`` /
    ``prior_weights`` (the preset's by default); the feature space as ``objective.features`` says.

    Raises:
        UnknownModelError: unknown preset or prior.
        InputError: a preset that is not a PD-GAN network, unknown key, wrong type or invalid value.
        WeightsError: the prior's weights or the VGG-19 weights are absent (the message says what to do).
    """
    from ...api import load_model  # the api pulls in every pipeline: loaded when a PD-GAN is built

    generator = generator_for(model, "pdgan", "pdgan", "PD-GAN")
    config = parse_section(PdganLossConfig, objective, "objective")
    try:
        prior, _ = load_model(generator.prior, weights=generator.prior_weights or None)
    except UnknownModelError as err:
        raise UnknownModelError(f"model.overrides.prior: {err}") from None
    except WeightsError as err:
        raise WeightsError(
            f"the PD-GAN prior {generator.prior!r} has no weights here: {err}; set "
            "--model.overrides.prior_weights=PATH, or another prior with --model.overrides.prior=NAME "
            "(e.g. telea, which needs none)"
        ) from None
    except InpaintKitError as err:
        raise InputError(f"model.overrides.prior: {err}") from None
    log.info("pdgan: prior %s; diversity and perceptual terms on %s", generator.prior, FEATURE_SPACES[config.features])
    return PdganObjective(generator, config, prior=prior, features=_feature_space(config, progress))


def _feature_space(config: PdganLossConfig, progress: bool) -> nn.Module:
    if config.features == "pyramid":
        return GradientPyramid()
    try:
        return load_backbone("vgg19", config.vgg_weights or None, progress=progress)
    except WeightsError as err:
        raise WeightsError(
            f"objective.features=vgg19 needs the pretrained VGG-19 weights: {err}; or set "
            "--objective.vgg_weights=PATH to a local copy, or use the download-free pixel/gradient "
            "pyramid with --objective.features=pyramid (not the paper's feature space)"
        ) from None
