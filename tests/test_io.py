import os
import stat
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from inpaintkit.io import (
    DEFAULT_MAX_PIXELS,
    Picture,
    apply_orientation,
    from_array,
    read_image,
    to_pil,
    to_uint8,
    to_uint16,
    write_image,
)
from inpaintkit.types import InputError

RNG = np.random.default_rng(0)


def _noise(shape, dtype=np.uint8):
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def test_rgb_png_round_trip_is_exact(tmp_path):
    pixels = _noise((9, 13, 3))
    Image.fromarray(pixels).save(tmp_path / "a.png")
    picture = read_image(tmp_path / "a.png")
    assert (picture.mode, picture.bit_depth, picture.alpha) == ("RGB", 8, None)
    assert picture.rgb.dtype == np.float32 and picture.rgb.shape == (9, 13, 3)
    np.testing.assert_array_equal(to_uint8(picture.rgb), pixels)
    write_image(tmp_path / "b.png", picture)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), pixels)


def test_greyscale_stays_greyscale(tmp_path):
    pixels = _noise((6, 7))
    Image.fromarray(pixels).save(tmp_path / "g.png")
    picture = read_image(tmp_path / "g.png")
    assert picture.mode == "L" and picture.is_grey
    assert (picture.rgb[..., 0] == picture.rgb[..., 2]).all()
    write_image(tmp_path / "out.png", picture)
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "L"
        np.testing.assert_array_equal(np.asarray(out), pixels)


def test_sixteen_bit_grey_png_keeps_precision(tmp_path):
    pixels = _noise((5, 8), np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), pixels)
    picture = read_image(tmp_path / "g16.png")
    assert picture.bit_depth == 16 and picture.is_grey
    np.testing.assert_array_equal(to_uint16(picture.rgb[..., 1]), pixels)
    write_image(tmp_path / "back.png", picture)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "back.png"), cv2.IMREAD_UNCHANGED), pixels)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_colour_reads_in_rgb_order_and_writes_back_identical(tmp_path, suffix):
    pixels = _noise((6, 9, 3), np.uint16)
    cv2.imwrite(str(tmp_path / f"c16{suffix}"), pixels[..., ::-1])  # OpenCV writes BGR
    picture = read_image(tmp_path / f"c16{suffix}")
    assert (picture.bit_depth, picture.mode) == (16, "RGB")
    np.testing.assert_array_equal(to_uint16(picture.rgb), pixels)
    write_image(tmp_path / "back.png", picture)
    back = read_image(tmp_path / "back.png")
    assert back.bit_depth == 16
    np.testing.assert_array_equal(back.rgb, picture.rgb)


def test_rgba_alpha_is_kept_exactly(tmp_path):
    pixels = _noise((7, 5, 4))
    Image.fromarray(pixels).save(tmp_path / "a.png")
    picture = read_image(tmp_path / "a.png")
    assert picture.mode == "RGBA"
    np.testing.assert_array_equal(to_uint8(picture.alpha), pixels[..., 3])
    write_image(tmp_path / "b.png", picture)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), pixels)


def test_palette_image_is_converted(tmp_path):
    image = Image.fromarray(_noise((6, 6, 3))).convert("P")
    image.save(tmp_path / "p.png")
    picture = read_image(tmp_path / "p.png")
    assert picture.mode == "P" and not picture.is_grey
    np.testing.assert_array_equal(to_uint8(picture.rgb), np.asarray(image.convert("RGB")))


def test_exif_orientation_six_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)  # landscape: left half red, right half blue
    pixels[:, :20, 0] = 255
    pixels[:, 20:, 2] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # stored rotated; display = rotate 90 degrees clockwise
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    picture = read_image(tmp_path / "r.jpg")
    assert picture.rgb.shape == (40, 20, 3)  # portrait after rotation
    top, bottom = picture.rgb[:15].mean(axis=(0, 1)), picture.rgb[25:].mean(axis=(0, 1))
    assert top[0] > 0.9 and top[2] < 0.1  # the left (red) half went to the top
    assert bottom[2] > 0.9 and bottom[0] < 0.1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(tmp_path, orientation):
    image = Image.fromarray(_noise((4, 6, 3)))
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as stored:
        expected = np.asarray(ImageOps.exif_transpose(stored))
        got = apply_orientation(np.asarray(stored), orientation)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file_fails_loudly(tmp_path, suffix):
    Image.fromarray(_noise((64, 64, 3))).save(tmp_path / f"full{suffix}")
    data = (tmp_path / f"full{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cannot read image .*cut"):
        read_image(tmp_path / f"cut{suffix}")


def test_truncated_sixteen_bit_colour_fails_loudly(tmp_path):
    cv2.imwrite(str(tmp_path / "full.png"), _noise((64, 64, 3), np.uint16))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read image"):
        read_image(tmp_path / "cut.png")


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(InputError, match="no such file: .*nope.png"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="cannot read image"):
        read_image(tmp_path / "junk.png")


def test_pixel_limit_names_size_limit_and_overrides(tmp_path, monkeypatch):
    Image.fromarray(_noise((20, 30, 3))).save(tmp_path / "a.png")
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "a.png", max_pixels=500)
    for part in ("30x20", "600", "500", "--max-pixels", "INPAINTKIT_MAX_PIXELS"):
        assert part in str(err.value)
    monkeypatch.setenv("INPAINTKIT_MAX_PIXELS", "100")
    with pytest.raises(InputError, match="limit of 100"):
        read_image(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", max_pixels=600).rgb.shape == (20, 30, 3)  # argument wins


def test_default_limit_admits_4096_squared():
    assert 4096 * 4096 < DEFAULT_MAX_PIXELS


def test_huge_header_is_refused_before_decoding(tmp_path):
    Image.fromarray(_noise((2, 2, 3))).save(tmp_path / "small.png")
    data = bytearray((tmp_path / "small.png").read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    with pytest.raises(InputError, match="100000x100000"):
        read_image(tmp_path / "bomb.png")


def test_from_array_checks_and_modes():
    assert from_array(_noise((3, 4))).mode == "L"
    assert from_array(_noise((3, 4), np.uint16)).mode == "I;16"
    assert from_array(_noise((3, 4), np.uint16)).bit_depth == 16
    assert from_array(_noise((3, 4, 4))).alpha.shape == (3, 4)
    assert from_array(np.zeros((3, 4, 3), np.float64)).rgb.dtype == np.float32
    with pytest.raises(InputError, match=r"\[0,1\]"):
        from_array(np.full((3, 4, 3), 2.0))
    with pytest.raises(InputError, match=r"\[0,1\]"):
        from_array(np.full((3, 4, 3), np.nan))
    with pytest.raises(InputError, match="dtype int64"):
        from_array(np.zeros((3, 4, 3), np.int64))
    with pytest.raises(InputError, match="shape"):
        from_array(np.zeros((3, 4, 5), np.uint8))


def test_to_pil_modes():
    assert to_pil(from_array(_noise((3, 4, 4)))).mode == "RGBA"
    assert to_pil(from_array(_noise((3, 4, 2)))).mode == "LA"
    grey16 = _noise((3, 4), np.uint16)
    image = to_pil(from_array(grey16))
    assert image.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(image), grey16)


def test_quantisers_round_to_nearest_and_clip():
    values = np.array([-0.1, 0.2, 0.503, 1.0, 1.2], np.float32)
    assert to_uint8(values).tolist() == [0, 51, 128, 255, 255]  # 0.503 * 255 = 128.27
    assert to_uint16(np.array([0.5], np.float32)).tolist() == [32768]  # 32767.5 -> even


def test_write_refuses_to_overwrite_and_is_atomic(tmp_path):
    target = tmp_path / "deep" / "dir" / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match=r"out\.png exists.*--overwrite"):
        write_image(target, np.ones((4, 4, 3), np.uint8))
    assert np.asarray(Image.open(target)).max() == 0
    write_image(target, np.full((4, 4, 3), 255, np.uint8), overwrite=True)
    assert np.asarray(Image.open(target)).min() == 255
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]  # no temporary left over
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # permissions of a normal new file
    with pytest.raises(InputError, match="unknown image extension '.xyz'"):
        write_image(tmp_path / "a.xyz", np.zeros((4, 4, 3), np.uint8))


def test_write_sixteen_bit_png_reads_back_identical(tmp_path):
    pixels = _noise((5, 6, 4), np.uint16)
    write_image(tmp_path / "x.png", pixels)
    back = read_image(tmp_path / "x.png")
    assert (back.bit_depth, back.mode) == (16, "RGBA")
    np.testing.assert_array_equal(to_uint16(back.rgb), pixels[..., :3])
    np.testing.assert_array_equal(to_uint16(back.alpha), pixels[..., 3])


def test_jpeg_drops_alpha(tmp_path):
    picture = Picture(np.full((4, 4, 3), 0.5, np.float32), np.ones((4, 4), np.float32), 8, "RGBA")
    write_image(tmp_path / "x.jpg", picture)
    with Image.open(tmp_path / "x.jpg") as out:
        assert out.mode == "RGB" and out.size == (4, 4)
