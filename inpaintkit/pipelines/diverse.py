"""``DiversePipeline``: several completions of one picture from a noise-driven generator (PD-GAN).

It is an :class:`~inpaintkit.pipelines.inpaint.InpaintPipeline` (same decoding, mask dilation and
feathering, HD strategies, compositing and result) whose model step differs, because the generator
makes ``size x size`` images only. Each region the HD strategy picks is

1. padded to a square (symmetric, bottom/right) and resized to ``size`` (bilinear; the mask by area,
   then ``> 0``, so no hole pixel is lost);
2. completed from a noise vector drawn from the call's seeded generator;
3. resized back and unpadded; the pipeline then pastes it at the hole pixels only (known pixels
   stay bit-exact).

The default strategy ``crop`` with ``hd_trigger = size`` and ``hd_margin = size // 2`` fills a crop
around each hole (with context) whenever the picture is larger than the generator, so the fill is
upsampled only by the ratio of the crop to ``size``; smaller pictures are done whole.

Seeds: sample ``i`` of seed ``s`` draws its noise from a generator seeded with
``SeedSequence([s, i])``, so it does not depend on how many samples are asked for, and the same seed
gives the same samples. A plain call is sample 0. :meth:`DiversePipeline.samples` is the
evaluation's :class:`~inpaintkit.evaluation.diversity.MultiSampleInpainter` protocol.

``inpaintkit diverse IMAGE --mask MASK -n 8 -o OUT`` (:func:`cmd_diverse`) writes
``sample_00.png`` ... and ``contact_sheet.png``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import torch
import torch.nn as nn

from ..types import InpaintResult, InputError, Job
from .inpaint import InpaintPipeline
from .processing import pad_to_multiple, resize, to_numpy, to_tensor, unpad

log = logging.getLogger(__name__)

CONTACT_SHEET = "contact_sheet.png"

#: Most samples one call draws: every sample is held in memory until the call returns.
MAX_SAMPLES = 64


@runtime_checkable
class NoiseDrivenInpainter(Protocol):
    """A generator of ``size x size`` completions driven by a noise vector (PD-GAN's generator).

    ``model(image (B,3,size,size), mask (B,1,size,size), noise (B,latent_dim)) -> (B,3,size,size)``.
    """

    size: int
    latent_dim: int

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor: ...


def sample_seed(seed: int, index: int) -> int:
    """The noise seed of sample ``index`` of ``seed``: a function of both only."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def sample_names(n: int) -> list[str]:
    """``sample_00.png`` ... for ``n`` samples (more digits past 100)."""
    digits = max(2, len(str(n - 1)))
    return [f"sample_{i:0{digits}d}.png" for i in range(n)]


class DiversePipeline(InpaintPipeline):
    """Complete a picture several times with a noise-driven generator; see the module docstring.

    Args:
        model: a :class:`NoiseDrivenInpainter` (e.g. a ``PdganGenerator`` with its prior attached).
        name: registry name or file shown in results.
        device: where the model runs.
        hd_strategy, hd_resize_limit, max_pixels, max_run_pixels: as :class:`InpaintPipeline`.
        hd_trigger: ``crop`` works on crops when the long side exceeds this (default: ``size``).
        hd_margin: context pixels around each hole for ``crop`` (default: ``size // 2``).
        seed: seed of plain calls and of :meth:`generate` when it is given none.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str,
        device: str | torch.device = "cpu",
        hd_strategy: str = "crop",
        hd_trigger: int | None = None,
        hd_margin: int | None = None,
        hd_resize_limit: int = 1280,
        max_pixels: int | None = None,
        max_run_pixels: int | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(model, NoiseDrivenInpainter):
            raise InputError(
                f"{name} is not a noise-driven generator (no size / latent_dim); use InpaintPipeline for it"
            )
        size = int(model.size)
        super().__init__(
            model,
            name=name,
            pad_multiple=1,
            device=device,
            hd_strategy=hd_strategy,
            hd_trigger=size if hd_trigger is None else hd_trigger,
            hd_margin=size // 2 if hd_margin is None else hd_margin,
            hd_resize_limit=hd_resize_limit,
            max_pixels=max_pixels,
            max_run_pixels=max_run_pixels,
        )
        sample_seed(seed, 0)  # validates it
        self.size, self.seed = size, seed
        self._noise: torch.Generator | None = None

    def __call__(self, image: object, mask: object, *, seed: int | None = None, **options: object) -> InpaintResult:
        """One completion (sample 0 of ``seed``, default the pipeline's); ``options`` as
        :meth:`InpaintPipeline.__call__` (``dilate``, ``feather``, ``hd_strategy``, ``resize_mask``)."""
        return self._sample(image, mask, sample_seed(self.seed if seed is None else seed, 0), options)

    def generate(
        self,
        image: object,
        mask: object,
        n: int,
        seed: int | None = None,
        *,
        job: Job | None = None,
        **options: object,
    ) -> list[InpaintResult]:
        """``n`` completions of ``image``, reproducible from ``seed`` (default the pipeline's).

        Args:
            image, mask, options: as :meth:`InpaintPipeline.__call__`.
            n: number of samples (>= 1).
            seed: sample ``i`` uses noise seeded by ``(seed, i)``.
            job: reports ``(done, total)`` after each region of each sample (samples x regions) and
                stops the call between them once cancelled (see :class:`~inpaintkit.types.Job`).

        Returns:
            ``n`` results in the caller's format; their known pixels are identical.

        Raises:
            Cancelled: ``job`` was cancelled before the last sample was drawn.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"the number of samples must be an integer >= 1, got {n!r}")
        if n > MAX_SAMPLES:
            raise InputError(
                f"at most {MAX_SAMPLES} samples per call (they are all held in memory), got {n}; "
                "call again with another seed for more"
            )
        base = self.seed if seed is None else seed
        job = job or Job()
        results = []
        with job.units(n):
            for i in range(n):
                results.append(self._sample(image, mask, sample_seed(base, i), {**options, "job": job}))
                job.advance()
        return results

    def samples(self, image: np.ndarray, mask: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
        """:class:`~inpaintkit.evaluation.diversity.MultiSampleInpainter`: ``n`` uint8 ``(H, W, 3)`` completions."""
        return [np.asarray(result.image) for result in self.generate(image, mask, n, seed)]

    def _sample(self, image: object, mask: object, noise_seed: int, options: dict) -> InpaintResult:
        self._noise = torch.Generator().manual_seed(noise_seed)
        try:
            return super().__call__(image, mask, **options)
        finally:
            self._noise = None

    def _run_model(self, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Pad to a square, resize to the generator's size, complete from fresh noise, resize back."""
        image, mask = to_tensor(rgb), to_tensor(hole)
        side = max(image.shape[-2:])
        square, padding = pad_to_multiple(image, 1, min_size=side)
        square_mask, _ = pad_to_multiple(mask, 1, min_size=side)
        shape = (self.size, self.size)
        x = resize(square, shape, "bilinear").clamp(0.0, 1.0)
        m = (resize(square_mask, shape, "area") > 0).float()
        noise = torch.randn(1, self.model.latent_dim, generator=self._noise)
        with torch.inference_mode():
            pred = self.model(x.to(self.device), m.to(self.device), noise.to(self.device))
        return to_numpy(unpad(resize(pred.float().cpu(), (side, side), "bilinear"), padding))


def contact_sheet(
    image: np.ndarray, mask: np.ndarray, samples: Sequence[np.ndarray], columns: int = 4, gap: int = 8, tile: int = 512
) -> np.ndarray:
    """A grid of the input (hole tinted red) followed by the samples, white gaps between tiles.

    Args:
        image: the input ``(H, W, 3)`` float in [0, 1].
        mask: its hole ``(H, W)``, non-zero = hole.
        samples: completions ``(H, W, 3)`` float in [0, 1].
        columns: tiles per row (fewer when there are fewer tiles).
        gap: pixels between tiles.
        tile: tiles are shrunk so their long side is at most this.

    Returns:
        ``(rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3)`` float32, ``h, w`` the tile size.
    """
    hole = (np.asarray(mask) > 0)[..., None]
    shown = np.where(hole, 0.5 * image + 0.5 * np.array([1.0, 0.0, 0.0], np.float32), image)
    tiles = [np.asarray(t, dtype=np.float32) for t in (shown, *samples)]
    height, width = tiles[0].shape[:2]
    scale = min(1.0, tile / max(height, width))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    if (h, w) != (height, width):
        tiles = [cv2.resize(t, (w, h), interpolation=cv2.INTER_AREA) for t in tiles]
    cols = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.ones((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), np.float32)
    for index, picture in enumerate(tiles):
        top, left = (index // cols) * (h + gap), (index % cols) * (w + gap)
        sheet[top : top + h, left : left + w] = picture
    return np.clip(sheet, 0.0, 1.0)
