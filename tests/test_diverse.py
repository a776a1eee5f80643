"""DiversePipeline (seeds, known pixels, HD strategies, eval protocol), contact sheet and ``inpaintkit diverse``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inpaintkit
from inpaintkit.api import load
from inpaintkit.classical import TeleaInpainter
from inpaintkit.cli import main
from inpaintkit.evaluation.diversity import MultiSampleInpainter, pairwise_diversity
from inpaintkit.models.pdgan import PdganConfig, PdganGenerator
from inpaintkit.pipelines.diverse import CONTACT_SHEET, DiversePipeline, contact_sheet, sample_names, sample_seed
from inpaintkit.types import InputError, WeightsError
from inpaintkit.weights import save_model_file

TINY = {"channels": [8, 8, 8], "hidden": 4, "hard_iterations": [2, 3, 4], "hard_kernels": [3, 3, 3], "prior": "telea"}


def tiny_generator() -> PdganGenerator:
    torch.manual_seed(0)
    return PdganGenerator(PdganConfig(**TINY)).attach_prior(TeleaInpainter())


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    g = tiny_generator()
    return save_model_file(tmp_path_factory.mktemp("w") / "pdgan-tiny.safetensors", "pdgan", g.config, g.state_dict())


def picture(h: int = 37, w: int = 53) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = 1
    return image, mask


def test_seeds_change_the_hole_only_and_repeat_exactly() -> None:
    pipe = DiversePipeline(tiny_generator(), name="tiny")
    image, mask = picture()
    hole = mask > 0
    first = pipe.samples(image, mask, 3, seed=7)
    again = pipe.samples(image, mask, 3, seed=7)
    other = pipe.samples(image, mask, 1, seed=8)
    assert all(s.shape == image.shape and s.dtype == np.uint8 for s in first)
    assert all((s[~hole] == image[~hole]).all() for s in first + other)
    assert all((a == b).all() for a, b in zip(first, again))
    for a, b in [(first[0], first[1]), (first[1], first[2]), (first[0], other[0])]:
        assert np.abs(a[hole].astype(int) - b[hole]).mean() > 0.5


def test_sample_i_does_not_depend_on_n_and_a_call_is_sample_zero() -> None:
    pipe = DiversePipeline(tiny_generator(), name="tiny", seed=3)
    image, mask = picture()
    two, five = pipe.samples(image, mask, 2, seed=3), pipe.samples(image, mask, 5, seed=3)
    assert (two[1] == five[1]).all()
    assert (pipe(image, mask).image == two[0]).all() and (pipe(image, mask, seed=3).image == two[0]).all()
    assert sample_seed(3, 1) != sample_seed(3, 0) != sample_seed(4, 0)
    with pytest.raises(InputError, match="seed must be an integer >= 0"):
        pipe(image, mask, seed=-1)
    with pytest.raises(InputError, match="samples must be an integer >= 1"):
        pipe.generate(image, mask, 0)
    with pytest.raises(InputError, match="at most 64 samples per call .*got 100000; call again with another seed"):
        pipe.generate(image, mask, 100_000)  # refused before any is drawn


def test_crop_strategy_on_a_large_picture_keeps_known_pixels() -> None:
    pipe = DiversePipeline(tiny_generator(), name="tiny")
    image, mask = picture(90, 120)
    result = pipe(image, mask)
    assert result.strategy == "crop" and result.image.shape == image.shape  # 120 > size 32
    assert (result.image[mask == 0] == image[mask == 0]).all()
    assert pipe(image, mask, hd_strategy="original").strategy == "original"


def test_noise_reaches_the_model_at_its_size() -> None:
    calls = []
    model = tiny_generator()
    model.register_forward_pre_hook(lambda _m, args: calls.append((tuple(args[0].shape), tuple(args[2].shape))))
    pipe = DiversePipeline(model, name="tiny")
    image, mask = picture(20, 30)  # non-square, smaller than the model: padded to 30x30, resized to 32
    pipe.generate(image, mask, 2)
    assert calls == [((1, 3, 32, 32), (1, 256))] * 2
    with pytest.raises(InputError, match="not a noise-driven generator"):
        DiversePipeline(TeleaInpainter(), name="telea")


def test_eval_protocol_and_pairwise_diversity() -> None:
    pipe = DiversePipeline(tiny_generator(), name="tiny")
    assert isinstance(pipe, MultiSampleInpainter)
    image, mask = picture()
    l1, lpips = pairwise_diversity(pipe.samples(image, mask, 3, seed=0), mask)
    assert l1 > 0 and lpips is None


def test_contact_sheet_layout_by_hand() -> None:
    image = np.full((4, 6, 3), 0.2, np.float32)
    mask = np.zeros((4, 6))
    mask[0, 0] = 1
    samples = [np.full((4, 6, 3), v, np.float32) for v in (0.1, 0.3, 0.5, 0.7, 0.9)]
    sheet = contact_sheet(image, mask, samples, columns=4, gap=2)
    assert sheet.shape == (2 * 4 + 2, 4 * 6 + 3 * 2, 3)  # 6 tiles in 2 rows of 4
    assert np.allclose(sheet[0, 0], [0.6, 0.1, 0.1]) and np.allclose(sheet[0, 1], 0.2)  # tinted hole
    assert np.allclose(sheet[0, 8], 0.1) and np.allclose(sheet[6, 8], 0.9) and np.allclose(sheet[4, 0], 1.0)
    assert np.allclose(sheet[6, 16], 1.0)  # the empty seventh tile stays white
    small = contact_sheet(
        np.zeros((40, 80, 3), np.float32), np.zeros((40, 80)), [np.ones((40, 80, 3), np.float32)], tile=20
    )
    assert small.shape == (10, 2 * 20 + 8, 3)


def test_load_gives_a_diverse_pipeline_with_its_prior(weights: Path) -> None:
    pipe = load("pdgan-small", weights=weights)
    assert isinstance(pipe, DiversePipeline) and isinstance(pipe.model.prior, TeleaInpainter)
    assert pipe.size == 32 and pipe.hd_trigger == 32 and pipe.hd_margin == 16
    bundled = inpaintkit.registry.get_spec("pdgan-small").bundled_path
    if not bundled.is_file():
        with pytest.raises(WeightsError, match="configs/pdgan-small-cpu.yaml"):
            load("pdgan-small")


def test_shipped_pdgan_small_draws_different_plausible_fills() -> None:
    """The bundled weights on a Kodak-like photo: seeds differ in the hole only, by a bounded amount."""
    assert inpaintkit.registry.get_spec("pdgan-small").bundled_path.is_file(), "pdgan-small is shipped"
    pipe = load("pdgan-small")
    photo = np.asarray(Image.open(Path(inpaintkit.__file__).parent / "assets" / "rocket.jpg").convert("RGB"))
    image = np.ascontiguousarray(photo[100:228, 200:328])  # sky and the rocket's tower, 128 x 128
    mask = np.zeros((128, 128), np.uint8)
    mask[40:88, 56:104] = 1
    hole = mask > 0
    samples = pipe.samples(image, mask, 3, seed=0)
    assert all((s[~hole] == image[~hole]).all() for s in samples)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        gap = np.abs(samples[a][hole].astype(float) - samples[b][hole].astype(float)).mean() / 255
        assert 0.002 < gap < 0.2, (a, b, gap)  # different fills, yet not noise
    prior = np.asarray(load("lama-small")(image, mask).image)
    for s in samples:  # each sample stays near the prior's colours (a plausible fill, not a random one)
        assert np.abs(s[hole].astype(float).mean(0) - prior[hole].astype(float).mean(0)).max() < 25
    assert all(np.array_equal(x, y) for x, y in zip(samples, pipe.samples(image, mask, 3, seed=0)))


# ------------------------------------------------------------------------------------ CLI
def _files(tmp_path: Path) -> tuple[Path, Path]:
    image, mask = picture()
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(mask * 255).save(tmp_path / "mask.png")
    return tmp_path / "photo.png", tmp_path / "mask.png"


def test_cli_writes_samples_and_sheet_and_refuses_to_overwrite(tmp_path: Path, weights: Path, capsys) -> None:
    photo, mask = _files(tmp_path)
    out = tmp_path / "out"
    args = [
        "diverse",
        str(photo),
        "--mask",
        str(mask),
        "-n",
        "3",
        "--seed",
        "4",
        "--model",
        str(weights),
        "-o",
        str(out),
    ]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [CONTACT_SHEET, "sample_00.png", "sample_01.png", "sample_02.png"]
    assert "wrote 3 samples" in capsys.readouterr().out
    written = np.asarray(Image.open(out / "sample_01.png"))
    expected = DiversePipeline(tiny_generator(), name="tiny").samples(*picture(), 3, seed=4)[1]
    assert (written == expected).all()
    sheet = Image.open(out / CONTACT_SHEET)
    assert sheet.size == (4 * 53 + 3 * 8, 37)
    before = (out / "sample_00.png").stat().st_mtime_ns
    assert main(args) == 2
    assert "sample_00.png exists (4 of the output files do); pass --overwrite" in capsys.readouterr().err
    assert (out / "sample_00.png").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0


def test_cli_bad_inputs_are_one_line_errors(tmp_path: Path, weights: Path, capsys) -> None:
    photo, mask = _files(tmp_path)
    cases = [
        (["diverse", str(tmp_path / "nope.png"), "--mask", str(mask)], "no such file"),
        (["diverse", str(photo), "--mask", str(tmp_path / "nope.png")], "no such mask file"),
        (["diverse", str(photo), "--mask", str(mask), "-n", "0"], "-n must be at least 1"),
        (["diverse", str(photo), "--mask", str(mask), "--model", "telea"], "gives a single completion"),
        (["diverse", str(photo), "--mask", str(mask), "-o", str(photo)], "is not a folder"),
    ]
    for argv, message in cases:
        argv = argv if "-o" in argv else [*argv, "-o", str(tmp_path / "o")]
        argv = argv if "--model" in argv else [*argv, "--model", str(weights)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_sample_names_grow_with_n() -> None:
    assert sample_names(3) == ["sample_00.png", "sample_01.png", "sample_02.png"]
    assert sample_names(101)[-1] == "sample_100.png" and sample_names(101)[0] == "sample_000.png"
