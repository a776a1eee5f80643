"""inpaintkit: image inpainting and outpainting (LaMa, GLCIC, outpainting, neural patch synthesis,
PD-GAN) plus classical methods, behind one Python API, one CLI and one web app.

Quick start::

    import inpaintkit
    pipe = inpaintkit.load("telea")            # or "big-lama", "lama-small", a weight file ...
    result = pipe(image, mask)                 # PIL / numpy / tensor in, same kind out
    result.image
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from .types import InpaintKitError, InpaintResult, InputError, UnknownModelError, WeightsError

if TYPE_CHECKING:
    from .api import load, load_model, load_outpainter
    from .registry import create_model, list_models

#: Where each lazily imported name lives: ``import inpaintkit`` stays light (no torch) until one is used.
_LAZY = {
    "load": "api",
    "load_model": "api",
    "load_outpainter": "api",
    "create_model": "registry",
    "list_models": "registry",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'inpaintkit' has no attribute {name!r}")


__all__ = [
    "load",
    "load_model",
    "load_outpainter",
    "create_model",
    "list_models",
    "InpaintKitError",
    "InputError",
    "WeightsError",
    "UnknownModelError",
    "InpaintResult",
    "__version__",
]
