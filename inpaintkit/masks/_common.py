"""Plumbing shared by the mask modules: the generator protocol and argument checks."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..types import InputError


class MaskGenerator(Protocol):
    """Anything that draws one random mask: ``gen(height, width, rng) -> (H, W) float32 {0, 1}``."""

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray: ...


def check_canvas(height: int, width: int) -> None:
    """Raise :class:`InputError` unless ``height`` and ``width`` are positive integers."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"mask {name} must be a positive integer, got {value!r}")


def check_count_range(what: str, low: int, high: int, minimum: int = 0) -> None:
    """Raise :class:`InputError` unless ``minimum <= low <= high`` (an inclusive integer range)."""
    if not minimum <= low <= high:
        raise InputError(f"{what} must satisfy {minimum} <= min <= max, got {low}..{high}")


def check_positive(**values: int) -> None:
    """Raise :class:`InputError` naming the first argument that is not >= 1."""
    for name, value in values.items():
        if value < 1:
            raise InputError(f"{name} must be >= 1, got {value}")
