"""Request plumbing of the web app: JSON errors, a body read under a byte limit, an in-memory
multipart parser, typed form fields (parsed and documented from one description) and image headers.

Nothing here touches the disk: the body is counted while it streams in and refused as soon as it
passes the limit, and every part stays in memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from io import BytesIO

from PIL import ExifTags, Image, UnidentifiedImageError
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from ..io import READ_FORMATS, check_pixel_limit, resolve_max_pixels
from ..types import InputError

log = logging.getLogger(__name__)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII decimal, as HTML number inputs send it


class WebError(Exception):
    """An error answered as JSON ``{"error": message, **extra}`` with an HTTP status."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        """The JSON response that reports this error."""
        return JSONResponse({"error": self.message, **self.extra}, status_code=self.status, headers=self.headers)


# ------------------------------------------------------------------------------------------- body
def check_length(request: Request, limit: int) -> None:
    """Refuse a declared ``Content-Length`` that is invalid (400) or above ``limit`` (413), reading nothing."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise WebError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > limit:
            raise _too_large(limit, int(declared))


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """Read the request body, refusing it (413) once it passes ``limit`` bytes, or (408) when it has
    not all arrived within ``seconds``.

    A ``Content-Length`` above the limit is refused before anything is read (:func:`check_length`);
    otherwise the bytes are counted as they arrive, so a body without (or lying about) its length is
    cut off at the limit. A client that goes away mid-upload is logged in one line.
    """
    check_length(request, limit)
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _too_large(limit)
    except TimeoutError:
        raise WebError(
            408,
            f"the upload did not arrive within {seconds:g} s ({len(body):,} bytes came); send it again",
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        client = request.client.host if request.client else "a client"
        log.info("%s went away after sending %s bytes of its upload", client, f"{len(body):,}")
        raise WebError(400, "the client went away during the upload") from None
    return bytes(body)


def _too_large(limit: int, size: int | None = None) -> WebError:
    told = f" ({size:,} bytes)" if size is not None else ""
    return WebError(
        413, f"upload too large{told}: this server accepts at most {limit:,} bytes per request", max_upload_bytes=limit
    )


@dataclass(frozen=True)
class Part:
    """One part of a multipart form: its bytes and, for files, the name the client gave."""

    data: bytes
    filename: str | None = None


def parse_multipart(body: bytes, content_type: str | None) -> dict[str, Part]:
    """Split a ``multipart/form-data`` body into its parts, in memory.

    Raises:
        WebError: 415 for another content type, 400 for a malformed body, 422 for a repeated field.
    """
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise WebError(415, f"send the fields as multipart/form-data, got {content_type or 'no content type'!r}")
    boundary = params.get(b"boundary")
    if not boundary:
        raise WebError(400, "the multipart/form-data content type has no boundary")
    parts: dict[str, Part] = {}
    header = {"field": b"", "value": b"", "disposition": b""}
    chunks: list[bytes] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            header["disposition"] = header["value"]
        header["field"] = header["value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunks.append(data[start:end])

    def on_part_end() -> None:
        _, options = parse_options_header(header["disposition"])
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if not name:
            raise WebError(400, "a multipart part has no name in its Content-Disposition header")
        if name in parts:
            raise WebError(422, f"form field {name!r} was sent twice")
        parts[name] = Part(b"".join(chunks), None if filename is None else filename.decode("utf-8", "replace"))
        chunks.clear()
        header["disposition"] = b""

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except FormParserError as err:
        raise WebError(400, f"malformed multipart/form-data body: {err}") from None
    return parts


# ------------------------------------------------------------------------------------ form fields
@dataclass(frozen=True)
class FormField:
    """One form field of an endpoint: how it is parsed and how OpenAPI documents it.

    Attributes:
        name: the field name.
        kind: ``"file"`` (bytes), ``"string"``, ``"integer"`` or ``"boolean"``.
        description: one line for the OpenAPI page.
        default: the value when the field is absent; ``None`` makes it required unless ``optional``.
        choices: allowed strings (``kind="string"``).
        minimum, maximum: bounds of an integer.
        optional: an absent field is ``None`` (no default) instead of an error.
        pattern: a regular expression a string must match in full, and ``rule``: what it accepts, in
            words, for the error message.
    """

    name: str
    kind: str
    description: str
    default: object = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False
    pattern: str | None = None
    rule: str = ""

    @property
    def required(self) -> bool:
        """Whether a request must send the field."""
        return self.default is None and not self.optional

    def parse(self, part: Part | None) -> object:
        """The field's value from its part (or the default); :class:`WebError` 422 when invalid."""
        if part is None:
            if self.required:
                raise WebError(422, f"missing form field {self.name!r} ({self.description})")
            return self.default
        if self.kind == "file":
            if not part.data:
                raise WebError(422, f"form field {self.name!r} is empty")
            return part.data
        text = part.data.decode("utf-8", "replace").strip()
        if self.kind == "integer":
            return self._integer(text)
        if self.kind == "boolean":
            if text.lower() not in _TRUE | _FALSE:
                raise WebError(422, f"form field {self.name!r} must be true or false, got {text!r}")
            return text.lower() in _TRUE
        if self.choices and text not in self.choices:
            raise WebError(422, f"form field {self.name!r} must be one of {', '.join(self.choices)}; got {text!r}")
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise WebError(422, f"form field {self.name!r} must be {self.rule or self.pattern}, got {text[:80]!r}")
        return text

    def _integer(self, text: str) -> int:
        if not _INTEGER.fullmatch(text):  # int() would also take '1_000', '+ 1' or non-ASCII digits
            raise WebError(422, f"form field {self.name!r} must be a whole number, got {text[:80]!r}")
        value = int(text)
        low = float("-inf") if self.minimum is None else self.minimum
        high = float("inf") if self.maximum is None else self.maximum
        if not low <= value <= high:
            raise WebError(422, f"form field {self.name!r} must lie in [{self.minimum}, {self.maximum}], got {value}")
        return value

    def schema(self) -> dict[str, object]:
        """The field's OpenAPI schema."""
        schema: dict[str, object] = {"description": self.description}
        if self.kind == "file":
            schema.update(type="string", format="binary")
        else:
            schema["type"] = self.kind
        if self.default is not None:
            schema["default"] = self.default
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.pattern is not None:
            schema["pattern"] = f"^{self.pattern}$"
        return schema


def read_fields(parts: dict[str, Part], fields: tuple[FormField, ...]) -> dict[str, object]:
    """Parse every field of ``fields`` from ``parts``; unknown parts are refused (422), naming the known ones."""
    known = {field.name for field in fields}
    unknown = sorted(set(parts) - known)
    if unknown:
        raise WebError(
            422,
            f"unknown form field(s) {', '.join(unknown)}; this endpoint takes "
            f"{', '.join(field.name for field in fields)}",
        )
    return {field.name: field.parse(parts.get(field.name)) for field in fields}


def openapi_form(fields: tuple[FormField, ...]) -> dict[str, object]:
    """The ``requestBody`` of an endpoint that takes ``fields`` as ``multipart/form-data``."""
    schema = {
        "type": "object",
        "properties": {field.name: field.schema() for field in fields},
        "required": [field.name for field in fields if field.required],
    }
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


# ---------------------------------------------------------------------------------------- images
def open_image(data: bytes, what: str, max_pixels: int | None) -> Image.Image:
    """Open an uploaded picture lazily (header only) and check its pixel count.

    Returns:
        The unloaded Pillow image (decode it with ``.load()`` off the event loop).

    Raises:
        WebError: 415 when Pillow cannot identify it, 413 when it has too many pixels.
    """
    limit = resolve_max_pixels(max_pixels)
    try:
        image = Image.open(BytesIO(data), formats=READ_FORMATS)
    except Image.DecompressionBombError:
        raise WebError(413, f"{what} has far more pixels than the limit of {limit:,}", max_pixels=limit) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise WebError(415, f"{what} is not an image this server can read (PNG, JPEG, WebP, BMP, TIFF)") from None
    width, height = upright_size(image)
    try:
        check_pixel_limit(width, height, limit, what=what)
    except InputError as err:
        raise WebError(413, str(err), max_pixels=limit) from None
    return image


def upright_size(image: Image.Image) -> tuple[int, int]:
    """``(width, height)`` after the EXIF orientation is applied (as the pipeline and masks do).

    Reads headers only: a PNG whose EXIF chunk follows the pixels counts as upright here (Pillow
    would decode the whole file to find it); the pipeline's own size check still sees it.
    """
    width, height = image.size
    if image.format == "PNG" and "exif" not in image.info:
        return width, height
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
