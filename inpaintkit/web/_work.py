"""The web app's model cache and run limits (the queue in front of the worker is :mod:`._queue`).

Each model is loaded once, on first use, and reused.

Memory: one job runs at a time, and its model runs on at most ``max_run_pixels`` pixels in one
piece (the whole picture with ``hd_strategy=original``, one crop, an outpainted canvas: both
pipelines get the limit); a model's full-resolution post-processing (lama-detail's patch synthesis)
on at most ``POSTPROCESS_FACTOR`` times that. The pipelines refuse larger runs
(:class:`~inpaintkit.types.RegionTooLarge`, a 413 here) before they allocate anything.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..api import load
from ..catalog import default_model
from ..pipelines.inpaint import InpaintPipeline
from ..pipelines.outpaint import OutpaintPipeline
from ..registry import REGISTRY, ModelSpec, get_spec
from ..types import InputError
from ._http import WebError

if TYPE_CHECKING:
    import torch

#: Largest region a model runs on in one piece, by default (2048x2048): lama-small peaks near 2 GB
#: there, big-lama (fp32) near 3.3 GB; memory grows about linearly with the pixels.
DEFAULT_MAX_RUN_PIXELS = 2048 * 2048


class ModelCache:
    """The models a server offers, each loaded once on first use (thread-safe).

    Args:
        names: registry names offered; ``None`` = every registered model.
        max_pixels: pixel limit given to every pipeline.
        max_run_pixels: largest region a model runs on in one piece (the pipelines' ``max_run_pixels``).
        device: where the models run.
        allow_downloads: fetch missing published weights on first use (written to the weight cache);
            when false, learned models run only if their weights are already in the cache.
    """

    def __init__(
        self,
        names: Sequence[str] | None = None,
        *,
        max_pixels: int | None = None,
        max_run_pixels: int = DEFAULT_MAX_RUN_PIXELS,
        device: str | torch.device = "cpu",
        allow_downloads: bool = False,
    ) -> None:
        if names is not None and isinstance(names, str):
            raise InputError(f"models_allowed must be a list of model names, got the string {names!r}")
        chosen = sorted(REGISTRY) if names is None else list(dict.fromkeys(names))
        if not chosen:
            raise InputError("models_allowed is empty: the server would offer no model")
        self.specs = {name: get_spec(name) for name in chosen}  # UnknownModelError for a typo
        if isinstance(max_run_pixels, bool) or not isinstance(max_run_pixels, int) or max_run_pixels < 1:
            raise InputError(f"max_run_pixels must be a positive integer, got {max_run_pixels!r}")
        self.max_pixels = max_pixels
        self.max_run_pixels = max_run_pixels
        self.device = device
        self.allow_downloads = allow_downloads
        self._pipelines: dict[str, InpaintPipeline] = {}
        self._outpainters: dict[str, OutpaintPipeline] = {}
        self._lock = threading.Lock()
        self._library_default = default_model()  # big-lama once its weights are in the cache (when the server starts)

    @property
    def default(self) -> str:
        """The model the page selects first: the library's default if offered, else the first ready one."""
        if self._library_default in self.specs and self.ready(self.specs[self._library_default]):
            return self._library_default
        return next((name for name, spec in self.specs.items() if self.ready(spec)), next(iter(self.specs)))

    def spec(self, name: str) -> ModelSpec:
        """The spec of an offered model; :class:`WebError` 404 naming the offered ones otherwise."""
        try:
            return self.specs[name]
        except KeyError:
            offered = list(self.specs)
            raise WebError(
                404, f"unknown model {name!r}; this server offers {', '.join(offered)}", models=offered
            ) from None

    def weights_present(self, spec: ModelSpec) -> bool | None:
        """Whether a learned model's weights are at hand, bundled or cached (``None``: classical)."""
        if spec.kind == "classical":
            return None
        return spec.local_weights() is not None

    def ready(self, spec: ModelSpec) -> bool:
        """Whether a request for ``spec`` can run now (package installed, weights at hand or fetchable)."""
        if not spec.available:
            return False
        if spec.kind == "classical" or self.weights_present(spec):
            return True
        return spec.weights is not None and self.allow_downloads

    def describe(self) -> list[dict[str, object]]:
        """One JSON-ready entry per offered model, as ``GET /api/models`` returns them; ``enable`` is
        the command that makes a model that is not ready ready (``None`` when it is, or when none can)."""
        default = self.default
        entries = []
        for spec in self.specs.values():
            ready = self.ready(spec)
            entries.append(
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "description": spec.description,
                    "licence": spec.licence,
                    "available": spec.available,
                    "weights_present": self.weights_present(spec),
                    "ready": ready,
                    "default": spec.name == default,
                    "gives_several": spec.gives_several,
                    "enable": None if ready else spec.enable_command(),
                }
            )
        return entries

    def pipeline(self, name: str) -> InpaintPipeline:
        """The loaded pipeline of ``name``, built on first use.

        Raises:
            WebError: 404 for a model not offered, 409 when it cannot run on this server.
            WeightsError: the weights exist but cannot be loaded.
        """
        spec = self.spec(name)
        with self._lock:
            if name not in self._pipelines:
                self._check_runnable(spec)
                self._pipelines[name] = load(
                    name, device=self.device, max_pixels=self.max_pixels, max_run_pixels=self.max_run_pixels
                )
            return self._pipelines[name]

    def outpainter(self, name: str) -> OutpaintPipeline:
        """The outpainting pipeline of ``name``, built on first use around the model its inpainting
        pipeline loaded (one copy in memory, under the same run limit), as
        :func:`inpaintkit.api.load_outpainter` would build it.

        Raises:
            WebError: 404 for a model not offered, 409 when it cannot run on this server, 422 for a
                model that draws fixed-size samples (PD-GAN), which cannot extend a picture.
            WeightsError: the weights exist but cannot be loaded.
        """
        spec = self.spec(name)
        if spec.gives_several:
            raise WebError(
                422, f"{name} draws samples of a fixed size and cannot extend a picture; choose another model"
            )
        inpaint = self.pipeline(name)
        with self._lock:
            if name not in self._outpainters:
                self._outpainters[name] = OutpaintPipeline(
                    inpaint.model,
                    name=inpaint.name,
                    pad_multiple=inpaint.pad_multiple,
                    min_size=inpaint.min_size,
                    device=self.device,
                    max_pixels=self.max_pixels,
                    max_run_pixels=self.max_run_pixels,
                    precision=inpaint.precision,
                )
            return self._outpainters[name]

    def _check_runnable(self, spec: ModelSpec) -> None:
        if not spec.available:
            raise WebError(409, f"{spec.name} needs an optional package that is not installed ({spec.description})")
        if spec.kind == "classical" or self.ready(spec):
            return
        if spec.weights is None:
            raise WebError(409, f"{spec.name} has no published weights; train it and load it from Python")
        raise WebError(
            409,
            f"the weights of {spec.name} are not downloaded and this server does not "
            f"download; run `{spec.enable_command()}` once, or start the server with --download-weights",
        )


# --------------------------------------------------------------------------------------- run limits
def check_whole_image(width: int, height: int, limit: int, what: str = "image") -> None:
    """Refuse (413) ``hd_strategy=original`` on a picture of more than ``limit`` pixels, naming the other strategies."""
    _check_one_piece(
        f"hd_strategy=original runs the model on the whole {width}x{height} {what}",
        width * height,
        limit,
        "send hd_strategy=crop (fills around each hole) or resize (downscales the picture)",
    )


def check_canvas(width: int, height: int, limit: int) -> None:
    """Refuse (413) an outpainted canvas of more than ``limit`` pixels (outpainting runs the model on all of it)."""
    _check_one_piece(
        f"outpainting runs the model on the whole {width}x{height} extended canvas",
        width * height,
        limit,
        "extend by fewer pixels, or send a smaller picture",
    )


def _check_one_piece(run: str, pixels: int, limit: int, advice: str) -> None:
    if pixels > limit:
        raise WebError(
            413,
            f"{run} ({pixels:,} pixels), more than this server runs in one piece ({limit:,}): {advice}",
            max_run_pixels=limit,
        )
