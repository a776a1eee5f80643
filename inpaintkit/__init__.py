"""inpaintkit: image inpainting and outpainting (LaMa, GLCIC, outpainting, neural patch synthesis,
PD-GAN) plus classical methods, behind one Python API, one CLI and one web app.

Quick start::

    import inpaintkit
    pipe = inpaintkit.load("telea")            # or "big-lama", "lama-small", a weight file ...
    result = pipe(image, mask)                 # PIL / numpy / tensor in, same kind out
    result.image
"""

__version__ = "0.1.0"

from .api import load, load_model, load_outpainter  # noqa: E402
from .registry import create_model, list_models  # noqa: E402
from .types import InpaintKitError, InpaintResult, InputError, UnknownModelError, WeightsError  # noqa: E402

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
