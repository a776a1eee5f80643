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
  - :meth:`Inpainter.size_rule`: the input sizes it takes (:class:`SizeRule`).

* :class:`Family`: a learned family (its config class, module class, presets and training
  objective), registered by its own model file with :func:`register_family`; weight files name
  it (``arch``). :data:`FAMILIES` is what the registry, :func:`inpaintkit.load` and the trainer read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch.nn as nn

#: The pipelines a model may ask for.
PIPELINES = ("inpaint", "diverse")


@dataclass(frozen=True)
class SizeRule:
    """The input sizes a model takes.

    Attributes:
        multiple: H and W must be multiples of this (the pipeline pads).
        minimum: H and W must be at least this after padding (the pipeline pads).
        fixed: the side of the only square size the model takes (the pipeline resizes regions to
            it and back), or ``None`` for any size.
    """

    multiple: int = 1
    minimum: int = 0
    fixed: int | None = None

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.minimum < 0 or (self.fixed is not None and self.fixed < 1):
            raise ValueError(f"SizeRule: multiple >= 1, minimum >= 0 and fixed >= 1 or None, got {self}")


class Inpainter(nn.Module):
    """Base class of every runnable model; see the module docstring for what a subclass declares."""

    #: What each concrete subclass must set itself (in its own body or a subclass of Inpainter's).
    DECLARED: ClassVar[tuple[str, ...]] = ("pipeline", "postprocess", "needs_prior")
    pipeline: ClassVar[str]
    postprocess: ClassVar[str]
    needs_prior: ClassVar[bool]

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


#: Learned families by name (``arch``), filled by the model files as they are imported.
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (its model file calls this once, at import).

    Raises:
        ValueError: another family has that name, or a preset is not an instance of its config class.
    """
    if family.name in FAMILIES and FAMILIES[family.name] != family:
        raise ValueError(f"two families are named {family.name!r}")
    configs = {**family.presets, "tiny": family.tiny}
    wrong = [name for name, config in configs.items() if not isinstance(config, family.config_cls)]
    if wrong:
        raise ValueError(f"family {family.name}: presets {wrong} are not {family.config_cls.__name__} instances")
    FAMILIES[family.name] = family
    return family
