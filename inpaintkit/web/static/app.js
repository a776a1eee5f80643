// inpaintkit web page: paint a mask, run a model through the server's API, compare, keep, download.
// Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file-input"), download: $("download"), modeRemove: $("mode-remove"), modeExtend: $("mode-extend"),
  brushPanel: $("brush-panel"), extendPanel: $("extend-panel"), brush: $("tool-brush"), eraser: $("tool-eraser"),
  size: $("brush-size"), sizeValue: $("brush-size-value"), undo: $("undo"), redo: $("redo"), clear: $("clear-mask"),
  pads: { left: $("pad-left"), right: $("pad-right"), top: $("pad-top"), bottom: $("pad-bottom") },
  extendSize: $("extend-size"), extendSteps: $("extend-steps"), model: $("model"), modelNote: $("model-note"),
  hd: $("hd-strategy"), hdField: $("hd-field"),
  dilate: $("dilate"), dilateField: $("dilate-field"), run: $("run"), status: $("status"),
  samplesField: $("samples-field"), samples: $("samples"), seed: $("seed"),
  resultPanel: $("result-panel"), compare: $("compare"), showSource: $("show-source"), apply: $("apply-result"),
  workspace: $("workspace"), empty: $("empty"), stage: $("stage"), before: $("before-canvas"),
  after: $("after-canvas"), mask: $("mask-canvas"), compareLine: $("compare-line"), cursor: $("cursor"),
  results: $("results"),
};
const maskCtx = ui.mask.getContext("2d");
const MASK_COLOUR = "#ff3b30";
const HD_LABELS = { crop: "Crop around each hole", resize: "Downscale", original: "Whole image" };

const state = {
  mode: "remove",   // "remove" (paint a mask) or "extend" (outpaint borders)
  tool: "brush",    // "brush" or "eraser"
  source: null,     // {blob, bitmap, name}: the picture being worked on
  strokes: [],      // the mask of the source, as strokes {erase, size, points: [[x, y], ...]}
  stroke: null,     // the stroke being drawn
  results: [],      // [{blob, bitmap, url, model, seconds, strategy, warnings, offset: [x, y]}]
  selected: -1,     // index into results
  viewResult: false,
  undo: [], redo: [],
  models: [], busy: false, scale: 1,
};

// ------------------------------------------------------------------------------ status and setup
function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = "status " + kind;
}

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function setup() {
  try {
    const [info, models] = await Promise.all([getJSON("/api/info"), getJSON("/api/models")]);
    state.info = info;
    state.models = models;
    for (const name of info.hd_strategies) ui.hd.add(new Option(HD_LABELS[name] || name, name));
    ui.hd.value = info.hd_strategies.includes("crop") ? "crop" : info.hd_strategies[0];
    for (const kind of ["learned", "classical"]) {
      const group = document.createElement("optgroup");
      group.label = kind === "learned" ? "Learned" : "Classical";
      for (const model of models.filter((m) => m.kind === kind)) {
        const option = new Option(model.name + (model.ready ? "" : " (not ready)"), model.name);
        option.disabled = !model.ready;
        option.title = model.description;
        group.append(option);
      }
      if (group.children.length) ui.model.append(group);
    }
    ui.model.value = info.default_model;
    describeModel();
  } catch (err) {
    setStatus(`Cannot reach the server: ${err.message}`, "error");
  }
  render();
}

function currentModel() {
  return state.models.find((m) => m.name === ui.model.value);
}

function describeModel() {
  const model = currentModel();
  ui.modelNote.textContent = model ? `${model.description} · ${model.licence}` : "";
  render();
}

// ------------------------------------------------------------------------------------ the picture
async function decode(blob) {
  return createImageBitmap(blob, { imageOrientation: "from-image" });
}

async function openFile(file) {
  if (!file) return;
  if (state.info && file.size > state.info.max_upload_bytes) {
    const mb = (n) => (n / 1048576).toFixed(1);
    setStatus(`${file.name} is ${mb(file.size)} MB; this server accepts up to ${mb(state.info.max_upload_bytes)} MB.`, "error");
    return;
  }
  let bitmap;
  try {
    bitmap = await decode(file);
  } catch (err) {
    setStatus(`Cannot read ${file.name || "the pasted file"} as a picture.`, "error");
    return;
  }
  state.undo = [];
  state.redo = [];
  setSource({ blob: file, bitmap, name: (file.name || "image").replace(/\.[^.]+$/, "") }, []);
  const longSide = Math.max(bitmap.width, bitmap.height);
  ui.size.max = Math.max(100, Math.round(longSide / 4));
  setBrushSize(Math.max(8, Math.round(longSide / 25)));
  setStatus(`${bitmap.width}×${bitmap.height}. ` + (state.mode === "remove"
    ? "Paint over what should disappear." : "Choose how far to extend each side."));
}

function setSource(source, results) {
  state.source = source;
  state.strokes = [];
  state.results = results;
  state.selected = results.length - 1;
  state.viewResult = false;
  ui.mask.width = source.bitmap.width;
  ui.mask.height = source.bitmap.height;
  render();
}

// ----------------------------------------------------------------------------- history (undo/redo)
// A snapshot is {source, strokes, results, selected}; results come back only with their source.
function snapshot() {
  return { source: state.source, strokes: state.strokes, results: state.results, selected: state.selected };
}

function commit() {
  state.undo.push(snapshot());
  state.redo = [];
}

function restore(snap) {
  if (snap.source !== state.source) {
    setSource(snap.source, snap.results);
    state.selected = snap.selected;
  }
  state.strokes = snap.strokes;
  redrawMask();
  render();
}

function undo() {
  if (!state.undo.length || state.busy) return;
  state.redo.push(snapshot());
  restore(state.undo.pop());
}

function redo() {
  if (!state.redo.length || state.busy) return;
  state.undo.push(snapshot());
  restore(state.redo.pop());
}

// ------------------------------------------------------------------------------------ mask painting
function drawStroke(ctx, stroke) {
  ctx.save();
  ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = MASK_COLOUR;
  ctx.lineWidth = stroke.size;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  const [x0, y0] = stroke.points[0];
  if (stroke.points.length === 1) {
    ctx.arc(x0, y0, stroke.size / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.moveTo(x0, y0);
    for (const [x, y] of stroke.points.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
  ctx.restore();
}

function redrawMask() {
  maskCtx.clearRect(0, 0, ui.mask.width, ui.mask.height);
  for (const stroke of state.strokes) drawStroke(maskCtx, stroke);
}

function pointInMask(event) {
  const box = ui.mask.getBoundingClientRect();
  return [(event.clientX - box.left) * ui.mask.width / box.width, (event.clientY - box.top) * ui.mask.height / box.height];
}

function startStroke(event) {
  if (!state.source || state.mode !== "remove" || state.busy || event.button !== 0) return;
  if (state.viewResult) {
    state.viewResult = false;
    render();
  }
  event.preventDefault();
  ui.stage.setPointerCapture(event.pointerId);
  commit();
  state.stroke = { erase: state.tool === "eraser", size: Number(ui.size.value), points: [pointInMask(event)] };
  drawStroke(maskCtx, state.stroke);
}

function moveStroke(event) {
  moveCursor(event);
  if (!state.stroke) return;
  const point = pointInMask(event);
  const last = state.stroke.points[state.stroke.points.length - 1];
  drawStroke(maskCtx, { ...state.stroke, points: [last, point] });
  state.stroke.points.push(point);
}

function endStroke() {
  if (!state.stroke) return;
  state.strokes = [...state.strokes, state.stroke];
  state.stroke = null;
  render();
}

function moveCursor(event) {
  const show = state.source && state.mode === "remove" && !state.viewResult;
  ui.cursor.hidden = !show;
  if (!show) return;
  const stage = ui.stage.getBoundingClientRect();
  const diameter = Number(ui.size.value) * state.scale;
  Object.assign(ui.cursor.style, { left: `${event.clientX - stage.left}px`, top: `${event.clientY - stage.top}px`,
                                   width: `${diameter}px`, height: `${diameter}px` });
}

function setBrushSize(size) {
  ui.size.value = size;
  ui.sizeValue.textContent = ui.size.value;
}

// The mask as the server reads it: opaque PNG, white = hole, black = keep (painted alpha >= 50 %).
async function maskBlob() {
  const { width, height } = ui.mask;
  const pixels = maskCtx.getImageData(0, 0, width, height);
  const data = pixels.data;
  let holes = 0;
  for (let i = 0; i < data.length; i += 4) {
    const hole = data[i + 3] >= 128 ? 255 : 0;
    holes += hole > 0;
    data[i] = data[i + 1] = data[i + 2] = hole;
    data[i + 3] = 255;
  }
  if (!holes) return null;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// ------------------------------------------------------------------------------------------ running
function pads() {
  const value = (input) => Math.max(0, Math.round(Number(input.value) || 0));
  return { left: value(ui.pads.left), right: value(ui.pads.right), top: value(ui.pads.top), bottom: value(ui.pads.bottom) };
}

async function run() {
  if (!state.source || state.busy) return;
  const model = ui.model.value;
  const form = new FormData();
  form.append("image", state.source.blob, state.source.blob.name || `${state.source.name}.png`);
  form.append("model", model);
  let url = "/api/inpaint";
  let offset = [0, 0];
  if (state.mode === "remove") {
    const mask = await maskBlob();
    if (!mask) return setStatus("Paint over what should disappear first.", "error");
    form.append("mask", mask, "mask.png");
    form.append("hd_strategy", ui.hd.value);
    form.append("dilate", String(Math.max(0, Math.round(Number(ui.dilate.value) || 0))));
    if (currentModel()?.gives_several) {
      form.append("samples", String(Math.min(8, Math.max(1, Math.round(Number(ui.samples.value) || 1)))));
      form.append("seed", String(Math.max(0, Math.round(Number(ui.seed.value) || 0))));
    }
  } else {
    const sides = pads();
    if (!Object.values(sides).some((n) => n > 0)) return setStatus("Give at least one side a number of pixels.", "error");
    for (const [side, n] of Object.entries(sides)) form.append(side, String(n));
    form.append("steps", String(Math.min(8, Math.max(1, Math.round(Number(ui.extendSteps.value) || 1)))));
    url = "/api/outpaint";
    offset = [sides.left, sides.top];
  }
  setBusy(true);
  setStatus(`Running ${model}…`);
  try {
    const response = await fetch(url, { method: "POST", body: form });
    if (!response.ok) {
      setStatus(await errorText(response), "error");
      return;
    }
    const items = await readResults(response);
    for (const item of items) {
      const bitmap = await decode(item.blob);
      state.results = [...state.results, { ...item, bitmap, model, offset, url: URL.createObjectURL(item.blob) }];
    }
    state.selected = state.results.length - items.length;
    state.viewResult = true;
    const first = items[0];
    const notes = first.warnings.length ? ` Note: ${first.warnings.join("; ")}.` : "";
    const several = items.length > 1 ? ` ${items.length} results: pick one below.` : "";
    setStatus(`${model}: done in ${first.seconds.toFixed(2)} s (${first.strategy}).${several}${notes}`, "done");
  } catch (err) {
    setStatus(`The request failed: ${err.message}`, "error");
  } finally {
    setBusy(false);
    render();
  }
}

// One result arrives as PNG bytes with X-Inpaint-* headers. A model that gives several results at
// once answers JSON {"images": [base64 PNG, ...], "seconds": s, "strategy": "...", "warnings": [...]}.
async function readResults(response) {
  if ((response.headers.get("content-type") || "").startsWith("application/json")) {
    const body = await response.json();
    const png = (b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: "image/png" });
    return body.images.map((b64) => ({ blob: png(b64), seconds: body.seconds || 0, strategy: body.strategy || "",
                                       warnings: body.warnings || [] }));
  }
  return [{
    blob: await response.blob(),
    seconds: Number(response.headers.get("x-inpaint-seconds") || 0),
    strategy: response.headers.get("x-inpaint-strategy") || "",
    warnings: JSON.parse(response.headers.get("x-inpaint-warnings") || "[]"),
  }];
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error || JSON.stringify(body);
  } catch (err) {
    return `The server answered HTTP ${response.status}.`;
  }
}

function setBusy(busy) {
  state.busy = busy;
  ui.run.classList.toggle("busy", busy);
  render();
}

function applyResult() {
  const result = state.results[state.selected];
  if (!result || state.busy) return;
  commit();
  setSource({ blob: result.blob, bitmap: result.bitmap, name: state.source.name }, []);
  for (const input of Object.values(ui.pads)) input.value = 0;
  render();
  setStatus("Working on the result: " + (state.mode === "remove" ? "paint the next area." : "extend it further."));
}

// ---------------------------------------------------------------------------------------- drawing
function checker(ctx, width, height) {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 16;
  const t = tile.getContext("2d");
  t.fillStyle = "#d8dbe0";
  t.fillRect(0, 0, 16, 16);
  t.fillStyle = "#eef0f3";
  t.fillRect(0, 0, 8, 8);
  t.fillRect(8, 8, 8, 8);
  ctx.fillStyle = ctx.createPattern(tile, "repeat");
  ctx.fillRect(0, 0, width, height);
}

function render() {
  const source = state.source;
  const result = state.selected >= 0 ? state.results[state.selected] : null;
  const showResult = Boolean(result && state.viewResult);
  ui.empty.hidden = Boolean(source);
  ui.stage.hidden = !source;
  ui.brushPanel.hidden = state.mode !== "remove";
  ui.dilateField.hidden = state.mode !== "remove";
  ui.hdField.hidden = state.mode !== "remove";  // outpainting runs the model on the whole canvas
  ui.samplesField.hidden = state.mode !== "remove" || !currentModel()?.gives_several;
  ui.extendPanel.hidden = state.mode !== "extend";
  ui.modeRemove.setAttribute("aria-pressed", state.mode === "remove");
  ui.modeExtend.setAttribute("aria-pressed", state.mode === "extend");
  ui.brush.setAttribute("aria-pressed", state.tool === "brush");
  ui.eraser.setAttribute("aria-pressed", state.tool === "eraser");
  ui.run.textContent = state.mode === "remove" ? "Remove" : "Extend";
  ui.run.disabled = !source || state.busy || !ui.model.value;
  ui.undo.disabled = !state.undo.length || state.busy;
  ui.redo.disabled = !state.redo.length || state.busy;
  ui.clear.disabled = !state.strokes.length || state.busy;
  ui.resultPanel.hidden = !result;
  ui.apply.disabled = !result || state.busy;
  ui.showSource.disabled = !showResult;
  if (result) {
    ui.download.href = result.url;
    ui.download.download = `${source.name}-${result.model}.png`;
  } else {
    ui.download.removeAttribute("href");
  }
  ui.download.setAttribute("aria-disabled", !result);
  renderResults();
  if (!source) return;

  let width = source.bitmap.width, height = source.bitmap.height, offset = [0, 0];
  const sides = pads();
  if (showResult) {
    [width, height, offset] = [result.bitmap.width, result.bitmap.height, result.offset];
  } else if (state.mode === "extend") {
    [width, height, offset] = [width + sides.left + sides.right, height + sides.top + sides.bottom, [sides.left, sides.top]];
  }
  ui.extendSize.textContent = `${source.bitmap.width}×${source.bitmap.height} → ` +
    `${source.bitmap.width + sides.left + sides.right}×${source.bitmap.height + sides.top + sides.bottom}`;
  ui.before.width = width;
  ui.before.height = height;
  const ctx = ui.before.getContext("2d");
  if (width !== source.bitmap.width || height !== source.bitmap.height) checker(ctx, width, height);
  ctx.drawImage(source.bitmap, offset[0], offset[1]);
  ui.after.hidden = !showResult;
  ui.compareLine.hidden = !showResult;
  ui.stage.classList.toggle("result", showResult || state.mode !== "remove");
  if (showResult) {
    ui.after.width = width;
    ui.after.height = height;
    ui.after.getContext("2d").drawImage(result.bitmap, 0, 0);
    updateCompare();
  }
  fitStage(width, height);
}

// Left of the line: before; right of it: after.
function updateCompare() {
  const split = Number(ui.compare.value);
  ui.after.style.clipPath = `inset(0 0 0 ${split}%)`;
  ui.compareLine.style.left = `${split}%`;
}

function fitStage(width, height) {
  const strip = ui.results.hidden ? 0 : ui.results.offsetHeight + 12;
  const availableWidth = ui.workspace.clientWidth - 32;
  const availableHeight = ui.workspace.clientHeight - 32 - strip;
  state.scale = Math.max(0.01, Math.min(availableWidth / width, availableHeight / height, 4));
  ui.stage.style.width = `${Math.round(width * state.scale)}px`;
  ui.stage.style.height = `${Math.round(height * state.scale)}px`;
}

function renderResults() {
  ui.results.hidden = state.results.length === 0;
  ui.results.replaceChildren(...state.results.map((result, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "result-thumb";
    button.setAttribute("aria-pressed", index === state.selected);
    button.title = "Show this result";
    const image = new Image();
    image.src = result.url;
    image.alt = `result ${index + 1}`;
    const caption = document.createElement("span");
    caption.textContent = `${index + 1}. ${result.model}`;
    button.append(image, caption);
    button.addEventListener("click", () => {
      state.selected = index;
      state.viewResult = true;
      render();
    });
    return button;
  }));
}

// ----------------------------------------------------------------------------------------- events
function setMode(mode) {
  state.mode = mode;
  state.viewResult = false;
  render();
}

ui.file.addEventListener("change", () => {
  openFile(ui.file.files[0]);
  ui.file.value = "";
});
ui.workspace.addEventListener("dragover", (event) => {
  event.preventDefault();
  ui.workspace.classList.add("dragging");
});
ui.workspace.addEventListener("dragleave", () => ui.workspace.classList.remove("dragging"));
ui.workspace.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.workspace.classList.remove("dragging");
  openFile(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
  if (file) openFile(file);
});

ui.stage.addEventListener("pointerdown", startStroke);
ui.stage.addEventListener("pointermove", moveStroke);
ui.stage.addEventListener("pointerup", endStroke);
ui.stage.addEventListener("pointercancel", endStroke);
ui.stage.addEventListener("pointerleave", () => { ui.cursor.hidden = true; });

ui.modeRemove.addEventListener("click", () => setMode("remove"));
ui.modeExtend.addEventListener("click", () => setMode("extend"));
ui.brush.addEventListener("click", () => { state.tool = "brush"; render(); });
ui.eraser.addEventListener("click", () => { state.tool = "eraser"; render(); });
ui.size.addEventListener("input", () => setBrushSize(ui.size.value));
ui.undo.addEventListener("click", undo);
ui.redo.addEventListener("click", redo);
ui.clear.addEventListener("click", () => {
  commit();
  state.strokes = [];
  redrawMask();
  render();
});
for (const input of Object.values(ui.pads)) input.addEventListener("input", () => { state.viewResult = false; render(); });
ui.model.addEventListener("change", describeModel);
ui.run.addEventListener("click", run);
ui.compare.addEventListener("input", updateCompare);
ui.showSource.addEventListener("click", () => { state.viewResult = false; render(); });
ui.apply.addEventListener("click", applyResult);
window.addEventListener("resize", render);
document.addEventListener("keydown", (event) => {
  if (event.target.matches("input[type=number], select")) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === "z") {
    event.preventDefault();
    (event.shiftKey ? redo : undo)();
  } else if ((event.ctrlKey || event.metaKey) && key === "y") {
    event.preventDefault();
    redo();
  } else if (key === "b" || key === "e") {
    state.tool = key === "b" ? "brush" : "eraser";
    render();
  } else if (key === "[" || key === "]") {
    setBrushSize(Number(ui.size.value) + (key === "]" ? 1 : -1) * Math.max(1, Math.round(ui.size.value / 10)));
  }
});

setup();
