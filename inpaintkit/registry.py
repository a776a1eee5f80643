"""The one registry: model name -> how to build it, its preset and its weights.

Each model is declared by the file that implements it (a model file in :mod:`inpaintkit.models`, a
method in :mod:`inpaintkit.classical`), which calls :func:`register_models` at import. The registry
reads ``inpaintkit/assets/catalog.json`` (written by ``python -m inpaintkit.registry``, kept equal
by a test) to know which file declares a name, and imports only that file when a name is first
looked up: ``inpaintkit.load("telea")`` never imports torch or a network. Listing every model
imports every declaring file.

It feeds :func:`create_model`, :func:`inpaintkit.load`, the ``inpaintkit models`` command and the
contract tests that run over every registered model.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._typed import coerce
from .catalog import (
    ASSETS_DIR,
    CATALOG_FILE,
    DEFAULT_OUTPAINT_TRAINED,
    DEFAULT_TRAINED,
    OPTIONAL_PACKAGES,
    WeightSpec,
    cached_path,
    default_model,
    enable_command,
    read_catalog,
    weights_status,
)
from .types import InputError, UnknownModelError

if TYPE_CHECKING:
    import torch.nn as nn

T = TypeVar("T")


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
        factory: ``factory()`` builds a classical method (a torch-free
            :class:`~inpaintkit.classical.picture.PictureMethod`); ``factory(network, **options)`` builds
            an optimisation model (``network`` = the learned starting network with its weights).
        requires: the optional package it needs (a key of :data:`inpaintkit.catalog.OPTIONAL_PACKAGES`).
        postprocess: a step of :data:`inpaintkit.classical.POSTPROCESSORS` run on the network's output
            (instead of the one the network names, if any): ``patch-synthesis`` for ``lama-detail``.
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
    factory: Callable[..., Any] | None = None
    requires: str | None = None
    postprocess: str | None = None

    @property
    def declared_in(self) -> str:
        """The module that declares this model (where its config class or its method lives)."""
        return (self.factory if self.kind == "classical" else type(self.config)).__module__

    @property
    def available(self) -> bool:
        """``False`` when the optional package it requires is missing."""
        return OPTIONAL_PACKAGES[self.requires]() if self.requires else True

    @property
    def gives_several(self) -> bool:
        """Whether the model draws several different completions of one input (PD-GAN): its
        network class declares the ``diverse`` pipeline."""
        from .models.contract import FAMILIES

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

    def _state(self) -> tuple[bool, bool, bool | None]:
        """``(available, bundled, download)`` on this machine (what :func:`inpaintkit.catalog.row_state`
        reads from this model's catalog row), for :func:`weights_status` and :func:`enable_command`."""
        bundled = self.bundled_path is not None and self.bundled_path.is_file()
        return self.available, bundled, cached_path(self.weights).is_file() if self.weights else None

    def weights_status(self) -> str:
        """One phrase for listings: ``none needed``, ``bundled``, ``present``, ``not downloaded`` ..."""
        return weights_status(self.kind, *self._state(), self.recipe)

    def enable_command(self) -> str | None:
        """The command that makes this model ready here (``inpaintkit download big-lama``, a training
        recipe, ``pip install pypatchmatch``), ``None`` when it is ready or no command can make it so."""
        return enable_command(self.name, self.kind, *self._state(), self.recipe, self.requires)


#: Licence of the weights we train on ../shared/datasets/train (BSDS500, Urban100, Sun-Hays 80).
TRAINED_HERE = "research only (terms of its training photos; see its model card)"

#: The packages whose modules may declare models (their modules not starting with ``_``).
DECLARING_PACKAGES = ("inpaintkit.models", "inpaintkit.classical")

_SPECS: dict[str, ModelSpec] = {}


def register_models(*specs: ModelSpec) -> None:
    """Add ``specs`` to the registry (the file that implements them calls this once, at import).

    Raises:
        ValueError: another model already has one of the names.
    """
    for spec in specs:
        if spec.name in _SPECS and _SPECS[spec.name] != spec:
            raise ValueError(f"two models are registered as {spec.name!r}")
        _SPECS[spec.name] = spec


@functools.cache
def _declared_in() -> dict[str, str]:
    """Name -> declaring module, from the catalog file (empty when it is missing or unreadable)."""
    try:
        return {row["name"]: row["module"] for row in read_catalog()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@functools.cache
def import_declaring_modules() -> None:
    """Import every module that may declare models (and learned families)."""
    for package_name in DECLARING_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")


class DeclaredTable(MutableMapping[str, T]):
    """A name -> entry table that the declaring modules fill as they are imported.

    Looking up a name that is not there yet imports the module that declares it (``index`` maps
    names to modules) or, failing that, every declaring module; iterating imports them all.
    """

    def __init__(self, entries: dict[str, T], index: Callable[[], dict[str, str]] = dict) -> None:
        self._entries, self._index = entries, index

    def __getitem__(self, name: str) -> T:
        if name not in self._entries and isinstance(name, str):
            module = self._index().get(name)
            if module is not None:
                importlib.import_module(module)
            if name not in self._entries:  # a name the index does not list (yet)
                import_declaring_modules()
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __setitem__(self, name: str, entry: T) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        import_declaring_modules()
        return iter(dict(self._entries))

    def __len__(self) -> int:
        import_declaring_modules()
        return len(self._entries)


#: Every registered model by name.
REGISTRY: MutableMapping[str, ModelSpec] = DeclaredTable(_SPECS, _declared_in)


#: The method used when none is named for filling holes: big-lama when its published weights are in the
#: cache (``inpaintkit download big-lama``: the official LaMa, trained on Places2 at scale), else lama-detail
#: (lama-small's fill with the photo's own texture copied in) when lama-small's weights are installed, else
#: a classical method that needs no weights. On kodak24 at 512 (docs/BENCHMARKS.md, lama-detail-512)
#: lama-detail beats Telea, Navier-Stokes and PatchMatch on PSNR and PatchMatch on HaarPSI for medium and
#: thick masks, with a hole detail ratio near 1; lama-small alone scores higher PSNR but fills with a
#: smooth smear (hole detail 0.24). The rule is :func:`inpaintkit.catalog.default_model`.
DEFAULT_MODEL = default_model(DEFAULT_TRAINED)

#: The method used when none is named for outpainting: lama-small (the texture step of lama-detail
#: runs in hole filling only). It beat outpaint-small on 3-step recursive extension of kodim03 / kodim23,
#: RMSE 40.5 / 54.3 against 41.3 / 55.9, and on SSIM and hole L1 in one step (docs/BENCHMARKS.md,
#: outpaint-128).
DEFAULT_OUTPAINT_MODEL = default_model(DEFAULT_OUTPAINT_TRAINED, downloaded=None)


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
    from .models.contract import FAMILIES

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
    """Build the registered model ``name`` as a module, without loading weights (random init for
    learned ones; a classical method as its module on tensors)."""
    spec = get_spec(name)
    if spec.kind == "classical":
        from .classical.modules import as_module

        return as_module(spec.factory())
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
                "module": spec.declared_in,
            }
        )
    return rows


if __name__ == "__main__":  # python -m inpaintkit.registry: rewrite inpaintkit/assets/catalog.json
    import json

    from inpaintkit import registry  # the module the model files register into (this one runs as __main__)

    CATALOG_FILE.write_text(json.dumps(registry.catalog(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CATALOG_FILE}")
