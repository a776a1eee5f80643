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
* both take an optional ``job`` field, a token from ``POST /api/jobs`` (``{"job", "expires_in"}``;
  unguessable, good for one request, so only the client that asked for it can follow or cancel the
  job): ``GET /api/jobs/{job}`` answers ``{"job", "state", "position", "elapsed", "done", "total"}`` (state
  ``queued``, ``running``, ``done``, ``cancelled``, ``failed`` or ``unknown``; 200 even for an id never
  seen, so a client may poll before its upload arrives) and ``POST /api/jobs/{job}/cancel`` answers
  ``{"job", "state"}``: a queued job leaves the queue without running, a running one stops at its
  pipeline's next unit boundary (crop, outpainting step, sample, neural-patch iteration); the
  request of a cancelled job answers 409 ``{"error": "cancelled by the user"}`` (:mod:`._queue`);
* ``POST /api/select`` multipart ``image`` + ``mode`` (a key of
  :data:`~inpaintkit.masks.select.SELECTORS`: ``box`` with ``x0, y0, x1, y1``, ``point`` with ``x, y``
  and an optional ``tolerance``) -> the selected object's mask as PNG (white = selected, the
  picture's upright size) with ``X-Inpaint-Pixels``, the number of selected pixels;
* ``GET  /``             the page; ``/static/...`` its script and style sheet;
* ``GET  /docs``, ``/redoc``  the OpenAPI pages, their scripts served locally (no CDN).

PNG answers of the fills carry ``X-Inpaint-Model``, ``X-Inpaint-Strategy``, ``X-Inpaint-Seconds`` and
``X-Inpaint-Warnings`` (a JSON list). Errors are JSON ``{"error": "...", ...}``: 400 unknown Host,
403 cross-origin POST, 413 upload, pixel or run limit, 415 not multipart / not an image, 422 bad
field (a number out of its range, a seed like ``012e``, a job token not issued or used, a box), or
mask size, 404 unknown model, 409 model not runnable here or a job cancelled by the user, 500 the model
failed, 503 queue (or upload slots) full, 408 an upload slower than ``upload_seconds``. Every
answer carries a Content-Security-Policy and ``X-Content-Type-Options: nosniff`` (:mod:`._guard`).
Only registered model names are accepted (never paths), and nothing is written to disk unless
``allow_downloads`` fetches weights into the cache.

Memory: at most ``queue_size`` admitted requests and ``4 * queue_size`` arriving uploads are held at
once (an upload holds no place in the queue while it arrives, so slow clients cannot lock others
out), one job runs at a time, and a model runs on at most ``max_run_pixels`` pixels in one piece
(default 2048x2048), so ``hd_strategy=original`` is refused on larger pictures while ``crop`` and
``resize`` still take them, and an extended canvas larger than that is refused (outpainting runs the
model on the whole canvas) (:mod:`._work`).
Selections (``/api/select``) wait in the same queue: they are CPU work too.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from PIL import Image, ImageOps
from starlette.exceptions import HTTPException

from .. import __version__
from ..io import check_pixel_limit, from_array, resolve_max_pixels, to_pil, to_uint8
from ..masks.select import select
from ..pipelines.diverse import DiversePipeline
from ..pipelines.inpaint import HD_STRATEGIES
from ..pipelines.outpaint import OutpaintResult
from ..types import (
    Cancelled,
    InpaintKitError,
    InpaintResult,
    InputError,
    Job,
    RegionTooLarge,
    UnknownModelError,
    WeightsError,
)
from ._guard import LOCAL_HOSTS, Guard, uvicorn_config
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
from ._queue import ISSUED_SECONDS, WorkQueue, check_job_id
from ._schema import (
    MAX_BORDER,
    ErrorBody,
    JobState,
    JobStatus,
    JobToken,
    ModelInfo,
    SamplesBody,
    ServerInfo,
    request_fields,
)
from ._work import DEFAULT_MAX_RUN_PIXELS, ModelCache, check_canvas, check_whole_image

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Time an upload may take (20 MB at 1 Mbit/s is about 170 s).
DEFAULT_UPLOAD_SECONDS = 300.0


def create_app(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int | None = None,
    max_run_pixels: int | None = None,
    queue_size: int = 4,
    upload_seconds: float = DEFAULT_UPLOAD_SECONDS,
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
        queue_size: requests admitted at once (from the end of their upload on); one runs, the
            others wait, any more get a 503. Uploads arrive in slots of their own (4 per place).
        upload_seconds: time a request's body may take to arrive (a 408 after it).
        models_allowed: registry names offered; ``None`` = all registered models.
        device: where the models run.
        allow_downloads: let a request fetch a learned model's missing weights into the cache.
        allowed_hosts: names accepted in the ``Host`` header besides localhost, 127.0.0.1 and ::1.

    Returns:
        The FastAPI application (run it with :func:`serve` or any ASGI server).
    """
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise InputError(f"max_upload_bytes must be a positive integer, got {max_upload_bytes!r}")
    if isinstance(upload_seconds, bool) or not isinstance(upload_seconds, (int, float)) or not upload_seconds > 0:
        raise InputError(f"upload_seconds must be a positive number, got {upload_seconds!r}")
    pixel_limit = resolve_max_pixels(max_pixels)
    run_limit = DEFAULT_MAX_RUN_PIXELS if max_run_pixels is None else max_run_pixels
    if isinstance(allowed_hosts, str):
        raise InputError(f"allowed_hosts must be a list of host names, got the string {allowed_hosts!r}")
    queue = WorkQueue(queue_size)
    cache = ModelCache(
        models_allowed, max_pixels=pixel_limit, max_run_pixels=run_limit, device=device, allow_downloads=allow_downloads
    )
    inpaint_fields, outpaint_fields, select_fields = request_fields(list(cache.specs), cache.default)
    select_values = [field.name for field in select_fields if field.name not in ("image", "mode")]

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
        description=(
            "Answers the completed picture as PNG, or for a model that gives several completions JSON with "
            "samples drawn from seed. With job (a token from POST /api/jobs) the request can "
            "be followed with GET /api/jobs/{job} (progress in crops, or samples x crops) and stopped with "
            "POST /api/jobs/{job}/cancel; a cancelled request answers 409 with error 'cancelled by the user'."
        ),
    )
    async def inpaint(request: Request) -> Response:
        received = time.monotonic()
        check_length(request, max_upload_bytes)  # an oversize upload is refused before any byte is read
        async with queue.receiving():
            form = await _read_form(request, inpaint_fields, max_upload_bytes, upload_seconds)
        async with queue.admit():
            with queue.track(form["job"], received) as entry:
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
                        entry, _samples_job, cache, form["model"], image, mask, form["samples"], form["seed"], options
                    )
                    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})
                png, result = await queue.run(entry, _inpaint_job, cache, form["model"], image, mask, options)
        return _png_response(png, result.model, result.strategy, result.seconds, result.warnings)

    @app.post(
        "/api/outpaint",
        response_class=Response,
        responses={200: _PNG, **errors},
        openapi_extra=openapi_form(outpaint_fields),
        summary="extend a picture on chosen sides",
        description=(
            f"Answers the extended picture as PNG. Each side grows by at most {MAX_BORDER} px. With job (a token "
            "from POST /api/jobs) the request can be followed with GET /api/jobs/{job} "
            "(progress in steps) and stopped between steps with POST /api/jobs/{job}/cancel; a cancelled "
            "request answers 409 with error 'cancelled by the user'."
        ),
    )
    async def outpaint(request: Request) -> Response:
        received = time.monotonic()
        check_length(request, max_upload_bytes)  # an oversize upload is refused before any byte is read
        async with queue.receiving():
            form = await _read_form(request, outpaint_fields, max_upload_bytes, upload_seconds)
        async with queue.admit():
            with queue.track(form["job"], received) as entry:
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
                png, result = await queue.run(entry, _outpaint_job, cache, form["model"], image, borders, form["steps"])
        return _png_response(png, result.model, "original", result.seconds, result.warnings)

    @app.post(
        "/api/select",
        response_class=Response,
        responses={200: _MASK_PNG, **errors},
        openapi_extra=openapi_form(select_fields),
        summary="select an object by a box or a click: its mask",
        description=(
            "Answers the mask of the object (PNG, white = selected, black = the rest, the picture's upright "
            "size) with X-Inpaint-Pixels, the number of selected pixels. Coordinates are pixels of the upright "
            "picture (its EXIF orientation applied, as the page shows it). mode=box: GrabCut inside x0, y0 "
            "(top-left, included) to x1, y1 (bottom-right, excluded), clipped to the picture (on pictures "
            "larger than 1024 px it runs on a shrunk copy); an empty or inverted box is a 422. mode=point: "
            "the region around the click x, y whose colour lies within tolerance (0-255 per Lab channel, "
            "default 24) of the clicked one. Runs in the queue, like the fills."
        ),
    )
    async def select_object(request: Request) -> Response:
        received = time.monotonic()
        check_length(request, max_upload_bytes)
        async with queue.receiving():
            form = await _read_form(request, select_fields, max_upload_bytes, upload_seconds)
        async with queue.admit():
            with queue.track(None, received) as entry:
                image = open_image(form["image"], "image", pixel_limit)
                values = {name: form[name] for name in select_values}
                png, count = await queue.run(entry, _select_job, image, form["mode"], values, pixel_limit)
        return Response(
            png, media_type="image/png", headers={"X-Inpaint-Pixels": str(count), "Cache-Control": "no-store"}
        )

    @app.post(
        "/api/jobs",
        response_model=JobToken,
        summary="a job token, to follow and cancel one request",
        description=(
            f"Answers a new token (192 random bits). Send it as the job field of one POST /api/inpaint or "
            f"/api/outpaint within {ISSUED_SECONDS:g} s; then GET /api/jobs/{{job}} follows that request and "
            "POST /api/jobs/{job}/cancel stops it. A token is good for one request; only whoever holds it "
            "can follow or cancel the job."
        ),
    )
    async def new_job() -> dict[str, object]:
        return {"job": queue.issue(), "expires_in": ISSUED_SECONDS}

    @app.get(
        "/api/jobs/{job}",
        response_model=JobStatus,
        responses={422: errors[422]},
        summary="where a job stands: queued, running, done, cancelled, failed or unknown",
        description=(
            "job: the token sent in the job field of POST /api/inpaint or /api/outpaint. position: jobs ahead of "
            "it while queued, else 0; elapsed: seconds since the server received it (until it finished); "
            "done / total: units of work finished and to do (crops, outpainting steps, samples, neural-patch "
            "iterations; total 0 while unknown). An id the server has not seen (yet, or no longer: finished "
            "jobs are kept 60 s, at most 64) answers state unknown with 200; an id that is not 8 to 64 of "
            "A-Z a-z 0-9 _ - a 422."
        ),
    )
    async def job_status(job: str) -> dict[str, object]:
        return queue.status(check_job_id(job))

    @app.post(
        "/api/jobs/{job}/cancel",
        response_model=JobState,
        responses={422: errors[422]},
        summary="cancel a job: a queued one never runs, a running one stops at its next unit of work",
        description=(
            "Answers 200 with the job's state after the request: cancelled for a job that was queued (its own "
            "request then answers 409 with error 'cancelled by the user'), running for one that is running "
            "(it stops after the current crop, outpainting step, sample or neural-patch iteration, and its "
            "request answers that 409; one whose last unit was already under way may still finish: done), "
            "and the unchanged state of a finished or unknown job (cancelling is idempotent)."
        ),
    )
    async def cancel_job(job: str) -> dict[str, str]:
        return queue.cancel(check_job_id(job))

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
_MASK_PNG = {
    "description": "the selection as a PNG mask: white (255) = selected, black (0) = the rest, the upright "
    "picture's size",
    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {"X-Inpaint-Pixels": {"description": "number of selected pixels", "schema": {"type": "string"}}},
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
    408: "the upload took longer than the server's upload time",
    409: "the model cannot run on this server, or the job was cancelled by the user (error 'cancelled by the user')",
    413: "upload or pixel limit exceeded",
    415: "not multipart/form-data, or a file that is not an image",
    422: "a missing or invalid field (a job token not issued here, used or expired), or a mask of another size",
    500: "the model run failed",
    503: "busy: the queue or the upload slots are full, retry",
}


async def _read_form(request: Request, fields: tuple[FormField, ...], limit: int, seconds: float) -> dict[str, object]:
    body = await read_body(request, limit, seconds)
    return read_fields(parse_multipart(body, request.headers.get("content-type")), fields)


def _library_error(err: InpaintKitError) -> WebError:
    """Answer a library error: 404 unknown model, 409 weights or a cancelled job, 413 a run over the
    server's limit, 422 anything else the user gave."""
    if isinstance(err, UnknownModelError):
        return WebError(404, str(err))
    if isinstance(err, Cancelled):
        return WebError(409, "cancelled by the user")
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
    cache: ModelCache, model: str, image: Image.Image, mask: Image.Image, options: dict[str, object], job: Job
) -> tuple[bytes, InpaintResult]:
    pipe = cache.pipeline(model)
    result = pipe(_decoded(image, "image"), _decoded(mask, "mask"), job=job, **options)
    return _encode_png(result.image), result


def _samples_job(
    cache: ModelCache,
    model: str,
    image: Image.Image,
    mask: Image.Image,
    count: int,
    seed: int,
    options: dict[str, object],
    job: Job,
) -> SamplesBody:
    pipe = cache.pipeline(model)
    if not isinstance(pipe, DiversePipeline):
        raise InputError(f"{model} gives one completion per input; it cannot draw samples")
    results = pipe.generate(_decoded(image, "image"), _decoded(mask, "mask"), count, seed=seed, job=job, **options)
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
    cache: ModelCache, model: str, image: Image.Image, borders: tuple[int, int, int, int], steps: int, job: Job
) -> tuple[bytes, OutpaintResult]:
    pipe = cache.outpainter(model)
    upright = ImageOps.exif_transpose(_decoded(image, "image"))
    left, right, top, bottom = borders
    result = pipe(upright, left, right, top, bottom, steps=steps, blend=False, job=job)  # new alpha: opaque
    return _encode_png(to_pil(result.image)), result


def _select_job(
    image: Image.Image, mode: str, values: dict[str, int | None], max_pixels: int, job: Job
) -> tuple[bytes, int]:
    """The selection's PNG mask (upright, white = selected) and its pixel count."""
    upright = ImageOps.exif_transpose(_decoded(image, "image"))
    rgb = to_uint8(from_array(upright).rgb)
    selected = select(rgb, mode, max_pixels=max_pixels, **values)
    return _encode_png(Image.fromarray(selected.astype(np.uint8) * 255)), int(selected.sum())


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
    uvicorn.Server(uvicorn_config(app, host, port, log_level)).run()


_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
