"""Selecting an object by a box (GrabCut) or a click (colour region): inpaintkit.masks.select."""

from __future__ import annotations

import numpy as np
import pytest

from inpaintkit.masks import select as S
from inpaintkit.types import InputError


def scene(height: int = 120, width: int = 160, tile: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on a background of random grey-ish tiles with noise: uint8 ``(H, W, 3)`` and the disc."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(60, 200, (height // tile + 1, width // tile + 1, 3)).astype(np.uint8)
    background = np.kron(tiles, np.ones((tile, tile, 1), np.uint8))[:height, :width].astype(int)
    picture = np.clip(background + rng.integers(-10, 11, (height, width, 3)), 0, 255).astype(np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    radius = min(height, width) * 28 // 120
    disc = (x - width * 9 // 16) ** 2 + (y - height * 55 // 120) ** 2 <= radius**2
    picture[disc] = np.clip(np.array([220, 30, 40]) + rng.integers(-6, 7, (int(disc.sum()), 3)), 0, 255)
    return picture, disc


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def around(disc: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(disc)
    return int(xs.min()) - margin, int(ys.min()) - margin, int(xs.max()) + 1 + margin, int(ys.max()) + 1 + margin


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_box_around_the_disc_selects_the_disc(seed):
    picture, disc = scene(seed=seed)
    selected = S.select_box(picture, around(disc, 8))
    assert selected.dtype == bool and selected.shape == disc.shape
    assert iou(selected, disc) >= 0.8


def test_a_box_reaching_past_the_picture_is_clipped():
    picture, disc = scene()
    x0, y0, x1, y1 = around(disc, 8)
    assert iou(S.select_box(picture, (x0, -50, x1, y1)), disc) >= 0.8


def test_grabcut_runs_on_a_shrunk_copy_of_a_large_picture(monkeypatch):
    picture, disc = scene(780, 1300, tile=12)
    shapes = []
    grabcut = S.cv2.grabCut

    def recording(image, *args):
        shapes.append(image.shape)
        return grabcut(image, *args)

    monkeypatch.setattr(S.cv2, "grabCut", recording)
    selected = S.select_box(picture, around(disc, 40))
    assert shapes == [(614, 1024, 3)]  # long side 1024
    assert selected.shape == (780, 1300) and iou(selected, disc) >= 0.8


def test_a_click_inside_selects_the_disc_and_one_outside_stays_outside():
    picture, disc = scene()
    inside = S.select_point(picture, (90, 55))
    assert iou(inside, disc) >= 0.8 and inside[55, 90]
    outside = S.select_point(picture, (10, 10))
    assert outside[10, 10] and not (outside & disc).any()


def test_the_tolerance_widens_the_region():
    picture = np.zeros((40, 40, 3), np.uint8)
    picture[:, :20] = 100
    picture[:, 20:] = 130  # a step of 30 on every RGB channel
    narrow = S.select_point(picture, (5, 20), tolerance=5)
    assert narrow[:, :19].all() and not narrow[:, 20:].any()  # the blur softens the step's edge column
    assert S.select_point(picture, (5, 20), tolerance=60).sum() == 40 * 40


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (
            (50, 10, 20, 40),
            "the box (50, 10, 20, 40) is empty: give x0 < x1 and y0 < y1 (right and bottom edges excluded)",
        ),
        (
            (30, 30, 30, 60),
            "the box (30, 30, 30, 60) is empty: give x0 < x1 and y0 < y1 (right and bottom edges excluded)",
        ),
        ((200, 10, 300, 40), "the box (200, 10, 300, 40) lies outside the 160x120 picture"),
        (
            (-5, -5, 500, 500),
            "the box (-5, -5, 500, 500) covers the whole picture: draw it around one object, with background outside",
        ),
    ],
)
def test_bad_boxes_are_refused_in_one_line(box, expected):
    with pytest.raises(InputError) as caught:
        S.select_box(scene()[0], box)
    assert str(caught.value) == expected


def test_bad_points_tolerances_and_pictures_are_refused():
    picture = scene()[0]
    with pytest.raises(InputError, match=r"^the point \(160, 5\) lies outside the 160x120 picture$"):
        S.select_point(picture, (160, 5))
    with pytest.raises(InputError, match=r"^tolerance must be a whole number in \[0, 255\], got 300$"):
        S.select_point(picture, (5, 5), tolerance=300)
    with pytest.raises(InputError, match=r"uint8 array \(H, W, 3\), got ndarray \(120, 160\)"):
        S.select_point(picture[..., 0], (5, 5))
    with pytest.raises(InputError, match="160x120 = 19,200 pixels, more than the limit of 10,000"):
        S.select_box(picture, (10, 10, 50, 50), max_pixels=10_000)


def test_select_reads_the_values_each_mode_names():
    picture, disc = scene()
    x0, y0, x1, y1 = around(disc, 8)
    by_box = S.select(picture, "box", x0=x0, y0=y0, x1=x1, y1=y1, x=None, y=None, tolerance=None)
    np.testing.assert_array_equal(by_box, S.select_box(picture, (x0, y0, x1, y1)))
    np.testing.assert_array_equal(S.select(picture, "point", x=90, y=55), S.select_point(picture, (90, 55)))
    with pytest.raises(InputError, match=r"^mode box needs x0, y0, x1, y1; missing y1$"):
        S.select(picture, "box", x0=1, y0=1, x1=5)
    with pytest.raises(InputError, match=r"^mode point takes x, y, tolerance, not x0$"):
        S.select(picture, "point", x=1, y=1, x0=3)
    with pytest.raises(InputError, match=r"^unknown selection mode 'lasso'; valid: box, point$"):
        S.select(picture, "lasso")
