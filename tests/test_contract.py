"""One contract test over every registered model, each at its family's tiny size.

A learned model runs with random weights of its family's ``tiny`` config, saved to a weight file and
loaded back through the same path a user takes (``inpaintkit.load(name, weights=file)``), so the
registry's own post-processing and pipeline kind are exercised. Adding a family adds no line here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import inpaintkit
from inpaintkit.api import load_model
from inpaintkit.models.contract import FAMILIES, Family, Inpainter
from inpaintkit.pipelines.diverse import DiversePipeline
from inpaintkit.registry import REGISTRY, get_spec
from inpaintkit.weights import save_model_file

NAMES = sorted(REGISTRY)
#: neural-patch at a test's size: weight-free pixel patches, two scales, two iterations each.
OPTIONS = {"feature_space": "pixel", "scales": 2, "iterations": 2}


def test_the_contract_runs_over_the_whole_registry() -> None:
    assert NAMES == sorted(REGISTRY) and len(NAMES) == len(set(NAMES))
    assert {get_spec(name).arch for name in NAMES} - {None} == set(FAMILIES)


def _tiny_network(family: Family) -> Inpainter:
    """The family's tiny network with random weights and non-trivial BatchNorm statistics."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = family.module_cls(family.tiny)
        for layer in net.modules():
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                layer.running_mean.uniform_(-0.1, 0.1)
                layer.running_var.uniform_(0.8, 1.2)
    return net


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    return {
        name: save_model_file(folder / f"{name}.safetensors", name, family.tiny, _tiny_network(family).state_dict())
        for name, family in FAMILIES.items()
    }


def _load(name: str, tiny_files: dict[str, Path], **options):
    spec = get_spec(name)
    if not spec.available:
        pytest.skip(f"{name}: its optional package is not installed")
    if spec.kind == "classical":
        return inpaintkit.load(name, **options)
    extra = {"model_options": OPTIONS} if spec.kind == "optimisation" else {}
    return inpaintkit.load(name, weights=tiny_files[spec.arch], **extra, **options)


def _module(name: str, tiny_files: dict[str, Path]) -> Inpainter:
    spec = get_spec(name)
    if not spec.available:
        pytest.skip(f"{name}: its optional package is not installed")
    weights = None if spec.kind == "classical" else tiny_files[spec.arch]
    options = OPTIONS if spec.kind == "optimisation" else None
    return load_model(name, weights=weights, options=options)[0]


def _photo(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    hole = np.zeros((height, width), bool)
    hole[height // 4 : height // 2 + 3, width // 3 : width // 3 + 9] = True
    hole[height - 5 :, :4] = True  # one touching the border
    return photo, hole


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_keeps_known_pixels_at_odd_sizes_and_is_deterministic(name, tiny_files) -> None:
    pipe = _load(name, tiny_files, hd_strategy="original")
    photo, hole = _photo(45, 61)
    first = pipe(photo, hole.astype(np.uint8) * 255)
    again = pipe(photo, hole.astype(np.uint8) * 255)
    assert first.image.shape == photo.shape and first.image.dtype == np.uint8
    assert np.array_equal(first.image[~hole], photo[~hole])  # bit-exact outside the hole
    assert np.array_equal(first.image, again.image)  # seeded / deterministic
    if isinstance(pipe, DiversePipeline):
        samples = pipe.generate(photo, hole, 2, seed=3)
        assert len(samples) == 2 and all(np.array_equal(s.image[~hole], photo[~hole]) for s in samples)


def _input_size(module: Inpainter) -> tuple[int, int]:
    rule = module.size_rule()
    if rule.fixed is not None:
        return rule.fixed, rule.fixed
    m = rule.multiple
    height = max(rule.minimum, 3 * m)
    height += -height % m
    return height, height + m  # not square


@pytest.mark.parametrize("name", NAMES)
def test_module_shape_range_batch_and_round_trip(name, tiny_files) -> None:
    module = _module(name, tiny_files)
    assert isinstance(module, Inpainter) and not module.training
    height, width = _input_size(module)
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, height, width, generator=gen)
    mask = torch.zeros(2, 1, height, width)
    mask[:, :, height // 4 : height // 2, width // 4 : width // 2] = 1
    with torch.no_grad():
        both = module(image, mask)
        one = torch.cat([module(image[i : i + 1], mask[i : i + 1]) for i in range(2)])
        again = module(image, mask)
    assert both.shape == (2, 3, height, width) and both.dtype == torch.float32
    assert torch.isfinite(both).all() and both.min() >= 0 and both.max() <= 1
    assert torch.allclose(both, one, atol=1e-5, rtol=0)  # each item on its own gives the same
    assert torch.equal(both, again)
    spec = get_spec(name)
    if spec.kind == "learned":  # the file gave back exactly the network it was written from
        reference = _tiny_network(FAMILIES[spec.arch]).eval()
        if reference.needs_prior:
            reference.attach_prior(_module(reference.config.prior, tiny_files))
        with torch.no_grad():
            assert torch.equal(reference(image, mask), both)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_trainable_parameter(name, tiny_files) -> None:
    spec = get_spec(name)
    module = _module(name, tiny_files)
    if spec.kind != "learned":  # classical methods and the per-image optimiser train nothing
        assert spec.kind == "optimisation" or not any(True for _ in module.parameters())
        return
    net = _tiny_network(FAMILIES[spec.arch]).train()
    if net.needs_prior:
        net.attach_prior(_module(net.config.prior, tiny_files))
    with torch.no_grad():  # a zero-initialised layer (a residual head) holds the gradient back at step 0
        for param in net.parameters():  # by design; any other value lets it through
            if not param.any():
                param.normal_(0, 0.01)
    height, width = _input_size(net)
    image, mask = torch.rand(2, 3, height, width), torch.zeros(2, 1, height, width)
    mask[:, :, : height // 2] = 1
    noise = (torch.randn(2, net.latent_dim),) if net.pipeline == "diverse" else ()  # the diverse models' input
    net(image, mask, *noise).square().mean().backward()
    stuck = [key for key, p in net.named_parameters() if p.requires_grad and not (p.grad is not None and p.grad.any())]
    assert stuck == [] and all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
