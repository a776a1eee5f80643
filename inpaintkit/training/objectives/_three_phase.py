"""The three-phase GAN schedule GLCIC and image outpainting share.

Both papers (Iizuka et al. 2017, Sec. 3.3; Sabini & Rusak 2018) train in three phases, chosen by
the name of the trainer's current phase:

* ``completion``: the generator with the reconstruction loss only (``mse``);
* ``discriminator``: the discriminator only, on real images and the generator's current outputs;
* ``joint``: both; the generator adds ``alpha * adversarial``.

Losses (the same in both papers up to what the discriminator looks at):

* ``mse``: mean squared error over the hole pixels (all channels), i.e. ``sum(M * (G - x)^2) /
  (3 * sum(M))``;
* generator ``adversarial``: ``alpha * mean(-log D(fake))`` (the non-saturating form; outpainting
  states it, GLCIC writes the minimax objective, whose generator term saturates);
* discriminator ``adversarial``: ``mean(-log D(real) - log(1 - D(fake)))``, not weighted by alpha.

The discriminator step reuses the generator's output of the same batch when the generator stepped
first (cached until :meth:`ThreePhaseObjective.end_step`); otherwise it runs the generator without
gradients. The discriminator's parameters are frozen during the generator's adversarial term.
"""

from __future__ import annotations

import abc

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...types import InputError
from . import Objective, frozen

#: Phase names, in the papers' order (18 : 2 : 80 of the iterations).
PHASES = ("completion", "discriminator", "joint")


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the hole pixels and every channel (0 when there is no hole).

    Shape: pred, target ``(B, C, H, W)``, mask ``(B, 1, H, W)`` in {0, 1} -> scalar.
    """
    squared = (pred - target).pow(2) * mask
    count = mask.sum() * pred.shape[1]
    return squared.sum() / count.clamp(min=1)


class ThreePhaseObjective(Objective):
    """A generator, a discriminator and the three phases; subclasses say what D sees.

    Subclasses set ``self.generator``, ``self.discriminator`` and ``self.alpha`` and implement
    :meth:`discriminate` (and :meth:`fake_image` when D should not see the raw output).
    """

    generator: nn.Module
    discriminator: nn.Module
    alpha: float
    method: str = ""

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple[Tensor, Tensor, Tensor] | None = None

    def trainable(self) -> dict[str, nn.Module]:
        """``{"generator": ..., "discriminator": ...}``."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    @abc.abstractmethod
    def discriminate(self, images: Tensor, mask: Tensor) -> Tensor:
        """Real/fake logits ``(B,)`` of ``images`` (``mask`` locates the generated area)."""

    def fake_image(self, pred: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        """What the discriminator sees of the generator's output (default: the raw output)."""
        return pred

    def losses(self, net: str, batch: dict[str, Tensor], phase: str) -> dict[str, Tensor]:
        """Weighted terms for ``net`` in ``phase`` (see the module docstring).

        Returns:
            generator: ``mse`` (and ``adversarial`` in ``joint``), nothing in ``discriminator``;
            discriminator: ``adversarial`` in ``discriminator`` and ``joint``, nothing in ``completion``.

        Raises:
            InputError: an unknown phase or network name.
        """
        if phase not in PHASES:
            raise InputError(f"the {self.method} objective has phases {', '.join(PHASES)}; got {phase!r}")
        image, mask = batch["image"], batch["mask"]
        if net == "generator":
            return {} if phase == "discriminator" else self._generator_terms(image, mask, adversarial=phase == "joint")
        if net == "discriminator":
            return {} if phase == "completion" else self._discriminator_terms(image, mask)
        raise InputError(f"the {self.method} objective trains 'generator' and 'discriminator', not {net!r}")

    def end_step(self) -> None:
        """Forget the cached output."""
        self._cache = None

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """The generator's raw output ``(B, 3, H, W)`` in [0, 1]."""
        return self.generator(image, mask)

    def _generator_terms(self, image: Tensor, mask: Tensor, adversarial: bool) -> dict[str, Tensor]:
        pred = self.generator(image, mask)
        fake = self.fake_image(pred, image, mask)
        self._cache = (image, mask, fake)
        terms = {"mse": masked_mse(pred, image, mask)}
        if adversarial:
            with frozen(self.discriminator):
                terms["adversarial"] = self.alpha * F.softplus(-self.discriminate(fake, mask)).mean()
        return terms

    def _discriminator_terms(self, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        if self._cache is not None and self._cache[0] is image and self._cache[1] is mask:
            fake = self._cache[2].detach()
        else:  # the generator did not step on this batch (the discriminator phase, or D first)
            with torch.no_grad():
                fake = self.fake_image(self.generator(image, mask), image, mask)
        real_logits = self.discriminate(image, mask)
        fake_logits = self.discriminate(fake, mask)
        return {"adversarial": F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()}
