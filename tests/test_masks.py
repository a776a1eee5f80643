"""Tests of inpaintkit.masks: generators, presets, user masks, dilation/feathering, evaluation sets."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from inpaintkit.masks import (
    MASK_GENERATORS,
    BoxMaskGenerator,
    MaxAreaFilter,
    MixedMaskGenerator,
    RandomBorderGenerator,
    StrokeMaskGenerator,
    border_mask,
    dilate,
    disk,
    draw_segments,
    eval_mask_generator,
    expand_canvas,
    feather,
    glcic_hole,
    load_mask,
    mask_area,
    mask_generator,
    read_eval_set,
    write_eval_set,
)
from inpaintkit.types import InputError


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- every generator
@pytest.mark.parametrize("name", sorted(MASK_GENERATORS))
def test_generators_shape_dtype_values_and_determinism(name):
    gen = mask_generator(name)
    np.random.seed(1)  # the global RNG must play no part
    a = gen(200, 240, rng(3))
    np.random.seed(2)
    b = gen(200, 240, rng(3))
    assert a.shape == (200, 240) and a.dtype == np.float32
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    if name != "outpaint-sides":  # the only fixed one
        others = [gen(200, 240, rng(s)) for s in range(4, 10)]
        assert any(not np.array_equal(a, o) for o in others)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(InputError, match="unknown mask generator 'nope'.*lama-train.*thick-512"):
        mask_generator("nope")
    with pytest.raises(InputError, match="valid: thin-256, thin-512, medium-256"):
        eval_mask_generator("thick", 1024)
    with pytest.raises(InputError, match="valid:"):
        eval_mask_generator("wide", 256)


# ----------------------------------------------------------------------------- strokes
def test_single_segment_stroke_has_the_drawn_width():
    gen = StrokeMaskGenerator(max_angle=1, max_len=200, max_width=40, min_times=1, max_times=1, max_segments=1)
    measured = 0
    for seed in range(30):
        (seg,) = gen.segments(400, 400, rng(seed))
        # first stroke is mirrored: angle 2*pi - 0.01, so it heads down and at most 0.01 * 209 px left
        assert seg.y1 >= seg.y0 and 0 <= seg.x0 - seg.x1 <= 3
        mask = draw_segments([seg], 400, 400)
        np.testing.assert_array_equal(mask, gen(400, 400, rng(seed)))
        row = mask[(seg.y0 + seg.y1) // 2]
        cols = np.flatnonzero(row)
        if seg.y1 - seg.y0 < 4 or cols[0] == 0 or cols[-1] == 399:
            continue  # clipped at an edge: the cross-section is not the full width
        assert np.all(np.diff(cols) == 1)
        # cv2.line covers both boundary pixels of a band `width` wide: width .. width + 2 pixels
        assert seg.width <= cols.size <= seg.width + 2, (seg, cols.size)
        measured += 1
    assert measured >= 10


def test_stroke_parameters_follow_lama():
    gen = StrokeMaskGenerator(max_angle=4, max_len=60, max_width=20, min_times=2, max_times=3)
    allowed = [a for k in range(4) for a in (0.01 + k, 2 * math.pi - 0.01 - k)]
    checked = 0
    for seed in range(100):
        segments = gen.segments(300, 300, rng(seed))
        assert 2 <= len(segments) <= 3 * 5
        for seg in segments:
            assert 5 <= seg.width <= 24
            assert 0 <= seg.x1 < 300 and 0 <= seg.y1 < 300
            length = math.hypot(seg.x1 - seg.x0, seg.y1 - seg.y0)
            assert length <= 10 + 59 + 1
            if length >= 12 and 0 < seg.x1 < 299 and 0 < seg.y1 < 299:  # unclipped: direction is exact
                angle = math.atan2(seg.x1 - seg.x0, seg.y1 - seg.y0) % (2 * math.pi)
                gap = min(abs((angle - a + math.pi) % (2 * math.pi) - math.pi) for a in allowed)
                assert gap < 2 / length
                checked += 1
    assert checked > 200


def test_stroke_and_box_arguments_are_checked():
    with pytest.raises(InputError, match="max_width must be >= 1"):
        StrokeMaskGenerator(max_width=0)
    with pytest.raises(InputError, match="stroke count"):
        StrokeMaskGenerator(min_times=5, max_times=2)
    with pytest.raises(InputError, match="box size"):
        BoxMaskGenerator(bbox_min_size=50, bbox_max_size=40)
    with pytest.raises(InputError, match="cannot hold a box of 30 px with a margin of 10 px"):
        BoxMaskGenerator()(45, 200, rng(0))
    with pytest.raises(InputError, match="height must be a positive integer"):
        StrokeMaskGenerator()(0, 10, rng(0))


# ----------------------------------------------------------------------------- boxes and mixture
def test_boxes_stay_inside_margins_and_size_bounds():
    gen = BoxMaskGenerator(margin=10, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=4)
    counts = set()
    for seed in range(200):
        boxes = gen.boxes(256, 256, rng(seed))
        counts.add(len(boxes))
        expected = np.zeros((256, 256), np.float32)
        for y0, x0, y1, x1 in boxes:
            assert 30 <= y1 - y0 <= 150 and 30 <= x1 - x0 <= 150
            assert y0 >= 10 and x0 >= 10 and y1 <= 246 and x1 <= 246
            expected[y0:y1, x0:x1] = 1
        np.testing.assert_array_equal(gen(256, 256, rng(seed)), expected)
    assert counts == {1, 2, 3, 4}
    small = BoxMaskGenerator(margin=10, bbox_min_size=30, bbox_max_size=150, min_times=3, max_times=3)
    for seed in range(50):  # the maximum side shrinks to what fits between the margins: 100 - 20
        assert all(y1 - y0 <= 80 and x1 - x0 <= 80 for y0, x0, y1, x1 in small.boxes(100, 100, rng(seed)))


def test_mixture_renormalises_probabilities():
    ones = lambda h, w, r: np.ones((h, w), np.float32)  # noqa: E731
    zeros = lambda h, w, r: np.zeros((h, w), np.float32)  # noqa: E731
    mix = MixedMaskGenerator((zeros, ones), (1.0, 0.3))
    np.testing.assert_allclose(mix.weights, [1 / 1.3, 0.3 / 1.3])
    g = rng(0)
    share = np.mean([mix(2, 2, g)[0, 0] for _ in range(4000)])
    assert abs(share - 0.3 / 1.3) < 0.025
    with pytest.raises(InputError, match="one probability per generator"):
        MixedMaskGenerator((zeros,), (1.0, 2.0))


def test_training_mix_is_half_boxes_half_strokes():
    gen = mask_generator("lama-train")
    np.testing.assert_allclose(gen.weights, [0.5, 0.5])
    strokes, boxes = gen.generators
    assert (strokes.max_angle, strokes.max_len, strokes.max_width, strokes.min_times, strokes.max_times) == (
        4,
        200,
        100,
        1,
        5,
    )
    assert (boxes.margin, boxes.bbox_min_size, boxes.bbox_max_size, boxes.min_times, boxes.max_times) == (
        10,
        30,
        150,
        1,
        4,
    )


# ----------------------------------------------------------------------------- area limit and presets
def test_area_filter_redraws_until_small_enough():
    areas = iter([0.9, 0.51, 0.3, 0.8])
    calls = []

    def scripted(h, w, r):
        calls.append(1)
        mask = np.zeros((h, w), np.float32)
        mask.flat[: round(next(areas) * h * w)] = 1
        return mask

    out = MaxAreaFilter(scripted, max_area=0.5)(10, 10, rng(0))
    assert len(calls) == 3 and mask_area(out) == pytest.approx(0.3)


def test_area_filter_redraws_huge_strokes_and_gives_up_when_impossible():
    huge = StrokeMaskGenerator(max_angle=4, max_len=120, max_width=60, min_times=2, max_times=6)
    calls = []

    def counted(h, w, r):
        calls.append(1)
        return huge(h, w, r)

    gen, g = MaxAreaFilter(counted), rng(0)
    masks = [gen(96, 96, g) for _ in range(20)]
    assert all(mask_area(m) <= 0.5 for m in masks)
    assert len(calls) > 25  # raw masks exceed 50% often at this size, so some were redrawn
    everything = lambda h, w, r: np.ones((h, w), np.float32)  # noqa: E731
    with pytest.raises(InputError, match="no 8x8 mask covering <= 50% in 7 attempts"):
        MaxAreaFilter(everything, max_attempts=7)(8, 8, rng(0))


def test_eval_presets_match_the_lama_configs():
    # (min strokes, max strokes, max_width, max_len) and boxes (margin, min side, max side, min, max)
    table = {
        "thin-512": ((4, 70, 20, 100), None),
        "medium-512": ((4, 10, 100, 200), (0, 30, 150, 1, 5)),
        "thick-512": ((1, 5, 250, 450), (10, 30, 300, 1, 4)),
        "thin-256": ((4, 50, 10, 40), None),
        "medium-256": ((4, 5, 50, 100), (0, 10, 50, 1, 5)),
        "thick-256": ((1, 5, 100, 200), (10, 30, 150, 1, 3)),
    }
    for name, (stroke_args, box_args) in table.items():
        gen = mask_generator(name)
        assert isinstance(gen, MaxAreaFilter) and gen.max_area == 0.5
        mix = gen.generator
        strokes = mix.generators[0]
        assert (strokes.min_times, strokes.max_times, strokes.max_width, strokes.max_len) == stroke_args
        assert strokes.max_angle == 4 and strokes.max_segments == 5
        if box_args is None:
            assert len(mix.generators) == 1
        else:
            boxes = mix.generators[1]
            assert (
                boxes.margin,
                boxes.bbox_min_size,
                boxes.bbox_max_size,
                boxes.min_times,
                boxes.max_times,
            ) == box_args
            np.testing.assert_allclose(mix.weights, [1 / 1.3, 0.3 / 1.3])


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("preset", ["thin", "medium", "thick"])
def test_eval_presets_never_cover_more_than_half(preset, size):
    gen, g = eval_mask_generator(preset, size), rng(11)
    areas = [mask_area(gen(size, size, g)) for _ in range(25)]
    assert max(areas) <= 0.5 and min(areas) > 0


def test_eval_presets_order_thin_medium_thick_by_hole_depth():
    # The presets differ by stroke width, not by area (their mean areas are all ~0.2-0.3, as in the
    # LaMa configs); the mean distance of hole pixels to the nearest known pixel is what orders them.
    def depth(preset):
        gen, g = eval_mask_generator(preset, 256), rng(5)
        values = []
        for _ in range(50):
            m = gen(256, 256, g).astype(np.uint8)
            values.append(cv2.distanceTransform(m, cv2.DIST_L2, 5)[m > 0].mean())
        return float(np.mean(values))

    thin, medium, thick = depth("thin"), depth("medium"), depth("thick")
    assert thin < medium < thick
    assert thin * 1.5 < medium and medium * 1.3 < thick


# ----------------------------------------------------------------------------- GLCIC and borders
@pytest.mark.parametrize("shape", [(256, 256), (100, 300), (384, 257)])
def test_glcic_hole_bounds(shape):
    h, w = shape
    heights, widths = [], []
    for seed in range(300):
        mask, (y0, x0, y1, x1) = glcic_hole(h, w, rng(seed))
        assert 96 <= y1 - y0 <= min(128, h) and 96 <= x1 - x0 <= min(128, w)
        assert 0 <= y0 and 0 <= x0 and y1 <= h and x1 <= w
        assert mask.sum() == (y1 - y0) * (x1 - x0) and mask[y0:y1, x0:x1].all()
        heights.append(y1 - y0)
        widths.append(x1 - x0)
    for sides, extent in ((heights, h), (widths, w)):  # the whole range is used
        assert min(sides) == 96 and max(sides) == min(128, extent)
    with pytest.raises(InputError, match="cannot hold a GLCIC hole of side 96"):
        glcic_hole(90, 300, rng(0))


@pytest.mark.parametrize(
    "kwargs, rows, cols",
    [
        ({"left": 7}, slice(None), slice(0, 7)),
        ({"right": 9}, slice(None), slice(71, 80)),
        ({"top": 3}, slice(0, 3), slice(None)),
        ({"bottom": 12}, slice(88, 100), slice(None)),
        ({"left": 0.25}, slice(None), slice(0, 20)),
        ({"right": 0.1}, slice(None), slice(72, 80)),
        ({"top": 0.05}, slice(0, 5), slice(None)),
        ({"bottom": 0.5}, slice(50, 100), slice(None)),
    ],
)
def test_border_mask_each_side(kwargs, rows, cols):
    mask = border_mask(100, 80, **kwargs)
    expected = np.zeros((100, 80), np.float32)
    expected[rows, cols] = 1
    np.testing.assert_array_equal(mask, expected)


def test_border_mask_combined_and_errors():
    mask = border_mask(100, 80, left=5, top=3, right=0.25)
    assert mask.sum() == 5 * 100 + 20 * 100 + 3 * (80 - 25)
    with pytest.raises(InputError, match="left border must be >= 0"):
        border_mask(10, 10, left=-1)
    with pytest.raises(InputError, match="must be < 1; use an int for pixels"):
        border_mask(10, 10, top=1.5)
    with pytest.raises(InputError, match="left \\+ right borders \\(10 px\\) leave nothing"):
        border_mask(10, 10, left=4, right=6)
    with pytest.raises(InputError, match="pixels \\(int\\) or a fraction"):
        border_mask(10, 10, bottom=True)


def test_expand_canvas_places_image_and_masks_new_area():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    canvas, mask = expand_canvas(image, left=2, right=0.5, top=1, fill=(10, 20, 30))
    assert canvas.shape == (7, 14, 3) and canvas.dtype == np.uint8 and mask.shape == (7, 14)
    np.testing.assert_array_equal(canvas[1:7, 2:10], image)
    assert mask.sum() == 7 * 14 - 6 * 8 and not mask[1:7, 2:10].any()
    np.testing.assert_array_equal(canvas[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(canvas[3, 13], [10, 20, 30])

    grey = np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)
    mean_canvas, _ = expand_canvas(grey, bottom=1, fill="mean")
    np.testing.assert_allclose(mean_canvas[2], [0.75, 0.75])
    edge_canvas, _ = expand_canvas(grey, left=2, fill="edge")
    np.testing.assert_array_equal(edge_canvas[0], [0, 0, 0, 1])
    with pytest.raises(InputError, match="right border must be >= 0"):
        expand_canvas(image, right=-3)
    with pytest.raises(InputError, match="exceeds the 32768 px limit"):
        expand_canvas(image, left=40000)
    with pytest.raises(InputError, match="fill needs 1 or 3 values"):
        expand_canvas(image, left=1, fill=(1, 2))


def test_random_borders_are_strips_of_bounded_width():
    gen = RandomBorderGenerator()
    for seed in range(100):
        mask = gen(100, 200, rng(seed))
        full_cols, full_rows = mask.all(axis=0), mask.all(axis=1)
        left = int(np.argmin(full_cols)) if not full_cols.all() else 0
        right = int(np.argmin(full_cols[::-1]))
        top, bottom = int(np.argmin(full_rows)), int(np.argmin(full_rows[::-1]))
        np.testing.assert_array_equal(mask, border_mask(100, 200, left, right, top, bottom))
        assert left + right + top + bottom > 0
        assert all(v == 0 or 8 <= v <= 50 for v in (left, right))
        assert all(v == 0 or 4 <= v <= 25 for v in (top, bottom))


# ----------------------------------------------------------------------------- user masks
def test_rgba_alpha_is_the_hole(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = 255  # white colour everywhere, which must not matter
    rgba[1, 2, 3] = 1
    rgba[3, 0, 3] = 255
    rgba[0, 4, :3] = 0  # black but opaque -> still a hole
    rgba[0, 4, 3] = 200
    Image.fromarray(rgba).save(tmp_path / "painted.png")
    mask = load_mask(tmp_path / "painted.png")
    expected = np.zeros((4, 5), np.float32)
    expected[1, 2] = expected[3, 0] = expected[0, 4] = 1
    np.testing.assert_array_equal(mask, expected)


def test_opaque_rgba_falls_back_to_colour(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[1, 1, 0] = 255
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    expected = np.zeros((3, 3), np.float32)
    expected[1, 1] = 1
    np.testing.assert_array_equal(load_mask(tmp_path / "opaque.png"), expected)


def test_grey_rgb_palette_and_bilevel_nonzero_rule(tmp_path):
    grey = np.array([[0, 1, 128], [255, 0, 0]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "grey.png"), [[0, 1, 1], [1, 0, 0]])
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 1, 2] = 5
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "rgb.png"), [[0, 1], [0, 0]])
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "palette.png"), [[0, 1, 1], [1, 0, 0]])
    Image.fromarray(grey > 100).save(tmp_path / "bilevel.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "bilevel.png"), [[0, 0, 1], [1, 0, 0]])
    assert load_mask(Image.open(tmp_path / "grey.png")).dtype == np.float32
    np.testing.assert_array_equal(load_mask(rgb), [[0, 1], [0, 0]])


def test_exif_orientation_is_applied(tmp_path):
    grey = np.zeros((2, 3), np.uint8)
    grey[0, 0] = 255
    image = Image.fromarray(grey)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "rotated.png", exif=exif)
    np.testing.assert_array_equal(load_mask(tmp_path / "rotated.png"), np.rot90(grey != 0, k=-1))


def test_corrupt_missing_and_bad_masks(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    with pytest.raises(InputError, match="cannot read mask .*broken.png"):
        load_mask(bad)
    with pytest.raises(InputError, match="no such mask file: .*absent.png"):
        load_mask(tmp_path / "absent.png")
    with pytest.raises(InputError, match="shape \\(H,W\\), \\(H,W,1\\)"):
        load_mask(np.zeros((2, 2, 2)))


# ----------------------------------------------------------------------------- dilation, feathering, area
@pytest.mark.parametrize("radius", [65, 80])
def test_large_dilations_match_the_disk_and_any_radius_is_cheap(radius):
    # above 64 px the hole grows by thresholding the distance to it: the same pixels as the disk
    mask = np.zeros((241, 243), np.float32)
    mask[120, 100] = mask[30, 200] = 1
    grown = dilate(mask, radius)
    expected = cv2.dilate(mask.astype(np.uint8), disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    np.testing.assert_array_equal(grown, expected.astype(np.float32))
    huge = dilate(mask, 1_000_000)  # issue 16: --dilate 1000000 was a MemoryError (a 2e6-wide kernel)
    assert huge.dtype == np.float32 and huge.all()
    assert not dilate(np.zeros((5, 5)), 1_000_000).any()


@pytest.mark.parametrize("radius", [0, 1, 3, 6])
def test_dilating_one_pixel_gives_a_disk(radius):
    mask = np.zeros((31, 31), np.float32)
    mask[15, 15] = 1
    grown = dilate(mask, radius)
    span = range(-radius, radius + 1)
    lattice = sum(1 for y in span for x in span if x * x + y * y <= radius**2)
    assert grown.dtype == np.float32 and grown.sum() == lattice
    assert grown[15, 15 + radius] == 1 and grown[15 + radius, 15] == 1
    if radius:
        assert grown[15 + radius, 15 + radius] == 0  # a disk, not a square


def test_feather_is_a_linear_ramp_outside_the_hole():
    mask = np.zeros((20, 40), np.float32)
    mask[:, :10] = 1
    weights = feather(mask, 4)
    assert weights.dtype == np.float32 and weights.min() >= 0 and weights.max() <= 1
    np.testing.assert_allclose(weights[7, 8:16], [1, 1, 0.8, 0.6, 0.4, 0.2, 0, 0], atol=1e-6)
    assert np.all(np.diff(weights, axis=1) <= 1e-7)  # monotone away from the hole
    np.testing.assert_array_equal(feather(mask, 0), mask)
    np.testing.assert_array_equal(feather(np.zeros((3, 3)), 5), np.zeros((3, 3)))
    with pytest.raises(InputError, match="feathering must be a whole number of pixels >= 0"):
        feather(mask, -1)


def test_mask_area():
    mask = np.zeros((4, 5), np.float32)
    mask[0, :3] = 1
    assert mask_area(mask) == pytest.approx(3 / 20)


# ----------------------------------------------------------------------------- evaluation sets on disk
def test_eval_set_is_byte_identical_prefix_stable_and_refuses_overwrite(tmp_path):
    a = write_eval_set("thick", 256, 3, 5, tmp_path / "a", progress=False)
    b = write_eval_set("thick", 256, 3, 5, tmp_path / "b", progress=False)
    longer = write_eval_set("thick", 256, 5, 5, tmp_path / "c", progress=False)
    other = write_eval_set("thick", 256, 3, 6, tmp_path / "d", progress=False)
    assert [p.name for p in a] == ["mask_0000.png", "mask_0001.png", "mask_0002.png"]
    assert all(pa.read_bytes() == pb.read_bytes() for pa, pb in zip(a, b))
    assert (tmp_path / "a/masks.json").read_bytes() == (tmp_path / "b/masks.json").read_bytes()
    assert all(pa.read_bytes() == pc.read_bytes() for pa, pc in zip(a, longer))
    assert any(pa.read_bytes() != pd.read_bytes() for pa, pd in zip(a, other))

    generator = eval_mask_generator("thick", 256)
    for i, path in enumerate(a):  # mask i is drawn from default_rng([seed, i])
        pixels = np.asarray(Image.open(path))
        assert pixels.dtype == np.uint8 and set(np.unique(pixels)) <= {0, 255}
        np.testing.assert_array_equal(pixels == 255, generator(256, 256, np.random.default_rng([5, i])) == 1)

    doc = json.loads((tmp_path / "a/masks.json").read_text())
    assert (doc["preset"], doc["size"], doc["count"], doc["seed"]) == ("thick", 256, 3, 5)
    assert doc["inpaintkit_version"]
    eval_set = read_eval_set(tmp_path / "a")
    assert len(eval_set) == 3 and eval_set.paths == a
    for i in range(3):
        assert doc["files"][i]["area"] == pytest.approx(mask_area(eval_set[i]), abs=1e-6)

    with pytest.raises(InputError, match=r"mask_0000.png already exists; pass --overwrite \(overwrite=True\)"):
        write_eval_set("thick", 256, 3, 5, tmp_path / "a", progress=False)
    again = write_eval_set("thick", 256, 3, 5, tmp_path / "a", overwrite=True, progress=False)
    assert again == a


def test_eval_set_argument_errors(tmp_path):
    with pytest.raises(InputError, match="valid: thin-256"):
        write_eval_set("thick", 300, 2, 0, tmp_path / "x", progress=False)
    with pytest.raises(InputError, match="mask count must be an integer >= 1"):
        write_eval_set("thin", 256, 0, 0, tmp_path / "x", progress=False)
    with pytest.raises(InputError, match="seed must be an integer >= 0"):
        write_eval_set("thin", 256, 2, -1, tmp_path / "x", progress=False)
    with pytest.raises(InputError, match="no masks.json in"):
        read_eval_set(tmp_path)
