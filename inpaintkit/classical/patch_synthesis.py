"""Patch synthesis: fill a hole with overlapping patches of the photo itself, coarse to fine.

Y. Wexler, E. Shechtman, M. Irani, "Space-Time Completion of Video", TPAMI 2007 (the energy: every
patch that overlaps the hole should look like some patch of the known area; solved by alternating a
nearest-neighbour search with a weighted vote of the overlapping patches, on an image pyramid), with
the nearest-neighbour field found by PatchMatch (C. Barnes et al., SIGGRAPH 2009: propagation from
the scan-order neighbours plus random search at shrinking radii). Yang et al.'s texture term (CVPR
2017) is the same energy in another feature space. Written here from the papers, in numba.

At each level of the pyramid (coarsest first):

1. **Start.** The coarsest level starts from ``start`` (a network's fill) or, without one, from a
   smooth interpolation of the known pixels; each finer level from the coarser nearest-neighbour
   field scaled up (``2 * source + parity``) and voted at the finer level, so no detail is upsampled.
2. **E-step.** For every *target* patch (a ``patch x patch`` square of which at least one pixel lies
   in the hole), PatchMatch finds the *source* patch (entirely known, at least ``margin`` pixels from
   the hole, inside the picture) with the least squared difference over the features: colour;
   Newson et al.'s texture features (2014: blurred absolute gradients, ``texture_weight``), which are
   voted into the hole with the colours rather than measured on the fill, so a fill that is still
   smooth does not attract smooth sources; optionally the gradients of the current fill; and the
   guide (``guide_weight``): any channels defined over the whole picture, such as the blurred
   photo with a network's fill in the hole, or deep features; they decide the layout.
3. **M-step.** Every hole pixel becomes the weighted mean of the pixels that the target patches
   covering it copy there (Wexler's vote): weights ``exp(-d / (2 sigma^2))``, ``sigma^2`` the
   ``sigma_quantile`` quantile of the patch distances at that level. The mean blurs where the copies
   disagree, so the last vote (every vote with ``vote="best"``) gives each pixel the copy of the
   covering patch that matched best (as Newson et al. do), which keeps all the source's detail.

Known pixels are never changed and no source patch touches the hole; the random search is seeded,
so a result depends only on its inputs and ``seed``. The kernels are compiled by numba on first use
and cached next to this file.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import InputError

#: The parallel search runs one call at a time: numba's default thread pool (``workqueue``) aborts
#: the process when two threads launch parallel work at once (callers of the library may use threads).
_SEARCH_LOCK = threading.Lock()

#: A coarser level is made only if it keeps at least this many source patches.
MIN_SOURCES = 256

#: Luma weights of the grey level the gradient features are computed on (BT.601).
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of :func:`synthesize` (defaults: the measured ones, see docs/BENCHMARKS.md).

    Attributes:
        patch: side of a patch in pixels (odd).
        coarsest: the coarsest level is the first whose shorter side is at most this many pixels,
            unless a coarser level would keep fewer than :data:`MIN_SOURCES` source patches.
        levels: at most this many pyramid levels (0 = as many as ``coarsest`` gives).
        iterations: EM iterations (search + vote) at the coarsest level; finer levels do fewer,
            down to ``fine_iterations``.
        fine_iterations: EM iterations at the finest level.
        search_sweeps: PatchMatch sweeps (propagation + random search) per E-step.
        guide_weight: weight of the guide's channels relative to colour.
        texture_weight: weight of the texture features (0 = none).
        texture_blur: Gaussian sigma (pixels of each level) of the texture features.
        gradient_weight: weight of the grey-level gradients of the current fill (0 = none).
        sigma_quantile: quantile of the level's patch distances used as ``sigma^2`` of the vote.
        vote: ``mean``: weighted means while iterating and the best-match vote at the very end;
            ``best``: the best-match vote everywhere (sharper at every level).
        margin: source patches keep this many pixels (of the finest level) from the hole.
        seed: seed of the random search.
    """

    patch: int = 7
    coarsest: int = 48
    levels: int = 0
    iterations: int = 6
    fine_iterations: int = 2
    search_sweeps: int = 2
    guide_weight: float = 1.0
    texture_weight: float = 10.0
    texture_blur: float = 1.5
    gradient_weight: float = 0.0
    sigma_quantile: float = 0.75
    vote: str = "mean"
    margin: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("patch", "coarsest", "levels", "iterations", "fine_iterations", "search_sweeps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "levels" else 1):
                raise InputError(f"patch synthesis: {name} must be a positive integer, got {value!r}")
        if self.patch % 2 == 0 or self.patch > 31:
            raise InputError(f"patch synthesis: patch must be odd and at most 31, got {self.patch}")
        for name in ("guide_weight", "texture_weight", "texture_blur", "gradient_weight", "margin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InputError(f"patch synthesis: {name} must be a finite number >= 0, got {value!r}")
        if self.vote not in ("mean", "best"):
            raise InputError(f"patch synthesis: vote must be 'mean' or 'best', got {self.vote!r}")
        if not 0 < self.sigma_quantile <= 1:
            raise InputError(f"patch synthesis: sigma_quantile must lie in (0, 1], got {self.sigma_quantile!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise InputError(f"patch synthesis: seed must be an integer in [0, 2**32), got {self.seed!r}")


def synthesize(
    image: np.ndarray,
    hole: np.ndarray,
    *,
    start: np.ndarray | None = None,
    guide: np.ndarray | None = None,
    guide_trust: np.ndarray | None = None,
    config: SynthesisConfig | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Fill ``hole`` in ``image`` by multi-scale patch synthesis (see the module docstring).

    Args:
        image: ``(H, W, 3)`` float in [0, 1]; its hole pixels are ignored.
        hole: ``(H, W)``, non-zero = hole.
        start: ``(H, W, 3)`` float in [0, 1], a first fill (a network's output; only its hole
            pixels are read, at the coarsest level), or ``None`` for a smooth interpolation.
        guide: ``(H, W, C)`` float32 channels over the whole picture that a source patch should
            share with the place it fills (in the hole: what the fill should look like; elsewhere:
            the same quantity measured on the photo), or ``None``.
        guide_trust: ``(H, W)`` weights in [0, 1] of the guide at each hole pixel (1 = fully;
            ``None`` = 1 everywhere): where the guide is unreliable, the synthesis decides the layout.
        config: settings; ``None`` = the defaults.
        on_iteration: called after every EM iteration with (iterations done, iterations in all);
            an exception it raises (a cancelled job) stops the synthesis.

    Returns:
        ``(H, W, 3)`` float32: ``image`` with its hole filled; known pixels bit-exact. A picture
        without a hole comes back unchanged; one with no room for a single source patch gets
        ``start`` (or the smooth interpolation) in its hole.
    """
    config = config or SynthesisConfig()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must have shape (H, W, 3), got {image.shape}")
    height, width = image.shape[:2]
    hole = np.asarray(hole)
    if hole.shape != (height, width):
        raise InputError(f"hole must have shape ({height}, {width}), got {hole.shape}")
    if start is not None and np.asarray(start).shape != image.shape:
        raise InputError(f"start must have the image's shape {image.shape}, got {np.asarray(start).shape}")
    if guide is not None and (np.asarray(guide).ndim != 3 or np.asarray(guide).shape[:2] != (height, width)):
        raise InputError(f"guide must have shape ({height}, {width}, C), got {np.asarray(guide).shape}")
    if guide_trust is not None and np.asarray(guide_trust).shape != (height, width):
        raise InputError(f"guide_trust must have shape ({height}, {width}), got {np.asarray(guide_trust).shape}")
    picture = np.ascontiguousarray(image, dtype=np.float32)
    hole = hole > 0
    if not hole.any():
        return picture.copy()
    if start is None:
        first = _smooth_fill(picture, hole)
    else:
        first = picture.copy()
        first[hole] = np.asarray(start, dtype=np.float32)[hole]
    trust = np.ones((height, width), np.float32) if guide_trust is None else np.asarray(guide_trust, np.float32)
    trust = np.where(hole, np.clip(trust, 0.0, 1.0), 1.0).astype(np.float32)
    levels = _pyramid(first, hole, None if guide is None else np.asarray(guide, dtype=np.float32), trust, config)
    result = _run(levels, config, on_iteration)
    out = picture.copy()
    out[hole] = (first if result is None else result)[hole]
    return out


@dataclass
class _Level:
    """One level of the pyramid: the photo (its hole holds the first fill), its hole and the guide."""

    image: np.ndarray  # (h, w, 3) float32; in the hole the first fill, used only at the coarsest level
    hole: np.ndarray  # (h, w) bool
    guide: np.ndarray | None  # (h, w, C) float32
    trust: np.ndarray  # (h, w) float32: the guide's weight at each pixel


def _pyramid(
    first: np.ndarray, hole: np.ndarray, guide: np.ndarray | None, trust: np.ndarray, c: SynthesisConfig
) -> list[_Level]:
    """Levels coarsest first. A coarse pixel is hole if any pixel it covers is, so a known coarse
    pixel averages known pixels only; the first fill is shrunk with the photo."""
    levels = [_Level(first, hole, guide, trust)]
    while min(levels[-1].hole.shape) > c.coarsest and min(levels[-1].hole.shape) >= 2 * c.patch:
        if c.levels and len(levels) == c.levels:
            break
        fine = levels[-1]
        h, w = fine.hole.shape
        size = ((w + 1) // 2, (h + 1) // 2)
        coarse_hole = _block_any(fine.hole, size)
        if _sources(coarse_hole, c.patch // 2, 0).sum() < MIN_SOURCES:
            break  # a coarser level would have (almost) nothing to copy from
        image = cv2.resize(fine.image, size, interpolation=cv2.INTER_AREA)
        coarse_guide = None if fine.guide is None else _shrink(fine.guide, size)
        coarse_trust = cv2.resize(fine.trust, size, interpolation=cv2.INTER_AREA)
        levels.append(_Level(np.ascontiguousarray(image, dtype=np.float32), coarse_hole, coarse_guide, coarse_trust))
    return levels[::-1]


def _shrink(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(h, w, C)`` averaged down to ``size = (w', h')`` (any number of channels)."""
    parts = [
        cv2.resize(np.ascontiguousarray(values[..., i : i + 4]), size, interpolation=cv2.INTER_AREA)
        for i in range(0, values.shape[2], 4)
    ]
    parts = [p[..., None] if p.ndim == 2 else p for p in parts]
    return np.ascontiguousarray(np.concatenate(parts, -1), dtype=np.float32)


def _block_any(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(size[1], size[0])``: True where the 2x2 block of ``hole`` it covers holds a hole pixel."""
    h, w = hole.shape
    padded = np.zeros((2 * size[1], 2 * size[0]), dtype=bool)
    padded[:h, :w] = hole
    return padded.reshape(size[1], 2, size[0], 2).any(axis=(1, 3))


def _features(colour: np.ndarray, level: _Level, c: SynthesisConfig) -> np.ndarray:
    """``(h, w, C)`` float32 features compared between patches: the voted channels (colour and
    texture), gradients of the current fill, the guide."""
    parts = [colour]
    if c.gradient_weight > 0:
        parts.append(c.gradient_weight * _gradients(colour))
    if level.guide is not None and c.guide_weight > 0:
        parts.append(c.guide_weight * level.guide)
    return np.ascontiguousarray(np.concatenate(parts, -1), dtype=np.float32)


def _gradients(colour: np.ndarray) -> np.ndarray:
    """``(h, w, 2)`` float32: the 3x3 Sobel x and y gradients (divided by 8) of the grey level of
    ``colour``'s first three channels, reflected borders."""
    grey = np.ascontiguousarray(colour[..., :3]) @ _GREY
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 8
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 8
    return np.stack([gx, gy], -1)


def _with_texture(level: _Level, c: SynthesisConfig) -> _Level:
    """The level whose voted image carries Newson et al.'s texture features after its colours
    (measured on the photo with its hole filled smoothly, so the hole's edge adds no gradient)."""
    if c.texture_weight <= 0:
        return level
    texture = np.abs(_gradients(_smooth_fill(level.image, level.hole)))
    if c.texture_blur > 0:
        texture = cv2.GaussianBlur(texture, (0, 0), c.texture_blur)
    image = np.concatenate([level.image, c.texture_weight * texture], -1)
    return _Level(np.ascontiguousarray(image, dtype=np.float32), level.hole, level.guide, level.trust)


def _smooth_fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``values`` (``(h, w, C)``) with its hole filled by push-pull (Gortler et al. 1996): the known
    values averaged down a pyramid of 2x2 cells, then each cell, from the coarsest up, keeps its own
    average in proportion to how much of it is known and takes the rest from the coarser level.
    Smooth, and O(h w). Known values are returned unchanged (float32)."""
    out = values.astype(np.float32, copy=True)
    known = (~hole).astype(np.float32)
    if not hole.any() or not known.any():
        return out
    sums, weights = [out * known[..., None]], [known]
    while max(weights[-1].shape) > 1:
        h, w = weights[-1].shape
        size = ((w + 1) // 2, (h + 1) // 2)
        sums.append(_shrink(sums[-1], size))
        weights.append(cv2.resize(weights[-1], size, interpolation=cv2.INTER_AREA))
    fill = sums[-1] / np.maximum(weights[-1], 1e-8)[..., None]
    for total, weight in zip(reversed(sums[:-1]), reversed(weights[:-1])):
        h, w = weight.shape
        coarse = cv2.resize(fill, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
        trust = np.minimum(4 * weight, 1.0)[..., None]
        fill = trust * (total / np.maximum(weight, 1e-8)[..., None]) + (1 - trust) * coarse
    out[hole] = fill[hole]
    return out


def _sources(hole: np.ndarray, radius: int, margin: int) -> np.ndarray:
    """``(h, w)`` bool: centres of patches lying inside the picture, ``margin`` pixels from any hole pixel."""
    h, w = hole.shape
    reach = radius + int(math.ceil(margin))
    size = 2 * reach + 1
    near = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    valid = ~near
    valid[:radius] = False
    valid[h - radius :] = False
    valid[:, :radius] = False
    valid[:, w - radius :] = False
    return valid


def _targets(hole: np.ndarray, radius: int) -> np.ndarray:
    """``(n, 2)`` int32 (row, column) of the centres of the patches that overlap the hole, centres
    kept ``radius`` pixels inside the picture (so every hole pixel is covered), in scan order."""
    h, w = hole.shape
    size = 2 * radius + 1
    touch = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    # a hole pixel near the border is covered by the patch centred at the nearest allowed centre
    ys, xs = np.nonzero(hole)
    touch[np.clip(ys, radius, h - 1 - radius), np.clip(xs, radius, w - 1 - radius)] = True
    touch[:radius] = False
    touch[h - radius :] = False
    touch[:, :radius] = False
    touch[:, w - radius :] = False
    return np.argwhere(touch).astype(np.int32)


def _run(
    levels: list[_Level], c: SynthesisConfig, on_iteration: Callable[[int, int], None] | None
) -> np.ndarray | None:
    """The coarse-to-fine EM loop; ``None`` when a level has no room for a source patch."""
    from . import _synthesis_kernels as kernels

    total = sum(_rounds(index, len(levels), c) for index in range(len(levels)))
    done = 0
    radius = c.patch // 2
    field = colour = None
    finest = levels[-1].hole.shape[0]
    for index, level in enumerate(levels):
        level = _with_texture(level, c)
        h, w = level.hole.shape
        if min(h, w) < c.patch:
            return None
        valid = _sources(level.hole, radius, c.margin * h / finest)
        sources = np.argwhere(valid).astype(np.int32)
        if len(sources) == 0:
            return None
        targets = _targets(level.hole, radius)
        seed = (c.seed + 7919 * index) % 2**32
        if field is None:
            colour = _start(level)
            field = np.full((h, w, 2), -1, dtype=np.int32)
            kernels.random_field(field, targets, sources, seed)
        else:
            coarse, field = field, np.full((h, w, 2), -1, dtype=np.int32)
            kernels.upsample_field(coarse, field, targets, valid, sources, seed)
        distances = np.zeros((h, w), dtype=np.float32)
        if index > 0:  # the fill this level starts from: the upsampled field's copies, averaged
            colour = _vote(level, field, distances, targets, radius, c, uniform=True)
        # the channels from ``guided`` on are the guide's (weighted by the trust of each pixel)
        guided = level.image.shape[2] + (2 if c.gradient_weight > 0 else 0)
        for step in range(_rounds(index, len(levels), c)):
            features = _features(colour, level, c)
            with _SEARCH_LOCK:
                kernels.patchmatch(
                    features,
                    level.trust,
                    guided,
                    valid,
                    field,
                    distances,
                    targets,
                    radius,
                    c.search_sweeps,
                    seed + step + 1,
                )
            colour = _vote(level, field, distances, targets, radius, c, best=c.vote == "best")
            done += 1
            if on_iteration is not None:
                on_iteration(done, total)
    if c.vote == "mean":
        colour = _vote(level, field, distances, targets, radius, c, best=True)
    return colour[..., :3]


def _rounds(index: int, count: int, c: SynthesisConfig) -> int:
    """EM iterations at level ``index`` of ``count``: ``iterations`` at the coarsest, down to ``fine_iterations``."""
    if count == 1:
        return c.iterations
    t = index / (count - 1)
    return max(c.fine_iterations, round(c.iterations + t * (c.fine_iterations - c.iterations)))


def _start(level: _Level) -> np.ndarray:
    """The coarsest level's first fill: its colours as given, its texture channels interpolated
    smoothly from around the hole."""
    colour = _smooth_fill(level.image, level.hole)
    colour[level.hole, :3] = level.image[level.hole, :3]
    return colour


def _vote(
    level: _Level,
    field: np.ndarray,
    distances: np.ndarray,
    targets: np.ndarray,
    radius: int,
    c: SynthesisConfig,
    uniform: bool = False,
    best: bool = False,
) -> np.ndarray:
    """The vote of the target patches' copies into the hole: weighted means (equal weights if
    ``uniform``), or each pixel from its best-matching covering patch if ``best``."""
    from . import _synthesis_kernels as kernels

    colour = level.image.copy()
    if best:
        kernels.vote_best(level.image, level.hole, field, distances, targets, radius, colour)
        return colour
    sigma2 = np.inf
    if not uniform:
        d = distances[targets[:, 0], targets[:, 1]]
        sigma2 = max(float(np.quantile(d, c.sigma_quantile)), 1e-8)
    kernels.vote(level.image, level.hole, field, distances, targets, radius, sigma2, colour)
    return colour


#: The default's texture stage (``lama-detail``), as measured in docs/BENCHMARKS.md: the best-match
#: vote at every level keeps the most detail of the sources.
DETAIL_CONFIG = SynthesisConfig(vote="best")
#: Below this Gaussian sigma (pixels) the default's fill keeps the network's frequencies: its layout
#: and colours; above it, the synthesised texture.
DETAIL_LOW_BAND = 4.0
#: Blur (pixels) of the guide: the network's fill in the hole, the photo elsewhere.
DETAIL_GUIDE_BLUR = 4.0
#: The network is trusted near the hole's edge and less deeper in: at ``d`` pixels from the nearest
#: known pixel its guide and its low band weigh ``exp(-d / DETAIL_TRUST)``; deeper in, the synthesis
#: decides the layout and keeps its own low band (a network trained on two cores smears large holes,
#: and its smear showed as a ghost of the removed object).
DETAIL_TRUST = 32.0


def network_with_texture(raw: np.ndarray, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A network's fill with the photo's texture: the pipeline step ``patch-synthesis``.

    Patch synthesis guided by the network's fill (its first fill, and the guide it is compared
    with, near the hole's edge) gives a fill of real patches of the photo laid out as the network
    says there and as the synthesis finds deeper in; the result takes the synthesis's frequencies
    above :data:`DETAIL_LOW_BAND` and, below it, the network's near the hole's edge, blending to the
    synthesis's own deeper in (:data:`DETAIL_TRUST`).

    Args:
        raw: ``(H, W, 3)`` float in [0, 1], the network's output.
        image: ``(H, W, 3)`` float in [0, 1], the input (its known pixels are kept).
        hole: ``(H, W)``, non-zero = hole.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1]; known pixels bit-exact.
    """
    hole = np.asarray(hole) > 0
    picture = np.ascontiguousarray(image, dtype=np.float32)
    fill = np.where(hole[..., None], np.asarray(raw, dtype=np.float32), picture)
    guide = cv2.GaussianBlur(fill, (0, 0), DETAIL_GUIDE_BLUR)
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    trust = np.exp(-depth / DETAIL_TRUST)
    texture = synthesize(picture, hole, start=fill, guide=guide, guide_trust=trust, config=DETAIL_CONFIG)
    trust = trust[..., None]
    low = cv2.GaussianBlur(fill, (0, 0), DETAIL_LOW_BAND) - cv2.GaussianBlur(texture, (0, 0), DETAIL_LOW_BAND)
    combined = texture + trust * low
    return np.where(hole[..., None], np.clip(combined, 0.0, 1.0), picture).astype(np.float32)
