"""The public entry point: ``inpaintkit.load(name_or_path)`` returns a ready pipeline.

A classical method (``telea`` ...) is built and run without importing torch; networks import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .classical import POSTPROCESSORS, PictureMethod
from .pipelines.inpaint import InpaintPipeline
from .pipelines.outpaint import OutpaintPipeline
from .registry import DEFAULT_MODEL, DEFAULT_OUTPAINT_MODEL, REGISTRY, ModelSpec, build_architecture, get_spec
from .types import PRECISIONS, InpaintKitError, InputError, UnknownModelError, WeightsError, check_device

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

    from .models.contract import Inpainter


def load_model(
    model: str | os.PathLike = DEFAULT_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    trust: bool = False,
    device: str | torch.device = "cpu",
    options: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, str]:
    """Build a model with its weights, ready for inference.

    Args:
        model: a registry name (``inpaintkit models`` lists them) or a path to a weight file in any
            format :func:`inpaintkit.weights.load_weights` reads.
        weights: a weight file to use instead of the registered download (``--weights PATH``).
        trust: allow full unpickling of ``.ckpt`` files you trust (never needed for safetensors).
        device: where to put the network.
        options: settings of an optimisation model, e.g. neural-patch's ``scales``, ``iterations``,
            ``feature_space``, ``vgg_weights`` (:class:`~inpaintkit.models.neural_patch.NeuralPatchInpainter`).

    Returns:
        ``(module in eval mode, display name)``.
    """
    name = _model_name(model)
    device = check_device(device)
    if options and (name not in REGISTRY or get_spec(name).kind != "optimisation"):
        raise InputError(f"{name} takes no model options (got {', '.join(options)})")
    if name in REGISTRY:
        spec = get_spec(name)
        if spec.kind == "optimisation":  # neural-patch: the learned network it starts from, then its factory
            _check_keywords(f"model option of {name}", options or {}, spec.factory, skip=1)
            module = spec.factory(_load_learned(spec, weights, trust), **(options or {}))
        elif spec.kind == "classical":
            from .classical.modules import as_module

            module = as_module(_classical_method(spec, weights))
        else:
            module = _load_learned(spec, weights, trust)
    elif Path(name).is_file():
        module = _build(name, trust)
    else:
        raise UnknownModelError(
            f"unknown model {name!r}: not a registered name ({', '.join(sorted(REGISTRY))}) "
            "and not an existing weight file"
        )
    return module.to(device).eval(), name


def _model_name(model: object) -> str:
    """``model`` as a registry name or path, refused in one line when it is neither."""
    if isinstance(model, os.PathLike) or (isinstance(model, str) and model):
        return os.fspath(model)
    raise InputError(f"model must be a registered name or a weight file path, got {model!r}")


#: Pipeline arguments that :func:`load` sets itself (a caller may not pass them).
_SET_BY_LOAD = frozenset({"name", "pad_multiple", "min_size", "device", "postprocess", "precision"})


def _check_keywords(what: str, given: Mapping[str, Any], target: Any, skip: int = 0) -> None:
    """Refuse keywords that ``target`` (a callable) does not take, naming those a caller may give."""
    import inspect

    parameters = list(inspect.signature(target).parameters.values())[skip:]
    known = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    known = [name for name in known if name not in _SET_BY_LOAD]
    unknown = [key for key in given if key not in known]
    if unknown:
        raise InputError(f"unknown {what} {unknown[0]!r}; valid: {', '.join(known)}")


def _classical_method(spec: ModelSpec, weights: str | os.PathLike | None) -> PictureMethod | Inpainter:
    if weights is not None:
        raise InpaintKitError(f"{spec.name} is a classical method and takes no weights")
    return spec.factory()


def _load_learned(spec: ModelSpec, weights: str | os.PathLike | None, trust: bool) -> nn.Module:
    if weights is None and spec.bundled_path is not None and spec.bundled_path.is_file():
        weights = spec.bundled_path
    if weights is None and spec.weights is not None:
        from .weights import fetch

        weights = fetch(spec.weights)  # the cached copy, checked against its checksum, else a download
    if weights is None:  # nothing bundled here, nothing to download
        how = f"train it with `inpaintkit train {spec.recipe}` and `inpaintkit export`" if spec.recipe else "train it"
        missing = f"its bundled file {spec.bundled_path} is missing; " if spec.bundled else ""
        raise WeightsError(f"no weights for {spec.name}: {missing}{how}, or pass a weight file with --weights PATH")
    return _build(weights, trust, spec)


#: Deepest chain of priors a model file may name (a PD-GAN's prior is one level).
MAX_PRIOR_DEPTH = 2


def _build(path: str | os.PathLike, trust: bool, spec: ModelSpec | None = None, depth: int = 0) -> nn.Module:
    """Read a weight file and return the network it describes with its weights loaded.

    The file's config is checked, and the network is first built on the meta device to compare
    its tensor shapes with the file's, so that a crafted config cannot make us allocate more than
    the file holds.
    """
    import torch

    from ._state import state_mismatch
    from .weights import load_weights

    loaded = load_weights(path, trust=trust)
    if spec is not None and loaded.arch != spec.arch:
        raise WeightsError(f"{path} holds a {loaded.arch!r} network, but {spec.name} is {spec.arch!r}")
    try:
        with torch.device("meta"):
            expected = build_architecture(loaded.arch, loaded.config).state_dict()
    except InpaintKitError as err:
        raise WeightsError(f"{path}: invalid model config: {err}") from None
    problems = state_mismatch(expected, loaded.state_dict)
    if problems:
        raise WeightsError(f"{path} does not fit the {loaded.arch} network it describes: {problems}")
    module = build_architecture(loaded.arch, loaded.config)
    module.load_state_dict(loaded.state_dict, strict=True)
    if module.needs_prior:  # PD-GAN: its frozen prior is another registered model
        module.attach_prior(_prior(path, module.config.prior, module.config.prior_weights, trust, depth))
    return module


def _prior(path: str | os.PathLike, prior: str, prior_weights: str, trust: bool, depth: int) -> nn.Module:
    """The prior a model file names: a registered model, or (with ``trust`` only) a file."""
    named_file = prior_weights or (prior if prior not in REGISTRY else "")
    if named_file and not trust:
        raise WeightsError(
            f"{path} names the file {named_file!r} as its prior; a model file may name only a "
            "registered model, pass --trust (trust=True) to load a prior from a file you trust"
        )
    if depth + 1 >= MAX_PRIOR_DEPTH:
        raise WeightsError(f"{path}: priors nested more than {MAX_PRIOR_DEPTH} deep")
    if prior in REGISTRY:  # a registered prior names no prior of its own (PD-GAN presets cannot be priors)
        return load_model(prior, weights=prior_weights or None, trust=trust)[0]
    if not Path(prior).is_file():
        raise WeightsError(f"{path} names {prior!r} as its prior: neither a registered model nor a file")
    return _build(prior, trust, depth=depth + 1)


def load(
    model: str | os.PathLike = DEFAULT_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    trust: bool = False,
    device: str | torch.device = "cpu",
    postprocess: bool = True,
    precision: str = "auto",
    model_options: Mapping[str, Any] | None = None,
    **pipeline_options,
) -> InpaintPipeline:
    """Return an :class:`~inpaintkit.pipelines.inpaint.InpaintPipeline` for ``model``.

    Example::

        pipe = inpaintkit.load("telea")
        result = pipe(pil_image, pil_mask)   # mask: white / opaque = hole
        result.image.save("out.png")

    ``postprocess`` applies the model's own post-processing when it names one (GLCIC: Telea +
    Poisson blending, as the authors' ``--postproc``); ``False`` gives the network's raw fill.
    Learned models run through :func:`~inpaintkit.optimize.optimize_for_inference` on the CPU
    (BatchNorm folded, channels-last) unless ``INPAINTKIT_OPTIMIZE=0``, in ``precision``: ``auto``
    (bf16 where the CPU has it natively, else fp32; :func:`~inpaintkit.optimize.auto_precision`),
    ``fp32``, ``bf16`` (about halves LaMa's time on CPUs with AVX512-BF16, at ~45 dB PSNR to float32;
    emulated, and many times slower, elsewhere) or ``int8`` (LaMa on x86); ``pipe.precision`` says
    which ran. Classical methods
    ignore ``precision`` and run on the picture's arrays without torch. ``pipeline_options`` go to
    the pipeline (``hd_strategy``, ``hd_trigger``, ``hd_margin``, ``hd_resize_limit``, ``max_pixels``,
    ``max_run_pixels``). A noise-driven model (PD-GAN) gets a
    :class:`~inpaintkit.pipelines.diverse.DiversePipeline` (an ``InpaintPipeline`` that also draws
    several samples, ``seed=`` per call); ``postprocess`` and ``precision`` do not apply to it.
    The neural-patch content network alone (``content-small``, whose input is a fixed square) runs
    through :func:`~inpaintkit.models.neural_patch.content_alone`, so it fills images of any size
    (in :func:`load_outpainter` too).
    ``model_options`` configure an optimisation model (see :func:`load_model`).
    """
    runner, name, declared, label = _pipeline_model(model, weights, trust, device, precision, model_options)
    if declared.pipeline == "diverse":  # PD-GAN: fixed-size, noise-driven; several samples
        from .pipelines.diverse import DiversePipeline

        _check_keywords("pipeline option", pipeline_options, DiversePipeline, skip=1)
        return DiversePipeline(runner, name=name, device=device, **pipeline_options)
    _check_keywords("pipeline option", pipeline_options, InpaintPipeline, skip=1)
    spec = REGISTRY[name] if name in REGISTRY else None
    step = spec.postprocess if spec is not None and spec.postprocess else declared.postprocess
    return InpaintPipeline(
        runner,
        name=name,
        **_sizes(declared),
        device=device,
        postprocess=POSTPROCESSORS[step] if postprocess and step else None,
        precision=label,
        **pipeline_options,
    )


def load_outpainter(
    model: str | os.PathLike = DEFAULT_OUTPAINT_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    trust: bool = False,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    **pipeline_options,
) -> OutpaintPipeline:
    """Return an :class:`~inpaintkit.pipelines.outpaint.OutpaintPipeline` for ``model``.

    Any registered model or weight file works (the outpainting generator, LaMa, GLCIC, the
    classical methods). Example::

        pipe = inpaintkit.load_outpainter("lama-small", weights="lama-small.safetensors")
        result = pipe("photo.jpg", left=64, right=64, steps=2)   # result.image is a Picture

    ``precision`` as in :func:`load`; ``pipeline_options`` go to the pipeline (``max_pixels``,
    ``max_run_pixels``).
    """
    runner, name, declared, label = _pipeline_model(model, weights, trust, device, precision, None)
    return OutpaintPipeline(runner, name=name, **_sizes(declared), device=device, precision=label, **pipeline_options)


def _sizes(declared: Inpainter | PictureMethod) -> dict[str, int]:
    """The pipeline's padding, from the model's size rule."""
    rule = declared.size_rule()
    return {"pad_multiple": rule.multiple, "min_size": rule.minimum}


def _pipeline_model(
    model: str | os.PathLike,
    weights: str | os.PathLike | None,
    trust: bool,
    device: str | torch.device,
    precision: str,
    options: Mapping[str, Any] | None,
) -> tuple[nn.Module | PictureMethod, str, Inpainter | PictureMethod, str]:
    """What a pipeline runs for ``model``, its display name, the model whose declarations
    (:mod:`inpaintkit.models.contract`) the pipeline follows, and the precision it runs in as users
    see it (``"fp32 (auto)"``; ``""`` for a classical method).

    A registered classical method is its torch-free :class:`~inpaintkit.classical.picture.PictureMethod`;
    a network is :func:`load_model`'s module as the pipeline runs it (``for_pipeline``), optimised
    for the CPU (a copy that runs the same function) unless it is noise-driven or declares itself
    ``float32_only``.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    name = _model_name(model)
    if name in REGISTRY and REGISTRY[name].kind == "classical" and not options:
        if str(device) != "cpu":
            check_device(device)
        method = _classical_method(REGISTRY[name], weights).for_pipeline()
        return method, name, method, ""
    module, name = load_model(model, weights=weights, trust=trust, device=device, options=options)
    declared = module.for_pipeline()
    if declared.pipeline == "diverse":
        return declared, name, declared, "fp32"
    runner, label = _for_inference(declared, name, precision, device)
    return runner, name, declared, label


def _for_inference(module: Inpainter, name: str, precision: str, device: str | torch.device) -> tuple[nn.Module, str]:
    """The module the pipeline runs, the optimised copy of a learned CPU model (see :func:`load`),
    and its precision as users see it (``"bf16 (auto)"``).

    A module that declares itself ``float32_only`` (neural-patch: its per-image patch synthesis works
    in float32) runs as it is.
    """
    import torch

    from .optimize import optimization_enabled, optimize_for_inference, resolve_precision

    fixed = precision in ("auto", "fp32")
    if module.float32_only:
        if not fixed:
            raise InputError(f"{name} {module.float32_only}; precision {precision} does not apply")
        return module, "fp32"
    learned = any(True for _ in module.parameters())
    if not learned or torch.device(device).type != "cpu":
        return module, "fp32"
    if not optimization_enabled():
        if not fixed:
            raise InputError(f"precision {precision} needs the optimised path, which INPAINTKIT_OPTIMIZE=0 turns off")
        return module, "fp32"
    chosen, automatic = resolve_precision(precision, module, device)
    return optimize_for_inference(module, precision=chosen), chosen + (" (auto)" if automatic else "")
