"""Exponential moving average of a network's weights (used to validate and export the generator).

Averaging the weights leaves the batch-norm statistics behind: the average's buffers are the live
network's running statistics, measured for other weights (and, at small CPU batches, over a handful
of samples). :func:`recalibrate_batchnorm` measures them again for the averaged weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn as nn


class EMA:
    """A frozen copy of ``model`` whose parameters follow ``p_ema <- d * p_ema + (1 - d) * p``.

    ``d = min(decay, (1 + n) / (10 + n))`` at the ``n``-th update: the warm-up keeps the average from
    being dominated by the random initial weights early in a run (short CPU runs validate it after
    a few hundred steps). Buffers (batch-norm statistics) are copied as they are. The copy lives in
    eval mode.

    Args:
        model: the network to average (its current weights start the average).
        decay: the largest weight of the old average per update, in ``[0, 1)``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, n: int) -> float:
        """The weight of the old average at the ``n``-th update (0-based)."""
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module, n: int) -> None:
        """Move the average towards ``model``'s current weights; ``n`` = updates done so far."""
        weight = 1.0 - self.decay_at(n)
        current = dict(model.named_parameters())
        for name, average in self.module.named_parameters():
            average.lerp_(current[name].detach().to(average.dtype), weight)
        current_buffers = dict(model.named_buffers())
        for name, buffer in self.module.named_buffers():
            buffer.copy_(current_buffers[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights (parameters and buffers)."""
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.module.load_state_dict(state)


@torch.no_grad()
def recalibrate_batchnorm(
    net: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    forward: Callable[[nn.Module, dict[str, torch.Tensor]], object],
) -> bool:
    """Replace the running statistics of ``net``'s batch-norm layers by their means over ``batches``.

    Each layer's ``running_mean`` / ``running_var`` become the plain average of its batch statistics
    over the batches (``momentum=None``), computed in train mode; the layers' momenta, ``net``'s
    mode and the random number generators are left as they were.

    Args:
        net: the network (an EMA copy; its parameters are not touched).
        batches: training batches to measure on.
        forward: runs ``net`` on one batch (the same call as inference).

    Returns:
        Whether ``net`` has batch-norm layers (False: nothing was done).
    """
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not layers:
        return False
    momenta = [layer.momentum for layer in layers]
    was_training = net.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    net.train()
    try:
        with torch.random.fork_rng(devices=[]):
            for batch in batches:
                forward(net, batch)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        net.train(was_training)
    return True
