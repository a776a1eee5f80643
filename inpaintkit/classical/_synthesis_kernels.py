"""The compiled loops of :mod:`inpaintkit.classical.patch_synthesis` (numba, cached on disk).

Fields are ``(h, w, 2)`` int32 arrays holding, for each target patch centre, the centre (row,
column) of its source patch; ``-1`` where a pixel is no target. All randomness comes from
generators seeded by the caller (numba's own in the one-thread loops, a xorshift per band in the
parallel search), and the parallel search splits its work into a fixed number of bands, so a result
depends only on the inputs and the seed, never on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: d / (2 sigma^2) above this counts as this (the weight stays > 0 in float64).
_MAX_EXPONENT = 60.0


@njit(cache=True, nogil=True)
def _distance(features, trust, guided, ty, tx, sy, sx, radius, limit):
    """Squared difference between the patches centred at (ty, tx) and (sy, sx), the channels from
    ``guided`` on weighted by ``trust`` at the target's pixel; stops early (and returns a value >=
    ``limit``) once the partial sum reaches ``limit``."""
    channels = features.shape[2]
    total = 0.0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            for c in range(guided):
                diff = features[ty + dy, tx + dx, c] - features[sy + dy, sx + dx, c]
                total += diff * diff
            weight = trust[ty + dy, tx + dx]
            for c in range(guided, channels):
                diff = features[ty + dy, tx + dx, c] - features[sy + dy, sx + dx, c]
                total += weight * diff * diff
        if total >= limit:
            return total
    return total


@njit(cache=True, nogil=True)
def random_field(field, targets, sources, seed):
    """Give every target a source drawn uniformly from ``sources`` (``(m, 2)`` centres)."""
    np.random.seed(seed)
    m = sources.shape[0]
    for i in range(targets.shape[0]):
        j = np.random.randint(0, m)
        field[targets[i, 0], targets[i, 1], 0] = sources[j, 0]
        field[targets[i, 0], targets[i, 1], 1] = sources[j, 1]


@njit(cache=True, nogil=True)
def upsample_field(coarse, fine, targets, valid, sources, seed):
    """``fine`` = ``2 * coarse + parity`` at every target, a random valid source where that is not valid."""
    np.random.seed(seed)
    ch, cw = coarse.shape[0], coarse.shape[1]
    h, w = fine.shape[0], fine.shape[1]
    m = sources.shape[0]
    for i in range(targets.shape[0]):
        y, x = targets[i, 0], targets[i, 1]
        cy, cx = min(y // 2, ch - 1), min(x // 2, cw - 1)
        sy, sx = coarse[cy, cx, 0], coarse[cy, cx, 1]
        ok = False
        if sy >= 0:
            sy = 2 * sy + (y - 2 * cy)
            sx = 2 * sx + (x - 2 * cx)
            ok = 0 <= sy < h and 0 <= sx < w and valid[sy, sx]
        if not ok:
            j = np.random.randint(0, m)
            sy, sx = sources[j, 0], sources[j, 1]
        fine[y, x, 0] = sy
        fine[y, x, 1] = sx


#: PatchMatch works on at most this many bands of targets at once (threads share them), each of at
#: least :data:`BAND_TARGETS` targets; the count depends on the targets only, so a result does not
#: depend on how many threads run.
BANDS = 16
BAND_TARGETS = 4096


@njit(cache=True, nogil=True)
def _next(state):
    """xorshift64*: the next state and a uniform integer in [0, 2^31)."""
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    return state, np.int64((state * np.uint64(2685821657736338717)) >> np.uint64(33))


@njit(cache=True, nogil=True)
def _band_seed(seed, sweep, band):
    """A non-zero xorshift state for one band of one sweep."""
    state = np.uint64(seed) * np.uint64(6364136223846793005) + np.uint64(sweep * 7919 + band + 1)
    state ^= state >> np.uint64(31)
    return state | np.uint64(1)


@njit(cache=True, nogil=True, parallel=True)
def patchmatch(features, trust, guided, valid, field, distances, targets, radius, sweeps, seed):
    """Improve ``field`` (in place) by PatchMatch: ``sweeps`` alternating scan-order passes of
    propagation from the two previous neighbours and random search around the current source at
    radii halving from the picture's size to 1. ``distances`` receives each target's patch distance.
    Channels from ``guided`` on count with the weight ``trust`` (``(h, w)``) of each target pixel.

    The targets (in scan order) are cut into bands searched in parallel (:data:`BANDS`); a band
    propagates from neighbours of its own band as they are now and from other bands' as they were
    when the sweep began, and draws its random numbers from its own generator, so the result is the
    same for any number of threads."""
    h, w = valid.shape
    n = targets.shape[0]
    for i in prange(n):
        ty, tx = targets[i, 0], targets[i, 1]
        distances[ty, tx] = _distance(
            features, trust, guided, ty, tx, field[ty, tx, 0], field[ty, tx, 1], radius, np.inf
        )
    bands = max(1, min(BANDS, n // BAND_TARGETS))
    band_of = np.full((h, w), -1, dtype=np.int32)
    for i in range(n):
        band_of[targets[i, 0], targets[i, 1]] = i * bands // n
    for sweep in range(sweeps):
        before = field.copy()
        step = 1 if sweep % 2 == 0 else -1
        for band in prange(bands):
            state = _band_seed(seed, sweep, band)
            lo, hi = band * n // bands, (band + 1) * n // bands
            for k in range(hi - lo):
                j = lo + k if step == 1 else hi - 1 - k
                ty, tx = targets[j, 0], targets[j, 1]
                by, bx = field[ty, tx, 0], field[ty, tx, 1]
                best = distances[ty, tx]
                # propagation: the neighbour already visited in this pass, shifted back by one pixel
                for axis in range(2):
                    ny = ty - step if axis == 0 else ty
                    nx = tx - step if axis == 1 else tx
                    if ny < 0 or ny >= h or nx < 0 or nx >= w or band_of[ny, nx] < 0:
                        continue
                    source = field if band_of[ny, nx] == band else before
                    cy = source[ny, nx, 0] + (ty - ny)
                    cx = source[ny, nx, 1] + (tx - nx)
                    if cy < 0 or cy >= h or cx < 0 or cx >= w or not valid[cy, cx] or (cy == by and cx == bx):
                        continue
                    d = _distance(features, trust, guided, ty, tx, cy, cx, radius, best)
                    if d < best:
                        best, by, bx = d, cy, cx
                # random search at shrinking radii
                reach = max(h, w)
                while reach >= 1:
                    state, r = _next(state)
                    cy = min(max(by + r % (2 * reach + 1) - reach, 0), h - 1)
                    state, r = _next(state)
                    cx = min(max(bx + r % (2 * reach + 1) - reach, 0), w - 1)
                    if valid[cy, cx] and (cy != by or cx != bx):
                        d = _distance(features, trust, guided, ty, tx, cy, cx, radius, best)
                        if d < best:
                            best, by, bx = d, cy, cx
                    reach //= 2
                field[ty, tx, 0] = by
                field[ty, tx, 1] = bx
                distances[ty, tx] = best


@njit(cache=True, nogil=True)
def vote(image, hole, field, distances, targets, radius, sigma2, out):
    """Wexler's vote: every hole pixel of ``out`` becomes the mean of the pixels copied onto it by the
    target patches covering it, each weighted by ``exp(-d / (2 sigma2))`` (``d`` its patch distance)."""
    h, w = hole.shape
    channels = image.shape[2]
    total = np.zeros((h, w, channels), dtype=np.float64)
    weight = np.zeros((h, w), dtype=np.float64)
    for i in range(targets.shape[0]):
        ty, tx = targets[i, 0], targets[i, 1]
        sy, sx = field[ty, tx, 0], field[ty, tx, 1]
        g = np.exp(-min(distances[ty, tx] / (2.0 * sigma2), _MAX_EXPONENT))
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                py, px = ty + dy, tx + dx
                if hole[py, px]:
                    for c in range(channels):
                        total[py, px, c] += g * image[sy + dy, sx + dx, c]
                    weight[py, px] += g
    for y in range(h):
        for x in range(w):
            if hole[y, x] and weight[y, x] > 0:
                for c in range(channels):
                    out[y, x, c] = total[y, x, c] / weight[y, x]


@njit(cache=True, nogil=True)
def vote_best(image, hole, field, distances, targets, radius, out):
    """The sharp vote: every hole pixel of ``out`` takes the pixel copied onto it by the covering
    target patch with the least patch distance (no averaging, so no blur)."""
    h, w = hole.shape
    channels = image.shape[2]
    best = np.full((h, w), np.inf, dtype=np.float64)
    for i in range(targets.shape[0]):
        ty, tx = targets[i, 0], targets[i, 1]
        sy, sx = field[ty, tx, 0], field[ty, tx, 1]
        d = distances[ty, tx]
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                py, px = ty + dy, tx + dx
                if hole[py, px] and d < best[py, px]:
                    best[py, px] = d
                    for c in range(channels):
                        out[py, px, c] = image[sy + dy, sx + dx, c]
