"""The order of training samples as a pure function of (seed, step): exact resume, sharding by rank.

The stream of sample keys is the concatenation of one permutation of the dataset per epoch,
``default_rng([seed, epoch]).permutation(n)``. Step ``s`` consumes the next ``batch_size *
world_size`` keys; rank ``r`` takes its contiguous share. Resuming at step ``s`` therefore skips the
consumed samples exactly, and ``world_size`` processes with batch ``b`` see the same samples as one
process with batch ``world_size * b``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from ..types import InputError


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Endless batch sampler yielding lists of ``(epoch, index)`` keys from ``start_step`` on.

    Args:
        num_items: dataset size.
        batch_size: samples per step and process.
        seed: seed of the per-epoch permutations.
        start_step: first step to yield (steps before it are skipped without cost).
        rank: this process's rank.
        world_size: number of processes sharing each step.
    """

    def __init__(
        self, num_items: int, batch_size: int, seed: int = 0, start_step: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        if num_items < 1 or batch_size < 1 or start_step < 0 or not 0 <= rank < world_size:
            raise InputError(
                f"StepBatchSampler needs num_items, batch_size >= 1, start_step >= 0 and 0 <= rank < world_size, "
                f"got {num_items}, {batch_size}, {start_step}, {rank}, {world_size}"
            )
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_step, self.rank, self.world_size = start_step, rank, world_size
        self._cache: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of the dataset in ``epoch``."""
        if epoch not in self._cache:
            if len(self._cache) > 2:
                self._cache.clear()
            self._cache[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.num_items)
        return self._cache[epoch]

    def batch(self, step: int) -> list[tuple[int, int]]:
        """The keys this rank reads at ``step``."""
        first = (step * self.world_size + self.rank) * self.batch_size
        keys = []
        for position in range(first, first + self.batch_size):
            epoch, offset = divmod(position, self.num_items)
            keys.append((epoch, int(self.permutation(epoch)[offset])))
        return keys

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1
