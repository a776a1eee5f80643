"""Contract tests over every registered model (tiny configs for the large learned ones)."""

from __future__ import annotations

import hashlib
import importlib
import sys

import numpy as np
import pytest
import torch

import inpaintkit
from inpaintkit import registry
from inpaintkit.api import load_model
from inpaintkit.classical import POSTPROCESSORS
from inpaintkit.models.contract import FAMILIES, PIPELINES, Inpainter, SizeRule
from inpaintkit.registry import DEFAULT_MODEL, DEFAULT_OUTPAINT_MODEL, REGISTRY, create_model, get_spec, list_models
from inpaintkit.training.objectives import OBJECTIVES
from inpaintkit.types import UnknownModelError, WeightsError
from inpaintkit.weights import save_model_file


def _runnable(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name).eval()


def _inputs(h: int = 37, w: int = 53):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[10:25, 12:40] = 255
    return image, mask


def test_registry_lists_every_model_once():
    names = [s.name for s in list_models()]
    assert sorted(names) == sorted(REGISTRY)
    shipped = REGISTRY["lama-small"].local_weights() is not None
    fallback = "patchmatch" if REGISTRY["patchmatch"].available else "telea"
    downloaded = REGISTRY["big-lama"].weights_status() == "present"  # `inpaintkit download big-lama` was run
    assert DEFAULT_MODEL == ("big-lama" if downloaded else "lama-detail" if shipped else fallback)
    assert DEFAULT_OUTPAINT_MODEL == ("lama-small" if shipped else fallback)
    with pytest.raises(UnknownModelError, match="known models"):
        get_spec("nope")


@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items() if s.kind == "learned"))
def test_learned_specs_build_on_meta(name):
    with torch.device("meta"):
        model = create_model(name)
    assert model.pad_multiple == {"lama": 8, "glcic": 4, "outpaint": 2, "pdgan": 1, "content": 1}[REGISTRY[name].arch]
    assert sum(p.numel() for p in model.parameters()) > 0


def test_tiny_images_are_padded_up_to_the_networks_minimum(tmp_path):
    path = save_model_file(
        tmp_path / "tiny.safetensors", "lama", get_spec("lama-tiny").config, _runnable("lama-tiny").state_dict()
    )
    image, mask = _inputs(5, 9)
    out = inpaintkit.load(path)(image, mask).image
    assert out.shape == (5, 9, 3)
    assert (out[mask == 0] == image[mask == 0]).all()


def test_bundled_weights_are_used_without_download_and_missing_ones_name_the_recipe(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "ASSETS_DIR", tmp_path)
    spec = get_spec("lama-small")
    assert spec.local_weights() is None
    assert spec.weights_status() == "not shipped (train: configs/lama-small-cpu-refine.yaml)"
    with pytest.raises(WeightsError, match=r"lama-small\.safetensors is missing.*configs/lama-small-cpu-refine\.yaml"):
        load_model("lama-small")
    torch.manual_seed(3)
    trained = create_model("lama-small")
    save_model_file(tmp_path / "lama-small.safetensors", "lama", spec.config, trained.state_dict())
    assert spec.local_weights() == tmp_path / "lama-small.safetensors"
    assert spec.weights_status() == "bundled"
    loaded, _ = load_model("lama-small")
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


@pytest.mark.parametrize(
    "spec", [s for s in REGISTRY.values() if s.bundled and s.bundled_path.is_file()], ids=lambda s: s.name
)
def test_every_shipped_weight_file_is_small_loads_and_matches_its_model_card(spec):
    path = spec.bundled_path
    assert path.stat().st_size <= 25 * 10**6, "shipped weights must stay within 25 MB"
    card = path.with_suffix(".md").read_text()
    assert f"sha256 `{hashlib.sha256(path.read_bytes()).hexdigest()}`" in card  # the card describes this file
    assert "## Training" in card and "wall time" in card and "## Evaluation" in card
    model, _ = load_model(spec.name)
    size = int(getattr(model, "size", 128))  # 128 fits every shipped network's size and stride
    image, mask = torch.rand(1, 3, size, size), torch.zeros(1, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    with torch.inference_mode():
        out = model(image, mask)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    assert registry.DEFAULT_MODEL == "lama-detail" or spec.name != "lama-small"


# ------------------------------------------------------------------------------ the explicit contract
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_model_declares_the_contract(name):
    spec = REGISTRY[name]
    if not spec.available:
        pytest.skip(f"{name}: optional package missing")
    with torch.device("meta"):
        model = create_model(name)
    assert isinstance(model, Inpainter), type(model)
    rule = model.size_rule()
    assert isinstance(rule, SizeRule) and rule.multiple >= 1 and rule.minimum >= 0
    assert model.pipeline in PIPELINES and isinstance(model.needs_prior, bool)
    assert model.postprocess == "" or model.postprocess in POSTPROCESSORS
    assert (model.pipeline == "diverse") == spec.gives_several
    if spec.arch is not None:
        assert isinstance(model, FAMILIES[spec.arch].module_cls) or spec.kind == "optimisation"


def test_families_are_registered_by_their_model_files():
    assert set(FAMILIES) == {spec.arch for spec in REGISTRY.values() if spec.arch}
    for family in FAMILIES.values():
        assert family.module_cls.__module__ == family.config_cls.__module__  # declared in one model file
        assert all(isinstance(config, family.config_cls) for config in family.presets.values())
        assert family.objective in OBJECTIVES


def test_a_model_class_without_its_declarations_is_refused():
    with pytest.raises(TypeError, match="must declare needs_prior, size_rule"):

        class Incomplete(Inpainter):
            pipeline = "inpaint"
            postprocess = ""

    with pytest.raises(TypeError, match="pipeline must be one of inpaint, diverse"):

        class Unknown(Inpainter):
            pipeline = "sideways"
            postprocess = ""
            needs_prior = False

            def size_rule(self) -> SizeRule:
                return SizeRule()


# ------------------------------------------------------------------------- the catalog (models, fast)
def test_the_catalog_file_is_the_registry():
    from inpaintkit.catalog import read_catalog

    assert read_catalog() == registry.catalog(), "the registry changed: run `python -m inpaintkit.registry`"


def test_the_fast_listing_says_what_the_registry_says(monkeypatch, tmp_path):
    from inpaintkit.catalog import listing

    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))  # no downloads cached
    header, *rows = listing()
    assert header == ("name", "kind", "parameters", "weights", "licence")
    assert [row[0].removesuffix(" (default)") for row in rows] == [spec.name for spec in list_models()]
    for row, spec in zip(rows, list_models()):
        with torch.device("meta"):
            count = sum(p.numel() for p in create_model(spec.name).parameters())
        assert row[1:] == (
            spec.kind,
            "-" if spec.kind == "classical" else f"{count:,}",
            spec.weights_status(),
            spec.licence,
        )
    assert [row[0] for row in rows if row[0].endswith(" (default)")] == [f"{DEFAULT_MODEL} (default)"]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "big-lama.pt").touch()
    assert dict((row[0], row[3]) for row in listing()[1:])["big-lama (default)"] == "present"  # downloaded: the default


def test_models_answers_without_importing_torch():
    import subprocess
    import sys

    code = "import sys; from inpaintkit.cli import main; main(['models']); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "lama-small" in result.stdout and "(default)" in result.stdout


# --------------------------------------------------------------------------- a new method is one file
_TOY_FILE = '''
"""A toy family: everything a new method needs, in one file."""
from dataclasses import dataclass

import torch.nn as nn

from inpaintkit.models.contract import Family, Inpainter, register_family
from inpaintkit.registry import ModelSpec, register_models
from inpaintkit.types import SizeRule


@dataclass
class ToyConfig:
    width: int = 4


class ToyNet(Inpainter):
    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.body = nn.Sequential(nn.Conv2d(4, config.width, 3, padding=1), nn.ReLU(), nn.Conv2d(config.width, 3, 1))

    def size_rule(self) -> SizeRule:
        return SizeRule(multiple=2)

    def forward(self, image, mask):
        return self.body(torch_cat(image, mask)).sigmoid()


def torch_cat(image, mask):
    import torch

    return torch.cat([image * (1 - mask), mask], dim=1)


PRESETS = {"toy": ToyConfig()}
FAMILY = register_family(Family("toy", ToyConfig, ToyNet, PRESETS, objective="lama", tiny=ToyConfig(width=2)))
register_models(ModelSpec("toy", "learned", "a toy network", "MIT", arch="toy", config=PRESETS["toy"]))
'''


def test_a_new_method_is_one_file(tmp_path, monkeypatch):
    """Adding a method touches no other file: its own file registers the family and the name, and the
    registry, the API, the pipelines and the models table take it from there."""
    from inpaintkit.models import contract

    (tmp_path / "toy_method.py").write_text(_TOY_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_method", raising=False)
    try:
        toy = importlib.import_module("toy_method")
        assert "toy" in REGISTRY and FAMILIES["toy"].module_cls is toy.ToyNet
        weights = save_model_file(
            tmp_path / "toy.safetensors", "toy", toy.ToyConfig(), create_model("toy").state_dict()
        )
        pipe = inpaintkit.load("toy", weights=weights)
        image = np.random.default_rng(0).random((9, 11, 3)).astype(np.float32)
        mask = np.zeros((9, 11), np.float32)
        mask[2:5, 3:7] = 1
        out = pipe(image, mask).image
        assert pipe.pad_multiple == 2 and out.shape == image.shape
        assert np.array_equal(out[mask == 0], image[mask == 0]) and not np.array_equal(out, image)
        assert inpaintkit.load(weights).name == str(weights)  # a weight file names its family
        assert any(row["name"] == "toy" and row["module"] == "toy_method" for row in registry.catalog())
    finally:  # the toy leaves no trace
        sys.modules.pop("toy_method", None)
        registry._SPECS.pop("toy", None)
        contract._FAMILIES.pop("toy", None)
