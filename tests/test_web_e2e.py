"""End-to-end tests of the web app in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): open a photo, paint strokes, undo one, run telea, download, keep working on the result,
extend the canvas, show several results from one answer; each defect of issue 18 and each feature an
object remover is expected to have (zoom and pan, compare, progress and cancel, select an object,
results picker, shortcuts, small windows).

``INPAINTKIT_SCREENSHOT=1`` also writes the pictures of the main states to ``docs/images/``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
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
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from conftest import serving  # noqa: E402

from inpaintkit import registry  # noqa: E402
from inpaintkit.classical.opencv import Telea  # noqa: E402
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
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
SCREENSHOT = IMAGES / "web.png"
SHOOT = os.environ.get("INPAINTKIT_SCREENSHOT") == "1"
ROCKET = (files("inpaintkit") / "assets" / "rocket.jpg").read_bytes()


class SlowTelea(Telea):
    """Telea that takes a while per picture (a crop, here), and counts its runs."""

    runs = 0

    def fill(self, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        type(self).runs += 1
        time.sleep(0.8)
        return super().fill(picture, hole)


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def base_url():
    registry.REGISTRY["slow"] = registry.ModelSpec(
        "slow", "classical", "Telea, slowly (a test stand-in)", "n/a", factory=SlowTelea
    )
    offered = ["telea", "navier-stokes", "neural-patch", "big-lama", "slow"]
    with serving(create_app(models_allowed=offered)) as port:
        yield f"http://127.0.0.1:{port}"
    del registry.REGISTRY["slow"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def viewport(request):
    """The window size of the test's page (a test may parametrize it indirectly)."""
    return getattr(request, "param", {"width": 1280, "height": 760})


@pytest.fixture
def page(browser, base_url, viewport):
    context = browser.new_context(viewport=viewport, accept_downloads=True, has_touch=viewport["width"] < 600)
    page = context.new_page()
    page.add_init_script(RECORD_FORMS)
    problems, urls = [], []
    page.on("pageerror", lambda err: problems.append(str(err)))
    # a 4xx answer is one the page reports itself (Chromium logs it too); anything else is a problem
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and "the server responded with a status of 4" not in message.text
            and problems.append(message.text)
        ),
    )
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
    if SHOOT:
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


# ------------------------------------------------------------------------------- issue 18: helpers
def png_bytes(array: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def flat(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    return png_bytes(np.full((height, width, 3), colour, np.uint8))


def fake_answer(route, colour=(0, 0, 255), size=(64, 48), strategy="original") -> None:
    """Answer an inpainting request with a flat picture of ``colour`` (a result the test can recognise)."""
    route.fulfill(
        status=200,
        content_type="image/png",
        body=flat(*size, colour),
        headers={"X-Inpaint-Seconds": "0.25", "X-Inpaint-Strategy": strategy, "X-Inpaint-Warnings": "[]"},
    )


def forms_to(page, endpoint: str) -> list[dict]:
    return [form for form in page.evaluate("window.sentForms") if form["url"].endswith(endpoint)]


def stage_pixels(page) -> np.ndarray:
    return rgb(page.locator("#stage").screenshot())


def wait_until(page, check, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(30)


def grey_photo(page, width: int = 64, height: int = 48) -> None:
    open_picture(page, flat(width, height, (128, 128, 128)), "grey.png", "image/png")


# ------------------------------------------------------------------------------- issue 18: defects
def test_a_result_never_lands_on_another_photo(page):
    """Defect 1: a photo opened while a run is in flight does not receive that run's fill."""
    held = []
    page.route("**/api/inpaint", lambda route: held.append(route))
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    page.click("#run")
    wait_until(page, lambda: len(held) == 1)
    open_picture(page, flat(40, 30, (0, 200, 0)), "green.png", "image/png")
    fake_answer(held[0])
    wait_until(page, lambda: "left out" in page.text_content("#status"))
    assert "grey" in page.text_content("#status")
    assert page.locator("[data-testid=result-thumb]").count() == 0
    assert page.get_attribute("#download", "aria-disabled") == "true"


def test_a_double_click_runs_once(page):
    """Defect 2: the button is busy from the first click on."""
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    page.dblclick("#run")
    page.wait_for_selector("#status.done")
    page.wait_for_timeout(300)
    assert len(forms_to(page, "/api/inpaint")) == 1
    assert page.locator("[data-testid=result-thumb]").count() == 1


def test_dragging_on_a_result_moves_the_compare_line_and_paints_nothing(page):
    """Defects 3 and 4: a drag on the result stays on it, moves the line, and the slider reads the right way."""
    page.route("**/api/inpaint", lambda route: fake_answer(route))
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    run(page)
    strokes = page.evaluate("state.strokes.length")
    box = page.locator("#stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert page.evaluate("state.viewResult") and page.evaluate("state.strokes.length") == strokes
    assert 20 <= int(page.input_value("#compare")) <= 30
    # the slider's "After" end shows the whole result, its "Before" end the whole photo
    for value, colour in (("100", (0, 0, 255)), ("0", (128, 128, 128))):
        page.eval_on_selector("#compare", f"el => {{ el.value = {value}; el.dispatchEvent(new Event('input')); }}")
        pixels = stage_pixels(page)[4:-4, 12:-12]  # the line (and its shadow) stands at an edge
        assert np.abs(pixels - np.array(colour)).max() <= 3, (value, pixels.reshape(-1, 3).mean(0))
    page.keyboard.down("o")  # hold O: the original
    assert np.abs(stage_pixels(page)[4:-4, 4:-4] - 128).max() <= 3
    page.keyboard.up("o")
    assert page.locator("#after-canvas").is_visible()


def test_every_model_is_listed_and_a_model_that_is_not_ready_says_how_to_enable_it(page):
    """Defects 5 and 6: neural-patch (an optimisation model) is listed; big-lama shows the command."""
    groups = page.eval_on_selector_all(
        "#model optgroup", "gs => gs.map(g => [g.label, [...g.children].map(o => o.value)])"
    )
    names = [name for _, values in groups for name in values]
    assert {"telea", "neural-patch", "big-lama"} <= set(names)
    assert any(label.startswith("Optimisation") and "neural-patch" in values for label, values in groups)
    grey_photo(page)
    page.select_option("#model", "big-lama")
    assert "inpaintkit download big-lama" in page.text_content("#model-note")
    assert page.locator("#run").is_disabled()
    page.select_option("#model", "telea")
    assert page.locator("#run").is_enabled()


def test_a_mask_over_the_whole_photo_is_refused_with_a_reason(page):
    """Defect 7."""
    grey_photo(page, 32, 24)
    set_brush(page, 100)
    stroke(page, [(0, 0), (32, 24)], 32)
    page.click("#run")
    page.wait_for_selector("#status.error")
    assert "covers the whole photo" in page.text_content("#status")
    assert forms_to(page, "/api/inpaint") == []


def test_the_status_speaks_plainly_and_an_error_goes_once_the_user_paints(page):
    """Defects 8, 9 and 14: no jargon; an error clears on the next stroke; labels tell strategies apart."""
    grey_photo(page)
    page.click("#run")
    page.wait_for_selector("#status.error")
    stroke(page, [(10, 10), (40, 10)], 64)
    assert "error" not in page.get_attribute("#status", "class")
    run(page)
    status = page.text_content("#status")
    assert "(original)" not in status and "whole photo in one piece (small enough: no crops needed)" in status
    page.route("**/api/inpaint", lambda route: fake_answer(route, strategy="resize"))
    page.click("#show-source")
    run(page)
    labels = page.eval_on_selector_all("[data-testid=result-thumb] span", "spans => spans.map(s => s.textContent)")
    assert labels == ["telea · whole", "telea · downscaled"]


def test_several_results_show_sample_and_seed_scroll_into_view_and_bad_numbers_are_refused(page):
    """Defect 10, and the results picker (labels, keyboard arrows)."""
    images = [flat(64, 48, (20 * i, 0, 0)) for i in range(8)]
    body = {
        "images": [base64.b64encode(d).decode() for d in images],
        "seed": 7,
        "seconds": 1.5,
        "strategy": "original",
        "warnings": [],
    }
    page.route(
        "**/api/inpaint",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body)),
    )
    page.set_viewport_size({"width": 900, "height": 700})
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    page.evaluate("state.models.find((m) => m.name === 'telea').gives_several = true; describeModel()")
    for samples, seed, message in (
        ("50", "1", "Results must be a whole number from 1 to 8"),
        ("2", "012e", "seed must be a whole number"),
    ):
        page.fill("#samples", samples)
        page.fill("#seed", seed)
        page.click("#run")
        page.wait_for_selector("#status.error")
        assert message in page.text_content("#status")
    assert forms_to(page, "/api/inpaint") == []
    page.fill("#samples", "8")
    page.fill("#seed", "7")
    run(page)
    thumbs = page.locator("[data-testid=result-thumb]")
    assert thumbs.count() == 8
    assert thumbs.nth(0).text_content() == "telea · sample 1/8 · seed 7"
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    assert thumbs.nth(7).get_attribute("aria-pressed") == "true"
    strip, last = page.locator("#results").bounding_box(), thumbs.nth(7).bounding_box()
    assert strip["x"] - 1 <= last["x"] and last["x"] + last["width"] <= strip["x"] + strip["width"] + 1
    assert download(page) == images[7]
    page.keyboard.press("ArrowLeft")
    assert thumbs.nth(6).get_attribute("aria-pressed") == "true"


def test_extend_works_on_the_result_on_screen_and_refuses_huge_borders(page):
    """Defect 11: Extend continues the shown result, has steps, no mask button, and bounds the borders."""
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    run(page)
    result = download(page)
    page.click("#mode-extend")
    assert page.locator("#show-source").is_hidden()
    page.fill("#pad-right", "20000")
    assert "at most 4096" in page.text_content("#extend-size")
    assert page.locator("#run").is_disabled()
    assert page.eval_on_selector("#before-canvas", "c => c.width") == 64  # no giant preview
    page.fill("#pad-right", "16")
    page.fill("#extend-steps", "2")
    form = run(page)
    assert form["image"] == result and form["steps"] == b"2"
    assert rgb(download(page)).shape == (48, 80, 3)


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 600}], indirect=True)
def test_a_small_window_keeps_the_photo_large_and_the_controls_in_view(page):
    """Defect 12."""
    open_picture(page, ROCKET, "rocket.jpg", "image/jpeg")
    assert page.locator("#stage").bounding_box()["width"] >= 560
    stroke(page, [(446, 112), (446, 300)], 640)
    run(page)
    for selector in ("#run", "#compare", "#apply-result", "#download", "#status"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 600, selector
    if SHOOT:
        page.screenshot(path=str(IMAGES / "web-1024x600.png"))


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 760}], indirect=True)
def test_on_a_phone_the_controls_are_in_a_drawer(page):
    """Defect 12: phone width."""
    grey_photo(page, 640, 480)
    assert page.locator("#run").bounding_box()["x"] < 0  # off screen, in the closed drawer
    assert page.locator("#stage").bounding_box()["width"] >= 300
    page.click("#drawer-toggle")
    page.wait_for_timeout(350)  # the drawer slides in
    box = page.locator("#run").bounding_box()
    assert box["x"] >= 0 and box["y"] + box["height"] <= 760
    if SHOOT:
        page.screenshot(path=str(IMAGES / "web-phone.png"))
    page.keyboard.press("Escape")
    page.wait_for_timeout(350)
    assert page.locator("#run").bounding_box()["x"] < 0


def test_progress_and_cancel_stop_the_server_job(page):
    """Defect 13: progress with elapsed time and units; Cancel stops the job between crops."""
    SlowTelea.runs = 0
    picture = np.full((700, 1000, 3), 120, np.uint8)
    open_picture(page, png_bytes(picture), "big.png", "image/png")
    page.select_option("#model", "slow")
    set_brush(page, 20)
    for x in (100, 500, 900):  # three holes far apart: three crops
        stroke(page, [(x, 300), (x, 340)], 1000)
    page.click("#run")
    page.wait_for_selector("#progress:not([hidden])")
    wait_until(page, lambda: "1 of 3" in page.text_content("#progress-text"))
    assert "Running slow…" in page.text_content("#progress-text")
    page.click("#cancel")
    page.wait_for_selector("#progress", state="hidden")
    assert "Cancelled slow" in page.text_content("#status")
    assert SlowTelea.runs < 3
    assert page.locator("[data-testid=result-thumb]").count() == 0


# ------------------------------------------------------------------------------ issue 18: features
def test_zoom_pan_and_the_brush_at_any_zoom(page):
    grey_photo(page, 64, 48)
    fitted = page.locator("#stage").bounding_box()
    page.click("#zoom-actual")
    assert round(page.locator("#stage").bounding_box()["width"]) == 64 and page.text_content("#zoom-value") == "100 %"
    page.click("#zoom-fit")
    assert page.locator("#stage").bounding_box() == fitted
    page.mouse.move(fitted["x"] + 10, fitted["y"] + 10)
    page.mouse.wheel(0, -300)  # zoom in around the pointer
    zoomed = page.locator("#stage").bounding_box()
    assert zoomed["width"] > fitted["width"] * 1.3
    page.click("#zoom-out")
    assert page.locator("#stage").bounding_box()["width"] < zoomed["width"]
    page.click("#zoom-in")
    zoomed = page.locator("#stage").bounding_box()
    # space + drag moves the picture and paints nothing
    page.keyboard.down(" ")
    page.mouse.move(zoomed["x"] + 20, zoomed["y"] + 20)
    page.mouse.down()
    page.mouse.move(zoomed["x"] + 60, zoomed["y"] + 50, steps=4)
    page.mouse.up()
    page.keyboard.up(" ")
    moved = page.locator("#stage").bounding_box()
    assert (round(moved["x"] - zoomed["x"]), round(moved["y"] - zoomed["y"])) == (40, 30)
    assert page.evaluate("state.strokes.length") == 0
    # the middle button pans too
    page.mouse.move(moved["x"] + 30, moved["y"] + 30)
    page.mouse.down(button="middle")
    page.mouse.move(moved["x"] + 10, moved["y"] + 30, steps=3)
    page.mouse.up(button="middle")
    assert round(page.locator("#stage").bounding_box()["x"] - moved["x"]) == -20
    # painting at this zoom lands where it was painted, in image pixels
    set_brush(page, 6)
    stroke(page, [(20, 24), (44, 24)], 64)
    hole = rgb(run(page)["mask"])[..., 0] > 0
    check_sent_mask(hole, [((20, 24), (44, 24))], [], radius=3)


def test_a_two_finger_pinch_zooms_and_paints_nothing(page):
    """Two touch points moving apart zoom in around their centre (pointer events, as a touch screen sends)."""
    grey_photo(page, 64, 48)
    before = page.locator("#stage").bounding_box()
    x, y = before["x"] + before["width"] / 2, before["y"] + before["height"] / 2
    touches = """([x, y, spread, type]) => {
      const send = (id, dx) => document.getElementById("viewport").dispatchEvent(new PointerEvent(type, {
        pointerId: id, pointerType: "touch", isPrimary: id === 1, clientX: x + dx, clientY: y, button: 0,
        bubbles: true }));
      send(1, -spread); send(2, spread);
    }"""
    page.evaluate(touches, [x, y, 20, "pointerdown"])
    for spread in (30, 45, 60):
        page.evaluate(touches, [x, y, spread, "pointermove"])
    page.evaluate(touches, [x, y, 60, "pointerup"])
    after = page.locator("#stage").bounding_box()
    assert after["width"] == pytest.approx(before["width"] * 3, rel=0.05)  # the fingers' distance grew 3x
    assert after["x"] + after["width"] / 2 == pytest.approx(x, abs=2)  # around their centre
    assert page.evaluate("state.strokes.length") == 0


def test_grow_and_feather_are_sent(page):
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    page.fill("#dilate", "5")
    page.fill("#feather", "3")
    form = run(page)
    assert form["dilate"] == b"5" and form["feather"] == b"3"


def test_select_an_object_by_a_box_or_a_click(page):
    """The page proposes a mask from a box (GrabCut) or a click (region growing), then runs with it."""
    y, x = np.mgrid[0:96, 0:128]
    picture = np.dstack([90 + (x * 7 % 23), 110 + (y * 5 % 19), 100 + ((x + y) % 17)]).astype(np.uint8)
    disc = (x - 64) ** 2 + (y - 48) ** 2 <= 20**2
    picture[disc] = (220, 30, 40)
    open_picture(page, png_bytes(picture), "disc.png", "image/png")
    for tool, gesture in (("#tool-box", [(36, 20), (92, 76)]), ("#tool-click", [(64, 48)])):
        if page.locator("#clear-mask").is_enabled():
            page.click("#clear-mask")
        page.click(tool)
        stroke(page, gesture, 128)
        wait_until(page, lambda: "Selected" in page.text_content("#status"))
        assert page.evaluate("state.strokes.length") == 1
        if SHOOT and tool == "#tool-box":
            page.screenshot(path=str(IMAGES / "web-select.png"))
        hole = rgb(run(page)["mask"])[..., 0] > 0
        iou = (hole & disc).sum() / (hole | disc).sum()
        assert iou >= 0.8, (tool, iou)
        page.click("#show-source")
    page.click("#undo")  # a selection is one undoable step
    assert page.evaluate("state.strokes.length") == 0


def test_keyboard_run_and_the_shortcuts_overlay(page):
    grey_photo(page)
    stroke(page, [(10, 10), (40, 10)], 64)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#status.done")
    assert len(forms_to(page, "/api/inpaint")) == 1
    page.keyboard.press("?")
    assert page.locator("#help").is_visible() and "Ctrl+Enter" in page.text_content("#help")
    if SHOOT:
        page.screenshot(path=str(IMAGES / "web-shortcuts.png"))
    page.keyboard.press("Escape")
    assert page.locator("#help").is_hidden()
