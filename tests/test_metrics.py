"""Tests of the metrics: hand-computed values, scikit-image and piq (HaarPSI) as references, function == module."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintkit.metrics import L1, PSNR, SSIM, HaarPSI, HoleL1, haarpsi, hole_detail, hole_l1, l1, psnr, ssim
from inpaintkit.types import InputError


def random_images(
    seed: int, shape: tuple[int, ...] = (2, 3, 32, 40), dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def astronaut(size: int = 96) -> torch.Tensor:
    """scikit-image's astronaut photo as a (1,3,size,size) float64 tensor in [0,1]."""
    picture = torch.from_numpy(skdata.astronaut()).permute(2, 0, 1)[None].double() / 255
    return F.interpolate(picture, size=(size, size), mode="area")


def skimage_ssim(pred: torch.Tensor, target: torch.Tensor, sigma: float = 1.5) -> list[float]:
    """Reference SSIM per image (scikit-image, Gaussian window, population covariance)."""
    return [
        structural_similarity(
            p.permute(1, 2, 0).numpy(),
            t.permute(1, 2, 0).numpy(),
            gaussian_weights=True,
            sigma=sigma,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        for p, t in zip(pred, target)
    ]


# ---------------------------------------------------------------- PSNR


def test_psnr_constant_error_by_hand() -> None:
    target = random_images(0) * 0.8
    pred = target.clone()
    pred[0] += 0.1  # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    pred[1] += 0.01  # MSE 1e-4 -> 40 dB
    expected = torch.tensor([20.0, 40.0], dtype=torch.float64)
    torch.testing.assert_close(psnr(pred, target, reduction="none"), expected)
    assert psnr(pred, target).item() == pytest.approx(30.0, abs=1e-9)
    in_255 = psnr(pred * 255, target * 255, data_range=255.0, reduction="none")
    assert in_255[0].item() == pytest.approx(20.0, abs=1e-9)


def test_psnr_matches_skimage() -> None:
    target, noise = random_images(1), random_images(2)
    pred = (target + 0.2 * (noise - 0.5)).clamp(0, 1)
    expected = [peak_signal_noise_ratio(t.numpy(), p.numpy(), data_range=1.0) for p, t in zip(pred, target)]
    torch.testing.assert_close(psnr(pred, target, reduction="none"), torch.tensor(expected).double())


def test_psnr_identical_images_is_inf() -> None:
    target = random_images(3)
    pred = target.clone()
    pred[1] += 0.1
    values = psnr(pred, target, reduction="none")
    assert math.isinf(values[0].item()) and values[0].item() > 0
    assert values[1].item() == pytest.approx(20.0, abs=1e-9)
    assert math.isinf(psnr(target, target).item())


# ---------------------------------------------------------------- SSIM


def test_ssim_of_an_image_with_itself_is_one() -> None:
    image = random_images(4, dtype=torch.float32)
    torch.testing.assert_close(ssim(image, image, reduction="none"), torch.ones(2), atol=1e-6, rtol=0)


def test_ssim_matches_skimage_on_random_images() -> None:
    target = random_images(5)
    pred = (0.7 * target + 0.3 * random_images(6)).clamp(0, 1)
    expected = torch.tensor(skimage_ssim(pred, target), dtype=torch.float64)
    torch.testing.assert_close(ssim(pred, target, reduction="none"), expected, atol=1e-10, rtol=0)
    in_float32 = ssim(pred.float(), target.float(), reduction="none")
    torch.testing.assert_close(in_float32, expected.float(), atol=1e-4, rtol=0)


def test_ssim_matches_skimage_on_a_photo() -> None:
    target = astronaut()
    blurred = F.avg_pool2d(F.pad(target, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    noisy = (target + 0.05 * (random_images(7, (1, 3, 96, 96)) - 0.5)).clamp(0, 1)
    pred = torch.cat([blurred, noisy])
    target = target.expand(2, -1, -1, -1)
    expected = torch.tensor(skimage_ssim(pred, target), dtype=torch.float64)
    assert 0.3 < expected.min() < expected.max() < 0.99  # a meaningful, non-trivial comparison
    torch.testing.assert_close(ssim(pred, target, reduction="none"), expected, atol=1e-10, rtol=0)
    in_float32 = ssim(pred.float(), target.float(), reduction="none")
    torch.testing.assert_close(in_float32, expected.float(), atol=1e-4, rtol=0)


def test_ssim_other_window_matches_skimage() -> None:
    # scikit-image derives its window from sigma: 2 * int(3.5 * 1.0 + 0.5) + 1 = 9
    target = astronaut(48)
    pred = (target + 0.1 * (random_images(8, (1, 3, 48, 48)) - 0.5)).clamp(0, 1)
    expected = skimage_ssim(pred, target, sigma=1.0)[0]
    assert ssim(pred, target, window_size=9, sigma=1.0).item() == pytest.approx(expected, abs=1e-10)


def test_ssim_drops_as_noise_grows_and_has_gradients() -> None:
    target = astronaut(48)
    noise = random_images(9, (1, 3, 48, 48)) - 0.5
    values = [ssim((target + s * noise).clamp(0, 1), target).item() for s in (0.02, 0.1, 0.3)]
    assert values[0] > values[1] > values[2]
    pred = (target + 0.1 * noise).clamp(0, 1).requires_grad_()
    ssim(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_ssim_argument_errors() -> None:
    small = random_images(10, (1, 3, 8, 20))
    with pytest.raises(InputError, match=r"at least 11x11 \(window_size\), got 8x20"):
        ssim(small, small)
    image = random_images(11)
    with pytest.raises(InputError, match="window_size must be a positive odd integer"):
        ssim(image, image, window_size=10)


# ---------------------------------------------------------------- L1 and hole L1


def test_l1_by_hand_and_against_numpy() -> None:
    target = random_images(12) * 0.5
    pred = target.clone()
    pred[0] += 0.25
    pred[1, 0] -= 0.3  # one channel of three: mean 0.1
    torch.testing.assert_close(l1(pred, target, reduction="none"), torch.tensor([0.25, 0.1]).double())
    other = random_images(13)
    assert l1(other, target).item() == pytest.approx(np.abs(other.numpy() - target.numpy()).mean(), abs=1e-12)


def test_hole_l1_by_hand() -> None:
    target = torch.zeros(1, 3, 4, 4)
    pred = torch.zeros(1, 3, 4, 4)
    pred[0, :, 0, 0] = 0.2  # hole pixel, all channels
    pred[0, 0, 1, 1] = 0.4  # hole pixel, one channel
    pred[0, :, 3, 3] = 0.9  # known pixel: must not count
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, 0] = mask[0, 0, 1, 1] = 1
    # (3 * 0.2 + 0.4) / (2 pixels * 3 channels)
    assert hole_l1(pred, target, mask).item() == pytest.approx(1.0 / 6.0, abs=1e-7)


def test_hole_l1_empty_mask_is_nan_and_left_out_of_the_mean() -> None:
    target = torch.zeros(2, 3, 4, 4)
    pred = torch.full((2, 3, 4, 4), 0.5)
    mask = torch.zeros(2, 1, 4, 4)
    mask[1, 0, :2] = 1
    values = hole_l1(pred, target, mask, reduction="none")
    assert math.isnan(values[0].item())
    assert values[1].item() == pytest.approx(0.5)
    assert hole_l1(pred, target, mask).item() == pytest.approx(0.5)
    assert math.isnan(hole_l1(pred, target, torch.zeros(2, 1, 4, 4)).item())


def test_hole_l1_mask_shape_error() -> None:
    image = random_images(14)
    expected = r"mask must have shape \(2,1,32,40\) to match pred, got \(2, 3, 32, 40\)"
    with pytest.raises(InputError, match=expected):
        hole_l1(image, image, torch.ones(2, 3, 32, 40))


# ---------------------------------------------------------------- HaarPSI

HAARPSI_DATA = Path(__file__).parent / "data" / "haarpsi"
HAARPSI_CASES = json.loads((HAARPSI_DATA / "values.json").read_text())["cases"]


def read_rgb(name: str) -> torch.Tensor:
    """A PNG of tests/data/haarpsi as a (1,3,H,W) float32 tensor in [0,1]."""
    with Image.open(HAARPSI_DATA / name) as image:
        pixels = np.array(image.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("case", HAARPSI_CASES, ids=[c["distorted"][:-4] for c in HAARPSI_CASES])
def test_haarpsi_matches_piq(case: dict) -> None:
    # piq 0.8.0 piq.haarpsi(distorted, reference, data_range=1.0) on blur, noise, JPEG, Telea, grey and copies
    value = haarpsi(read_rgb(case["distorted"]), read_rgb(case["reference"]))
    assert value.item() == pytest.approx(case["haarpsi"], abs=1e-3)


def test_haarpsi_batch_equals_single_images_and_orders_distortions() -> None:
    names = ("kodim03_blur.png", "kodim03_grey.png", "kodim03_noise.png")
    pred, target = torch.cat([read_rgb(n) for n in names]), read_rgb("kodim03_ref.png").expand(3, -1, -1, -1)
    values = haarpsi(pred, target, reduction="none")
    singles = torch.cat([haarpsi(p[None], t[None], reduction="none") for p, t in zip(pred, target)])
    torch.testing.assert_close(values, singles)
    assert values[1] < values[0] < values[2] < 1  # greyscale loses all chroma: the lowest score
    in_255 = haarpsi(pred * 255, target * 255, data_range=255.0, reduction="none")
    torch.testing.assert_close(in_255, values, atol=1e-5, rtol=0)


def test_haarpsi_identical_images_give_one_at_any_size() -> None:
    for shape in ((2, 3, 32, 40), (1, 3, 33, 17), (1, 3, 5, 6)):  # odd sides are zero-padded before the 2x2 mean
        image = random_images(19, shape)
        torch.testing.assert_close(haarpsi(image, image, reduction="none"), torch.ones(shape[0]).double())
    image = random_images(20, dtype=torch.float32)
    torch.testing.assert_close(haarpsi(image, image), torch.tensor(1.0), atol=1e-5, rtol=0)


def test_haarpsi_has_gradients() -> None:
    target = astronaut(48).float()
    pred = (target + 0.1 * (random_images(21, (1, 3, 48, 48), dtype=torch.float32) - 0.5)).clamp(0, 1)
    pred.requires_grad_()
    haarpsi(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_haarpsi_argument_errors() -> None:
    image = random_images(22)
    with pytest.raises(InputError, match=r"haarpsi needs RGB images \(B,3,H,W\), got 1 channels"):
        haarpsi(image[:, :1], image[:, :1])
    with pytest.raises(InputError, match="data_range must be positive, got 0"):
        haarpsi(image, image, data_range=0)
    with pytest.raises(InputError, match="scales must be at least 2, got 1"):
        haarpsi(image, image, scales=1)


# ---------------------------------------------------------------- hole detail


def ramp(value_per_column: float, size: int = 9) -> np.ndarray:
    """A grey (R = G = B) horizontal ramp, (size, size, 3) uint8."""
    grey = np.broadcast_to(np.arange(size) * value_per_column, (size, size))
    return np.repeat(grey[..., None], 3, axis=2).round().astype(np.uint8)


def test_hole_detail_by_hand() -> None:
    # 9x9 images, 5x5 hole in the centre: eroded by 5x5 it is the single pixel (4, 4).
    mask = np.zeros((9, 9), np.uint8)
    mask[2:7, 2:7] = 1
    target = ramp(10)  # Sobel x at (4,4): (1 + 2 + 1) * (50 - 30) = 80; Sobel y: 0
    pred = np.full((9, 9, 3), 100, np.uint8)
    pred[5, 5] = 130  # Sobel x: 1 * (130 - 100) = 30; Sobel y: 1 * (130 - 100) = 30; magnitude 30 sqrt 2
    assert hole_detail(pred, target, mask) == pytest.approx(30 * math.sqrt(2) / 80, rel=1e-9)
    pred[3, 5] = 130  # row 3 of column 5 too: Sobel y cancels, Sobel x (1 + 1) * 30 = 60
    assert hole_detail(pred, target, mask) == pytest.approx(60 / 80, rel=1e-9)
    grey = np.array([[[255, 0, 0]]], np.uint8).repeat(9, 0).repeat(9, 1)
    grey[:, 5:] = 0  # a red step: grey jumps by 0.299 * 255 between columns 4 and 5
    assert hole_detail(grey, target, mask) == pytest.approx(4 * 0.299 * 255 / 80, rel=1e-9)


def test_hole_detail_constant_fill_truth_and_noise() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    mask = np.zeros((24, 32), bool)
    mask[4:20, 6:26] = True
    assert hole_detail(target, target, mask) == 1.0
    flat = target.copy()
    flat[mask] = 77
    assert hole_detail(flat, target, mask) == 0.0
    smooth = np.full_like(target, 128)
    smooth[..., 0] = np.arange(32) * 4
    noisy = smooth.copy()
    noisy[mask] = rng.integers(0, 256, (int(mask.sum()), 3), dtype=np.uint8)
    assert hole_detail(noisy, smooth, mask) > 2  # invented noise on a smooth ramp: well above 1
    assert hole_detail(target, target, mask.astype(np.float32) * 255) == 1.0  # any nonzero mask value is a hole


def test_hole_detail_nan_without_an_eroded_hole_or_truth_detail() -> None:
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    thin = np.zeros((16, 16), np.uint8)
    thin[2:14, 6:10] = 1  # 4 px wide: nothing left after a 5x5 erosion
    assert math.isnan(hole_detail(image, image, thin))
    assert math.isnan(hole_detail(image, image, np.zeros((16, 16))))
    flat = np.full((16, 16, 3), 90, np.uint8)
    square = np.zeros((16, 16), np.uint8)
    square[3:13, 3:13] = 1
    assert math.isnan(hole_detail(image, flat, square))


def test_hole_detail_input_errors() -> None:
    image = np.zeros((16, 16, 3), np.uint8)
    mask = np.ones((16, 16))
    with pytest.raises(InputError, match=r"pred must be a uint8 array of shape \(H,W,3\), got float64 \(16, 16, 3\)"):
        hole_detail(image.astype(np.float64), image, mask)
    with pytest.raises(InputError, match=r"target must be a uint8 array of shape \(H,W,3\), got Tensor"):
        hole_detail(image, torch.zeros(16, 16, 3), mask)
    with pytest.raises(InputError, match=r"same shape, got \(16, 16, 3\) and \(16, 15, 3\)"):
        hole_detail(image, image[:, :15], mask)
    with pytest.raises(InputError, match=r"mask must have shape \(16, 16\) to match pred, got \(16, 16, 1\)"):
        hole_detail(image, image, mask[..., None])


# ---------------------------------------------------------------- shared behaviour


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_modules_agree_with_functions(reduction: str) -> None:
    target = random_images(15, dtype=torch.float32)
    pred = (target + 0.1 * random_images(16, dtype=torch.float32)).clamp(0, 1)
    mask = (random_images(17, (2, 1, 32, 40), dtype=torch.float32) > 0.7).float()
    pairs = [
        (PSNR(data_range=2.0, reduction=reduction)(pred, target), psnr(pred, target, 2.0, reduction)),
        (SSIM(7, 1.0, reduction=reduction)(pred, target), ssim(pred, target, 7, 1.0, 1.0, reduction)),
        (L1(reduction=reduction)(pred, target), l1(pred, target, reduction)),
        (HoleL1(reduction=reduction)(pred, target, mask), hole_l1(pred, target, mask, reduction)),
        (HaarPSI(reduction=reduction)(pred, target), haarpsi(pred, target, reduction=reduction)),
        (HaarPSI(2.0, reduction, c=10.0)(pred, target), haarpsi(pred, target, 2.0, reduction, c=10.0)),
    ]
    for from_module, from_function in pairs:
        assert from_module.shape == ((2,) if reduction == "none" else ())
        assert torch.equal(from_module, from_function)


@pytest.mark.parametrize("metric", [psnr, ssim, l1, haarpsi])
def test_shape_and_reduction_errors(metric) -> None:
    image = random_images(18)
    with pytest.raises(InputError, match=r"same shape, got \(2, 3, 32, 40\) and \(2, 3, 32, 38\)"):
        metric(image, image[..., :38])
    with pytest.raises(InputError, match="must be a tensor of shape"):
        metric(image[0], image[0])
    with pytest.raises(InputError, match="reduction must be one of mean, none, got 'sum'"):
        metric(image, image, reduction="sum")
