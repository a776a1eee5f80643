"""The contract every model inpaintkit runs keeps, and the record each learned family registers.

* :class:`Inpainter`: the base class of every runnable model (learned networks, classical methods,
  the neural-patch optimiser, inference copies). ``forward(image, mask)`` takes ``(B, 3, H, W)`` in
  ``[0, 1]`` and ``(B, 1, H, W)`` in ``{0, 1}`` (1 = hole) and returns the raw ``(B, 3, H, W)``
  prediction in ``[0, 1]`` (the pipeline composites it). Each concrete class *declares*, with no
  default to fall back on (checked when the class is created):

  - ``pipeline``: ``"inpaint"`` (one fill per input) or ``"diverse"`` (several fills drawn from noise);
  - ``postprocess``: ``""`` or the key of a step of :data:`inpaintkit.classical.POSTPROCESSORS`
    applied to its raw output;
  - ``needs_prior``: whether it works only once :meth:`attach_prior` has given it a frozen model;
  - :meth:`Inpainter.size_rule`: the input sizes it takes (:class:`~inpaintkit.types.SizeRule`).

* :class:`Family`: a learned family (its config class, module class, presets and training
  objective), registered by its own model file with :func:`register_family`; weight files name
  it (``arch``). :data:`FAMILIES` is what the registry, :func:`inpaintkit.load` and the trainer read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch.nn as nn

from ..registry import DeclaredTable
from ..types import SizeRule

#: The pipelines a model may ask for.
PIPELINES = ("inpaint", "diverse")


class Inpainter(nn.Module):
    """Base class of every runnable model; see the module docstring for what a subclass declares."""

    #: What each concrete subclass must set itself (in its own body or a subclass of Inpainter's).
    DECLARED: ClassVar[tuple[str, ...]] = ("pipeline", "postprocess", "needs_prior")
    pipeline: ClassVar[str]
    postprocess: ClassVar[str]
    needs_prior: ClassVar[bool]
    #: Why the module must run in float32 as it is (no optimised or bf16 copy), e.g. neural-patch's
    #: "synthesises each image in float32"; ``""`` (networks): the pipeline may optimise it.
    float32_only: ClassVar[str] = ""

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        declared = {name for klass in cls.__mro__ if klass is not Inpainter for name in vars(klass)}
        missing = [name for name in (*cls.DECLARED, "size_rule") if name not in declared]
        if missing:
            raise TypeError(f"{cls.__name__} must declare {', '.join(missing)} (see inpaintkit.models.contract)")
        if cls.pipeline not in PIPELINES:
            raise TypeError(f"{cls.__name__}.pipeline must be one of {', '.join(PIPELINES)}, got {cls.pipeline!r}")

    def size_rule(self) -> SizeRule:
        """The input sizes this model takes."""
        raise NotImplementedError

    def for_pipeline(self) -> Inpainter:
        """The module a pipeline runs: this one, unless a fixed-size network needs a wrapper to fill
        pictures of any size (the neural-patch content network alone)."""
        return self

    def attach_prior(self, prior: nn.Module) -> Inpainter:
        """Give a model that ``needs_prior`` its frozen companion; others have none to take."""
        raise TypeError(f"{type(self).__name__} takes no prior")


@dataclass(frozen=True)
class Family:
    """A learned family, as its model file registers it.

    Attributes:
        name: the name weight files store as ``arch``.
        config_cls: its config dataclass.
        module_cls: its :class:`Inpainter` (``module_cls(config)``).
        presets: preset name -> config instance.
        objective: the training objective that trains it (a key of ``training.objectives.OBJECTIVES``).
        tiny: a config small enough to build and run in a fraction of a second on a CPU (the
            contract test runs every registered model of the family at this size).
    """

    name: str
    config_cls: type
    module_cls: type[Inpainter]
    presets: Mapping[str, Any]
    objective: str
    tiny: Any


_FAMILIES: dict[str, Family] = {}


#: Learned families by name (``arch``), filled by the model files as they are imported.
FAMILIES: Mapping[str, Family] = DeclaredTable(_FAMILIES)


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (its model file calls this once, at import).

    Raises:
        ValueError: another family has that name, or a preset is not an instance of its config class.
    """
    if family.name in _FAMILIES and _FAMILIES[family.name] != family:
        raise ValueError(f"two families are named {family.name!r}")
    configs = {**family.presets, "tiny": family.tiny}
    wrong = [name for name, config in configs.items() if not isinstance(config, family.config_cls)]
    if wrong:
        raise ValueError(f"family {family.name}: presets {wrong} are not {family.config_cls.__name__} instances")
    _FAMILIES[family.name] = family
    return family
