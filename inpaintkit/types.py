"""Conventions shared by the whole library, the checks that enforce them, and result types.

Every model, loss and metric works on:

* image: float tensor ``(B, 3, H, W)`` with values in ``[0, 1]``;
* mask:  float tensor ``(B, 1, H, W)`` with values in ``{0, 1}``, **1 = hole** (pixels to fill).

Data is checked once where it enters the library (pipelines, CLI, web); models convert to their own
internal convention (mean fill, ``[-1, 1]``, 1 = known ...) inside their own code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the checks that need it: the errors stay light to import
    import numpy as np
    import torch


#: The precisions a learned model may run in on the CPU (:func:`inpaintkit.optimize.optimize_for_inference`);
#: ``auto`` picks one per CPU and model (:func:`inpaintkit.optimize.auto_precision`).
PRECISIONS = ("auto", "fp32", "bf16", "int8")

#: The sides of a picture, in the order every API takes them (outpainting pads, canvas masks).
SIDES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class SizeRule:
    """The input sizes a model takes.

    Attributes:
        multiple: H and W must be multiples of this (the pipeline pads).
        minimum: H and W must be at least this after padding (the pipeline pads).
        fixed: the side of the only square size the model takes (the pipeline resizes regions to
            it and back), or ``None`` for any size.
    """

    multiple: int = 1
    minimum: int = 0
    fixed: int | None = None

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.minimum < 0 or (self.fixed is not None and self.fixed < 1):
            raise ValueError(f"SizeRule: multiple >= 1, minimum >= 0 and fixed >= 1 or None, got {self}")


class InpaintKitError(Exception):
    """Base class of every error meant for the user: the message is one readable line."""


class InputError(InpaintKitError, ValueError):
    """A bad image, mask or argument given by the user."""


class RegionTooLarge(InputError):
    """A model run, or a post-processing step, would work on more pixels in one piece than a
    pipeline's ``max_run_pixels`` allows; raised before anything is allocated.

    Attributes:
        subject: what would run on what, e.g. ``"lama-small would run on a 4000x3000 region in one
            piece (12,000,000 pixels)"``.
        limit: the limit that applies to it.
        advice: what to send instead.
        max_run_pixels: the pipeline's ``max_run_pixels`` (the post-processing limit is a multiple).
    """

    def __init__(self, subject: str, limit: int, advice: str, max_run_pixels: int) -> None:
        super().__init__(f"{subject}, more than the limit of {limit:,} (max_run_pixels): use {advice}")
        self.subject, self.limit, self.advice, self.max_run_pixels = subject, limit, advice, max_run_pixels


class WeightsError(InpaintKitError):
    """Weights are missing, corrupt, of the wrong checksum or of an unknown format."""


class UnknownModelError(InpaintKitError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Cancelled(InpaintKitError):
    """A call stopped at a unit boundary because its :class:`Job` was cancelled."""

    def __init__(self, message: str = "cancelled by the user") -> None:
        super().__init__(message)


_ACTIVE_JOB: ContextVar[Job | None] = ContextVar("inpaintkit_job", default=None)


def active_job() -> Job | None:
    """The :class:`Job` of the pipeline call running in this thread (``None`` outside one), for the
    model code deeper in the call (neural-patch's optimisation loop), whose ``forward`` takes tensors only."""
    return _ACTIVE_JOB.get()


class Job:
    """Progress and cancellation of one long call: the caller reads and cancels, the library reports.

    A pipeline wraps each loop of units of work (crops, outpainting steps, samples, optimisation
    iterations) in :meth:`units` and calls :meth:`advance` after each unit; loops nest (the crops
    of each sample, the iterations of each crop), and :attr:`done` / :attr:`total` count the
    innermost units over the whole call. :meth:`cancel` (from any thread) makes the call raise
    :class:`Cancelled` at its next unit boundary: when a loop starts, and between units; a call
    whose last unit has finished returns its result.

    Args:
        on_progress: called with ``(done, total)`` after each unit, in the working thread.
    """

    def __init__(self, on_progress: Callable[[int, int], None] | None = None) -> None:
        self.on_progress = on_progress
        self._levels: list[list[int]] = []  # [done, total, innermost units per unit] per open loop
        self._reported = (0, 0)
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Ask the call to stop at its next unit boundary (thread-safe)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    @property
    def done(self) -> int:
        """Innermost units of work finished so far."""
        return self.progress()[0]

    @property
    def total(self) -> int:
        """Innermost units of work of the whole call (0 until its first loop starts)."""
        return self.progress()[1]

    def progress(self) -> tuple[int, int]:
        """``(done, total)`` read together (thread-safe)."""
        with self._lock:
            return self._reported

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled."""
        if self.cancelled:
            raise Cancelled()

    @contextmanager
    def units(self, total: int) -> Iterator[Job]:
        """A loop of ``total`` units inside the current unit of the enclosing loop, if any; the job is
        :func:`active_job` in its body. Raises :class:`Cancelled` first if the job was cancelled."""
        self.check()
        with self._lock:
            self._levels.append([0, total, 1])
            self._count()
        token = _ACTIVE_JOB.set(self)
        try:
            yield self
        finally:
            _ACTIVE_JOB.reset(token)
            with self._lock:
                self._levels.pop()

    def advance(self, units: int = 1) -> None:
        """Count ``units`` finished units of the innermost open loop, report, and raise
        :class:`Cancelled` if the job was cancelled and that loop has units left."""
        with self._lock:
            level = self._levels[-1]
            level[0] = min(level[0] + units, level[1])
            left = level[0] < level[1]
            changed = self._count()
        if changed and self.on_progress is not None:
            self.on_progress(*self._reported)
        if left:
            self.check()

    def _count(self) -> bool:
        """Flatten the open loops into ``(done, total)``; whether that changed (call under the lock)."""
        for outer, inner in zip(self._levels[-2::-1], self._levels[:0:-1]):
            outer[2] = inner[1] * inner[2]  # innermost units in one unit of ``outer``
        done = sum(level[0] * level[2] for level in self._levels)
        reported, self._reported = self._reported, (done, self._levels[0][1] * self._levels[0][2])
        return reported != self._reported


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` that can run a model here, or an :class:`InputError` saying why not."""
    import torch

    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(
            f"unknown device {str(device)!r}; use cpu, cuda or cuda:N (a GPU build of torch), or mps"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"device {str(device)!r}: this torch build has no CUDA support or sees no GPU; use --device cpu"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InputError(f"device {str(device)!r}: only {torch.cuda.device_count()} GPU(s) visible")
    elif resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"device {str(device)!r}: Apple's MPS backend is not available here; use --device cpu")
    elif resolved.type != "cpu":
        raise InputError(f"device {str(device)!r} cannot run a model here; use cpu, cuda or mps")
    return resolved


def check_image(image: torch.Tensor, name: str = "image") -> None:
    """Raise :class:`InputError` unless ``image`` is a float ``(B,3,H,W)`` tensor in ``[0,1]``."""
    import torch

    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B,3,H,W), got {type(image).__name__}")
    if image.ndim != 4 or image.shape[1] != 3:
        raise InputError(f"{name} must have shape (B,3,H,W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise InputError(f"{name} must be a float tensor (B,3,H,W) in [0,1], got dtype {image.dtype}")
    low, high = (float(image.min()), float(image.max())) if image.numel() else (0.0, 0.0)
    if not (0.0 <= low and high <= 1.0):  # also catches NaN, which min and max pass on
        raise InputError(f"{name} (B,3,H,W) must lie in [0,1] (no NaN), got range [{low:.3g}, {high:.3g}]")


def check_mask(mask: torch.Tensor, image: torch.Tensor | None = None, name: str = "mask") -> None:
    """Raise :class:`InputError` unless ``mask`` is a ``(B,1,H,W)`` tensor of zeros and ones.

    When ``image`` is given, batch size and spatial size must match it.
    """
    import torch

    if not isinstance(mask, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B,1,H,W), got {type(mask).__name__}")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(f"{name} must have shape (B,1,H,W), got {tuple(mask.shape)}")
    if mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
        raise InputError(f"{name} (B,1,H,W) must contain only 0 and 1 (1 = hole)")
    if image is not None:
        b, _, h, w = image.shape
        if mask.shape[0] != b or mask.shape[2:] != image.shape[2:]:
            raise InputError(f"{name} must have shape ({b},1,{h},{w}) to match the image, got {tuple(mask.shape)}")


@dataclass
class InpaintResult:
    """What an inpainting pipeline returns.

    Attributes:
        image: the completed picture in the caller's format (PIL image, numpy array or tensor, as
            given); known pixels are bit-exact copies of the input.
        mask: the hole that was filled, ``(H, W)`` bool (after any dilation).
        model: registry name (or file) of the model used.
        strategy: the HD strategy that ran (``original``, ``resize`` or ``crop``).
        seconds: wall time of the call.
        warnings: anything the caller should know (empty mask, alpha ignored, ...).
    """

    image: object
    mask: np.ndarray
    model: str
    strategy: str
    seconds: float
    warnings: list[str] = field(default_factory=list)
