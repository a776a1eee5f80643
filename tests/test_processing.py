import numpy as np
import pytest
import torch

from inpaintkit.pipelines.processing import (
    blend,
    composite,
    mask_boxes,
    pad_to_multiple,
    resize,
    resize_long_side,
    side_by_side,
    to_numpy,
    to_tensor,
    unpad,
)
from inpaintkit.types import InputError


@pytest.mark.parametrize("mode", ["symmetric", "reflect", "edge"])
@pytest.mark.parametrize("size", [(37, 53), (3, 2), (1, 5), (8, 16)])
@pytest.mark.parametrize("multiple", [8, 7])
def test_pad_matches_numpy_and_unpad_restores(mode, size, multiple):
    x = torch.arange(2 * 3 * size[0] * size[1], dtype=torch.float32).reshape(2, 3, *size)
    padded, padding = pad_to_multiple(x, multiple, mode)
    expected = np.pad(x.numpy(), ((0, 0), (0, 0), (0, padding[0]), (0, padding[1])), mode=mode)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padding == (-size[0] % multiple, -size[1] % multiple)
    np.testing.assert_array_equal(padded.numpy(), expected)
    assert torch.equal(unpad(padded, padding), x)


def test_symmetric_repeats_the_edge_pixel():
    x = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    padded, _ = pad_to_multiple(x, 8)
    assert padded[0, 0, 0].tolist() == [1, 2, 3, 3, 2, 1, 1, 2]


def test_pad_is_identity_on_multiples_and_checks_arguments():
    x = torch.zeros(1, 3, 16, 24)
    padded, padding = pad_to_multiple(x, 8)
    assert padded is x and padding == (0, 0)
    with pytest.raises(InputError, match="pad multiple"):
        pad_to_multiple(x, 0)
    with pytest.raises(InputError, match="symmetric, reflect, edge"):
        pad_to_multiple(x, 8, "wrap")


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_composite_copies_known_pixels_even_when_pred_is_nan(kind):
    image = np.random.default_rng(0).random((5, 6, 3)).astype(np.float32)
    pred = np.full_like(image, np.nan)
    pred[1:3, 2:4] = 0.25
    mask = np.zeros((5, 6, 1), np.float32)
    mask[1:3, 2:4] = 1
    if kind == "torch":
        image, pred, mask = map(torch.from_numpy, (image, pred, mask))
    out = np.asarray(composite(pred, image, mask))
    known = np.asarray(mask)[..., 0] == 0
    np.testing.assert_array_equal(out[known], np.asarray(image)[known])
    assert (out[~known] == 0.25).all()


def test_blend_is_the_weighted_mean():
    pred, image = np.float32(1.0), np.float32(0.2)
    weights = np.array([0.0, 0.25, 1.0], np.float32)
    np.testing.assert_allclose(blend(pred, image, weights), [0.2, 0.4, 1.0], rtol=1e-6)
    assert blend(np.float32(0.7), np.float32(0.3), np.float32(1.0)) == np.float32(0.7)


def test_mask_boxes_one_per_blob_with_margin_and_clipping():
    mask = np.zeros((100, 200), np.float32)
    mask[10:20, 30:40] = 1  # near the top: clipped at 0
    mask[60:70, 150:195] = 1  # near the right edge: clipped at 200
    assert mask_boxes(mask, 15) == [(0, 15, 35, 55), (45, 135, 85, 200)]
    assert mask_boxes(np.zeros((4, 4)), 3) == []


def test_mask_boxes_merges_until_disjoint():
    mask = np.zeros((100, 100), np.uint8)
    mask[10, 10] = mask[20, 20] = 1  # margin 5: boxes 5..16 and 15..26 overlap
    mask[3, 30] = 1  # box (0, 25, 9, 36) overlaps neither alone, only their union (5, 5, 26, 26)
    mask[90, 90] = 1
    assert mask_boxes(mask, 5) == [(0, 5, 26, 36), (85, 85, 96, 96)]


def test_resize_long_side_keeps_aspect():
    x = torch.rand(1, 3, 37, 53)
    assert resize_long_side(x, 20).shape == (1, 3, 14, 20)  # 37 * 20 / 53 = 13.96
    assert resize_long_side(torch.rand(1, 1, 53, 37), 106, "nearest").shape == (1, 1, 106, 74)
    thin = torch.zeros(1, 1, 64, 64)
    thin[..., 31, :] = 1  # one-pixel line survives an area shrink + "> 0"
    assert (resize(thin, (16, 16), "area") > 0).sum() == 16


def test_tensor_numpy_round_trip():
    array = np.random.default_rng(1).random((5, 7, 3)).astype(np.float32)
    tensor = to_tensor(array)
    assert tensor.shape == (1, 3, 5, 7) and tensor.is_contiguous()
    assert torch.equal(tensor[0, 2], torch.from_numpy(array[..., 2]))
    np.testing.assert_array_equal(to_numpy(tensor), array)
    assert to_tensor(array[..., 0]).shape == (1, 1, 5, 7)


def test_side_by_side_tints_the_hole():
    image = np.zeros((4, 5, 3), np.float32)
    result = np.ones((4, 5, 3), np.float32)
    mask = np.zeros((4, 5))
    mask[1, 2] = 1
    panel = side_by_side(image, mask, result, gap=2)
    assert panel.shape == (4, 12, 3)
    assert panel[1, 2].tolist() == [0.5, 0.0, 0.0] and panel[0, 0].tolist() == [0, 0, 0]
    assert (panel[:, 5:7] == 1).all() and (panel[:, 7:] == 1).all()
