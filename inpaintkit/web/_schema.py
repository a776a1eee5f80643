"""The shapes of the web API: the form fields each endpoint reads and the JSON bodies it answers.

The fields are declared once and serve both the parsing (:func:`~._http.read_fields`) and the
OpenAPI schema (:func:`~._http.openapi_form`).
"""

from __future__ import annotations

from pydantic import BaseModel

from ..masks.select import SELECTORS
from ..pipelines.inpaint import HD_STRATEGIES
from ._http import FormField
from ._queue import JOB_ID, JOB_ID_RULE, JobStateName

#: Largest border the outpaint endpoint adds on one side.
MAX_BORDER = 4096
#: Most completions one request may ask of a model that gives several.
MAX_SAMPLES = 8
#: Most steps one outpainting request may take (each runs the model once on a growing canvas).
MAX_STEPS = 8


def request_fields(
    models: list[str], default_model: str
) -> tuple[tuple[FormField, ...], tuple[FormField, ...], tuple[FormField, ...]]:
    """The form fields of ``/api/inpaint``, ``/api/outpaint`` and ``/api/select``, for a server
    offering ``models`` (``default_model`` first)."""
    model_field = FormField("model", "string", f"registered model name, one of {', '.join(models)}", default_model)
    job_field = FormField(
        "job",
        "string",
        "a token from POST /api/jobs (good for one request) to follow the request with GET /api/jobs/{job} "
        "and stop it with POST /api/jobs/{job}/cancel",
        optional=True,
        pattern=JOB_ID.pattern,
        rule=JOB_ID_RULE,
    )
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
        job_field,
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
        job_field,
    )
    select_values: dict[str, list[str]] = {}  # each value any selector reads -> its meaning, per mode
    for mode, selector in SELECTORS.items():
        for name in (*selector.coordinates, *selector.options):
            optional = "" if name in selector.coordinates else ", optional"
            select_values.setdefault(name, []).append(f"{selector.meaning[name]} (mode {mode}{optional})")
    select_fields = (
        FormField("image", "file", "the picture (PNG, JPEG, WebP, BMP, TIFF)"),
        FormField(
            "mode",
            "string",
            "how to select: " + "; ".join(f"{mode}: {selector.description}" for mode, selector in SELECTORS.items()),
            choices=tuple(SELECTORS),
        ),
        *(FormField(name, "integer", "; ".join(meanings), optional=True) for name, meanings in select_values.items()),
    )
    return inpaint_fields, outpaint_fields, select_fields


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
    enable: str | None = None  # the command that makes it ready (download, recipe, pip install); None when ready


class SamplesBody(BaseModel):
    """Several completions of one input (models that give several, e.g. PD-GAN)."""

    model: str
    images: list[str]
    seed: int
    strategy: str
    seconds: float
    warnings: list[str]


class JobStatus(BaseModel):
    """Where a job stands. ``position``: jobs ahead of it while queued (else 0); ``elapsed``: seconds
    since the server received it (until it finished); ``done`` / ``total``: units of work finished and
    to do (crops, outpainting steps, samples, neural-patch iterations; total 0 while unknown)."""

    job: str
    state: JobStateName
    position: int
    elapsed: float
    done: int
    total: int


class JobToken(BaseModel):
    """A job token: send it as the ``job`` field of one request within ``expires_in`` seconds."""

    job: str
    expires_in: float


class JobState(BaseModel):
    """A job's state after a cancel request."""

    job: str
    state: JobStateName


class ServerInfo(BaseModel):
    """What a client needs to know before uploading."""

    version: str
    default_model: str
    hd_strategies: list[str]
    max_upload_bytes: int
    max_pixels: int
    max_run_pixels: int
    queue_size: int
