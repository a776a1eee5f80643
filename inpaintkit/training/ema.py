"""Exponential moving average of a network's weights (used to validate and export the generator)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
import torch.nn as nn


class EMA:
    """A frozen copy of ``model`` whose parameters follow ``p_ema <- decay * p_ema + (1 - decay) * p``.

    Buffers (batch-norm statistics) are copied as they are. The copy lives in eval mode.

    Args:
        model: the network to average (its current weights start the average).
        decay: weight of the old average per update, in ``[0, 1)``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step towards ``model``'s current weights."""
        current = dict(model.named_parameters())
        for name, average in self.module.named_parameters():
            average.lerp_(current[name].detach().to(average.dtype), 1.0 - self.decay)
        current_buffers = dict(model.named_buffers())
        for name, buffer in self.module.named_buffers():
            buffer.copy_(current_buffers[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights (parameters and buffers)."""
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.module.load_state_dict(state)
