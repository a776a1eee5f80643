"""API tests of the web app (FastAPI TestClient; the browser test is test_web_e2e.py)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import threading
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")
from fastapi.testclient import TestClient  # noqa: E402

import inpaintkit  # noqa: E402
from inpaintkit import registry  # noqa: E402
from inpaintkit.types import InputError, UnknownModelError  # noqa: E402
from inpaintkit.web import add_serve_arguments, cmd_serve  # noqa: E402
from inpaintkit.web import server as web_server  # noqa: E402
from inpaintkit.web._work import WorkQueue  # noqa: E402
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


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())


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
        "name": "telea", "kind": "classical", "description": registry.REGISTRY["telea"].description,
        "licence": registry.REGISTRY["telea"].licence, "available": True, "weights_present": None,
        "ready": True, "default": registry.DEFAULT_MODEL == "telea", "gives_several": False,
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


# ------------------------------------------------------------------------------------------ limits
def test_oversize_upload_by_content_length_is_413():
    small = TestClient(create_app(max_upload_bytes=2000))
    response = post_inpaint(small, png(photo(60, 60, seed=1)), png(box_mask(60, 60)))
    assert "2,000 bytes" in error(response, 413)
    assert response.json()["max_upload_bytes"] == 2000


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

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/api/inpaint", "raw_path": b"/api/inpaint", "query_string": b"", "root_path": "",
             "scheme": "http", "server": ("test", 80), "client": ("test", 1),
             "headers": [(b"content-type", b"multipart/form-data; boundary=xyz")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["max_upload_bytes"] == 10_000
    assert len(received) == 11  # 11 kB read, 89 chunks never requested


def test_pixel_limit_is_413_naming_the_limit():
    small = TestClient(create_app(max_pixels=1000))
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
    resized = post_inpaint(client, png(photo()), png(np.full((32, 32), 255, np.uint8)), resize_mask="true")
    assert decode(resized).shape == (48, 64, 3)


def test_unknown_model_is_404_listing_the_models(client):
    response = post_inpaint(client, png(photo()), png(box_mask()), model="no-such-model")
    assert "no-such-model" in error(response, 404)
    assert set(response.json()["models"]) == set(registry.REGISTRY)


def test_models_allowed_restricts_the_offer():
    only = TestClient(create_app(models_allowed=["telea"]))
    assert [entry["name"] for entry in only.get("/api/models").json()] == ["telea"]
    response = post_inpaint(only, png(photo()), png(box_mask()), model="navier-stokes")
    assert error(response, 404) and response.json()["models"] == ["telea"]
    with pytest.raises(UnknownModelError, match="nope"):
        create_app(models_allowed=["nope"])


def test_learned_model_without_local_weights_is_409(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))  # an empty weight cache
    app = TestClient(create_app(models_allowed=["big-lama", "lama-tiny", "telea"]))
    models = {entry["name"]: entry for entry in app.get("/api/models").json()}
    assert models["big-lama"]["weights_present"] is False and models["big-lama"]["ready"] is False
    assert "--download-weights" in error(post_inpaint(app, png(photo()), png(box_mask()), model="big-lama"), 409)
    assert "no published weights" in error(post_inpaint(app, png(photo()), png(box_mask()), model="lama-tiny"), 409)
    assert not any(tmp_path.iterdir())  # nothing was downloaded or written


@pytest.mark.parametrize("fields, expected", [
    ({"dilate": "two"}, "'dilate' must be a whole number"),
    ({"dilate": "-1"}, "'dilate' must lie in [0, 256]"),
    ({"hd_strategy": "tiles"}, "'hd_strategy' must be one of original, resize, crop"),
    ({"resize_mask": "maybe"}, "'resize_mask' must be true or false"),
    ({"colour": "red"}, "unknown form field(s) colour"),
])
def test_bad_fields_are_422(client, fields, expected):
    assert expected in error(post_inpaint(client, png(photo()), png(box_mask()), **fields), 422)


def test_missing_mask_is_422(client):
    response = client.post("/api/inpaint", files={"image": ("p.png", png(photo()), "image/png")})
    assert "missing form field 'mask'" in error(response, 422)


# ------------------------------------------------------------------------------------------- queue
class _Blocking(nn.Module):
    """A stand-in model that waits until released, to hold the worker busy."""

    def __init__(self, started: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.started, self.release = started, release

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.started.set()
        assert self.release.wait(10)
        return image


def test_full_queue_answers_503_then_recovers(monkeypatch):
    started, release = threading.Event(), threading.Event()
    spec = registry.ModelSpec("blocking", "classical", "test stand-in", "n/a", factory=lambda: _Blocking(started, release))
    monkeypatch.setitem(registry.REGISTRY, "blocking", spec)
    app = TestClient(create_app(queue_size=1, models_allowed=["blocking", "telea"]))
    first = {}
    worker = threading.Thread(target=lambda: first.update(response=post_inpaint(
        app, png(photo()), png(box_mask()), model="blocking")))
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


# --------------------------------------------------------------------------------------------- CLI
def test_serve_arguments_reach_serve(monkeypatch):
    calls = []
    monkeypatch.setattr(web_server, "serve", lambda *args, **kwargs: calls.append((args, kwargs)))
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(["--port", "9000", "--models", "telea, navier-stokes", "--max-upload-mb", "1.5",
                              "--queue-size", "2", "--download-weights"])
    assert args.func is cmd_serve and args.func(args) == 0
    assert calls == [(("127.0.0.1", 9000), {
        "max_upload_bytes": 1_572_864, "max_pixels": None, "queue_size": 2,
        "models_allowed": ["telea", "navier-stokes"], "device": "cpu", "allow_downloads": True})]


@pytest.fixture()
def pdgan_app(monkeypatch, tmp_path) -> TestClient:
    """A server offering pdgan-small, with random bundled weights for it and its lama-small prior."""
    monkeypatch.setattr(registry, "ASSETS_DIR", tmp_path)
    torch.manual_seed(0)
    for name in ("lama-small", "pdgan-small"):
        spec = registry.get_spec(name)
        state = registry.build_architecture(spec.arch, spec.config).state_dict()
        inpaintkit.weights.save_model_file(tmp_path / spec.bundled, spec.arch, spec.config, state)
    return TestClient(create_app(models_allowed=["pdgan-small", "telea"]))


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
        post_inpaint(pdgan_app, png(image), png(mask), model="pdgan-small", samples="9"), 422)
    single = post_inpaint(pdgan_app, png(image), png(mask), model="telea", samples="3")
    assert single.headers["content-type"] == "image/png"  # a one-result model ignores samples


def test_openapi_pages_load_their_scripts_from_the_server(client):
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(src.startswith("/") for src in sources), sources  # nothing from a CDN
        assert any(src.endswith(script) for src in sources)
        assert client.get(next(src for src in sources if src.endswith(script))).status_code == 200
