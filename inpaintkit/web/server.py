"""The web app: a FastAPI server for the single-page front end in ``static/`` and for scripts.

Endpoints (documented at ``/docs``, schema at ``/openapi.json``):

* ``GET  /api/info``     limits, HD strategies and the default model;
* ``GET  /api/models``   the offered models and whether each can run now;
* ``POST /api/inpaint``  multipart ``image`` + ``mask`` (+ options) -> PNG; for a model that gives
  several completions (PD-GAN) JSON ``{"images": [base64 PNG, ...], "seed": s, ...}`` with
  ``samples`` results drawn from ``seed``;
* ``POST /api/outpaint`` multipart ``image`` + ``left/right/top/bottom`` px (+ ``model``, ``steps``) -> PNG,
  through :class:`~inpaintkit.pipelines.outpaint.OutpaintPipeline` (the library's and the CLI's
  outpainting): ``steps`` (1 to :data:`MAX_STEPS`) extends in that many steps, each feeding its result
  to the next; the known pixels are kept exactly (``blend=False``);
* ``GET  /``             the page; ``/static/...`` its script and style sheet;
* ``GET  /docs``, ``/redoc``  the OpenAPI pages, their scripts served locally (no CDN).

PNG answers carry ``X-Inpaint-Model``, ``X-Inpaint-Strategy``, ``X-Inpaint-Seconds`` and
``X-Inpaint-Warnings`` (a JSON list). Errors are JSON ``{"error": "...", ...}``: 400 unknown Host,
403 cross-origin POST, 413 upload, pixel or run limit, 415 not multipart / not an image, 422 bad
field or mask size, 404 unknown model, 409 model not runnable here, 500 the model failed, 503 queue
full. Every answer carries a Content-Security-Policy and ``X-Content-Type-Options: nosniff``
(:mod:`._guard`). Only registered model names are accepted (never paths), and nothing is written to
disk unless ``allow_downloads`` fetches weights into the cache.

Memory: at most ``queue_size`` requests are held at once, one job runs at a time, and a model runs
on at most ``max_run_pixels`` pixels in one piece (default 2048x2048), so ``hd_strategy=original``
is refused on larger pictures while ``crop`` and ``resize`` still take them, and an extended canvas
larger than that is refused (outpainting runs the model on the whole canvas) (:mod:`._work`).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from PIL import Image, ImageOps
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from .. import __version__
from ..io import check_pixel_limit, resolve_max_pixels, to_pil
from ..pipelines.diverse import DiversePipeline
from ..pipelines.inpaint import HD_STRATEGIES
from ..pipelines.outpaint import OutpaintResult
from ..types import InpaintKitError, InpaintResult, InputError, RegionTooLarge, UnknownModelError, WeightsError
from ._guard import LOCAL_HOSTS, Guard
from ._http import (
    FormField,
    WebError,
    check_length,
    open_image,
    openapi_form,
    parse_multipart,
    read_body,
    read_fields,
    upright_size,
)
from ._work import DEFAULT_MAX_RUN_PIXELS, ModelCache, WorkQueue, check_canvas, check_whole_image

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Largest border the outpaint endpoint adds on one side.
MAX_BORDER = 4096
#: Most completions one request may ask of a model that gives several.
MAX_SAMPLES = 8
#: Most steps one outpainting request may take (each runs the model once on a growing canvas).
MAX_STEPS = 8


class ErrorBody(BaseModel):
    """Every error answer: a one-line message, plus details such as ``models`` or ``max_pixels``."""

    error: str


class ModelInfo(BaseModel):
    """One offered model."""

    name: str
    kind: str
    description: str
    licence: str
    available: bool
    weights_present: bool | None
    ready: bool
    default: bool
    gives_several: bool


class SamplesBody(BaseModel):
    """Several completions of one input (models that give several, e.g. PD-GAN)."""

    model: str
    images: list[str]
    seed: int
    strategy: str
    seconds: float
    warnings: list[str]


class ServerInfo(BaseModel):
    """What a client needs to know before uploading."""

    version: str
    default_model: str
    hd_strategies: list[str]
    max_upload_bytes: int
    max_pixels: int
    max_run_pixels: int
    queue_size: int


def create_app(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int | None = None,
    max_run_pixels: int | None = None,
    queue_size: int = 4,
    models_allowed: Sequence[str] | None = None,
    device: str = "cpu",
    allow_downloads: bool = False,
    allowed_hosts: Sequence[str] = (),
) -> FastAPI:
    """Build the web app.

    Args:
        max_upload_bytes: largest request body, in bytes (checked while it streams in).
        max_pixels: largest picture (and outpainted canvas); ``None`` = ``$INPAINTKIT_MAX_PIXELS``
            or the library default.
        max_run_pixels: largest region a model runs on in one piece (``None`` = 2048x2048); larger
            ``hd_strategy=original`` pictures are refused, ``crop`` and ``resize`` still take them.
        queue_size: requests admitted at once (from their upload on); one runs, the others wait,
            any more get a 503.
        models_allowed: registry names offered; ``None`` = all registered models.
        device: where the models run.
        allow_downloads: let a request fetch a learned model's missing weights into the cache.
        allowed_hosts: names accepted in the ``Host`` header besides localhost, 127.0.0.1 and ::1.

    Returns:
        The FastAPI application (run it with :func:`serve` or any ASGI server).
    """
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise InputError(f"max_upload_bytes must be a positive integer, got {max_upload_bytes!r}")
    pixel_limit = resolve_max_pixels(max_pixels)
    run_limit = DEFAULT_MAX_RUN_PIXELS if max_run_pixels is None else max_run_pixels
    if isinstance(allowed_hosts, str):
        raise InputError(f"allowed_hosts must be a list of host names, got the string {allowed_hosts!r}")
    queue = WorkQueue(queue_size)
    cache = ModelCache(
        models_allowed, max_pixels=pixel_limit, max_run_pixels=run_limit, device=device, allow_downloads=allow_downloads
    )
    model_field = FormField("model", "string", f"registered model name, one of {', '.join(cache.specs)}", cache.default)
    inpaint_fields = (
        FormField("image", "file", "the picture (PNG, JPEG, WebP, BMP, TIFF)"),
        FormField("mask", "file", "the hole, same size as the image: white / non-zero or alpha > 0 = hole"),
        model_field,
        FormField(
            "hd_strategy",
            "string",
            "large pictures: crops around each hole, downscaled, or whole",
            "crop",
            choices=HD_STRATEGIES,
        ),
        FormField("dilate", "integer", "grow the hole by this many pixels first", 0, minimum=0, maximum=256),
        FormField(
            "feather",
            "integer",
            "blend the fill into its surroundings over this many pixels",
            0,
            minimum=0,
            maximum=256,
        ),
        FormField("resize_mask", "boolean", "resize a mask of another size to the image (nearest)", False),
        FormField(
            "samples",
            "integer",
            "completions to draw, for models that give several (others give one)",
            4,
            minimum=1,
            maximum=MAX_SAMPLES,
        ),
        FormField(
            "seed",
            "integer",
            "seed of the samples (the same seed gives the same samples)",
            0,
            minimum=0,
            maximum=2**31 - 1,
        ),
    )
    outpaint_fields = (
        FormField("image", "file", "the picture (PNG, JPEG, WebP, BMP, TIFF)"),
        *(
            FormField(side, "integer", f"pixels to add on the {side}", 0, minimum=0, maximum=MAX_BORDER)
            for side in ("left", "right", "top", "bottom")
        ),
        model_field,  # no hd_strategy: outpainting runs the model on the whole canvas
        FormField(
            "steps",
            "integer",
            "extend in this many steps, each feeding its result to the next (recursive outpainting); "
            "every side that grows must grow by at least this many pixels",
            1,
            minimum=1,
            maximum=MAX_STEPS,
        ),
    )

    # FastAPIOffline serves the /docs and /redoc pages' scripts from the package instead of a CDN.
    app = FastAPIOffline(
        title="inpaintkit",
        version=__version__,
        description="Remove objects from photos and extend them, with any registered model.",
    )
    app.add_exception_handler(WebError, lambda request, err: err.response())
    app.add_exception_handler(InpaintKitError, lambda request, err: _library_error(err).response())
    app.add_exception_handler(
        HTTPException, lambda request, err: WebError(err.status_code, str(err.detail), headers=err.headers).response()
    )
    app.add_middleware(Guard, hosts=allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    errors = {status: {"model": ErrorBody, "description": text} for status, text in _ERRORS.items()}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)  # Guard adds the page's Content-Security-Policy

    @app.get("/api/info", response_model=ServerInfo, summary="limits, HD strategies and the default model")
    def info() -> ServerInfo:
        return ServerInfo(
            version=__version__,
            default_model=cache.default,
            hd_strategies=list(HD_STRATEGIES),
            max_upload_bytes=max_upload_bytes,
            max_pixels=pixel_limit,
            max_run_pixels=run_limit,
            queue_size=queue.size,
        )

    @app.get("/api/models", response_model=list[ModelInfo], summary="the offered models")
    def models() -> list[dict[str, object]]:
        return cache.describe()

    @app.post(
        "/api/inpaint",
        response_class=Response,
        responses={200: _INPAINT_OK, **errors},
        openapi_extra=openapi_form(inpaint_fields),
        summary="fill the holes of a picture",
    )
    async def inpaint(request: Request) -> Response:
        check_length(request, max_upload_bytes)  # an oversize upload is refused without waiting for a place
        async with queue.admit():
            form = await _read_form(request, inpaint_fields, max_upload_bytes)
            spec = cache.spec(form["model"])
            image = open_image(form["image"], "image", pixel_limit)
            mask = open_image(form["mask"], "mask", pixel_limit)
            (width, height), (mask_width, mask_height) = upright_size(image), upright_size(mask)
            if not form["resize_mask"] and (mask_width, mask_height) != (width, height):
                raise WebError(
                    422,
                    f"mask is {mask_width}x{mask_height} but image is {width}x{height}; send a "
                    "mask of the image's size, or resize_mask=true",
                    image_size=[width, height],
                    mask_size=[mask_width, mask_height],
                )
            if form["hd_strategy"] == "original":
                check_whole_image(width, height, run_limit)
            options = {key: form[key] for key in ("hd_strategy", "dilate", "feather", "resize_mask")}
            if spec.gives_several:
                if form["samples"] * width * height > pixel_limit:
                    raise WebError(
                        413,
                        f"{form['samples']} samples of a {width}x{height} picture make more than "
                        f"the limit of {pixel_limit:,} pixels in one answer; ask fewer samples",
                        max_pixels=pixel_limit,
                    )
                body = await queue.run(
                    _samples_job, cache, form["model"], image, mask, form["samples"], form["seed"], options
                )
                return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})
            png, result = await queue.run(_inpaint_job, cache, form["model"], image, mask, options)
        return _png_response(png, result.model, result.strategy, result.seconds, result.warnings)

    @app.post(
        "/api/outpaint",
        response_class=Response,
        responses={200: _PNG, **errors},
        openapi_extra=openapi_form(outpaint_fields),
        summary="extend a picture on chosen sides",
    )
    async def outpaint(request: Request) -> Response:
        check_length(request, max_upload_bytes)  # an oversize upload is refused without waiting for a place
        async with queue.admit():
            form = await _read_form(request, outpaint_fields, max_upload_bytes)
            cache.spec(form["model"])
            image = open_image(form["image"], "image", pixel_limit)
            borders = tuple(form[side] for side in ("left", "right", "top", "bottom"))
            if not any(borders):
                raise WebError(422, "nothing to extend: give left, right, top or bottom a number of pixels > 0")
            width, height = upright_size(image)
            canvas = (width + borders[0] + borders[1], height + borders[2] + borders[3])
            try:
                check_pixel_limit(*canvas, pixel_limit, what="the extended canvas")
            except InputError as err:
                raise WebError(413, str(err), max_pixels=pixel_limit) from None
            check_canvas(*canvas, run_limit)
            png, result = await queue.run(_outpaint_job, cache, form["model"], image, borders, form["steps"])
        return _png_response(png, result.model, "original", result.seconds, result.warnings)

    return app


_PNG = {
    "description": "the completed picture as PNG",
    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in (
            ("X-Inpaint-Model", "the model that ran"),
            ("X-Inpaint-Strategy", "the HD strategy that ran (original, resize or crop; outpainting: original)"),
            ("X-Inpaint-Seconds", "wall time of the inpainting call"),
            ("X-Inpaint-Warnings", "JSON list of notes (empty mask, orientation applied, ...)"),
        )
    },
}
_INPAINT_OK = {
    **_PNG,
    "model": SamplesBody,
    "description": "the completed picture as PNG; JSON (SamplesBody) for a model that gives several",
}
_ERRORS = {
    400: "a Host this server does not answer to",
    403: "a POST from another site (Origin)",
    404: "unknown model (the answer lists the offered ones)",
    409: "the model cannot run on this server",
    413: "upload or pixel limit exceeded",
    415: "not multipart/form-data, or a file that is not an image",
    422: "a missing or invalid field, or a mask of another size",
    500: "the model run failed",
    503: "busy: the queue is full, retry",
}


async def _read_form(request: Request, fields: tuple[FormField, ...], limit: int) -> dict[str, object]:
    body = await read_body(request, limit)
    return read_fields(parse_multipart(body, request.headers.get("content-type")), fields)


def _library_error(err: InpaintKitError) -> WebError:
    """Answer a library error: 404 unknown model, 409 weights, 413 a run over the server's limit, 422
    anything else the user gave."""
    if isinstance(err, UnknownModelError):
        return WebError(404, str(err))
    if isinstance(err, RegionTooLarge):
        return WebError(
            413,
            f"{err.subject}, more than this server's limit of {err.limit:,}: send {err.advice}",
            max_run_pixels=err.max_run_pixels,
        )
    return WebError(409 if isinstance(err, WeightsError) else 422, str(err))


# ----------------------------------------------------------------------------- jobs (worker thread)
def _decoded(image: Image.Image, what: str) -> Image.Image:
    """Decode a lazily opened upload; a truncated or corrupt file is the user's error."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"cannot decode the {what}: {err}") from None
    return image


def _inpaint_job(
    cache: ModelCache, model: str, image: Image.Image, mask: Image.Image, options: dict[str, object]
) -> tuple[bytes, InpaintResult]:
    pipe = cache.pipeline(model)
    result = pipe(_decoded(image, "image"), _decoded(mask, "mask"), **options)
    return _encode_png(result.image), result


def _samples_job(
    cache: ModelCache,
    model: str,
    image: Image.Image,
    mask: Image.Image,
    count: int,
    seed: int,
    options: dict[str, object],
) -> SamplesBody:
    pipe = cache.pipeline(model)
    if not isinstance(pipe, DiversePipeline):
        raise InputError(f"{model} gives one completion per input; it cannot draw samples")
    results = pipe.generate(_decoded(image, "image"), _decoded(mask, "mask"), count, seed=seed, **options)
    first = results[0]
    return SamplesBody(
        model=first.model,
        seed=seed,
        strategy=first.strategy,
        seconds=sum(r.seconds for r in results),
        warnings=first.warnings,
        images=[base64.b64encode(_encode_png(r.image)).decode("ascii") for r in results],
    )


def _outpaint_job(
    cache: ModelCache, model: str, image: Image.Image, borders: tuple[int, int, int, int], steps: int
) -> tuple[bytes, OutpaintResult]:
    pipe = cache.outpainter(model)
    upright = ImageOps.exif_transpose(_decoded(image, "image"))
    left, right, top, bottom = borders
    result = pipe(upright, left, right, top, bottom, steps=steps, blend=False)  # new alpha: opaque
    return _encode_png(to_pil(result.image)), result


def _encode_png(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _png_response(png: bytes, model: str, strategy: str, seconds: float, warnings: list[str]) -> Response:
    headers = {
        "X-Inpaint-Model": model,
        "X-Inpaint-Strategy": strategy,
        "X-Inpaint-Seconds": f"{seconds:.3f}",
        "X-Inpaint-Warnings": json.dumps(warnings),  # ASCII: header-safe
        "Cache-Control": "no-store",
    }
    return Response(png, media_type="image/png", headers=headers)


# ------------------------------------------------------------------------------------------ serve
def serve(host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "info", **app_options: object) -> None:
    """Run the web app with uvicorn until interrupted.

    Args:
        host: address to listen on; anything but loopback exposes an unauthenticated server. It is
            added to the accepted ``Host`` names unless it is a wildcard (0.0.0.0, ::).
        port: TCP port.
        log_level: uvicorn's log level.
        app_options: keyword arguments of :func:`create_app`.
    """
    import uvicorn

    hosts = list(app_options.pop("allowed_hosts", None) or ())
    if host not in _WILDCARDS:
        hosts.append(host)
    app = create_app(allowed_hosts=hosts, **app_options)
    if not _is_loopback(host):
        log.warning("listening on %s: anyone who can reach this address can use the server (no authentication)", host)
    if host in _WILDCARDS:
        log.warning(
            "requests must name %s as Host; add the names clients use with --allow-host NAME",
            ", ".join([*LOCAL_HOSTS, *hosts]),
        )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
