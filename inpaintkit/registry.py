"""The one explicit registry: model name -> how to build it, its preset and its weights.

It feeds :func:`create_model`, :func:`inpaintkit.load`, the ``inpaintkit models`` command and the
contract tests that run over every registered model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch.nn as nn

from ._typed import coerce
from .catalog import (
    ASSETS_DIR,
    CATALOG_FILE,
    DEFAULT_OUTPAINT_TRAINED,
    DEFAULT_TRAINED,
    DEFAULT_WEIGHTS_OF,
    OPTIONAL_PACKAGES,
    first_ready,
    weights_status,
)
from .classical import NavierStokesInpainter, PatchMatchInpainter, TeleaInpainter
from .models import glcic, lama, neural_patch, outpaint, pdgan
from .models.contract import FAMILIES
from .types import InputError, UnknownModelError
from .weights import WEIGHT_SPECS, WeightSpec, cached_path


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: registry name (``inpaintkit.load(name)``).
        kind: ``"learned"``, ``"classical"`` or ``"optimisation"`` (a per-image optimisation started
            from a learned network: ``arch``/``config``/``bundled`` describe that network).
        description: one line for ``inpaintkit models``.
        licence: licence of the method's weights (or of the algorithm's implementation).
        arch: key into :data:`FAMILIES` (learned models only).
        config: the preset config instance (learned models only).
        weights: where the pretrained weights come from; ``None`` = no published weights.
        bundled: file name under ``inpaintkit/assets/`` of the weights we trained and ship.
        recipe: the training recipe (``configs/*.yaml``) that makes the bundled weights.
        factory: builds the module: ``factory()`` for classical models, ``factory(network, **options)``
            for optimisation models (``network`` = the learned starting network with its weights).
        requires: the optional package it needs (a key of :data:`inpaintkit.catalog.OPTIONAL_PACKAGES`).
        postprocess: a step of :data:`inpaintkit.classical.POSTPROCESSORS` run on the network's output
            (instead of the one the network names, if any): ``guided-texture`` for ``lama-detail``.
    """

    name: str
    kind: str
    description: str
    licence: str
    arch: str | None = None
    config: object | None = None
    weights: WeightSpec | None = None
    bundled: str | None = None
    recipe: str | None = None
    factory: Callable[..., nn.Module] | None = None
    requires: str | None = None
    postprocess: str | None = None

    @property
    def available(self) -> bool:
        """``False`` when the optional package it requires is missing."""
        return OPTIONAL_PACKAGES[self.requires]() if self.requires else True

    @property
    def gives_several(self) -> bool:
        """Whether the model draws several different completions of one input (PD-GAN): its
        network class declares the ``diverse`` pipeline."""
        return self.arch is not None and FAMILIES[self.arch].module_cls.pipeline == "diverse"

    @property
    def bundled_path(self) -> Path | None:
        """Where the shipped weights of this model are (whether or not the file is there)."""
        return None if self.bundled is None else ASSETS_DIR / self.bundled

    def local_weights(self) -> Path | None:
        """The weight file used without a download: the bundled one, else a cached download, else ``None``."""
        for path in (self.bundled_path, cached_path(self.weights) if self.weights else None):
            if path is not None and path.is_file():
                return path
        return None

    def weights_status(self) -> str:
        """One phrase for listings: ``none needed``, ``bundled``, ``present``, ``not downloaded`` ..."""
        bundled = self.bundled_path is not None and self.bundled_path.is_file()
        download = cached_path(self.weights).is_file() if self.weights else None
        return weights_status(self.kind, self.available, bundled, download, self.recipe)


#: Licence of the weights we train on ../shared/datasets/train (BSDS500, Urban100, Sun-Hays 80).
_TRAINED_HERE = "research only (terms of its training photos; see its model card)"


def _lama(name: str, description: str, licence: str = "Apache-2.0", **trained: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        kind="learned",
        description=description,
        licence=licence,
        arch="lama",
        config=lama.PRESETS[name],
        weights=WEIGHT_SPECS.get(name),
        **trained,
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        _lama("big-lama", "LaMa big (FFC, 18 blocks), official weights trained on Places2"),
        _lama("lama-fourier", "LaMa-Fourier (FFC, 9 blocks), paper configuration"),
        _lama(
            "lama-small",
            "LaMa FFC generator sized for CPU, trained here (see its model card)",
            _TRAINED_HERE,
            bundled="lama-small.safetensors",
            recipe="configs/lama-small-cpu-refine.yaml",
        ),
        ModelSpec(
            "lama-detail",
            "learned",
            "lama-small's fill with the photo's own fine texture copied in (guided texture transfer); the default",
            _TRAINED_HERE,
            arch="lama",
            config=lama.PRESETS["lama-small"],
            bundled="lama-small.safetensors",
            recipe="configs/lama-small-cpu-refine.yaml",
            postprocess="guided-texture",
        ),
        _lama("lama-tiny", "LaMa FFC generator for tests and smoke runs"),
        ModelSpec(
            "glcic",
            "learned",
            "GLCIC completion network (Iizuka et al. 2017), paper widths; the authors' "
            "completionnet_*.t7 loads with --weights",
            "CC BY-NC-SA 4.0 (authors' weights)",
            arch="glcic",
            config=glcic.PRESETS["glcic"],
            weights=WEIGHT_SPECS["glcic"],
        ),
        ModelSpec(
            "glcic-small",
            "learned",
            "GLCIC completion network at a quarter of the widths, trained here",
            _TRAINED_HERE,
            arch="glcic",
            config=glcic.PRESETS["glcic-small"],
            bundled="glcic-small.safetensors",
            recipe="configs/glcic-small-cpu-refine.yaml",
        ),
        ModelSpec(
            "outpaint",
            "learned",
            "Image outpainting generator (Sabini & Rusak 2018), paper widths",
            "Apache-2.0",
            arch="outpaint",
            config=outpaint.PRESETS["outpaint"],
        ),
        ModelSpec(
            "outpaint-small",
            "learned",
            "Outpainting generator at a quarter of the widths, correcting a Telea fill, trained here",
            _TRAINED_HERE,
            arch="outpaint",
            config=outpaint.PRESETS["outpaint-small"],
            bundled="outpaint-small.safetensors",
            recipe="configs/outpaint-small-cpu-refine.yaml",
        ),
        ModelSpec(
            "pdgan",
            "learned",
            "PD-GAN diverse inpainting (Liu et al. 2021), paper widths at 256; prior lama-small",
            "Apache-2.0",
            arch="pdgan",
            config=pdgan.PRESETS["pdgan"],
            recipe="configs/pdgan-paper.yaml",
        ),
        ModelSpec(
            "pdgan-small",
            "learned",
            "PD-GAN at 128x128 sized for CPU, prior lama-small, trained here",
            _TRAINED_HERE,
            arch="pdgan",
            config=pdgan.PRESETS["pdgan-small"],
            bundled="pdgan-small.safetensors",
            recipe="configs/pdgan-small-cpu.yaml",
        ),
        ModelSpec(
            "content",
            "learned",
            "Neural-patch-synthesis content network (Yang et al. 2017), paper widths",
            "Apache-2.0",
            arch="content",
            config=neural_patch.PRESETS["content"],
        ),
        ModelSpec(
            "content-small",
            "learned",
            "Neural-patch-synthesis content network sized for CPU, trained here",
            _TRAINED_HERE,
            arch="content",
            config=neural_patch.PRESETS["content-small"],
            bundled="content-small.safetensors",
            recipe="configs/content-small-cpu.yaml",
        ),
        ModelSpec(
            "neural-patch",
            "optimisation",
            "Multi-scale neural patch synthesis (Yang et al. 2017): "
            "content-small refined by texture optimisation (VGG-19 or pixel patches)",
            _TRAINED_HERE,
            arch="content",
            config=neural_patch.PRESETS["content-small"],
            bundled="content-small.safetensors",
            recipe="configs/content-small-cpu.yaml",
            factory=neural_patch.NeuralPatchInpainter,
        ),
        ModelSpec(
            "telea", "classical", "OpenCV fast marching (Telea 2004)", "Apache-2.0 (OpenCV)", factory=TeleaInpainter
        ),
        ModelSpec(
            "navier-stokes",
            "classical",
            "OpenCV Navier-Stokes (Bertalmio et al. 2001)",
            "Apache-2.0 (OpenCV)",
            factory=NavierStokesInpainter,
        ),
        ModelSpec(
            "patchmatch",
            "classical",
            "PatchMatch (Barnes et al. 2009) via pypatchmatch",
            "MIT (pypatchmatch)",
            factory=PatchMatchInpainter,
            requires="patchmatch",
        ),
    ]
}


def _first_ready(trained: str, weights_of: str) -> str:
    """``trained`` when the weights of ``weights_of`` are installed, else a classical method that needs none."""
    return first_ready(
        trained, lambda: REGISTRY[weights_of].local_weights() is not None, lambda: REGISTRY["patchmatch"].available
    )


#: The method used when none is named for filling holes: lama-detail (lama-small's fill with the photo's
#: own texture copied in) when lama-small's weights are installed, else a classical method that needs no
#: weights. On kodak24 at 512 (docs/BENCHMARKS.md, lama-detail-512) it beats Telea, Navier-Stokes and
#: PatchMatch on PSNR and PatchMatch on HaarPSI for medium and thick masks, with a hole detail ratio near 1;
#: lama-small alone scores higher PSNR but fills with a smooth smear (hole detail 0.24).
DEFAULT_MODEL = _first_ready(DEFAULT_TRAINED, weights_of=DEFAULT_WEIGHTS_OF)

#: The method used when none is named for outpainting: lama-small (the texture step of lama-detail
#: runs in hole filling only). It beat outpaint-small on 3-step recursive extension of kodim03 / kodim23,
#: RMSE 40.5 / 54.3 against 41.3 / 55.9, and on SSIM and hole L1 in one step (docs/BENCHMARKS.md,
#: outpaint-128).
DEFAULT_OUTPAINT_MODEL = _first_ready(DEFAULT_OUTPAINT_TRAINED, weights_of=DEFAULT_WEIGHTS_OF)


def get_spec(name: str) -> ModelSpec:
    """Return the :class:`ModelSpec` registered under ``name`` or raise :class:`UnknownModelError`."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}") from None


def list_models() -> list[ModelSpec]:
    """All registered models, learned first, then classical, each group by name."""
    return sorted(REGISTRY.values(), key=lambda s: (s.kind != "learned", s.name))


def build_architecture(arch: str, config: object | dict) -> nn.Module:
    """Build an untrained network of family ``arch`` from a config instance or a plain dict.

    A dict (from a weight file's metadata, say) is checked first by :func:`config_from_dict`.

    Raises:
        UnknownModelError: ``arch`` is no known family.
        InputError: the dict does not describe a valid config of that family.
    """
    try:
        entry = FAMILIES[arch]
    except KeyError:
        raise UnknownModelError(f"unknown architecture {arch!r}; known: {', '.join(FAMILIES)}") from None
    if isinstance(config, dict):
        config = config_from_dict(entry.config_cls, config, arch)
    return entry.module_cls(config)


#: Largest number a model config may hold (widths, block counts, list items) and longest list: it
#: bounds what a crafted weight file can make us build (big-lama's largest is 1024).
MAX_CONFIG_NUMBER = 8192
MAX_CONFIG_LIST = 64


def config_from_dict(cls: type, data: Mapping[str, Any], what: str) -> Any:
    """Config dataclass ``cls`` from plain data, each field checked against its type and bounds.

    Raises:
        InputError: an unknown key, a value of the wrong type, a number beyond
            :data:`MAX_CONFIG_NUMBER` or not finite, a list longer than :data:`MAX_CONFIG_LIST`, or a
            value the config itself refuses; the message names the key.
    """
    try:
        config = coerce(dict(data), cls, what)
    except ValueError as err:  # InputError from the keys, types and the config's own checks; ValueError elsewhere
        raise InputError(str(err)) from None
    for field in fields(cls):
        value = getattr(config, field.name)
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_CONFIG_LIST:
            raise InputError(f"{what}.{field.name}: a list of {len(items)} items (at most {MAX_CONFIG_LIST})")
        bad = next((v for v in items if isinstance(v, (int, float)) and not abs(v) <= MAX_CONFIG_NUMBER), None)
        if bad is not None:
            raise InputError(f"{what}.{field.name}: {bad!r} is out of range (at most {MAX_CONFIG_NUMBER} in size)")
    return config


def create_model(name: str) -> nn.Module:
    """Build the registered model ``name`` without loading weights (random init for learned ones)."""
    spec = get_spec(name)
    if spec.kind == "classical":
        return spec.factory()
    module = build_architecture(spec.arch, spec.config)
    if spec.kind == "optimisation":  # no weights at all: the weight-free feature space of neural-patch
        return spec.factory(module, feature_space="pixel")
    if module.needs_prior:  # PD-GAN: its frozen prior is another registered model
        module.attach_prior(create_model(spec.config.prior))
    return module


def catalog() -> list[dict]:
    """The registry as plain rows for :mod:`inpaintkit.catalog` (``inpaintkit models`` without torch)."""
    import torch

    rows = []
    for spec in list_models():
        parameters = None
        if spec.kind != "classical":
            with torch.device("meta"):
                parameters = sum(p.numel() for p in create_model(spec.name).parameters())
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "parameters": parameters,
                "licence": spec.licence,
                "bundled": spec.bundled,
                "download": spec.weights.filename if spec.weights else None,
                "recipe": spec.recipe,
                "requires": spec.requires,
            }
        )
    return rows


if __name__ == "__main__":  # python -m inpaintkit.registry: rewrite inpaintkit/assets/catalog.json
    import json

    CATALOG_FILE.write_text(json.dumps(catalog(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CATALOG_FILE}")
