"""End-to-end test of the web app in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): open a photo, paint strokes, undo one, run telea, download, keep working on the result,
extend the canvas, and show several results from one answer.

``INPAINTKIT_SCREENSHOT=1`` also writes the README picture ``docs/images/web.png``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import threading
import time
from importlib.resources import files
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from inpaintkit.web.server import create_app  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "web.png"
ROCKET = (files("inpaintkit") / "assets" / "rocket.jpg").read_bytes()


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def base_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(models_allowed=["telea", "navier-stokes"]), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 760}, accept_downloads=True)
    page = context.new_page()
    page.add_init_script(RECORD_FORMS)
    problems, urls = [], []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("request", lambda request: urls.append(request.url))
    page.goto(base_url + "/")
    page.wait_for_selector("#model option[value=telea]", state="attached")
    yield page
    context.close()
    assert problems == []
    # everything came from the server itself (the page works offline)
    assert all(url.startswith((base_url, "blob:", "data:")) for url in urls), urls


# ----------------------------------------------------------------------------------------- helpers
def open_picture(page, data: bytes, name: str, mime: str) -> None:
    page.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.wait_for_selector("#stage:not([hidden])")


def set_brush(page, size: int) -> None:
    page.eval_on_selector("#brush-size", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", size)


def stroke(page, points: list[tuple[float, float]], image_width: int) -> None:
    """Drag the mouse through ``points`` given in image pixels."""
    box = page.locator("#mask-canvas").bounding_box()
    scale = box["width"] / image_width
    to_screen = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in points]
    page.mouse.move(*to_screen[0])
    page.mouse.down()
    for point in to_screen[1:]:
        page.mouse.move(*point, steps=8)
    page.mouse.up()


# Playwright does not report multipart bodies built from Blobs, so the test records what the page
# hands to fetch (every FormData field; files as base64) before it goes out.
RECORD_FORMS = """
window.sentForms = [];
const fetchOriginal = window.fetch;
const base64 = (blob) => new Promise((resolve) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result.split(",")[1]);
  reader.readAsDataURL(blob);
});
window.fetch = async (url, options = {}) => {
  if (options.body instanceof FormData) {
    const fields = {};
    for (const [name, value] of options.body.entries()) {
      fields[name] = value instanceof Blob ? {file: await base64(value)} : value;
    }
    window.sentForms.push({url: String(url), fields});
  }
  return fetchOriginal(url, options);
};
"""


def run(page) -> dict[str, bytes]:
    """Press the run button, wait for the answer, return the form the page sent."""
    count = page.evaluate("window.sentForms.length")
    page.click("#run")
    deadline = time.monotonic() + 30  # the last run's "done" shows until the new form goes out
    while page.evaluate("window.sentForms.length") == count and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    page.wait_for_selector("#status.done")
    forms = page.evaluate("window.sentForms")
    assert len(forms) == count + 1
    return {
        name: base64.b64decode(value["file"]) if isinstance(value, dict) else value.encode()
        for name, value in forms[-1]["fields"].items()
    }


def download(page) -> bytes:
    with page.expect_download() as info:
        page.click("#download")
    return Path(info.value.path()).read_bytes()


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(data)).convert("RGB")).astype(np.int16)


def near_segments(shape: tuple[int, int], segments, radius: float) -> np.ndarray:
    """Pixels whose centre lies within ``radius`` of any of the segments ((x0, y0), (x1, y1))."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    near = np.zeros(shape, bool)
    for (x0, y0), (x1, y1) in segments:
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        near |= np.hypot(x - x0 - t * dx, y - y0 - t * dy) <= radius
    return near


def check_sent_mask(mask: np.ndarray, painted, erased, radius: float) -> None:
    """The mask covers the painted strokes (up to the brush's anti-aliased edge) and nothing else."""
    assert mask[near_segments(mask.shape, painted, radius - 2)].all()
    assert not mask[~near_segments(mask.shape, painted, radius + 2)].any()
    assert not mask[near_segments(mask.shape, erased, radius - 2)].any()


# ------------------------------------------------------------------------------------------- tests
def test_paint_remove_download_and_keep_working(page):
    open_picture(page, ROCKET, "rocket.jpg", "image/jpeg")
    page.select_option("#model", "telea")
    set_brush(page, 40)
    tower = [((446, 112), (446, 426)), ((470, 190), (470, 426))]
    stray = ((100, 60), (220, 60))
    for segment in [*tower, stray]:
        stroke(page, list(segment), 640)
    page.click("#undo")  # takes the stray stroke back

    form = run(page)
    assert form["image"] == ROCKET  # the original file goes up, not a re-encoded copy
    assert form["model"] == b"telea"
    hole = rgb(form["mask"])[..., 0] > 0
    assert hole.shape == (427, 640)
    check_sent_mask(hole, tower, [stray], radius=20)

    first = download(page)
    before, after = rgb(ROCKET), rgb(first)
    assert after.shape == before.shape
    changed = (after != before).any(axis=2)
    assert not changed[~hole].any()  # only pixels under the strokes changed ...
    assert changed[hole].mean() > 0.5  # ... and most of them did
    assert page.locator("[data-testid=result-thumb]").count() == 1
    if os.environ.get("INPAINTKIT_SCREENSHOT") == "1":
        # put the before/after line through the tower, so the picture shows both
        page.eval_on_selector("#compare", "el => { el.value = 72; el.dispatchEvent(new Event('input')); }")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    page.click("#apply-result")  # iterative removal: the result is the new input
    set_brush(page, 16)
    light = ((560, 380), (600, 380))
    stroke(page, list(light), 640)
    form = run(page)
    assert form["image"] == first
    hole = rgb(form["mask"])[..., 0] > 0
    check_sent_mask(hole, [light], [], radius=8)
    second = rgb(download(page))
    changed = (second != after).any(axis=2)
    assert not changed[~hole].any() and changed[hole].any()


def test_extend_mode_adds_the_chosen_border(page):
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[:, :, 1] = np.linspace(60, 220, 64, dtype=np.uint8)
    buffer = BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    open_picture(page, buffer.getvalue(), "gradient.png", "image/png")
    page.click("#mode-extend")
    page.fill("#pad-right", "24")
    page.fill("#pad-top", "8")
    page.fill("#extend-steps", "2")
    assert page.text_content("#extend-size") == "64×48 → 88×56"
    assert page.locator("#hd-strategy").is_hidden()  # outpainting runs the model on the whole canvas
    form = run(page)
    assert form["right"] == b"24" and form["top"] == b"8" and form["left"] == b"0"
    assert form["steps"] == b"2" and "hd_strategy" not in form
    out = rgb(download(page))
    assert out.shape == (56, 88, 3)
    np.testing.assert_array_equal(out[8:, :64], picture)
    assert out[8:, 64:, 1].mean() > 150  # continues the bright right edge


def test_several_results_in_one_answer_fill_the_strip(page):
    """A JSON answer with several images (as a diverse model gives) shows them all; any can be picked."""
    images = []
    for value in (40, 200):
        buffer = BytesIO()
        Image.new("RGB", (32, 24), (value, value, value)).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    body = {
        "images": [base64.b64encode(data).decode() for data in images],
        "seconds": 0.5,
        "strategy": "original",
        "warnings": [],
    }
    page.route(
        "**/api/inpaint",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body)),
    )
    buffer = BytesIO()
    Image.new("RGB", (32, 24), (90, 90, 90)).save(buffer, format="PNG")
    open_picture(page, buffer.getvalue(), "grey.png", "image/png")
    stroke(page, [(8, 12), (24, 12)], 32)
    assert page.locator("#samples-field").is_hidden()  # telea gives one result: no samples controls
    sent = run(page)
    assert "samples" not in sent and "seed" not in sent
    # A model that gives several (as /api/models reports PD-GAN): the page offers and sends count and seed.
    page.evaluate("state.models.find((m) => m.name === 'telea').gives_several = true; describeModel()")
    assert page.locator("#samples-field").is_visible()
    page.fill("#samples", "2")
    page.fill("#seed", "11")
    sent = run(page)
    assert sent["samples"] == b"2" and sent["seed"] == b"11"
    thumbs = page.locator("[data-testid=result-thumb]")
    thumbs.nth(3).wait_for()  # two answers of two (a locator wait: the page's CSP forbids evaluated strings)
    assert thumbs.count() == 4
    thumbs.nth(2).click()
    assert download(page) == images[0]
    thumbs.nth(3).click()
    assert thumbs.nth(3).get_attribute("aria-pressed") == "true"
    assert download(page) == images[1]
    assert "2 results" in page.text_content("#status")


def test_the_openapi_page_renders_offline(page, base_url):
    """The framework's API page works without internet: its scripts come from the server."""
    page.goto(base_url + "/docs")
    page.wait_for_selector('.opblock-summary-path[data-path="/api/inpaint"]')
    assert page.locator(".opblock").count() >= 4  # info, models, inpaint, outpaint
