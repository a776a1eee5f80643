"""The objective interface every method implements, and helpers the objectives share (see the package docstring)."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch.nn as nn
from torch import Tensor

from ...types import InputError
from ..config import generator_config


class Objective(nn.Module, abc.ABC):
    """Holds every network of a method as submodules; computes named, already-weighted losses.

    Attributes:
        generator_name: the network whose output :meth:`generate` makes, and whose EMA and weights
            are exported.
    """

    generator_name: str = "generator"

    @abc.abstractmethod
    def trainable(self) -> dict[str, nn.Module]:
        """The networks to optimise by name, e.g. ``{"generator": G, "discriminator": D}``."""

    def generate(self, batch: dict[str, Tensor]) -> Tensor:
        """The generator's output that this step's losses are computed on (default: :meth:`predict`).

        Args:
            batch: ``{"image": (B,3,H,W) in [0,1], "mask": (B,1,H,W) in {0,1}, 1 = hole}``.

        Returns:
            The raw output, e.g. ``(B,3,H,W)`` (PD-GAN: two samples per image, ``(2B,3,H,W)``).
        """
        return self.predict(batch["image"], batch["mask"])

    @abc.abstractmethod
    def losses(self, net: str, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """Named, weighted loss terms for updating network ``net`` in phase ``phase``.

        Args:
            net: a key of :meth:`trainable`.
            batch: as for :meth:`generate`.
            output: ``generate(batch)`` of this step: with its graph for the generator, detached for
                any other network (the trainer detaches it).
            phase: name of the current phase of the schedule.

        Returns:
            Scalar tensors whose sum is minimised (empty: no update for ``net`` this step).
        """

    @abc.abstractmethod
    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """The generator's raw output ``(B,3,H,W)`` in ``[0,1]`` (not composited)."""


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Within the block, ``module``'s parameters do not require gradients (restored afterwards).

    For a generator's adversarial term: gradients flow through the discriminator to the generator
    without being accumulated in the discriminator's parameters.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def check_non_negative(section: Any) -> None:
    """Require every number of an ``objective:`` section (a dataclass) to be >= 0.

    Raises:
        InputError: naming the first negative (or NaN) field, e.g. ``objective.r1 must be >= 0, got -1``.
    """
    for item in dataclasses.fields(section):
        value = getattr(section, item.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not value >= 0:
            raise InputError(f"objective.{item.name} must be >= 0, got {value}")


class GanObjective(Objective):
    """A ``generator`` and a ``discriminator``: the networks, :meth:`predict` and the dispatch of :meth:`losses`.

    Subclasses set ``self.generator`` and ``self.discriminator`` and implement
    :meth:`generator_losses` and :meth:`discriminator_losses`.

    Attributes:
        method: the method's name in error messages.
        phases: the phase names the objective knows (empty: any name, all trained alike).
    """

    generator: nn.Module
    discriminator: nn.Module
    method: str = ""
    phases: tuple[str, ...] = ()

    def trainable(self) -> dict[str, nn.Module]:
        """``{"generator": ..., "discriminator": ...}``."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """The generator's raw output ``(B, 3, H, W)`` in [0, 1]."""
        return self.generator(image, mask)

    def losses(self, net: str, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """:meth:`generator_losses` or :meth:`discriminator_losses` (see :meth:`Objective.losses`).

        Raises:
            InputError: a phase not in :attr:`phases`, or a network other than the two.
        """
        if self.phases and phase not in self.phases:
            known = f"one phase, {self.phases[0]!r}" if len(self.phases) == 1 else f"phases {', '.join(self.phases)}"
            raise InputError(f"the {self.method} objective has {known}; got {phase!r}")
        if net == "generator":
            return self.generator_losses(batch, output, phase)
        if net == "discriminator":
            return self.discriminator_losses(batch, output, phase)
        raise InputError(f"the {self.method} objective trains 'generator' and 'discriminator', not {net!r}")

    @abc.abstractmethod
    def generator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """The generator's terms on its ``output`` (with gradients) of ``batch``."""

    @abc.abstractmethod
    def discriminator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """The discriminator's terms on real ``batch["image"]`` and the generator's detached ``output``."""


def generator_for(model: Any, arch: str, objective: str, trains: str) -> object:
    """The generator config of a recipe's ``model`` section, which must be an ``arch`` network.

    Raises:
        UnknownModelError: unknown preset.
        InputError: the preset is a network of another family than the objective ``objective`` trains.
    """
    found, generator = generator_config(model)
    if found != arch:
        raise InputError(
            f"model.preset {model.preset!r} is a {found} network; the {objective} objective trains {trains}"
        )
    return generator
