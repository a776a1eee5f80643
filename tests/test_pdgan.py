"""PD-GAN network: hard map and SPDNorm by hand, shapes of the presets, the prior companion, losses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from inpaintkit.api import load_model
from inpaintkit.classical import TeleaInpainter
from inpaintkit.losses.pdgan import (
    DiversityLoss,
    FeatureL1Loss,
    GradientPyramid,
    HoleTVLoss,
    L1FeatureMatchingLoss,
    diversity_loss,
    feature_l1,
    hole_tv_loss,
    l1_feature_matching,
)
from inpaintkit.models.lama import PRESETS as LAMA_PRESETS
from inpaintkit.models.lama import LamaGenerator
from inpaintkit.models.pdgan import (
    PRESETS,
    PdganConfig,
    PdganDiscriminator,
    PdganGenerator,
    SPDNorm,
    hard_probability_map,
    positional_norm,
)
from inpaintkit.registry import REGISTRY, create_model, get_spec
from inpaintkit.types import InputError, WeightsError
from inpaintkit.weights import save_model_file

TINY = {"channels": [8, 8, 8], "hidden": 4, "hard_iterations": [2, 3, 4], "hard_kernels": [3, 3, 3], "prior": "telea"}


def tiny_generator(seed: int = 0, **overrides: object) -> PdganGenerator:
    torch.manual_seed(seed)
    return PdganGenerator(PdganConfig(**{**TINY, **overrides})).attach_prior(TeleaInpainter()).eval()


def square_hole(size: int = 11, top: int = 2, bottom: int = 9) -> torch.Tensor:
    """Known map (1 = known) with a hole rows/cols ``top:bottom``."""
    known = torch.ones(1, 1, size, size)
    known[..., top:bottom, top:bottom] = 0
    return known


# ------------------------------------------------------------------------------ hard map
def test_hard_map_rings_by_hand() -> None:
    # 11x11, hole 7x7 at rows/cols 2..8: rings at Chebyshev distance 1 (rows/cols 2, 8), 2 (3, 7),
    # 3 (4, 6) and the centre pixel (5, 5) at distance 4.
    known = square_hole()
    expected = np.ones((11, 11))
    expected[2:9, 2:9] = 1 / 4
    expected[3:8, 3:8] = 1 / 16
    assert np.array_equal(hard_probability_map(known, 2, 3)[0, 0].numpy(), expected.astype(np.float32))
    expected[4:7, 4:7] = 1 / 64  # a third step reaches distance 3; the centre keeps the last value
    assert np.array_equal(hard_probability_map(known, 3, 3)[0, 0].numpy(), expected.astype(np.float32))
    expected[5, 5] = 1 / 256
    assert np.array_equal(hard_probability_map(known, 4, 3)[0, 0].numpy(), expected.astype(np.float32))


def test_hard_map_kernel_five_and_base() -> None:
    # a 5x5 kernel reaches two pixels per step: distances 1-2 get 1/k, 3-4 get 1/k^2
    known = square_hole(13, 2, 11)  # hole 9x9, centre (6, 6) at distance 5
    expected = np.ones((13, 13))
    expected[2:11, 2:11] = 1 / 3
    expected[4:9, 4:9] = 1 / 9
    assert np.allclose(hard_probability_map(known, 2, 5, base=3.0)[0, 0].numpy(), expected, atol=1e-7)


def test_hard_map_outside_the_image_is_not_known() -> None:
    # hole in the top-left corner: only the right column and the bottom row are known
    known = torch.ones(1, 1, 4, 4)
    known[..., :3, :3] = 0
    expected = np.array(
        [[1 / 16, 1 / 16, 1 / 4, 1], [1 / 16, 1 / 16, 1 / 4, 1], [1 / 4, 1 / 4, 1 / 4, 1], [1, 1, 1, 1]],
        dtype=np.float32,
    )
    assert np.array_equal(hard_probability_map(known, 2, 3)[0, 0].numpy(), expected)


# ------------------------------------------------------------------------------- SPDNorm
def _plain_normalisation(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                v = x[b, :, i, j].astype(np.float64)
                out[b, :, i, j] = (v - v.mean()) / np.sqrt(v.var(ddof=1) + eps)
    return out


def test_spdnorm_without_modulation_is_the_per_pixel_normalisation() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 4, 6, generator=gen) * 3 + 1
    prior = torch.rand(2, 3, 4, 6, generator=gen) * 2 - 1
    norm = SPDNorm(5, hidden=7)
    with torch.no_grad():
        for conv in (norm.gamma, norm.beta):
            conv.weight.zero_()
            conv.bias.zero_()
    out = norm(x, prior, torch.ones(2, 1, 4, 6)).detach().numpy()
    assert np.allclose(out, _plain_normalisation(x.numpy()), atol=1e-5)
    assert np.allclose(positional_norm(x).numpy(), _plain_normalisation(x.numpy()), atol=1e-5)


def test_spdnorm_modulates_only_where_the_probability_is_nonzero() -> None:
    gen = torch.Generator().manual_seed(1)
    x, prior = torch.randn(1, 4, 5, 5, generator=gen), torch.rand(1, 3, 5, 5, generator=gen)
    norm = SPDNorm(4, hidden=6)
    probability = torch.zeros(1, 1, 5, 5)
    probability[..., 2:, :] = 1
    with torch.no_grad():
        out = norm(x, prior, probability)
        full = norm(x, prior, torch.ones(1, 1, 5, 5))
    plain = positional_norm(x)
    assert torch.equal(out[..., :2, :], plain[..., :2, :])
    assert torch.equal(out[..., 2:, :], full[..., 2:, :])
    assert not torch.allclose(full, plain)  # the random convolutions do modulate


# --------------------------------------------------------------------------- generator
def test_generator_output_shape_range_and_raw_frame() -> None:
    g = tiny_generator()
    image, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    mask[..., 8:20, 10:24] = 1
    with torch.no_grad():
        out = g(image, mask, g.sample_noise(2, torch.Generator().manual_seed(0)))
    assert out.shape == (2, 3, 32, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(InputError, match="generates 32x32 images, got 48x32"):
        g(torch.rand(1, 3, 48, 32), torch.zeros(1, 1, 48, 32))


def test_noise_changes_the_output_and_zero_noise_is_the_default() -> None:
    g = tiny_generator()
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 4:28, 4:28] = 1
    with torch.no_grad():
        a = g(image, mask, torch.randn(1, 256, generator=torch.Generator().manual_seed(1)))
        b = g(image, mask, torch.randn(1, 256, generator=torch.Generator().manual_seed(2)))
        assert torch.equal(g(image, mask), g(image, mask, torch.zeros(1, 256)))
    assert float((a - b).abs().mean()) > 1e-3


def test_prior_image_is_the_composited_prior_output() -> None:
    g = tiny_generator()
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    prior = g.prior_image(image, mask)
    telea = TeleaInpainter()(image, mask)
    assert torch.equal(prior[..., mask[0, 0] == 0], image[..., mask[0, 0] == 0])
    assert torch.equal(prior[..., mask[0, 0] == 1], telea[..., mask[0, 0] == 1])
    with pytest.raises(RuntimeError, match="no prior attached"):
        PdganGenerator(PdganConfig(**TINY)).prior_image(image, mask)


def test_prior_stays_out_of_state_and_parameters_but_moves_with_to() -> None:
    torch.manual_seed(0)
    prior = LamaGenerator(LAMA_PRESETS["lama-tiny"])
    g = PdganGenerator(PdganConfig(**TINY)).attach_prior(prior)
    bare = PdganGenerator(PdganConfig(**TINY))
    assert list(g.state_dict()) == list(bare.state_dict())
    assert {id(p) for p in g.parameters()}.isdisjoint(id(p) for p in prior.parameters())
    g.train()
    assert g.training and not prior.training and not any(p.requires_grad for p in prior.parameters())
    g.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in prior.parameters())


def test_paper_preset_channels_and_sizes_on_meta() -> None:
    config = PRESETS["pdgan"]
    assert (
        config.channels,
        config.latent_dim,
        config.hidden,
        config.hard_iterations,
        config.hard_kernels,
        config.hard_base,
        config.size,
    ) == ([1024, 1024, 512, 256, 128, 64], 256, 128, [2, 3, 4, 5, 6, 7], [3, 3, 3, 3, 5, 5], 4.0, 256)
    with torch.device("meta"):
        g = PdganGenerator(config)
        seen = []
        for block in g.blocks:
            block.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
        out = g.synthesize(torch.zeros(1, 256), torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256))
    assert out.shape == (1, 3, 256, 256)
    assert seen == [(1024, 4, 4), (1024, 8, 8), (512, 16, 16), (256, 32, 32), (128, 64, 64), (64, 128, 128)]
    assert tuple(g.fc.weight.shape) == (1024 * 16, 256) and tuple(g.to_rgb.weight.shape) == (3, 64, 3, 3)
    # middle width min(c_in, c_out); spectral norm keeps the raw weight as parametrizations.weight.original
    assert tuple(g.blocks[2].conv_0.parametrizations.weight.original.shape) == (512, 1024, 3, 3)
    assert tuple(g.blocks[2].conv_s.parametrizations.weight.original.shape) == (512, 1024, 1, 1)


def test_small_preset_size_and_parameter_count_by_arithmetic() -> None:
    config = PRESETS["pdgan-small"]
    assert config.size == 128 and config.channels == [128, 128, 64, 32, 16]

    def conv(i: int, o: int, k: int, bias: bool = True) -> int:
        return i * o * k * k + (o if bias else 0)

    h = config.hidden
    expected = config.latent_dim * 128 * 16 + 128 * 16 + conv(16, 3, 3)
    for c_in, c_out in zip([128, *config.channels], config.channels):
        mid = min(c_in, c_out)
        spd = [conv(3, h, 3) + 2 * conv(h, c, 3) for c in (c_in, mid, c_in)]
        soft = conv(3, h, 3) + conv(h, c_in, 3) + conv(2 * c_in, c_in, 3)
        expected += sum(spd) + soft + conv(c_in, mid, 3) + conv(mid, c_out, 3) + conv(c_in, c_out, 1, False)
        expected += conv(c_out, c_out, 4)  # the transposed upsampling
    with torch.device("meta"):
        g = PdganGenerator(config)
    assert sum(p.numel() for p in g.parameters()) == expected == 3_357_731


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="one entry per unit"):
        PdganConfig(channels=[8, 8], hard_iterations=[2], hard_kernels=[3, 3])
    with pytest.raises(ValueError, match="odd"):
        PdganConfig(**{**TINY, "hard_kernels": [3, 4, 3]})
    with pytest.raises(ValueError, match="another inpainting model"):
        PdganConfig(**{**TINY, "prior": "pdgan-small"})


# ------------------------------------------------------------------------- discriminator
# k4, padding 2: a stride-2 layer maps n to n // 2 + 1, a stride-1 layer to n + 1 (the last inner
# layer and the logit layer are stride 1); the second scale sees the input average-pooled to n / 2.
@pytest.mark.parametrize(
    "ndf, layers, size, sizes",
    [
        (8, 3, 128, [35, 19]),  # 128 -> 65 -> 33 -> 34 -> 35;  64 -> 33 -> 17 -> 18 -> 19
        (4, 4, 64, [11, 7]),  # 64 -> 33 -> 17 -> 9 -> 10 -> 11;  32 -> 17 -> 9 -> 5 -> 6 -> 7
    ],
)
def test_discriminator_scales_and_shapes(ndf: int, layers: int, size: int, sizes: list[int]) -> None:
    d = PdganDiscriminator(ndf, layers, 2)
    out = d(torch.rand(2, 3, size, size), torch.zeros(2, 1, size, size))
    assert len(out) == 2
    assert [tuple(logits.shape) for logits, _ in out] == [(2, 1, s, s) for s in sizes]
    widths = [min(ndf * 2**i, 512) for i in range(layers)]
    assert [f.shape[1] for f in out[0][1]] == widths


def test_paper_discriminator_on_meta() -> None:
    with torch.device("meta"):
        d = PdganDiscriminator()
        out = d(torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256))
    # 256 -> 129 -> 65 -> 33 -> 34 -> 35; pooled 128 -> 65 -> 33 -> 17 -> 18 -> 19
    assert [tuple(logits.shape[-2:]) for logits, _ in out] == [(35, 35), (19, 19)]
    assert sum(p.numel() for p in d.parameters()) == 5_529_730


# ------------------------------------------------------------------- registry and api
def test_registry_entries_and_create_model_attaches_the_prior() -> None:
    spec = get_spec("pdgan-small")
    assert (spec.arch, spec.bundled) == ("pdgan", "pdgan-small.safetensors")
    assert spec.recipe == "configs/pdgan-small-cpu.yaml"
    assert REGISTRY["pdgan"].config.size == 256
    with torch.device("meta"):
        model = create_model("pdgan-small")
    assert isinstance(model.prior, LamaGenerator) and not any(k.startswith("prior") for k in model.state_dict())


def test_weight_file_round_trip_loads_the_prior(tmp_path) -> None:
    g = tiny_generator()
    path = save_model_file(tmp_path / "pdgan.safetensors", "pdgan", g.config, g.state_dict())
    loaded, _ = load_model(path)
    assert isinstance(loaded.prior, TeleaInpainter)
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 5:20, 6:26] = 1
    noise = torch.randn(1, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(g(image, mask, noise), loaded(image, mask, noise))


def test_a_prior_without_weights_is_a_clear_error(tmp_path) -> None:
    g = PdganGenerator(PdganConfig(**{**TINY, "prior": "lama-tiny"}))
    path = save_model_file(tmp_path / "pdgan.safetensors", "pdgan", g.config, g.state_dict())
    with pytest.raises(WeightsError, match="no weights for lama-tiny"):
        load_model(path)


# ---------------------------------------------------------------------------- losses
def test_diversity_loss_by_hand_and_only_inside_the_hole() -> None:
    a, b = torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    b[..., 0, 0] = 0.8  # inside the hole: |diff| sum 1.6 over 32 elements
    b[..., 3, 3] = 5.0  # outside: ignored
    assert float(diversity_loss([a], [b], mask, eps=1e-5)) == pytest.approx(1 / (1.6 / 32 + 1e-5))
    assert float(diversity_loss([a, a[..., ::2, ::2]], [b, b[..., ::2, ::2]], mask)) == pytest.approx(
        1 / (1.6 / 32 + 1.6 / 8 + 1e-5)
    )  # second layer: 2x2, mask resized to its top row


def test_diversity_loss_decreases_as_the_samples_move_apart() -> None:
    gen = torch.Generator().manual_seed(0)
    image, direction = torch.rand(1, 3, 32, 32, generator=gen), torch.randn(1, 3, 32, 32, generator=gen)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    loss = DiversityLoss(GradientPyramid())
    values = [float(loss(image, image + t * direction * mask, mask)) for t in (0.01, 0.05, 0.2, 1.0)]
    assert all(later < earlier for earlier, later in itertools.pairwise(values))
    assert float(loss(image, image, mask)) == pytest.approx(1e5)
    moved = (image + 0.01 * direction * mask).requires_grad_(True)  # a descent step pushes them apart
    loss(image, moved, mask).backward()
    # differences are taken towards the right and bottom neighbour: pixels above and left of the hole
    # enter no feature inside it, so they get no gradient
    assert float(moved.grad[..., :8, :].abs().max()) == 0.0 and float(moved.grad[..., :, :8].abs().max()) == 0.0
    with torch.no_grad():
        stepped = moved - 1e-3 * moved.grad.sign()
    assert float(loss(image, stepped, mask)) < float(loss(image, moved.detach(), mask))


def test_hole_tv_by_hand() -> None:
    image = torch.zeros(1, 1, 4, 4)
    image[..., 1, 1] = 1.0
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1  # grown by one pixel: rows and columns 0..1
    # horizontal pairs inside it: (0,0)-(0,1) -> 0 and (1,0)-(1,1) -> 1, over all 12 horizontal pairs;
    # vertical pairs: (0,0)-(1,0) -> 0 and (0,1)-(1,1) -> 1, over 12
    assert float(hole_tv_loss(image, mask)) == pytest.approx(1 / 12 + 1 / 12)
    assert float(HoleTVLoss()(image, mask)) == float(hole_tv_loss(image, mask))
    far = torch.zeros(1, 1, 4, 4)
    far[..., 3, 3] = 1.0
    assert float(hole_tv_loss(far, mask)) == 0.0


def test_l1_feature_matching_by_hand() -> None:  # the hinge losses: tests/test_losses.py
    real = [(torch.tensor([2.0, 0.5]), [torch.ones(2, 1)]), (torch.tensor([-1.0, 1.0]), [torch.zeros(2, 1)])]
    fake = [(torch.tensor([-2.0, 0.0]), [torch.zeros(2, 1)]), (torch.tensor([0.5, -0.5]), [torch.full((2, 1), 3.0)])]
    assert float(l1_feature_matching(fake, real)) == pytest.approx((1.0 + 3.0) / 2)
    assert float(L1FeatureMatchingLoss()(fake, real)) == float(l1_feature_matching(fake, real))
    with pytest.raises(InputError, match="same non-zero number of scales"):
        l1_feature_matching(fake, real[:1])


def test_gradient_pyramid_and_feature_l1() -> None:
    image = torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 3, 1, 1) / 16
    maps = GradientPyramid(levels=2)(image)
    assert [tuple(m.shape) for m in maps] == [(1, 9, 4, 4), (1, 9, 2, 2)]
    assert torch.allclose(maps[0][:, 3:6, :, :3], torch.full((1, 3, 4, 3), 1 / 16))  # x differences
    assert torch.allclose(maps[0][:, 6:9, :3], torch.full((1, 3, 3, 4), 4 / 16))  # y differences
    assert torch.equal(maps[0][:, 3:6, :, 3], torch.zeros(1, 3, 4))
    shifted = image + 0.1
    expected = sum(float((a - b).abs().mean()) for a, b in zip(GradientPyramid(2)(shifted), maps))
    assert float(feature_l1(GradientPyramid(2)(shifted), maps)) == pytest.approx(expected)
    assert float(FeatureL1Loss(GradientPyramid(2))(shifted, image)) == pytest.approx(expected)
    assert expected == pytest.approx(0.1 * 3 / 9 * 2)  # only the 3 colour channels of 9 move, at 2 levels
    with pytest.raises(InputError, match="same non-zero number"):
        feature_l1(maps, maps[:1])
