"""Training objectives: one per method, each holding that method's networks and computing its losses.

The trainer knows nothing method-specific. It builds an objective with
``OBJECTIVES[config.method](config.model, config.objective)``, gives every network of
:meth:`Objective.trainable` its own optimizer, and for each step of a phase calls
:meth:`Objective.losses` once per network the phase trains (in the phase's order, on the same
batch), sums the returned terms, backpropagates, clips and steps that network's optimizer; then it
calls :meth:`Objective.end_step`. An empty dict of terms means "nothing to update for this network
in this step" (e.g. LaMa's discriminator when the adversarial weight is 0).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch.nn as nn
from torch import Tensor

from ...types import InputError
from ..config import generator_config


class Objective(nn.Module, abc.ABC):
    """Holds every network of a method as submodules; computes named, already-weighted losses.

    Attributes:
        generator_name: the network whose EMA and weights are exported.
    """

    generator_name: str = "generator"

    @abc.abstractmethod
    def trainable(self) -> dict[str, nn.Module]:
        """The networks to optimise by name, e.g. ``{"generator": G, "discriminator": D}``."""

    @abc.abstractmethod
    def losses(self, net: str, batch: dict[str, Tensor], phase: str) -> dict[str, Tensor]:
        """Named, weighted loss terms for updating network ``net`` in phase ``phase``.

        Args:
            net: a key of :meth:`trainable`.
            batch: ``{"image": (B,3,H,W) in [0,1], "mask": (B,1,H,W) in {0,1}, 1 = hole}``.
            phase: name of the current phase of the schedule.

        Returns:
            Scalar tensors whose sum is minimised (empty: no update for ``net`` this step).
        """

    def end_step(self) -> None:
        """Drop anything cached between the :meth:`losses` calls of one step."""

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


# Imported here, not at the top: these modules subclass Objective, defined above.
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


from .glcic import build_glcic_objective
from .lama import build_lama_objective
from .neural_patch import build_content_objective
from .outpaint import build_outpaint_objective
from .pdgan import build_pdgan_objective

#: Objective builders by method name: ``builder(model_config, objective_section) -> Objective``.
OBJECTIVES: dict[str, Callable[[Any, Mapping[str, Any]], Objective]] = {
    "lama": build_lama_objective,
    "glcic": build_glcic_objective,
    "outpaint": build_outpaint_objective,
    "neural-patch-content": build_content_objective,
    "pdgan": build_pdgan_objective,
}

__all__ = ["OBJECTIVES", "Objective"]
