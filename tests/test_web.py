"""API tests of the web app (FastAPI TestClient; the browser test is test_web_e2e.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import threading
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")
from conftest import serving  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from test_select import around, iou, scene  # noqa: E402

import inpaintkit  # noqa: E402
from inpaintkit import catalog, registry  # noqa: E402
from inpaintkit.classical.modules import PictureInpainter  # noqa: E402
from inpaintkit.cli import build_parser  # noqa: E402
from inpaintkit.cli.serve import cmd_serve  # noqa: E402
from inpaintkit.io import to_pil  # noqa: E402
from inpaintkit.pipelines.inpaint import InpaintPipeline  # noqa: E402
from inpaintkit.types import InputError, RegionTooLarge, UnknownModelError  # noqa: E402
from inpaintkit.web import _queue as queue_module  # noqa: E402
from inpaintkit.web import server as web_server  # noqa: E402
from inpaintkit.web._guard import DATA_POLICY, DOCS_POLICY, PAGE_POLICY  # noqa: E402
from inpaintkit.web._http import FormField, Part, WebError  # noqa: E402
from inpaintkit.web._queue import WorkQueue  # noqa: E402
from inpaintkit.web.server import create_app  # noqa: E402


def png(array: np.ndarray, **save_options) -> bytes:
    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save_options)
    return buffer.getvalue()


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with a little noise, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, 128.0)], axis=2)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def box_mask(height: int = 48, width: int = 64) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[16:30, 20:41] = 255
    return mask


def local(app, **options) -> TestClient:
    """A test client whose requests name ``localhost`` as Host (the server refuses unknown hosts)."""
    return TestClient(app, base_url="http://localhost", **options)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return local(create_app())


def post_inpaint(client: TestClient, image: bytes, mask: bytes, **fields: str):
    files = {"image": ("photo.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")}
    return client.post("/api/inpaint", files=files, data={"model": "telea", **fields})


def decode(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(BytesIO(response.content)))


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


# ----------------------------------------------------------------------------------------- reading
def test_models_lists_telea_as_ready_classical(client):
    models = {entry["name"]: entry for entry in client.get("/api/models").json()}
    assert set(models) == set(registry.REGISTRY)
    assert models["telea"] == {
        "name": "telea",
        "kind": "classical",
        "description": registry.REGISTRY["telea"].description,
        "licence": registry.REGISTRY["telea"].licence,
        "available": True,
        "weights_present": None,
        "ready": True,
        "default": registry.DEFAULT_MODEL == "telea",
        "gives_several": False,
        "enable": None,
    }
    assert models["pdgan-small"]["gives_several"] is True
    for entry in models.values():  # without downloads, a learned model is ready only with its weights at hand
        if entry["kind"] == "learned":
            assert entry["ready"] is bool(entry["weights_present"])
    assert sum(entry["default"] for entry in models.values()) == 1


def test_info_reports_limits(client):
    info = client.get("/api/info").json()
    assert info["max_upload_bytes"] == 20 * 1024 * 1024
    assert info["hd_strategies"] == ["original", "resize", "crop"]
    assert info["default_model"] == registry.DEFAULT_MODEL
    assert info["queue_size"] == 4
    assert info["max_run_pixels"] == 2048 * 2048


def test_openapi_documents_the_multipart_fields(client):
    paths = client.get("/openapi.json").json()["paths"]
    schema = paths["/api/inpaint"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["image", "mask"]
    assert schema["properties"]["image"]["format"] == "binary"
    assert schema["properties"]["hd_strategy"]["enum"] == ["original", "resize", "crop"]
    assert "image/png" in paths["/api/inpaint"]["post"]["responses"]["200"]["content"]
    outpaint = paths["/api/outpaint"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"image", "left", "right", "top", "bottom", "model"} <= set(outpaint["properties"])


def test_page_and_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.js", "/static/style.css"]
    for asset in assets:
        assert client.get(asset).status_code == 200
    static = Path(web_server.STATIC)
    for path in static.iterdir():  # nothing is fetched from elsewhere: the page works offline
        assert not re.search(r"https?://", path.read_text(encoding="utf-8")), path.name


# ----------------------------------------------------------------------------------------- inpaint
def test_inpaint_changes_only_the_hole(client):
    image, mask = photo(), box_mask()
    response = post_inpaint(client, png(image), png(mask), hd_strategy="original")
    out = decode(response)
    assert out.shape == image.shape
    hole = mask > 0
    np.testing.assert_array_equal(out[~hole], image[~hole])
    assert np.abs(out[hole].astype(int) - image[hole]).max() > 0
    expected = inpaintkit.load("telea")(Image.fromarray(image), Image.fromarray(mask)).image
    np.testing.assert_array_equal(out, np.asarray(expected))  # the web layer adds nothing
    assert response.headers["x-inpaint-model"] == "telea"
    assert response.headers["x-inpaint-strategy"] == "original"
    assert float(response.headers["x-inpaint-seconds"]) >= 0
    assert json.loads(response.headers["x-inpaint-warnings"]) == []


def test_inpaint_dilate_grows_the_changed_area(client):
    image, mask = photo(), box_mask()
    out = decode(post_inpaint(client, png(image), png(mask), dilate="3"))
    changed = (out != image).any(axis=2)
    assert changed[16:30, 17:20].any()  # left of the box, inside the 3 px ring
    assert not changed[:, :16].any()  # beyond it


def test_inpaint_rgba_mask_uses_alpha(client):
    image = photo()
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere: only the alpha says where the hole is
    rgba[5:10, 5:10, 3] = 255
    out = decode(post_inpaint(client, png(image), png(rgba)))
    changed = (out != image).any(axis=2)
    assert not changed[10:, :].any() and not changed[:, 10:].any()


def test_inpaint_empty_mask_warns_and_returns_the_input(client):
    image = photo()
    response = post_inpaint(client, png(image), png(np.zeros((48, 64), np.uint8)))
    np.testing.assert_array_equal(decode(response), image)
    assert "empty" in json.loads(response.headers["x-inpaint-warnings"])[0]


def test_inpaint_applies_exif_orientation_before_comparing_sizes(client):
    rotated = Image.fromarray(photo(30, 40))  # stored 40 wide, 30 high; EXIF 6 turns it upright to 30x40
    exif = rotated.getexif()
    exif[0x0112] = 6
    buffer = BytesIO()
    rotated.save(buffer, format="PNG", exif=exif)
    mask = np.zeros((40, 30), np.uint8)
    mask[10:20, 10:20] = 255
    response = post_inpaint(client, buffer.getvalue(), png(mask))
    assert decode(response).shape == (40, 30, 3)
    assert any("orientation" in note for note in json.loads(response.headers["x-inpaint-warnings"]))


# ---------------------------------------------------------------------------------------- outpaint
def test_outpaint_extends_the_chosen_sides(client):
    image = np.full((30, 40, 3), 200, np.uint8)
    image[:, :20] = 120
    files = {"image": ("photo.png", png(image), "image/png")}
    out = decode(client.post("/api/outpaint", files=files, data={"model": "telea", "left": "8", "top": "4"}))
    assert out.shape == (34, 48, 3)
    np.testing.assert_array_equal(out[4:, 8:], image)
    border = out[:4].astype(float).mean(), out[4:, :8].astype(float).mean()
    assert all(value > 60 for value in border)  # filled from the picture, not left black


def test_outpaint_keeps_an_opaque_alpha(client):
    rgba = np.full((20, 20, 4), 255, np.uint8)
    rgba[..., :3] = 90
    files = {"image": ("photo.png", png(rgba), "image/png")}
    out = decode(client.post("/api/outpaint", files=files, data={"model": "telea", "right": "6"}))
    assert out.shape == (20, 26, 4)
    assert (out[..., 3] == 255).all()


def test_outpaint_without_borders_is_refused(client):
    files = {"image": ("photo.png", png(photo()), "image/png")}
    assert "nothing to extend" in error(client.post("/api/outpaint", files=files, data={"model": "telea"}), 422)


def test_outpaint_steps_give_the_library_outpainters_picture(client):
    """The endpoint runs the library's OutpaintPipeline: steps=2 is load_outpainter(name)(..., steps=2)."""
    image = photo(40, 48, seed=3)
    files = {"image": ("photo.png", png(image), "image/png")}
    fields = {"model": "outpaint-small", "left": "12", "bottom": "6"}
    two = client.post("/api/outpaint", files=files, data={**fields, "steps": "2"})
    assert two.headers["x-inpaint-model"] == "outpaint-small" and two.headers["x-inpaint-strategy"] == "original"
    library = inpaintkit.load_outpainter("outpaint-small")(image, left=12, bottom=6, steps=2, blend=False)
    np.testing.assert_array_equal(decode(two), np.asarray(to_pil(library.image)))
    one = decode(client.post("/api/outpaint", files=files, data=fields))  # the default: one step
    assert one.shape == (46, 60, 3) and (one != decode(two)).any()
    np.testing.assert_array_equal(one[:40, 12:], image)  # known pixels kept exactly (blend=False)


@pytest.mark.parametrize(
    ("steps", "right", "status", "expected"),
    [
        ("0", "8", 422, "form field 'steps' must lie in [1, 8], got 0"),
        ("9", "8", 422, "form field 'steps' must lie in [1, 8], got 9"),
        ("two", "8", 422, "form field 'steps' must be a whole number, got 'two'"),
        ("4", "3", 422, "right = 3 px cannot be split over 4 steps"),
    ],
)
def test_outpaint_refuses_bad_steps(client, steps, right, status, expected):
    files = {"image": ("photo.png", png(photo()), "image/png")}
    response = client.post("/api/outpaint", files=files, data={"model": "telea", "right": right, "steps": steps})
    assert error(response, status) == expected


def test_outpaint_documents_steps_and_takes_no_hd_strategy(client):
    schema = client.get("/openapi.json").json()["paths"]["/api/outpaint"]["post"]["requestBody"]["content"]
    properties = schema["multipart/form-data"]["schema"]["properties"]
    assert properties["steps"] == {
        "description": "extend in this many steps, each feeding its result to the next (recursive outpainting); "
        "every side that grows must grow by at least this many pixels",
        "type": "integer",
        "default": 1,
        "minimum": 1,
        "maximum": 8,
    }
    files = {"image": ("photo.png", png(photo()), "image/png")}
    fields = {"model": "telea", "right": "8", "hd_strategy": "crop"}
    assert "unknown form field(s) hd_strategy" in error(client.post("/api/outpaint", files=files, data=fields), 422)


def test_outpaint_refuses_a_model_that_draws_fixed_size_samples(client):
    files = {"image": ("photo.png", png(photo()), "image/png")}
    response = client.post("/api/outpaint", files=files, data={"model": "pdgan-small", "right": "8"})
    assert error(response, 422) == (
        "pdgan-small draws samples of a fixed size and cannot extend a picture; choose another model"
    )


# ------------------------------------------------------------------------------------------ limits
def test_oversize_upload_by_content_length_is_413():
    small = local(create_app(max_upload_bytes=2000))
    response = post_inpaint(small, png(photo(60, 60, seed=1)), png(box_mask(60, 60)))
    assert "2,000 bytes" in error(response, 413)
    assert response.json()["max_upload_bytes"] == 2000


def _multipart_post_scope(server: str) -> dict:
    """The ASGI scope of a multipart POST to /api/inpaint for localhost, to drive the app by hand."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/api/inpaint",
        "raw_path": b"/api/inpaint",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": (server, 80),
        "client": ("test", 1),
        "headers": [(b"host", b"localhost"), (b"content-type", b"multipart/form-data; boundary=xyz")],
    }


def test_oversize_streamed_upload_stops_reading_at_the_limit():
    """Without Content-Length the body is counted as it arrives and refused once over the limit."""
    app = create_app(max_upload_bytes=10_000)
    chunks = [b"x" * 1000] * 100
    received = []
    sent = []

    async def receive():
        received.append(1)
        if len(received) <= len(chunks):
            return {"type": "http.request", "body": chunks[len(received) - 1], "more_body": len(received) < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = _multipart_post_scope(server="test")
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["max_upload_bytes"] == 10_000
    assert len(received) == 11  # 11 kB read, 89 chunks never requested


def test_pixel_limit_is_413_naming_the_limit():
    small = local(create_app(max_pixels=1000))
    response = post_inpaint(small, png(photo()), png(box_mask()))
    message = error(response, 413)
    assert "64x48" in message and "1,000" in message
    assert response.json()["max_pixels"] == 1000
    files = {"image": ("photo.png", png(photo(20, 20)), "image/png")}
    grown = small.post("/api/outpaint", files=files, data={"model": "telea", "right": "40"})
    assert "extended canvas is 60x20" in error(grown, 413)


def test_body_that_is_not_multipart_is_415(client):
    response = client.post("/api/inpaint", json={"image": "abc"})
    assert "multipart/form-data" in error(response, 415)


def test_file_that_is_not_an_image_is_415(client):
    response = post_inpaint(client, b"this is not a picture", png(box_mask()))
    assert error(response, 415).startswith("image is not an image")


def test_truncated_image_is_422(client):
    data = png(photo())
    assert "cannot decode the image" in error(post_inpaint(client, data[: len(data) // 2], png(box_mask())), 422)


def test_mask_size_mismatch_is_422_with_both_sizes(client):
    response = post_inpaint(client, png(photo()), png(np.full((32, 32), 255, np.uint8)))
    message = error(response, 422)
    assert "mask is 32x32" in message and "image is 64x48" in message
    assert response.json()["image_size"] == [64, 48] and response.json()["mask_size"] == [32, 32]
    half = np.zeros((32, 32), np.uint8)
    half[8:24, 8:24] = 255
    resized = post_inpaint(client, png(photo()), png(half), resize_mask="true")
    assert decode(resized).shape == (48, 64, 3)
    whole = post_inpaint(client, png(photo()), png(np.full((32, 32), 255, np.uint8)), resize_mask="true")
    assert "the mask covers the whole picture" in error(whole, 422)


def test_unknown_model_is_404_listing_the_models(client):
    response = post_inpaint(client, png(photo()), png(box_mask()), model="no-such-model")
    assert "no-such-model" in error(response, 404)
    assert set(response.json()["models"]) == set(registry.REGISTRY)


def test_models_allowed_restricts_the_offer():
    only = local(create_app(models_allowed=["telea"]))
    assert [entry["name"] for entry in only.get("/api/models").json()] == ["telea"]
    response = post_inpaint(only, png(photo()), png(box_mask()), model="navier-stokes")
    assert error(response, 404) and response.json()["models"] == ["telea"]
    with pytest.raises(UnknownModelError, match="nope"):
        create_app(models_allowed=["nope"])


def test_learned_model_without_local_weights_is_409(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))  # an empty weight cache
    app = local(create_app(models_allowed=["big-lama", "lama-tiny", "telea"]))
    models = {entry["name"]: entry for entry in app.get("/api/models").json()}
    assert models["big-lama"]["weights_present"] is False and models["big-lama"]["ready"] is False
    assert error(post_inpaint(app, png(photo()), png(box_mask()), model="big-lama"), 409) == (
        "the weights of big-lama are not downloaded and this server does not download; run "
        "`inpaintkit download big-lama` once, or start the server with --download-weights"
    )
    assert "no published weights" in error(post_inpaint(app, png(photo()), png(box_mask()), model="lama-tiny"), 409)
    assert not any(tmp_path.iterdir())  # nothing was downloaded or written


def test_downloaded_big_lama_is_the_pages_default(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))
    offered = ["big-lama", "lama-detail", "telea"]
    assert local(create_app(models_allowed=offered)).get("/api/info").json()["default_model"] != "big-lama"
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "big-lama.pt").write_bytes(b"")  # the rule reads paths only: never loaded here
    app = local(create_app(models_allowed=offered))
    assert app.get("/api/info").json()["default_model"] == "big-lama"
    models = {entry["name"]: entry for entry in app.get("/api/models").json()}
    assert models["big-lama"]["default"] and models["big-lama"]["ready"] and models["big-lama"]["enable"] is None
    assert not models["telea"]["default"]


def test_models_say_the_command_that_makes_them_ready(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))  # an empty weight cache
    monkeypatch.setitem(catalog.OPTIONAL_PACKAGES, "patchmatch", lambda: False)
    names = ["big-lama", "pdgan", "lama-tiny", "lama-small", "patchmatch", "telea"]
    enable = {
        entry["name"]: entry["enable"] for entry in local(create_app(models_allowed=names)).get("/api/models").json()
    }
    assert enable == {
        "big-lama": "inpaintkit download big-lama",
        "pdgan": "inpaintkit train configs/pdgan-paper.yaml",
        "lama-tiny": None,  # no published weights and no recipe: nothing a command can do
        "lama-small": None,  # bundled: ready
        "patchmatch": "pip install pypatchmatch",
        "telea": None,
    }
    downloading = local(create_app(models_allowed=["big-lama"], allow_downloads=True)).get("/api/models").json()
    assert downloading[0]["ready"] is True and downloading[0]["enable"] is None  # fetched on first use


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"dilate": "two"}, "'dilate' must be a whole number"),
        ({"dilate": "-1"}, "'dilate' must lie in [0, 256]"),
        ({"hd_strategy": "tiles"}, "'hd_strategy' must be one of original, resize, crop"),
        ({"resize_mask": "maybe"}, "'resize_mask' must be true or false"),
        ({"colour": "red"}, "unknown form field(s) colour"),
        ({"seed": "012e"}, "form field 'seed' must be a whole number, got '012e'"),
        ({"seed": "1_000"}, "form field 'seed' must be a whole number, got '1_000'"),
        ({"samples": "50"}, "form field 'samples' must lie in [1, 8], got 50"),
    ],
)
def test_bad_fields_are_422(client, fields, expected):
    assert expected in error(post_inpaint(client, png(photo()), png(box_mask()), **fields), 422)


def test_integers_are_plain_decimals():
    seed = FormField("seed", "integer", "a seed", 0, minimum=0, maximum=100)
    assert seed.parse(Part(b"012")) == 12 and seed.parse(Part(b" 7 ")) == 7 and seed.parse(None) == 0
    for text in ("012e", "1e3", "+ 1", "\u0661\u0662", "9" * 19):
        with pytest.raises(WebError, match="must be a whole number"):
            seed.parse(Part(text.encode()))


def test_outpaint_refuses_a_border_over_the_limit(client):
    files = {"image": ("photo.png", png(photo()), "image/png")}
    response = client.post("/api/outpaint", files=files, data={"model": "telea", "left": "4097"})
    assert error(response, 422) == "form field 'left' must lie in [0, 4096], got 4097"
    assert web_server.MAX_BORDER == 4096


def test_missing_mask_is_422(client):
    response = client.post("/api/inpaint", files={"image": ("p.png", png(photo()), "image/png")})
    assert "missing form field 'mask'" in error(response, 422)


# ------------------------------------------------------------------------------------------- queue
class _Blocking(PictureInpainter):
    """A stand-in model that waits until released, to hold the worker busy."""

    def __init__(self, started: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.started, self.release = started, release
        self.runs = 0

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.runs += 1
        self.started.set()
        assert self.release.wait(10)
        return image


def test_full_queue_answers_503_then_recovers(monkeypatch):
    started, release = threading.Event(), threading.Event()
    stand_in(monkeypatch, "blocking", _Blocking(started, release))
    app = local(create_app(queue_size=1, models_allowed=["blocking", "telea"]))
    first = {}
    worker = threading.Thread(
        target=lambda: first.update(response=post_inpaint(app, png(photo()), png(box_mask()), model="blocking"))
    )
    worker.start()
    try:
        assert started.wait(10)
        busy = post_inpaint(app, png(photo()), png(box_mask()))
        assert "busy" in error(busy, 503)
        assert busy.headers["retry-after"] == "2" and busy.json()["queue_size"] == 1
    finally:
        release.set()
        worker.join(10)
    assert first["response"].status_code == 200
    assert post_inpaint(app, png(photo()), png(box_mask())).status_code == 200  # the slot came back


def test_work_queue_rejects_bad_sizes():
    with pytest.raises(InputError, match="queue_size"):
        WorkQueue(0)


# -------------------------------------------------------------------------------------------- jobs
def new_job(client: TestClient) -> str:
    """A job token from ``POST /api/jobs``."""
    answer = client.post("/api/jobs").json()
    assert answer["expires_in"] == 300.0 and re.fullmatch(r"[A-Za-z0-9_-]{32}", answer["job"]), answer
    return answer["job"]


def job_status(client: TestClient, job: str, until: str | None = None) -> dict:
    """``GET /api/jobs/{job}``, polled until its state is ``until`` (at most 10 s) when given."""
    deadline = time.monotonic() + 10
    while True:
        status = client.get(f"/api/jobs/{job}").json()
        if until is None or status["state"] == until or time.monotonic() > deadline:
            return status
        time.sleep(0.01)


def test_a_queued_job_shows_its_place_and_cancelling_it_drops_it_unrun(monkeypatch):
    started, release = threading.Event(), threading.Event()
    stand_in(monkeypatch, "blocking", _Blocking(started, release))
    sizes: list[tuple[int, int]] = []
    stand_in(monkeypatch, "recording", _Recording(sizes))
    app = local(create_app(queue_size=3, models_allowed=["blocking", "recording"]))
    answers = {}
    first_job, second_job = new_job(app), new_job(app)

    def send(model: str, job: str) -> None:
        answers[job] = post_inpaint(app, png(photo()), png(box_mask()), model=model, job=job)

    first = threading.Thread(target=send, args=("blocking", first_job))
    second = threading.Thread(target=send, args=("recording", second_job))
    first.start()
    try:
        assert started.wait(10)
        running = job_status(app, first_job)
        assert (running["state"], running["position"], running["done"], running["total"]) == ("running", 0, 0, 1)
        second.start()
        queued = job_status(app, second_job, until="queued")
        assert {key: queued[key] for key in ("job", "state", "position", "done", "total")} == {
            "job": second_job,
            "state": "queued",
            "position": 1,
            "done": 0,
            "total": 0,
        }
        assert 0 <= queued["elapsed"] < 10
        same_id = post_inpaint(app, png(photo()), png(box_mask()), model="recording", job=first_job)
        assert error(same_id, 422) == (
            f"job {first_job!r} was not issued by this server, or was already used or expired: get a new one "
            "with POST /api/jobs"
        )  # a token is good for one request
        assert app.post(f"/api/jobs/{second_job}/cancel").json() == {"job": second_job, "state": "cancelled"}
        second.join(10)
        assert error(answers[second_job], 409) == "cancelled by the user"
        assert first.is_alive()  # answered at once, not after the running job
    finally:
        release.set()
        first.join(10)
        if second.ident is not None:  # started
            second.join(10)
    assert sizes == []  # the cancelled job's model never ran
    assert answers[first_job].status_code == 200
    finished = job_status(app, first_job)
    assert (finished["state"], finished["position"], finished["done"], finished["total"]) == ("done", 0, 1, 1)
    assert app.post(f"/api/jobs/{first_job}/cancel").json() == {"job": first_job, "state": "done"}  # idempotent
    assert job_status(app, second_job)["state"] == "cancelled"


def test_cancelling_a_running_job_stops_it_after_the_current_crop(monkeypatch):
    started, release = threading.Event(), threading.Event()
    blocking = _Blocking(started, release)
    stand_in(monkeypatch, "blocking", blocking)
    app = local(create_app(models_allowed=["blocking"]))
    mask = np.zeros((20, 1400), np.uint8)
    for x in (100, 700, 1300):  # three holes far apart: three crops
        mask[5:15, x : x + 10] = 255
    answers, job = {}, new_job(app)
    worker = threading.Thread(
        target=lambda: answers.update(
            response=post_inpaint(app, png(photo(20, 1400)), png(mask), model="blocking", job=job)
        )
    )
    worker.start()
    try:
        assert started.wait(10)
        status = job_status(app, job)
        assert (status["state"], status["done"], status["total"]) == ("running", 0, 3)
        assert app.post(f"/api/jobs/{job}/cancel").json() == {"job": job, "state": "running"}
    finally:
        release.set()
        worker.join(10)
    assert error(answers["response"], 409) == "cancelled by the user"
    assert blocking.runs == 1  # the crop under way finished, the other two never ran
    status = job_status(app, job)
    assert (status["state"], status["done"], status["total"]) == ("cancelled", 1, 3)


def test_jobs_never_seen_are_unknown_bad_ids_are_422_and_only_issued_tokens_name_jobs(client):
    assert client.get("/api/jobs/not-yet-uploaded").json() == {
        "job": "not-yet-uploaded",
        "state": "unknown",
        "position": 0,
        "elapsed": 0.0,
        "done": 0,
        "total": 0,
    }
    assert client.post("/api/jobs/not-yet-uploaded/cancel").json() == {"job": "not-yet-uploaded", "state": "unknown"}
    assert (
        error(client.get("/api/jobs/short"), 422)
        == "job id must be 8 to 64 characters among A-Z a-z 0-9 _ -, got 'short'"
    )
    assert error(client.post("/api/jobs/a.b.c.d.e.f/cancel"), 422).startswith("job id must be 8 to 64 characters")
    response = post_inpaint(client, png(photo()), png(box_mask()), job="not valid!")
    assert error(response, 422) == (
        "form field 'job' must be 8 to 64 characters among A-Z a-z 0-9 _ -, got 'not valid!'"
    )
    chosen = post_inpaint(client, png(photo()), png(box_mask()), job="my-own-job-id")
    assert error(chosen, 422).startswith("job 'my-own-job-id' was not issued by this server")  # no chosen ids
    finished_job, failed_job = new_job(client), new_job(client)
    assert post_inpaint(client, png(photo()), png(box_mask()), job=finished_job).status_code == 200
    finished = job_status(client, finished_job)
    assert (finished["state"], finished["done"], finished["total"]) == ("done", 1, 1) and finished["elapsed"] > 0
    failed = post_inpaint(client, png(photo()), png(np.zeros((9, 9), np.uint8)), job=failed_job)
    assert error(failed, 422).startswith("mask is 9x9") and job_status(client, failed_job)["state"] == "failed"
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/inpaint", "/api/outpaint"):
        job = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["job"]
        assert job["pattern"] == "^[A-Za-z0-9_-]{8,64}$" and job["type"] == "string"
    assert {"/api/jobs", "/api/jobs/{job}", "/api/jobs/{job}/cancel", "/api/select"} <= set(paths)


# ------------------------------------------------------------------------------------------ select
def post_select(client: TestClient, image: bytes, **fields: str):
    return client.post("/api/select", files={"image": ("photo.png", image, "image/png")}, data=fields)


def test_select_answers_the_mask_of_a_box_or_a_click(client):
    picture, disc = scene()
    x0, y0, x1, y1 = around(disc, 8)
    for fields in ({"mode": "box", "x0": x0, "y0": y0, "x1": x1, "y1": y1}, {"mode": "point", "x": 90, "y": 55}):
        response = post_select(client, png(picture), **{key: str(value) for key, value in fields.items()})
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        mask = np.asarray(Image.open(BytesIO(response.content)))
        assert mask.shape == disc.shape and set(np.unique(mask)) == {0, 255}
        assert int(response.headers["x-inpaint-pixels"]) == int((mask == 255).sum())
        assert iou(mask == 255, disc) >= 0.8
    outside = np.asarray(Image.open(BytesIO(post_select(client, png(picture), mode="point", x="10", y="10").content)))
    assert outside[10, 10] == 255 and not (outside[disc] == 255).any()


def test_select_gives_the_mask_of_the_upright_picture(client):
    rotated = Image.fromarray(photo(30, 40))  # stored 40 wide, 30 high; EXIF 6 turns it upright to 30x40
    exif = rotated.getexif()
    exif[0x0112] = 6
    buffer = BytesIO()
    rotated.save(buffer, format="PNG", exif=exif)
    response = post_select(client, buffer.getvalue(), mode="box", x0="5", y0="5", x1="20", y1="30")
    assert np.asarray(Image.open(BytesIO(response.content))).shape == (40, 30)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"mode": "box", "x0": "50", "y0": "10", "x1": "20", "y1": "40"},
            "the box (50, 10, 20, 40) is empty: give x0 < x1 and y0 < y1 (right and bottom edges excluded)",
        ),
        ({"mode": "box", "x0": "5", "y0": "5", "x1": "20"}, "mode box needs x0, y0, x1, y1; missing y1"),
        ({"mode": "point", "x": "10", "y": "10", "x1": "3"}, "mode point takes x, y, tolerance, not x1"),
        ({"mode": "point", "x": "500", "y": "10"}, "the point (500, 10) lies outside the 160x120 picture"),
        ({"mode": "lasso"}, "form field 'mode' must be one of box, point; got 'lasso'"),
        ({"mode": "point", "x": "1.5", "y": "3"}, "form field 'x' must be a whole number, got '1.5'"),
    ],
)
def test_bad_selections_are_422_in_one_line(client, fields, expected):
    assert error(post_select(client, png(scene()[0]), **fields), 422) == expected


def test_selections_wait_in_the_queue(monkeypatch):
    started, release = threading.Event(), threading.Event()
    stand_in(monkeypatch, "blocking", _Blocking(started, release))
    app = local(create_app(queue_size=2, models_allowed=["blocking"]))
    worker = threading.Thread(target=lambda: post_inpaint(app, png(photo()), png(box_mask()), model="blocking"))
    worker.start()
    answers = {}
    selecting = threading.Thread(
        target=lambda: answers.update(response=post_select(app, png(scene()[0]), mode="point", x="90", y="55"))
    )
    try:
        assert started.wait(10)
        selecting.start()
        selecting.join(0.5)
        assert selecting.is_alive()  # waits for the running job
    finally:
        release.set()
        worker.join(10)
        selecting.join(10)
    assert answers["response"].status_code == 200


def test_finished_jobs_are_forgotten_after_a_while(monkeypatch):
    queue = WorkQueue(2)
    job = queue.issue()
    with queue.track(job, time.monotonic()):
        pass
    assert queue.status(job)["state"] == "done"
    monkeypatch.setattr(queue_module, "KEEP_SECONDS", 0.0)
    assert queue.status(job)["state"] == "unknown"


def test_unused_job_tokens_expire_and_are_bounded(monkeypatch):
    queue = WorkQueue(1)
    stale = queue.issue()
    monkeypatch.setattr(queue_module, "ISSUED_SECONDS", 0.0)
    time.sleep(0.01)
    with pytest.raises(WebError, match="was not issued by this server, or was already used or expired"):
        with queue.track(stale, time.monotonic()):
            pass
    monkeypatch.setattr(queue_module, "ISSUED_SECONDS", 300.0)
    monkeypatch.setattr(queue_module, "MAX_ISSUED", 3)
    tokens = [queue.issue() for _ in range(5)]
    assert len(set(tokens)) == 5 and list(queue._issued) == tokens[-3:]  # the oldest are dropped


# --------------------------------------------------------------------------------------------- CLI
def test_serve_arguments_reach_serve(monkeypatch):
    calls = []
    monkeypatch.setattr(web_server, "serve", lambda *args, **kwargs: calls.append((args, kwargs)))
    args = build_parser().parse_args(
        [
            "serve",
            "--port",
            "9000",
            "--models",
            "telea, navier-stokes",
            "--max-upload-mb",
            "1.5",
            "--queue-size",
            "2",
            "--upload-seconds",
            "90",
            "--download-weights",
            "--max-run-pixels",
            "1000000",
            "--allow-host",
            "photos.lan",
            "--allow-host",
            "10.0.0.5",
        ]
    )
    assert args.func is cmd_serve and args.func(args) == 0
    assert calls == [
        (
            ("127.0.0.1", 9000),
            {
                "max_upload_bytes": 1_572_864,
                "max_pixels": None,
                "max_run_pixels": 1_000_000,
                "queue_size": 2,
                "upload_seconds": 90.0,
                "models_allowed": ["telea", "navier-stokes"],
                "device": "cpu",
                "allow_downloads": True,
                "allowed_hosts": ["photos.lan", "10.0.0.5"],
            },
        )
    ]


def bundle_random_pdgan(monkeypatch, tmp_path: Path) -> None:
    """Random bundled weights for pdgan-small and its lama-small prior, in ``tmp_path``."""
    monkeypatch.setattr(registry, "ASSETS_DIR", tmp_path)
    torch.manual_seed(0)
    for name in ("lama-small", "pdgan-small"):
        spec = registry.get_spec(name)
        state = registry.build_architecture(spec.arch, spec.config).state_dict()
        inpaintkit.weights.save_model_file(tmp_path / spec.bundled, spec.arch, spec.config, state)


@pytest.fixture()
def pdgan_app(monkeypatch, tmp_path) -> TestClient:
    """A server offering pdgan-small, with random bundled weights for it and its lama-small prior."""
    bundle_random_pdgan(monkeypatch, tmp_path)
    return local(create_app(models_allowed=["pdgan-small", "telea"]))


def test_a_model_that_gives_several_answers_json_samples(pdgan_app):
    image, mask = photo(), box_mask()
    answer = post_inpaint(pdgan_app, png(image), png(mask), model="pdgan-small", samples="3", seed="7")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["model"] == "pdgan-small" and body["seed"] == 7 and len(body["images"]) == 3
    samples = [np.asarray(Image.open(BytesIO(base64.b64decode(b64))).convert("RGB")) for b64 in body["images"]]
    outside = box_mask() == 0
    for sample in samples:  # known pixels exact, the hole filled
        assert sample.shape == image.shape and np.array_equal(sample[outside], image[outside])
    assert not np.array_equal(samples[0][~outside], samples[1][~outside])
    again = post_inpaint(pdgan_app, png(image), png(mask), model="pdgan-small", samples="2", seed="7").json()
    assert again["images"] == body["images"][:2]  # the same seed gives the same samples
    assert "'samples' must lie in [1, 8]" in error(
        post_inpaint(pdgan_app, png(image), png(mask), model="pdgan-small", samples="9"), 422
    )
    single = post_inpaint(pdgan_app, png(image), png(mask), model="telea", samples="3")
    assert single.headers["content-type"] == "image/png"  # a one-result model ignores samples


def test_openapi_pages_load_their_scripts_from_the_server(client):
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(src.startswith("/") for src in sources), sources  # nothing from a CDN
        assert any(src.endswith(script) for src in sources)
        assert client.get(next(src for src in sources if src.endswith(script))).status_code == 200


def test_samples_times_pixels_over_the_pixel_limit_is_413(monkeypatch, tmp_path):
    bundle_random_pdgan(monkeypatch, tmp_path)
    app = local(create_app(models_allowed=["pdgan-small"], max_pixels=10_000))
    image, mask = png(photo()), png(box_mask())  # 64x48 = 3,072 pixels
    message = error(post_inpaint(app, image, mask, model="pdgan-small", samples="4"), 413)
    assert message == (
        "4 samples of a 64x48 picture make more than the limit of 10,000 pixels in one answer; ask fewer samples"
    )
    assert len(post_inpaint(app, image, mask, model="pdgan-small", samples="3").json()["images"]) == 3


# ------------------------------------------------------------------------------------ memory bounds
class _Recording(PictureInpainter):
    """A stand-in model that records the size of every input, returns it unchanged, or raises ``fail``."""

    def __init__(self, sizes: list[tuple[int, int]], fail: BaseException | None = None) -> None:
        super().__init__()
        self.sizes, self.fail = sizes, fail

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(image.shape[-2:]))
        if self.fail is not None:
            raise self.fail
        return image


def stand_in(monkeypatch, name: str, model: nn.Module) -> None:
    spec = registry.ModelSpec(name, "classical", "test stand-in", "n/a", factory=lambda: model)
    monkeypatch.setitem(registry.REGISTRY, name, spec)


def strip(width: int, height: int, hole: slice) -> tuple[bytes, bytes]:
    """A ``width`` x ``height`` photo and a mask with the columns ``hole`` as its hole, as PNG."""
    mask = np.zeros((height, width), np.uint8)
    mask[:, hole] = 255
    return png(photo(height, width)), png(mask)


def test_whole_image_over_the_run_limit_is_413_and_crop_or_resize_still_run(monkeypatch):
    sizes: list[tuple[int, int]] = []
    stand_in(monkeypatch, "recording", _Recording(sizes))
    app = local(create_app(max_run_pixels=25_000, models_allowed=["recording"]))
    assert app.get("/api/info").json()["max_run_pixels"] == 25_000
    image, mask = strip(1400, 20, slice(100, 110))  # 28,000 pixels, long side above the crop and resize triggers
    response = post_inpaint(app, image, mask, model="recording", hd_strategy="original")
    assert error(response, 413) == (
        "hd_strategy=original runs the model on the whole 1400x20 image (28,000 pixels), more than this server "
        "runs in one piece (25,000): send hd_strategy=crop (fills around each hole) or resize (downscales the "
        "picture)"
    )
    assert response.json()["max_run_pixels"] == 25_000 and sizes == []  # refused before any model runs
    crop = post_inpaint(app, image, mask, model="recording", hd_strategy="crop")
    assert decode(crop).shape == (20, 1400, 3) and crop.headers["x-inpaint-strategy"] == "crop"
    resize = post_inpaint(app, image, mask, model="recording", hd_strategy="resize")
    assert decode(resize).shape == (20, 1400, 3) and resize.headers["x-inpaint-strategy"] == "resize"
    assert sizes == [(20, 238), (18, 1280)]  # the crop around the hole (+128 px), the downscaled picture
    files = {"image": ("photo.png", png(photo(20, 1000)), "image/png")}
    canvas = app.post("/api/outpaint", files=files, data={"model": "recording", "right": "400", "steps": "2"})
    assert error(canvas, 413) == (
        "outpainting runs the model on the whole 1400x20 extended canvas (28,000 pixels), more than this server "
        "runs in one piece (25,000): extend by fewer pixels, or send a smaller picture"
    )
    assert len(sizes) == 2  # refused before the model ran again
    files = {"image": ("photo.png", png(photo(20, 1000)), "image/png")}
    grown = app.post("/api/outpaint", files=files, data={"model": "recording", "right": "240", "steps": "2"})
    assert decode(grown).shape == (20, 1240, 3) and sizes[2:] == [(20, 1120), (20, 1240)]  # one canvas per step


def test_a_crop_over_the_run_limit_is_refused_before_the_model_runs(monkeypatch):
    sizes: list[tuple[int, int]] = []
    stand_in(monkeypatch, "recording", _Recording(sizes))
    app = local(create_app(max_run_pixels=25_000, models_allowed=["recording"]))
    image, mask = strip(1400, 20, slice(100, 1300))  # one hole as wide as the picture: its crop is all of it
    response = post_inpaint(app, image, mask, model="recording", hd_strategy="crop")
    assert error(response, 413) == (
        "recording would run on a 1400x20 region in one piece (28,000 pixels), more than this server's limit of "
        "25,000: send hd_strategy=resize (downscales the picture), or smaller holes with crop"
    )
    assert sizes == []


def test_postprocessing_over_its_limit_is_refused():
    sizes: list[tuple[int, int]] = []
    regions: list[tuple[int, ...]] = []

    def postprocess(pred: np.ndarray, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        regions.append(rgb.shape[:2])
        return pred

    pipe = InpaintPipeline(
        _Recording(sizes), name="toy", pad_multiple=1, hd_resize_limit=100, postprocess=postprocess, max_run_pixels=2000
    )  # the model may see 2,000 pixels, the post-processing 8,000
    wide = np.zeros((40, 400), np.uint8)
    wide[10:20, 10:20] = 255
    with pytest.raises(
        RegionTooLarge,
        match=r"toy's post-processing would run on a 400x40 region \(16,000 pixels\), "
        r"more than the limit of 8,000 \(max_run_pixels\): use hd_strategy=crop",
    ) as caught:
        pipe(photo(40, 400), wide, hd_strategy="resize")
    assert caught.value.max_run_pixels == 2000 and sizes == [(10, 100)] and regions == []
    assert pipe(photo(20, 160), wide[:20, :160], hd_strategy="resize").strategy == "resize"
    assert regions == [(20, 160)]


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: bytes = b"xyz") -> bytes:
    """A multipart/form-data body of ``(name, filename or None, data)`` parts."""
    body = b"".join(
        b'--%s\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
        % (boundary, name.encode(), b'; filename="%s"' % filename.encode() if filename else b"", data)
        for name, filename, data in parts
    )
    return body + b"--%s--\r\n" % boundary


def test_uploads_wait_in_slots_of_their_own_and_a_full_queue_is_503(monkeypatch):
    """An upload holds no place while it arrives; once read, a request over the queue gets a 503,
    and an announced oversize upload is refused before any of it is read."""
    started, release = threading.Event(), threading.Event()
    stand_in(monkeypatch, "blocking", _Blocking(started, release))
    app = create_app(queue_size=1, models_allowed=["blocking"])
    worker = threading.Thread(target=lambda: post_inpaint(local(app), png(photo()), png(box_mask()), model="blocking"))
    worker.start()
    body = _multipart(
        [("image", "p.png", png(photo())), ("mask", "m.png", png(box_mask())), ("model", None, b"blocking")]
    )
    received, sent = [], []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = _multipart_post_scope(server="localhost")
    oversize = {**scope, "headers": [*scope["headers"], (b"content-length", b"999999999")]}
    try:
        assert started.wait(10)
        asyncio.run(app(oversize, receive, send))
        assert sent[0]["status"] == 413 and received == []  # told at once, nothing read
        asyncio.run(app(scope, receive, send))
    finally:
        release.set()
        worker.join(10)
    assert sent[2]["status"] == 503 and "busy: 1 request(s) are already queued" in json.loads(sent[3]["body"])["error"]
    assert received == [1]


def test_upload_slots_are_four_per_place():
    queue = WorkQueue(1)

    async def fill_slots() -> str:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(queue_module.UPLOADS_PER_PLACE):
                await stack.enter_async_context(queue.receiving())
            with pytest.raises(WebError) as caught:
                await stack.enter_async_context(queue.receiving())
            return f"{caught.value.status} {caught.value}"

    assert asyncio.run(fill_slots()) == "503 busy: 4 uploads are already arriving; retry in a moment"

    async def after() -> bool:
        async with queue.receiving():
            return True

    assert asyncio.run(after())  # the slots were given back


# ------------------------------------------------------------------------------------ web hardening
@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io:8080", "evil@localhost", "localhost:8080/x", ""]
)
def test_an_unknown_host_is_400(client, host):
    response = client.get("/api/info", headers={"host": host})
    message = error(response, 400)
    assert message.startswith(f"unknown host {host!r}: this server answers to 127.0.0.1, ::1, localhost;")
    assert response.json()["allowed_hosts"] == ["127.0.0.1", "::1", "localhost"]


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "LocalHost.:8080", "127.0.0.1:1", "[::1]:8080"])
def test_local_hosts_are_accepted(client, host):
    assert client.get("/api/info", headers={"host": host}).status_code == 200


def test_allowed_hosts_and_the_bound_address_are_accepted(monkeypatch):
    import uvicorn

    served = {}

    def run(server: uvicorn.Server) -> None:
        served.update(app=server.config.app, host=server.config.host, port=server.config.port)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    web_server.serve("192.168.1.5", 8080, allowed_hosts=["Photos.LAN"], models_allowed=["telea"])
    assert served["host"] == "192.168.1.5" and served["port"] == 8080
    app = TestClient(served["app"])
    for host, status in (
        ("192.168.1.5:8080", 200),
        ("photos.lan:8080", 200),
        ("localhost:8080", 200),
        ("192.168.1.6:8080", 400),
    ):
        assert app.get("/api/info", headers={"host": host}).status_code == status, host
    web_server.serve("0.0.0.0", 8080, models_allowed=["telea"])  # a wildcard is no host name
    assert TestClient(served["app"]).get("/api/info", headers={"host": "0.0.0.0:8080"}).status_code == 400


@pytest.mark.parametrize(
    "origin, status",
    [
        ("http://localhost:8080", 200),
        ("http://127.0.0.1:8080", 200),
        ("http://[::1]:8080", 200),
        ("http://evil.example", 403),
        ("http://evil.example:8080", 403),
        ("http://localhost:9999", 403),
        ("https://localhost", 403),
        ("null", 403),
        ("file://", 403),
    ],
)
def test_a_post_from_another_origin_is_403(client, origin, status):
    response = client.post(
        "/api/inpaint",
        headers={"host": "localhost:8080", "origin": origin},
        files={"image": ("p.png", png(photo()), "image/png"), "mask": ("m.png", png(box_mask()), "image/png")},
        data={"model": "telea"},
    )
    if status == 403:
        assert error(response, 403) == (
            f"cross-origin request refused: Origin {origin!r} is not this server (an allowed host on port 8080)"
        )
    else:
        assert decode(response).shape == (48, 64, 3)
    assert client.get("/api/info", headers={"origin": origin}).status_code == 200  # reading is not refused


def test_every_answer_carries_a_content_security_policy_and_nosniff(monkeypatch):
    stand_in(monkeypatch, "failing", _Recording([], RuntimeError("boom")))
    app = local(
        create_app(models_allowed=["telea", "failing"], max_upload_bytes=100_000), raise_server_exceptions=False
    )
    image, mask = png(photo()), png(box_mask())
    answers = {
        "page": app.get("/"),
        "docs": app.get("/docs"),
        "script": app.get("/static/app.js"),
        "json": app.get("/api/info"),
        "picture": post_inpaint(app, image, mask),
        "not found": app.get("/nothing-here"),
        "422": post_inpaint(app, image, mask, dilate="x"),
        "413": post_inpaint(app, png(np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)), mask),
        "400 host": app.get("/api/info", headers={"host": "evil.example"}),
        "403 origin": app.post("/api/inpaint", headers={"origin": "http://evil.example"}),
        "500": post_inpaint(app, image, mask, model="failing"),
    }
    assert answers["not found"].json() == {"error": "Not Found"}
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "page": 200,
        "docs": 200,
        "script": 200,
        "json": 200,
        "picture": 200,
        "not found": 404,
        "422": 422,
        "413": 413,
        "400 host": 400,
        "403 origin": 403,
        "500": 500,
    }
    for name, response in answers.items():
        assert response.headers["x-content-type-options"] == "nosniff", name
        policies = response.headers.get_list("content-security-policy")
        expected = {"page": PAGE_POLICY, "docs": DOCS_POLICY}.get(name, DATA_POLICY)
        assert policies == [expected], name
    assert DATA_POLICY == "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    assert "script-src" not in PAGE_POLICY and PAGE_POLICY.startswith("default-src 'self';")


@pytest.mark.parametrize(
    "fail, expected",
    [
        (RuntimeError("boom\n  at line 2"), "internal error: RuntimeError: boom (details in the server log)"),
        (
            MemoryError(),
            "the server ran out of memory on this request: send hd_strategy=crop or resize, or a smaller picture",
        ),
    ],
)
def test_a_model_that_fails_answers_one_json_line(monkeypatch, caplog, fail, expected):
    stand_in(monkeypatch, "failing", _Recording([], fail))
    app = local(create_app(models_allowed=["failing", "telea"]), raise_server_exceptions=False)
    response = post_inpaint(app, png(photo()), png(box_mask()), model="failing")
    assert error(response, 500) == expected
    assert "Traceback" not in response.text and "\n" not in response.json()["error"]
    assert "Traceback" in caplog.text  # the details go to the log
    assert post_inpaint(app, png(photo()), png(box_mask())).status_code == 200  # the queue place came back


# ------------------------------------------------------------------------- slow uploads (real server)
@pytest.fixture()
def live_server():
    """Starts real uvicorn servers (TestClient cannot trickle a body); yields ``start(**app_options) -> port``."""
    pytest.importorskip("uvicorn")
    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(serving(create_app(**options), log_level="info"))


def _trickle(port: int, stop: threading.Event, answers: list[bytes]) -> None:
    """An upload that announces 100 kB and sends one byte every 0.3 s until stopped or answered."""
    import socket

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /api/inpaint HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        )
        sock.settimeout(0.3)
        while not stop.is_set():
            try:
                sock.sendall(b"-")
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            deadline = time.monotonic() + 5
            while not answer.endswith(b"}") and time.monotonic() < deadline:  # the JSON body may come apart
                try:
                    answer += sock.recv(4096)
                except TimeoutError:
                    continue
            answers.append(answer)
            return


def test_a_normal_request_is_answered_while_four_uploads_trickle(live_server, caplog) -> None:
    import urllib.request

    port = live_server(models_allowed=["telea"], upload_seconds=4)
    parts = [("image", "p.png", png(photo())), ("mask", "m.png", png(box_mask())), ("model", None, b"telea")]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/inpaint",
        data=_multipart(parts),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    stop, answers = threading.Event(), []
    clients = [threading.Thread(target=_trickle, args=(port, stop, answers)) for _ in range(4)]
    for client in clients:
        client.start()
    time.sleep(1.0)  # the four uploads are arriving, each would have held a place before
    try:
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200 and response.read().startswith(b"\x89PNG")
        assert time.monotonic() - started < 3.0  # answered before any trickling upload timed out
        for client in clients:
            client.join(15)  # the slow uploads are refused after their 4 s
    finally:
        stop.set()
    assert len(answers) == 4 and all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:1]
    assert all(b"the upload did not arrive within 4 s" in answer for answer in answers)


def test_the_http_layers_own_400_carries_the_security_headers(live_server) -> None:
    """A malformed request (two Content-Lengths) is answered by uvicorn itself, before the app."""
    import socket

    port = live_server(models_allowed=["telea"])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/inpaint HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n")
        sock.settimeout(10)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].lower().split(b"\r\n")
    assert head[0] == b"http/1.1 400 bad request"
    assert f"content-security-policy: {DATA_POLICY}".encode() in head and b"x-content-type-options: nosniff" in head


def test_a_client_leaving_mid_upload_is_one_log_line(live_server, caplog) -> None:
    import logging
    import socket

    port = live_server(models_allowed=["telea"])
    with caplog.at_level(logging.INFO):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /api/inpaint HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n\r\n" + b"-" * 1000
            )
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        while not any("went away" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
    gone = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) == 1 and gone[0].getMessage() == "127.0.0.1 went away after sending 1,000 bytes of its upload"
    assert not any(r.exc_info for r in caplog.records), [r.getMessage() for r in caplog.records if r.exc_info]
