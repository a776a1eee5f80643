"""The LaMa objective: config validation, missing-weights errors, and real G/D steps on lama-tiny."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from inpaintkit.losses import discriminator_adversarial_loss, masked_l1_loss, r1_penalty
from inpaintkit.models.backbones import ResNet50Dilated
from inpaintkit.training.config import ModelConfig
from inpaintkit.training.objectives import OBJECTIVES, Objective
from inpaintkit.training.objectives.lama import LamaLossConfig, LamaObjective, build_lama_objective
from inpaintkit.types import InputError, UnknownModelError, WeightsError
from inpaintkit.weights import WEIGHT_SPECS

TINY = ModelConfig(preset="lama-tiny")
NO_PERCEPTUAL = {"perceptual_hrf": 0}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty weight cache, no network: any attempt to get backbone weights fails fast."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tmp_path / "home" / "weights"


def make_batch(seed: int = 0, size: int = 64) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, size // 8 : size // 2, size // 6 : size // 2] = 1
    mask[1, :, size // 3 : size - 4, size // 2 : size - 2] = 1
    return {"image": torch.rand(2, 3, size, size, generator=gen), "mask": mask}


def tiny(objective: dict | None = None, seed: int = 0) -> LamaObjective:
    torch.manual_seed(seed)  # parameter initialisation only
    return build_lama_objective(TINY, {**NO_PERCEPTUAL, **(objective or {})}, progress=False)


# ------------------------------------------------------------------------ building
def test_registry_and_protocol() -> None:
    assert OBJECTIVES["lama"] is build_lama_objective
    objective = tiny()
    assert isinstance(objective, Objective) and objective.generator_name == "generator"
    assert objective.trainable() == {"generator": objective.generator, "discriminator": objective.discriminator}
    assert objective.generator.config.ngf == 8 and len(objective.perceptual) == 0
    with pytest.raises(TypeError):
        Objective()  # abstract


def test_defaults_are_the_paper_recipe() -> None:
    c = LamaLossConfig()
    assert (
        c.l1_known,
        c.l1_hole,
        c.adversarial,
        c.r1,
        c.mask_as_fake_target,
        c.feature_matching,
        c.perceptual_hrf,
        c.perceptual_vgg,
    ) == (10.0, 0.0, 10.0, 0.001, True, 100.0, 30.0, 0.0)


def test_objective_section_is_validated() -> None:
    with pytest.raises(InputError, match="unknown config key 'objective.l2'"):
        build_lama_objective(TINY, {**NO_PERCEPTUAL, "l2": 1.0})
    with pytest.raises(InputError, match="objective.l1_known: expected float"):
        build_lama_objective(TINY, {**NO_PERCEPTUAL, "l1_known": "lots"})
    with pytest.raises(InputError, match="objective.mask_as_fake_target: expected bool"):
        build_lama_objective(TINY, {**NO_PERCEPTUAL, "mask_as_fake_target": 2.5})
    with pytest.raises(InputError, match="objective.r1 must be >= 0"):
        build_lama_objective(TINY, {**NO_PERCEPTUAL, "r1": -1})
    objective = build_lama_objective(TINY, {"perceptual_hrf": "0", "l1_hole": "2.5"}, progress=False)  # CLI strings
    assert objective.config.l1_hole == 2.5 and objective.config.perceptual_hrf == 0.0


def test_model_section_preset_and_overrides() -> None:
    objective = build_lama_objective(ModelConfig("lama-tiny", {"ngf": 4, "n_blocks": 1}), NO_PERCEPTUAL)
    assert (objective.generator.config.ngf, objective.generator.config.n_blocks) == (4, 1)
    with pytest.raises(InputError, match="not a trainable"):
        build_lama_objective(ModelConfig("telea"), NO_PERCEPTUAL)
    with pytest.raises(UnknownModelError):
        build_lama_objective(ModelConfig("lama-huge"), NO_PERCEPTUAL)
    with pytest.raises(InputError, match="unknown config key 'model.overrides.depth'"):
        build_lama_objective(ModelConfig("lama-tiny", {"depth": 3}), NO_PERCEPTUAL)
    with pytest.raises(InputError, match="ratio_g must lie in"):
        build_lama_objective(ModelConfig("lama-tiny", {"ratio_g": 1.5}), NO_PERCEPTUAL)


def test_absent_perceptual_weights_stop_with_a_clear_message(no_network: Path) -> None:
    spec = WEIGHT_SPECS["ade20k-resnet50dilated"]
    with pytest.raises(WeightsError) as caught:
        build_lama_objective(TINY, {}, progress=False)  # perceptual_hrf defaults to 30
    message = str(caught.value)
    for part in (
        spec.filename,
        spec.url,
        str(no_network / spec.filename),
        "--objective.perceptual_hrf=0",
        "--objective.hrf_weights=PATH",
        "objective.perceptual_hrf=30",
    ):
        assert part in message
    with pytest.raises(WeightsError, match="--objective.perceptual_vgg=0"):
        build_lama_objective(TINY, {**NO_PERCEPTUAL, "perceptual_vgg": 1.0}, progress=False)


def test_perceptual_term_with_local_weights(tmp_path: Path) -> None:
    torch.save(ResNet50Dilated().state_dict(), tmp_path / "encoder.pth")
    objective = build_lama_objective(
        TINY,
        {"perceptual_hrf": 30, "hrf_weights": str(tmp_path / "encoder.pth"), "adversarial": 0, "feature_matching": 0},
        progress=False,
    )
    batch = make_batch(size=32)
    terms = objective.losses("generator", batch, objective.generate(batch), "joint")
    assert set(terms) == {"l1_known", "perceptual_hrf"}
    assert torch.isfinite(terms["perceptual_hrf"]) and terms["perceptual_hrf"] > 0
    terms["perceptual_hrf"].backward()
    assert objective.generator.model[1].ffc.convl2l.weight.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in objective.perceptual.parameters())
    objective.train()
    assert not objective.perceptual["perceptual_hrf"].backbone.training


# ------------------------------------------------------------------------ steps
def test_generator_terms_match_independent_computation() -> None:
    objective = tiny({"l1_hole": 2.0})
    batch = make_batch(size=32)
    image, mask = batch["image"], batch["mask"]
    terms = objective.losses("generator", batch, objective.generate(batch), "joint")
    assert set(terms) == {"l1_known", "l1_hole", "adversarial", "feature_matching"}
    with torch.no_grad():  # train-mode BatchNorm: the same batch gives the same outputs
        pred = objective.predict(image, mask)
        real_features = objective.discriminator(image)[1]
        fake_logits, fake_features = objective.discriminator(pred)  # the raw prediction, not the composite
    known = (pred - image).abs() * (1 - mask)
    hole = (pred - image).abs() * mask
    expected = {
        "l1_known": 10 * known.mean(),
        "l1_hole": 2 * hole.mean(),
        "adversarial": 10 * torch.nn.functional.softplus(-fake_logits).mean(),
        "feature_matching": 100
        * torch.stack([(f - r).pow(2).mean() for f, r in zip(fake_features, real_features)]).mean(),
    }
    for key, value in expected.items():
        torch.testing.assert_close(terms[key].detach(), value, rtol=1e-4, atol=1e-6)
    assert masked_l1_loss(pred, image, mask).item() == pytest.approx(known.mean().item(), rel=1e-6)


def test_one_generator_and_discriminator_step_on_lama_tiny() -> None:
    objective = tiny()
    batch = make_batch()
    generator, discriminator = objective.generator, objective.discriminator
    before = {name: p.detach().clone() for name, p in discriminator.named_parameters()}

    pred = objective.generate(batch)
    g_terms = objective.losses("generator", batch, pred, "joint")
    assert set(g_terms) == {"l1_known", "adversarial", "feature_matching"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in g_terms.values())
    sum(g_terms.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in generator.parameters())
    assert all(p.grad is None for p in discriminator.parameters())  # D was frozen for G's loss
    assert all(p.requires_grad for p in discriminator.parameters())  # ... and unfrozen afterwards
    generator.zero_grad(set_to_none=True)

    d_terms = objective.losses("discriminator", batch, pred.detach(), "joint")
    assert set(d_terms) == {"adversarial", "r1"}
    assert all(torch.isfinite(v) for v in d_terms.values()) and d_terms["r1"] > 0
    sum(d_terms.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in discriminator.parameters())
    assert all(p.grad is None for p in generator.parameters())
    torch.optim.Adam(discriminator.parameters(), lr=1e-4).step()
    assert any(not torch.equal(before[n], p) for n, p in discriminator.named_parameters())


def test_terms_use_the_given_prediction_and_mask_labelling() -> None:
    objective = tiny()
    batch = make_batch(size=32)
    calls = []
    objective.generator.register_forward_hook(lambda *args: calls.append(1))
    output = objective.generate(batch)
    objective.losses("generator", batch, output, "joint")
    pred = output.detach()
    terms = objective.losses("discriminator", batch, pred, "joint")
    assert len(calls) == 1  # only generate() runs the generator: both networks' terms take its output
    real = batch["image"].clone().requires_grad_(True)
    real_logits, _ = objective.discriminator(real)
    fake_logits, _ = objective.discriminator(pred)
    expected = discriminator_adversarial_loss(real_logits, fake_logits, batch["mask"])
    torch.testing.assert_close(terms["adversarial"].detach(), expected.detach(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        terms["r1"].detach(), 0.001 * r1_penalty(real_logits, real).detach(), rtol=1e-4, atol=1e-9
    )


def test_unmasked_fake_labelling_and_no_adversarial() -> None:
    batch = make_batch(size=32)
    plain = tiny({"mask_as_fake_target": False})
    pred = plain.generate(batch).detach()
    terms = plain.losses("discriminator", batch, pred, "joint")
    with torch.no_grad():
        real_logits, _ = plain.discriminator(batch["image"])
        fake_logits, _ = plain.discriminator(pred)
    torch.testing.assert_close(
        terms["adversarial"].detach(), discriminator_adversarial_loss(real_logits, fake_logits), rtol=1e-4, atol=1e-6
    )
    off = tiny({"adversarial": 0, "feature_matching": 0, "r1": 0})
    pred = off.generate(batch)
    assert set(off.losses("generator", batch, pred, "joint")) == {"l1_known"}
    assert off.losses("discriminator", batch, pred.detach(), "joint") == {}
    with pytest.raises(InputError, match="not 'critic'"):
        off.losses("critic", batch, pred, "joint")


def test_predict_is_the_raw_generator_output() -> None:
    objective = tiny().eval()
    batch = make_batch(size=32)
    with torch.no_grad():
        out = objective.predict(batch["image"], batch["mask"])
        assert torch.equal(out, objective.generator(batch["image"], batch["mask"]))
    assert out.shape == (2, 3, 32, 32) and 0 <= out.min() and out.max() <= 1
