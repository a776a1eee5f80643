"""Patch synthesis (Wexler et al. with PatchMatch): invariants, continuation of texture and edges, seams."""

from __future__ import annotations

import numpy as np
import pytest

from inpaintkit.classical.patch_synthesis import SynthesisConfig, synthesize
from inpaintkit.metrics import hole_detail, seam_score
from inpaintkit.types import InputError


def _grain(size: int = 96, seed: int = 0) -> np.ndarray:
    """A colour ramp plus fine random grain, (size, size, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.2, 0.8, size, dtype=np.float32)
    base = np.stack([ramp[None].repeat(size, 0), ramp[:, None].repeat(size, 1), np.full((size, size), 0.5)], -1)
    return np.clip(base + rng.normal(0, 0.06, (size, size, 1)), 0, 1).astype(np.float32)


def _box(size: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    hole = np.zeros((size, size), bool)
    hole[y0:y1, x0:x1] = True
    return hole


def test_known_pixels_are_bit_exact_and_the_hole_is_filled():
    image, hole = _grain(), _box(96, 30, 30, 66, 66)
    out = synthesize(image, hole)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.array_equal(out[~hole], image[~hole])
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # filled with the photo's own grain: about as much detail as the photo, near its colours
    as_uint8 = [(x * 255 + 0.5).astype(np.uint8) for x in (out, image)]
    assert 0.7 < hole_detail(*as_uint8, hole) < 1.3
    assert np.abs(out[hole].mean(0) - image[hole].mean(0)).max() < 0.1


def test_no_pixel_of_the_hole_is_ever_copied():
    image, hole = _grain(), _box(96, 20, 40, 60, 80)
    marked = image.copy()
    marked[hole] = (1.0, 0.0, 1.0)  # a colour that exists nowhere else
    out = synthesize(marked, hole, config=SynthesisConfig(seed=3))
    magenta = (out[..., 0] > 0.9) & (out[..., 1] < 0.1) & (out[..., 2] > 0.9)
    assert not magenta.any()
    # the guide changes the layout, never the rule
    out = synthesize(marked, hole, start=marked, guide=marked, config=SynthesisConfig(seed=3))
    assert not ((out[..., 0] > 0.9) & (out[..., 1] < 0.1) & (out[..., 2] > 0.9))[hole].any()


def test_deterministic_for_a_seed_and_the_seed_matters():
    image, hole = _grain(seed=1), _box(96, 25, 25, 70, 70)
    first = synthesize(image, hole, config=SynthesisConfig(seed=5))
    again = synthesize(image, hole, config=SynthesisConfig(seed=5))
    other = synthesize(image, hole, config=SynthesisConfig(seed=6))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_periodic_texture_is_continued_with_its_period_and_phase():
    size = 128
    x = np.arange(size, dtype=np.float32)
    stripes = 0.5 + 0.4 * np.sin(2 * np.pi * x / 10)  # period 10 px along x
    image = np.repeat(np.repeat(stripes[None, :, None], size, 0), 3, 2)
    image[..., 1] = 0.5 + 0.3 * np.cos(2 * np.pi * np.arange(size)[:, None] / 14)  # and 14 px along y
    hole = _box(size, 40, 44, 88, 92)
    out = synthesize(image, hole)
    assert np.abs(out[hole] - image[hole]).mean() < 0.03
    flat = np.where(hole[..., None], image[~hole].mean(0), image)  # a flat mean fill is far off
    assert np.abs(flat[hole] - image[hole]).mean() > 0.15


def test_a_straight_edge_across_the_hole_is_continued():
    size = 128
    rng = np.random.default_rng(0)
    image = np.where(np.arange(size)[:, None, None] < 60, 0.25, 0.75) + rng.normal(0, 0.03, (size, size, 3))
    image = np.clip(image, 0, 1).astype(np.float32)
    hole = _box(size, 36, 40, 84, 88)
    out = synthesize(image, hole)
    grey = out.mean(-1)
    rows = grey[36:84, 44:84].mean(1)  # the mean of each row across the hole
    assert (rows[: 60 - 36 - 2] < 0.4).all() and (rows[60 - 36 + 2 :] > 0.6).all()


def test_the_guide_decides_the_layout():
    size = 96
    rng = np.random.default_rng(2)
    image = np.clip(0.3 + rng.normal(0, 0.04, (size, size, 3)), 0, 1).astype(np.float32)
    image[:, 70:] = np.clip(0.8 + rng.normal(0, 0.04, (size, 26, 3)), 0, 1)  # a light strip on the right
    hole = _box(size, 30, 20, 66, 60)
    guide = image.copy()
    guide[30:66, 20:40] = 0.3
    guide[30:66, 40:60] = 0.8  # the guide asks for light on the right half of the hole
    out = synthesize(image, hole, start=guide, guide=guide, config=SynthesisConfig(guide_weight=2.0))
    assert out[30:66, 22:38].mean() < 0.45 and out[30:66, 42:58].mean() > 0.65
    assert np.array_equal(out[~hole], image[~hole])


def test_without_a_hole_or_without_sources_the_picture_comes_back():
    image = _grain(32)
    assert np.array_equal(synthesize(image, np.zeros((32, 32), bool)), image)
    everything = np.ones((32, 32), bool)
    assert np.array_equal(synthesize(image, everything), image)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"patch": 4}, "patch must be odd"), ({"iterations": 0}, "iterations must be a positive"), ({"seed": -1}, "seed")],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        SynthesisConfig(**kwargs)


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match=r"hole must have shape \(16, 16\)"):
        synthesize(np.zeros((16, 16, 3), np.float32), np.zeros((8, 8), bool))
    with pytest.raises(InputError, match=r"guide must have shape \(16, 16, C\)"):
        synthesize(np.zeros((16, 16, 3), np.float32), np.zeros((16, 16), bool), guide=np.zeros((8, 8, 3)))


def test_seam_score_is_high_for_a_block_mosaic_and_about_one_for_a_photo_like_texture():
    rng = np.random.default_rng(0)
    size, block = 160, 8
    # a smooth random texture (photo-like: correlated neighbours)
    noise = rng.normal(0, 1, (size, size))
    for _ in range(3):
        noise = (
            noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, -1, 0) + np.roll(noise, -1, 1)
        ) / 5
    grey = (128 + 40 * noise / noise.std()).clip(0, 255)
    photo = np.repeat(grey[..., None], 3, 2).astype(np.uint8)
    hole = np.zeros((size, size), bool)
    hole[24:136, 24:136] = True
    assert 1.0 <= seam_score(photo, hole) < 1.3
    mosaic = photo.copy()
    for y in range(24, 136, block):  # every block copied from a random place: steps at its edges
        for x in range(24, 136, block):
            sy, sx = rng.integers(0, size - block, 2)
            mosaic[y : y + block, x : x + block] = photo[sy : sy + block, sx : sx + block]
    assert seam_score(mosaic, hole) > 1.6
    assert np.isnan(seam_score(photo, np.zeros((size, size), bool)))
    with pytest.raises(InputError, match="uint8"):
        seam_score(photo.astype(np.float32), hole)


def test_the_default_texture_step_keeps_the_networks_layout_and_adds_the_photos_texture():
    import cv2

    from inpaintkit.classical import POSTPROCESSORS
    from inpaintkit.registry import REGISTRY

    assert REGISTRY["lama-detail"].postprocess == "patch-synthesis"
    step = POSTPROCESSORS["patch-synthesis"]
    truth, hole = _grain(128, seed=4), _box(128, 36, 36, 92, 92)
    smooth = cv2.GaussianBlur(truth, (0, 0), 4.0)  # what a pixel-loss network gives: layout, no texture
    picture = truth.copy()
    picture[hole] = 0.0  # the step never reads the hole of the photo
    out = step(smooth, picture, hole)
    assert out.dtype == np.float32 and np.array_equal(out[~hole], truth[~hole])
    as_uint8 = [(np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8) for x in (out, smooth, truth)]
    assert hole_detail(as_uint8[1], as_uint8[2], hole) < 0.3 < 0.7 < hole_detail(as_uint8[0], as_uint8[2], hole)
    # near the hole's edge the network's low frequencies stay
    low_out, low_net = (cv2.GaussianBlur(x, (0, 0), 4.0) for x in (out, smooth))
    ring = hole & ~_box(128, 44, 44, 84, 84)
    assert np.abs(low_out - low_net)[ring].mean() < 0.03
    # and its layout counts: a network fill lighter on the left gives a fill lighter on the left
    lighter = smooth.copy()
    lighter[36:92, 36:64] += 0.2
    shifted = step(lighter, picture, hole)
    assert shifted[40:88, 40:60].mean() > out[40:88, 40:60].mean() + 0.08
    assert abs(shifted[40:88, 70:88].mean() - out[40:88, 70:88].mean()) < 0.05
    assert np.array_equal(step(smooth, picture, hole), out)  # deterministic


def test_the_result_does_not_depend_on_the_number_of_threads():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only")
    image, hole = _grain(200, seed=7), _box(200, 40, 40, 160, 160)  # enough targets for several bands
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = synthesize(image, hole)
        numba.set_num_threads(2)
        two = synthesize(image, hole)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)


def test_where_the_guide_is_not_trusted_the_synthesis_decides():
    size = 96
    rng = np.random.default_rng(2)
    image = np.clip(0.3 + rng.normal(0, 0.04, (size, size, 3)), 0, 1).astype(np.float32)
    hole = _box(size, 30, 20, 66, 60)
    guide = image.copy()
    guide[hole] = 0.8  # a guide asking for a colour that exists nowhere
    trusted = synthesize(image, hole, start=guide, guide=guide, config=SynthesisConfig(guide_weight=4.0))
    ignored = synthesize(
        image,
        hole,
        start=guide,
        guide=guide,
        guide_trust=np.zeros((size, size)),
        config=SynthesisConfig(guide_weight=4.0),
    )
    # copies of the dark photo either way (nothing else exists), but only the trusted guide pulls
    # the search towards the lightest of its patches
    assert ignored[hole].mean() < trusted[hole].mean()
    assert abs(ignored[hole].mean() - image[~hole].mean()) < 0.02
    with pytest.raises(InputError, match=r"guide_trust must have shape \(96, 96\)"):
        synthesize(image, hole, guide=guide, guide_trust=np.ones((4, 4)))


def test_calls_from_several_threads_at_once_are_safe_and_give_the_same_result():
    from concurrent.futures import ThreadPoolExecutor

    image, hole = _grain(200, seed=8), _box(200, 40, 40, 160, 160)
    alone = synthesize(image, hole)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: synthesize(image, hole), range(3)))
    assert all(np.array_equal(r, alone) for r in results)
