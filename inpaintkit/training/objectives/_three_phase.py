"""The three-phase GAN schedule GLCIC and image outpainting share.

Both papers (Iizuka et al. 2017, Sec. 3.3; Sabini & Rusak 2018) train in three phases, chosen by
the name of the trainer's current phase:

* ``completion``: the generator with the reconstruction loss only (``mse``);
* ``discriminator``: the discriminator only, on real images and the generator's current outputs;
* ``joint``: both; the generator adds ``alpha * adversarial``.

Losses (the same in both papers up to what the discriminator looks at; functions of
:mod:`inpaintkit.losses`):

* ``mse``: mean squared error over the hole pixels (all channels), i.e. ``sum(M * (G - x)^2) /
  (3 * sum(M))`` (:func:`~inpaintkit.losses.masked_mse`);
* generator ``adversarial``: ``alpha * mean(-log D(fake))`` (the non-saturating form; outpainting
  states it, GLCIC writes the minimax objective, whose generator term saturates):
  :func:`~inpaintkit.losses.generator_adversarial_loss`;
* discriminator ``adversarial``: ``mean(-log D(real) - log(1 - D(fake)))``, not weighted by alpha:
  :func:`~inpaintkit.losses.discriminator_adversarial_loss`.

Both networks' terms are computed on the generator output the trainer makes once per step (see
:mod:`inpaintkit.training.objectives`); the discriminator sees it detached. The discriminator's
parameters are frozen during the generator's adversarial term.
"""

from __future__ import annotations

import abc

import torch.nn as nn
from torch import Tensor

from ...losses import discriminator_adversarial_loss, generator_adversarial_loss, masked_mse
from ._base import GanObjective, frozen

#: Phase names, in the papers' order (18 : 2 : 80 of the iterations).
PHASES = ("completion", "discriminator", "joint")


class ThreePhaseObjective(GanObjective):
    """A generator, a discriminator and the three phases; subclasses say what D sees.

    Subclasses set ``self.generator``, ``self.discriminator``, ``self.alpha`` and ``method`` and
    implement :meth:`discriminate` (and :meth:`fake_image` when D should not see the raw output).
    """

    generator: nn.Module
    discriminator: nn.Module
    alpha: float
    phases = PHASES

    @abc.abstractmethod
    def discriminate(self, images: Tensor, mask: Tensor) -> Tensor:
        """Real/fake logits ``(B,)`` of ``images`` (``mask`` locates the generated area)."""

    def fake_image(self, pred: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        """What the discriminator sees of the generator's output (default: the raw output)."""
        return pred

    def generator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``mse`` (and ``alpha * adversarial`` in ``joint``); nothing in ``discriminator``."""
        if phase == "discriminator":
            return {}
        image, mask = batch["image"], batch["mask"]
        terms = {"mse": masked_mse(output, image, mask)}
        if phase == "joint":
            fake = self.fake_image(output, image, mask)
            with frozen(self.discriminator):
                terms["adversarial"] = self.alpha * generator_adversarial_loss(self.discriminate(fake, mask))
        return terms

    def discriminator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``adversarial`` in ``discriminator`` and ``joint``; nothing in ``completion``."""
        if phase == "completion":
            return {}
        image, mask = batch["image"], batch["mask"]
        real_logits = self.discriminate(image, mask)
        fake_logits = self.discriminate(self.fake_image(output, image, mask), mask)
        return {"adversarial": discriminator_adversarial_loss(real_logits, fake_logits)}
