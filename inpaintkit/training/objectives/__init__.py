"""Training objectives: one per method, each holding that method's networks and computing its losses.

The trainer knows nothing method-specific. It builds an objective with
``OBJECTIVES[config.method](config.model, config.objective)`` and gives every network of
:meth:`Objective.trainable` its own optimizer. Each step it calls :meth:`Objective.generate` once
(with gradients when the phase trains the generator), then :meth:`Objective.losses` once per network
the phase trains, in the phase's order, on the same batch and that same output: as it is for the
generator, detached for every other network. It sums the returned terms, backpropagates, clips and
steps that network's optimizer. An empty dict of terms means "nothing to update for this network in
this step" (e.g. LaMa's discriminator when the adversarial weight is 0). Nothing is kept between
the calls: no objective caches the generator's output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._base import GanObjective, Objective
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

__all__ = ["OBJECTIVES", "GanObjective", "Objective"]
