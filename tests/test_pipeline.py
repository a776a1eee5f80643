import logging

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image
from scipy import ndimage

from inpaintkit.classical import TeleaInpainter
from inpaintkit.io import Picture, luma, to_uint8, write_image
from inpaintkit.pipelines import InpaintPipeline
from inpaintkit.types import InputError

RNG = np.random.default_rng(0)
COLOUR = (0.2, 0.6, 0.9)


class ConstantSpy(nn.Module):
    """Returns one colour over the whole frame (known pixels included) and records every call."""

    def __init__(self, colour=COLOUR):
        super().__init__()
        self.colour = torch.tensor(colour).view(1, 3, 1, 1)
        self.calls = []

    def forward(self, image, mask):
        self.calls.append((tuple(image.shape[-2:]), mask.clone()))
        return self.colour.to(image.dtype).expand_as(image).clone()


def _pipe(model=None, **options):
    return InpaintPipeline(model if model is not None else ConstantSpy(), name="spy", **options)


def _blob_mask(height, width, *boxes):
    mask = np.zeros((height, width), np.float32)
    for y0, x0, y1, x1 in boxes:
        mask[y0:y1, x0:x1] = 1
    return mask


def _noise(shape, dtype=np.uint8):
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def test_odd_size_round_trips_and_the_model_sees_a_padded_frame():
    spy = ConstantSpy()
    image = _noise((37, 53, 3))
    result = _pipe(spy)(image, _blob_mask(37, 53, (5, 5, 15, 20)))
    assert result.image.shape == (37, 53, 3) and result.image.dtype == np.uint8
    assert [shape for shape, _ in spy.calls] == [(40, 56)]
    assert result.strategy == "original" and result.model == "spy"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_known_pixels_are_bit_exact_and_holes_filled(dtype):
    image = _noise((37, 53, 3), dtype)
    mask = _blob_mask(37, 53, (3, 4, 20, 9), (30, 40, 37, 53))
    out = _pipe()(image, mask).image
    assert out.dtype == dtype
    known = mask == 0
    assert (out[known] == image[known]).all()
    top = np.iinfo(dtype).max
    assert (out[~known] == np.rint(np.array(COLOUR) * top).astype(dtype)).all()


def test_float64_known_pixels_are_bit_exact():
    image = RNG.random((20, 24, 3))  # float64 values float32 cannot hold
    mask = _blob_mask(20, 24, (5, 5, 10, 10))
    out = _pipe()(image, mask).image
    assert out.dtype == np.float64
    assert (out[mask == 0] == image[mask == 0]).all()


def test_rgba_alpha_preserved_exactly():
    pixels = _noise((21, 19, 4))
    result = _pipe()(Image.fromarray(pixels), _blob_mask(21, 19, (2, 2, 9, 9)))
    assert result.image.mode == "RGBA"
    out = np.asarray(result.image)
    assert (out[..., 3] == pixels[..., 3]).all()
    assert (out[10:, 10:] == pixels[10:, 10:]).all()


def test_greyscale_in_greyscale_out():
    pixels = _noise((16, 17))
    mask = _blob_mask(16, 17, (4, 4, 8, 8))
    expected_fill = to_uint8(luma(np.array(COLOUR, np.float32)))
    result = _pipe()(Image.fromarray(pixels), mask)
    assert result.image.mode == "L"
    out = np.asarray(result.image)
    assert (out[mask > 0] == expected_fill).all() and (out[mask == 0] == pixels[mask == 0]).all()
    array_out = _pipe()(pixels, mask).image
    assert array_out.shape == (16, 17)
    np.testing.assert_array_equal(array_out, out)


def test_pil_exif_orientation_is_applied_like_the_mask_loader(tmp_path):
    stored = Image.fromarray(_noise((10, 30, 3)))  # 30 wide, 10 high as stored
    exif = stored.getexif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees: 10 wide, 30 high
    stored.save(tmp_path / "r.png", exif=exif)
    with Image.open(tmp_path / "r.png") as image:
        result = _pipe()(image, _blob_mask(30, 10, (0, 0, 5, 5)))
    assert result.image.size == (10, 30)
    assert "EXIF orientation 6" in result.warnings[0]


def test_sixteen_bit_pil_and_picture_keep_their_format():
    grey16 = _noise((12, 10), np.uint16)
    mask = _blob_mask(12, 10, (0, 0, 3, 3))
    out = _pipe()(Image.fromarray(grey16), mask).image
    assert out.mode == "I;16"
    assert (np.asarray(out)[mask == 0] == grey16[mask == 0]).all()
    picture = Picture(RNG.random((12, 10, 3), dtype=np.float32), RNG.random((12, 10), dtype=np.float32), 16, "RGBA")
    filled = _pipe()(picture, mask).image
    assert isinstance(filled, Picture) and (filled.mode, filled.bit_depth) == ("RGBA", 16)
    assert filled.alpha is picture.alpha
    assert (filled.rgb[mask == 0] == picture.rgb[mask == 0]).all()


@pytest.mark.parametrize("shape", [(3, 19, 23), (1, 3, 19, 23)])
def test_tensor_in_tensor_out(shape):
    image = torch.rand(shape, dtype=torch.float64)
    mask = torch.zeros(1, 1, 19, 23)
    mask[..., 5:9, 6:10] = 1
    out = _pipe()(image, mask).image
    assert isinstance(out, torch.Tensor) and out.shape == shape and out.dtype == torch.float64
    known = (mask[0, 0] == 0).expand(3, 19, 23)
    assert torch.equal(out.reshape(3, 19, 23)[known], image.reshape(3, 19, 23)[known])
    with pytest.raises(InputError, match=r"\[0,1\]"):
        _pipe()(image * 2, mask)


def test_path_input_returns_a_picture(tmp_path):
    pixels = _noise((9, 11, 3))
    write_image(tmp_path / "in.png", pixels)
    result = _pipe()(tmp_path / "in.png", _blob_mask(9, 11, (1, 1, 4, 4)))
    assert isinstance(result.image, Picture)
    assert (to_uint8(result.image.rgb)[5:] == pixels[5:]).all()


def test_empty_mask_returns_input_unchanged_with_warning(caplog):
    spy = ConstantSpy()
    image = _noise((10, 12, 3))
    with caplog.at_level(logging.WARNING):
        result = _pipe(spy)(image, np.zeros((10, 12)))
    assert spy.calls == []
    assert (result.image == image).all() and result.image is not image
    assert "mask is empty" in result.warnings[0] and "mask is empty" not in caplog.text  # the caller shows it


@pytest.mark.parametrize("strategy", ["original", "crop", "resize"])
def test_a_mask_over_the_whole_picture_is_refused_before_the_model_runs(strategy):
    """Nothing would be left to fill from (the page refused it already; the API does too now)."""
    spy = ConstantSpy()
    pipe = _pipe(spy, hd_trigger=64, hd_resize_limit=64)
    with pytest.raises(InputError, match="the mask covers the whole picture: nothing is left to fill it from"):
        pipe(_noise((70, 90, 3)), np.ones((70, 90)), hd_strategy=strategy)
    with pytest.raises(InputError, match="the mask covers the whole picture"):
        pipe(_noise((70, 90, 3)), np.pad(np.ones((68, 88)), 1), dilate=2, hd_strategy=strategy)  # after growing
    assert spy.calls == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_mask_with_nan_or_infinity_is_refused(bad):
    mask = np.zeros((20, 30), np.float32)
    mask[5:10, 5:10] = 1
    mask[0, 0] = bad
    with pytest.raises(InputError, match="a mask array must hold finite numbers; it has NaN or infinite values"):
        _pipe(ConstantSpy())(_noise((20, 30, 3)), mask)


def test_mask_size_mismatch_and_resize_mask():
    image = _noise((37, 53, 3))
    small = _blob_mask(10, 20, (0, 0, 5, 10))  # top-left quarter of the frame
    with pytest.raises(InputError) as err:
        _pipe()(image, small)
    message = str(err.value)
    assert "mask is 20x10 but image is 53x37" in message
    assert "--resize-mask" in message and "resize_mask=True" in message
    result = _pipe()(image, small, resize_mask=True)
    rows, cols = np.nonzero(result.mask)
    assert rows.min() == 0 and cols.min() == 0 and 17 <= rows.max() <= 19 and 25 <= cols.max() <= 27
    assert (result.image[~result.mask] == image[~result.mask]).all()


def test_crop_strategy_runs_the_model_on_two_crops_only():
    spy = ConstantSpy()
    image = _noise((900, 1000, 3))  # 1000 wide, 900 high
    mask = _blob_mask(900, 1000, (300, 200, 320, 220), (600, 700, 630, 740))
    result = _pipe(spy, hd_strategy="crop", hd_trigger=800, hd_margin=128)(image, mask)
    assert result.strategy == "crop"
    # boxes (172, 72, 448, 348) and (472, 572, 758, 868): 276x276 and 286x296, padded to 8
    assert sorted(shape for shape, _ in spy.calls) == [(280, 280), (288, 296)]
    first_mask = spy.calls[0][1][0, 0]
    assert first_mask.sum() == 400 and first_mask[128:148, 128:148].all()
    known = mask == 0
    assert (result.image[known] == image[known]).all()
    assert (result.image[~known] == np.rint(np.array(COLOUR) * 255)).all()


def test_crop_below_trigger_runs_on_the_whole_frame():
    spy = ConstantSpy()
    result = _pipe(spy, hd_trigger=800)(_noise((64, 80, 3)), _blob_mask(64, 80, (1, 1, 3, 3), (50, 60, 55, 70)))
    assert result.strategy == "original" and [shape for shape, _ in spy.calls] == [(64, 80)]


def test_resize_strategy_shrinks_to_the_limit_and_changes_only_holes():
    spy = ConstantSpy()
    image = _noise((900, 1000, 3))
    mask = _blob_mask(900, 1000, (400, 400, 430, 470))
    result = _pipe(spy, hd_resize_limit=512)(image, mask, hd_strategy="resize")
    assert result.strategy == "resize"
    ((seen, seen_mask),) = spy.calls
    assert seen == (464, 512)  # 900 * 512 / 1000 = 460.8 -> 461, padded to 464
    assert seen_mask[0, 0, :461].sum() > 0 and seen_mask[0, 0, 461:].sum() == 0
    changed = (result.image != image).any(axis=2)
    assert not changed[mask == 0].any()
    assert (result.image[mask > 0] == np.rint(np.array(COLOUR) * 255)).all()


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(InputError, match="original, resize, crop"):
        _pipe()(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8)), hd_strategy="tiles")
    with pytest.raises(InputError, match="original, resize, crop"):
        _pipe(hd_strategy="tiles")


def test_dilation_grows_the_changed_area():
    image = np.zeros((40, 40, 3), np.uint8)
    mask = _blob_mask(40, 40, (18, 18, 22, 22))
    plain = _pipe()(image, mask)
    grown = _pipe()(image, mask, dilate=3)
    changed = (grown.image != 0).any(axis=2)
    distance = ndimage.distance_transform_edt(mask == 0)
    np.testing.assert_array_equal(changed, distance <= 3)
    np.testing.assert_array_equal(changed, grown.mask)
    assert changed.sum() > (plain.image != 0).any(axis=2).sum() == 16


@pytest.mark.parametrize("strategy", ["original", "crop"])
def test_feathering_blends_a_ring_and_keeps_the_rest_exact(strategy):
    image = np.zeros((60, 60, 3), np.float32)
    mask = _blob_mask(60, 60, (25, 25, 35, 35))
    pipe = _pipe(ConstantSpy((1.0, 1.0, 1.0)), hd_trigger=32, hd_margin=4)
    result = pipe(image, mask, feather=5, hd_strategy=strategy)
    out = result.image[..., 0]
    distance = ndimage.distance_transform_edt(mask == 0)
    ring = (distance > 0) & (distance < 6)  # weights 1 - d / (feather + 1), see masks.feather
    assert result.strategy == strategy
    assert (out[mask > 0] == 1).all()
    assert ((out[ring] > 0) & (out[ring] < 1)).all()
    np.testing.assert_allclose(out[ring], 1 - distance[ring] / 6, atol=1e-5)
    assert (out[distance >= 6] == 0).all()


def test_telea_on_odd_size_keeps_known_pixels():
    image = _noise((37, 53, 3))
    mask = _blob_mask(37, 53, (10, 10, 20, 25))
    out = _pipe(TeleaInpainter())(Image.fromarray(image), Image.fromarray((mask * 255).astype(np.uint8))).image
    out = np.asarray(out)
    assert out.shape == (37, 53, 3)
    assert (out[mask == 0] == image[mask == 0]).all()
    assert (out[mask > 0] != image[mask > 0]).any()


def test_pixel_limit_applies_to_in_memory_images():
    with pytest.raises(InputError, match="--max-pixels"):
        _pipe(max_pixels=100)(np.zeros((20, 20, 3), np.uint8), np.ones((20, 20)))


def test_a_nan_in_a_tensor_image_is_refused():
    # issue 16: one NaN known pixel passed the range check and turned the whole hole NaN
    image = torch.full((1, 3, 16, 16), 0.5)
    image[0, 1, 2, 3] = float("nan")
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:9, 4:9] = 1
    with pytest.raises(InputError, match=r"must lie in \[0,1\] \(no NaN\), got range \[nan, nan\]"):
        InpaintPipeline(TeleaInpainter(), name="telea", pad_multiple=1)(image, mask)
