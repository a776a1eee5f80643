// inpaintkit web page: paint or select a mask, run a model through the server's API, watch its
// progress, compare, pick, keep, download. Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file-input"), download: $("download"), modeRemove: $("mode-remove"), modeExtend: $("mode-extend"),
  drawerToggle: $("drawer-toggle"), panel: $("panel"), helpButton: $("help-button"), help: $("help"),
  helpClose: $("help-close"),
  brushPanel: $("brush-panel"), extendPanel: $("extend-panel"),
  tools: { brush: $("tool-brush"), eraser: $("tool-eraser"), box: $("tool-box"), click: $("tool-click") },
  size: $("brush-size"), sizeValue: $("brush-size-value"), undo: $("undo"), redo: $("redo"), clear: $("clear-mask"),
  dilate: $("dilate"), feather: $("feather"),
  pads: { left: $("pad-left"), right: $("pad-right"), top: $("pad-top"), bottom: $("pad-bottom") },
  extendSize: $("extend-size"), extendSteps: $("extend-steps"), model: $("model"), modelNote: $("model-note"),
  hd: $("hd-strategy"), hdField: $("hd-field"), run: $("run"), status: $("status"),
  samplesField: $("samples-field"), samples: $("samples"), seed: $("seed"),
  viewbar: $("viewbar"), zoomIn: $("zoom-in"), zoomOut: $("zoom-out"), zoomFit: $("zoom-fit"),
  zoomActual: $("zoom-actual"), zoomValue: $("zoom-value"),
  resultTools: $("result-tools"), compare: $("compare"), showSource: $("show-source"), apply: $("apply-result"),
  workspace: $("workspace"), viewport: $("viewport"), empty: $("empty"), stage: $("stage"),
  before: $("before-canvas"), after: $("after-canvas"), mask: $("mask-canvas"), compareLine: $("compare-line"),
  selectionBox: $("selection-box"), cursor: $("cursor"), progress: $("progress"),
  progressText: $("progress-text"), cancel: $("cancel"), results: $("results"),
};
const maskCtx = ui.mask.getContext("2d");
const MASK_COLOUR = "#ff3b30";
const HD_LABELS = { crop: "Crop around each hole", resize: "Downscale", original: "Whole image" };
const KIND_LABELS = { learned: "Learned", optimisation: "Optimisation (slow)", classical: "Classical" };
// What each strategy did, in words (the server names the one that ran).
const STRATEGY_WORDS = { original: "the whole photo in one piece", crop: "in crops around each hole",
                         resize: "on a downscaled copy" };
const STRATEGY_SHORT = { original: "whole", crop: "crops", resize: "downscaled" };
const MAX_SAMPLES = 8;
const MAX_SEED = 2147483647;
const MAX_BORDER = 4096;  // the server's largest border on one side
const ZOOM_STEP = 1.25;

const state = {
  mode: "remove",   // "remove" (paint a mask) or "extend" (outpaint borders)
  tool: "brush",    // "brush", "eraser", "box" (select by a box) or "click" (select by a click)
  source: null,     // {blob, bitmap, name}: the picture being worked on
  strokes: [],      // the mask of the source: strokes {erase, size, points} and selections {layer}
  stroke: null,     // the stroke being drawn
  results: [],      // [{blob, bitmap, url, model, name, seconds, strategy, asked, warnings, offset, sample, seed}]
  selected: -1,     // index into results
  viewResult: false,
  undo: [], redo: [],
  models: [], info: null, busy: false,
  job: null,        // the run in flight: {id, model, started, timer}
  view: { fit: 1, zoom: 1, x: 0, y: 0, width: 0, height: 0 },  // scale = fit * zoom; x, y in viewport px
  drag: null,       // what the pointer is doing: {kind: "pan" | "compare" | "box", ...}
  pointers: new Map(), pinch: null, spaceHeld: false, showOriginal: false,
};

// ------------------------------------------------------------------------------ status and setup
function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = "status " + kind;
}

function clearError() {
  if (ui.status.classList.contains("error")) setStatus(hint());
}

function hint() {
  if (!state.source) return "Open or drop a photo to start.";
  return state.mode === "remove" ? "Paint over what should disappear, or select it with Box or Click."
    : "Choose how far to extend each side.";
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
    const kinds = [...Object.keys(KIND_LABELS), ...models.map((m) => m.kind).filter((k) => !(k in KIND_LABELS))];
    for (const kind of new Set(kinds)) {
      const group = document.createElement("optgroup");
      group.label = KIND_LABELS[kind] || kind;
      for (const model of models.filter((m) => m.kind === kind)) {
        const option = new Option(model.name + (model.ready ? "" : " (not ready)"), model.name);
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
  if (!model) {
    ui.modelNote.textContent = "";
  } else if (!model.ready) {
    const how = model.enable ? `run \`${model.enable}\` on the server` : "its weights are not on the server";
    ui.modelNote.textContent = `Not ready: ${how}, then reload this page.`;
    ui.modelNote.classList.add("warn");
  } else {
    ui.modelNote.textContent = `${model.description} · ${model.licence}`;
    ui.modelNote.classList.remove("warn");
  }
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
  fitView();
  setStatus(`${bitmap.width}×${bitmap.height}. ` + hint());
}

function setSource(source, results) {
  state.source = source;
  state.strokes = [];
  state.results = results;
  state.selected = results.length - 1;
  state.viewResult = false;
  ui.mask.width = source.bitmap.width;
  ui.mask.height = source.bitmap.height;
  redrawMask();
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
  if (stroke.layer) {  // a selection: its own red picture of the mask
    ctx.drawImage(stroke.layer, 0, 0);
    ctx.restore();
    return;
  }
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

function pointInImage(event) {
  const box = ui.mask.getBoundingClientRect();
  return [(event.clientX - box.left) * ui.mask.width / box.width, (event.clientY - box.top) * ui.mask.height / box.height];
}

function showingResult() {
  return Boolean(state.viewResult && state.results[state.selected]);
}

function onPointerDown(event) {
  if (document.body.classList.contains("drawer-open")) {  // a tap beside the open drawer closes it
    toggleDrawer(false);
    return;
  }
  if (!state.source || event.target.closest("button, .progress")) return;
  state.pointers.set(event.pointerId, [event.clientX, event.clientY]);
  if (event.isTrusted) ui.viewport.setPointerCapture(event.pointerId);
  if (state.pointers.size === 2) {  // two fingers: pinch to zoom and move, no painting
    cancelStroke();
    const [a, b] = [...state.pointers.values()];
    state.pinch = { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), centre: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
    state.drag = null;
    return;
  }
  if (event.button === 1 || (event.button === 0 && state.spaceHeld)) {
    event.preventDefault();
    state.drag = { kind: "pan", from: [event.clientX, event.clientY], origin: [state.view.x, state.view.y] };
    return;
  }
  if (event.button !== 0) return;
  if (showingResult()) {  // on a result the pointer moves the before/after line; it never paints
    event.preventDefault();
    state.drag = { kind: "compare" };
    compareAt(event);
    return;
  }
  if (state.mode !== "remove" || state.busy) return;
  event.preventDefault();
  clearError();
  if (state.tool === "box" || state.tool === "click") {
    state.drag = { kind: state.tool, start: pointInImage(event), end: pointInImage(event) };
    updateSelectionBox();
    return;
  }
  commit();
  state.stroke = { erase: state.tool === "eraser", size: Number(ui.size.value), points: [pointInImage(event)] };
  drawStroke(maskCtx, state.stroke);
}

function onPointerMove(event) {
  moveCursor(event);
  if (state.pointers.has(event.pointerId)) state.pointers.set(event.pointerId, [event.clientX, event.clientY]);
  if (state.pinch && state.pointers.size === 2) {
    const [a, b] = [...state.pointers.values()];
    const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
    const centre = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    state.view.x += centre[0] - state.pinch.centre[0];
    state.view.y += centre[1] - state.pinch.centre[1];
    zoomAt(state.view.zoom * distance / state.pinch.distance, centre);
    state.pinch = { distance, centre };
    return;
  }
  const drag = state.drag;
  if (drag?.kind === "pan") {
    state.view.x = drag.origin[0] + event.clientX - drag.from[0];
    state.view.y = drag.origin[1] + event.clientY - drag.from[1];
    placeStage();
  } else if (drag?.kind === "compare") {
    compareAt(event);
  } else if (drag?.kind === "box" || drag?.kind === "click") {
    drag.end = pointInImage(event);
    updateSelectionBox();
  } else if (state.stroke) {
    const point = pointInImage(event);
    const last = state.stroke.points[state.stroke.points.length - 1];
    drawStroke(maskCtx, { ...state.stroke, points: [last, point] });
    state.stroke.points.push(point);
  }
}

function onPointerUp(event) {
  state.pointers.delete(event.pointerId);
  if (state.pointers.size < 2) state.pinch = null;
  const drag = state.drag;
  state.drag = null;
  if (drag?.kind === "box" || drag?.kind === "click") {
    ui.selectionBox.hidden = true;
    select(drag);
  }
  if (state.stroke) {
    state.strokes = [...state.strokes, state.stroke];
    state.stroke = null;
    render();
  }
}

function cancelStroke() {
  if (!state.stroke) return;
  state.stroke = null;
  state.undo.pop();
  redrawMask();
}

function moveCursor(event) {
  const painting = state.tool === "brush" || state.tool === "eraser";
  const show = state.source && state.mode === "remove" && !showingResult() && painting && !state.spaceHeld;
  ui.cursor.hidden = !show;
  if (!show) return;
  const box = ui.viewport.getBoundingClientRect();
  const diameter = Number(ui.size.value) * scale();
  Object.assign(ui.cursor.style, { left: `${event.clientX - box.left}px`, top: `${event.clientY - box.top}px`,
                                   width: `${diameter}px`, height: `${diameter}px` });
}

function setBrushSize(size) {
  ui.size.value = size;
  ui.sizeValue.textContent = ui.size.value;
}

function setTool(tool) {
  state.tool = tool;
  clearError();
  render();
}

// ------------------------------------------------------------------------- selecting an object
function updateSelectionBox() {
  const drag = state.drag;
  if (drag?.kind !== "box") {
    ui.selectionBox.hidden = true;
    return;
  }
  const s = scale();
  const [x0, x1] = [Math.min(drag.start[0], drag.end[0]), Math.max(drag.start[0], drag.end[0])];
  const [y0, y1] = [Math.min(drag.start[1], drag.end[1]), Math.max(drag.start[1], drag.end[1])];
  Object.assign(ui.selectionBox.style, { left: `${x0 * s}px`, top: `${y0 * s}px`,
                                         width: `${(x1 - x0) * s}px`, height: `${(y1 - y0) * s}px` });
  ui.selectionBox.hidden = false;
}

// Ask the server for the mask of the object inside the box (GrabCut) or under the click (region
// growing), and add it to the mask as one undoable step.
async function select(drag) {
  const clip = (v, n) => Math.min(n - 1, Math.max(0, Math.round(v)));
  const { width, height } = ui.mask;
  const form = new FormData();
  form.append("image", state.source.blob, state.source.blob.name || `${state.source.name}.png`);
  const [xa, ya] = drag.start;
  const [xb, yb] = drag.end;
  const isBox = drag.kind === "box" && Math.abs(xb - xa) >= 4 && Math.abs(yb - ya) >= 4;
  if (isBox) {
    form.append("mode", "box");
    for (const [key, v, n] of [["x0", Math.min(xa, xb), width], ["y0", Math.min(ya, yb), height],
                               ["x1", Math.max(xa, xb), width], ["y1", Math.max(ya, yb), height]]) {
      form.append(key, String(clip(v, n)));
    }
  } else if (drag.kind === "click") {
    form.append("mode", "point");
    form.append("x", String(clip(xb, width)));
    form.append("y", String(clip(yb, height)));
  } else {
    return setStatus("Drag a box around the object to select it.", "error");
  }
  const source = state.source;
  setStatus("Selecting…");
  try {
    const response = await fetch("/api/select", { method: "POST", body: form });
    if (!response.ok) return setStatus(await errorText(response), "error");
    const bitmap = await decode(await response.blob());
    if (state.source !== source) return;
    const layer = document.createElement("canvas");
    layer.width = width;
    layer.height = height;
    const ctx = layer.getContext("2d");
    ctx.drawImage(bitmap, 0, 0, width, height);
    const pixels = ctx.getImageData(0, 0, width, height);
    let count = 0;
    for (let i = 0; i < pixels.data.length; i += 4) {
      const on = pixels.data[i] >= 128;
      count += on;
      pixels.data.set(on ? [255, 59, 48, 255] : [0, 0, 0, 0], i);
    }
    if (!count) return setStatus("Nothing was selected there; try a larger box or the brush.", "error");
    ctx.putImageData(pixels, 0, 0);
    commit();
    state.strokes = [...state.strokes, { erase: false, layer }];
    redrawMask();
    render();
    setStatus(`Selected ${count.toLocaleString("en")} pixels: refine with the brush or eraser, then press Remove.`);
  } catch (err) {
    setStatus(`The selection failed: ${err.message}`, "error");
  }
}

// The mask as the server reads it: opaque PNG, white = hole, black = keep (painted alpha >= 50 %);
// null when nothing is painted, "all" when everything is.
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
  if (holes === width * height) return "all";
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// ------------------------------------------------------------------------------------------ running
function wholeNumber(input, low, high) {
  const text = String(input.value).trim();
  if (!/^\d+$/.test(text)) return null;
  const value = Number(text);
  return value >= low && value <= high ? value : null;
}

function pads() {
  const value = (input) => Math.max(0, Math.round(Number(input.value) || 0));
  return { left: value(ui.pads.left), right: value(ui.pads.right), top: value(ui.pads.top), bottom: value(ui.pads.bottom) };
}

// Why the chosen borders cannot run, or "".
function padsProblem() {
  if (!state.source) return "";
  const sides = pads();
  const maxBorder = state.info?.max_border || MAX_BORDER;
  const big = Object.entries(sides).find(([, n]) => n > maxBorder);
  if (big) return `${big[0]} is ${big[1]} px; at most ${maxBorder} px per side.`;
  const width = state.source.bitmap.width + sides.left + sides.right;
  const height = state.source.bitmap.height + sides.top + sides.bottom;
  const limit = state.info?.max_pixels;
  if (limit && width * height > limit) {
    return `The extended picture would be ${width}×${height}, more than this server's ${limit.toLocaleString("en")} pixels.`;
  }
  return "";
}

async function newJobId() {  // a token from the server: only this page can follow or cancel its job
  try {
    const response = await fetch("/api/jobs", { method: "POST" });
    return response.ok ? (await response.json()).job : null;
  } catch {
    return null;  // the run still goes ahead, without progress or Cancel
  }
}

async function run() {
  if (!state.source || state.busy) return;
  const model = currentModel();
  if (!model) return;
  setBusy(true);  // before anything is awaited: a second click does nothing
  try {
    await submit(model);
  } finally {
    stopProgress();
    setBusy(false);
    render();
  }
}

async function submit(model) {
  if (!model.ready) return setStatus(ui.modelNote.textContent, "error");
  if (state.mode === "extend" && showingResult()) keepResult();  // extend what is on screen
  const source = state.source;
  const form = new FormData();
  form.append("image", source.blob, source.blob.name || `${source.name}.png`);
  form.append("model", model.name);
  let url = "/api/inpaint";
  let offset = [0, 0];
  let seed = null;
  if (state.mode === "remove") {
    let samples = 1;
    if (model.gives_several) {
      samples = wholeNumber(ui.samples, 1, MAX_SAMPLES);
      seed = wholeNumber(ui.seed, 0, MAX_SEED);
      if (samples === null) return setStatus(`Results must be a whole number from 1 to ${MAX_SAMPLES}.`, "error");
      if (seed === null) return setStatus(`The seed must be a whole number from 0 to ${MAX_SEED}.`, "error");
    }
    const dilate = wholeNumber(ui.dilate, 0, 256);
    const feather = wholeNumber(ui.feather, 0, 64);
    if (dilate === null) return setStatus("Grow must be a whole number of pixels from 0 to 256.", "error");
    if (feather === null) return setStatus("Feather must be a whole number of pixels from 0 to 64.", "error");
    const mask = await maskBlob();
    if (!mask) return setStatus("Paint over what should disappear first.", "error");
    if (mask === "all") {
      return setStatus("The mask covers the whole photo: leave part of it unpainted, the fill is made from what is left.", "error");
    }
    form.append("mask", mask, "mask.png");
    form.append("hd_strategy", ui.hd.value);
    form.append("dilate", String(dilate));
    form.append("feather", String(feather));
    if (model.gives_several) {
      form.append("samples", String(samples));
      form.append("seed", String(seed));
    }
  } else {
    const problem = padsProblem();
    if (problem) return setStatus(problem, "error");
    const sides = pads();
    if (!Object.values(sides).some((n) => n > 0)) return setStatus("Give at least one side a number of pixels.", "error");
    const steps = wholeNumber(ui.extendSteps, 1, 8);
    if (steps === null) return setStatus("Steps must be a whole number from 1 to 8.", "error");
    for (const [side, n] of Object.entries(sides)) form.append(side, String(n));
    form.append("steps", String(steps));
    url = "/api/outpaint";
    offset = [sides.left, sides.top];
  }
  const job = { id: await newJobId(), model: model.name, started: performance.now(), cancelled: false };
  if (job.id) form.append("job", job.id);
  setStatus(`Running ${model.name}…`);
  startProgress(job);
  try {
    const response = await fetch(url, { method: "POST", body: form });
    if (job.cancelled) return setStatus(`Cancelled ${model.name}.`);
    if (!response.ok) return setStatus(await errorText(response), "error");
    const items = await readResults(response);
    if (state.source !== source) {  // another photo was opened meanwhile: this answer is not for it
      return setStatus(`The ${model.name} result for ${source.name} arrived after another photo was opened; it was left out.`);
    }
    const asked = state.mode === "remove" ? ui.hd.value : "original";
    const added = [];
    for (const [index, item] of items.entries()) {
      const bitmap = await decode(item.blob);
      added.push({ ...item, bitmap, model: model.name, name: source.name, offset, asked,
                   sample: items.length > 1 ? index + 1 : 0, samples: items.length,
                   seed: item.seed ?? seed, url: URL.createObjectURL(item.blob) });
    }
    if (state.source !== source) return;
    state.results = [...state.results, ...added];
    state.selected = state.results.length - added.length;
    state.viewResult = true;
    setStatus(doneText(added[0], items.length), "done");
    render();
    scrollToSelected();
  } catch (err) {
    setStatus(`The request failed: ${err.message}`, "error");
  }
}

function doneText(result, count) {
  const how = STRATEGY_WORDS[result.strategy] || result.strategy;
  const why = result.asked === "crop" && result.strategy === "original" ? " (small enough: no crops needed)" : "";
  const several = count > 1 ? ` ${count} results: pick one below (← →).` : "";
  const notes = result.warnings.length ? ` Note: ${result.warnings.join("; ")}.` : "";
  const what = state.mode === "remove" ? "filled" : "extended";
  return `${result.model}: ${what} in ${result.seconds.toFixed(2)} s, ${how}${why}.${several}${notes}`;
}

// One result arrives as PNG bytes with X-Inpaint-* headers. A model that gives several results at
// once answers JSON {"images": [base64 PNG, ...], "seed": s, "seconds": s, "strategy": "...", "warnings": [...]}.
async function readResults(response) {
  if ((response.headers.get("content-type") || "").startsWith("application/json")) {
    const body = await response.json();
    const png = (b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: "image/png" });
    return body.images.map((b64) => ({ blob: png(b64), seconds: body.seconds || 0, strategy: body.strategy || "",
                                       warnings: body.warnings || [], seed: body.seed ?? null }));
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

// ------------------------------------------------------------------------------ progress and cancel
function startProgress(job) {
  state.job = job;
  ui.progress.hidden = false;
  showProgress(null);
  job.timer = setInterval(() => pollProgress(job), 400);
}

function stopProgress() {
  if (state.job) clearInterval(state.job.timer);
  state.job = null;
  ui.progress.hidden = true;
}

async function pollProgress(job) {
  let report = null;
  if (!job.id) return showProgress(null);  // no token: time only
  try {
    const response = await fetch(`/api/jobs/${job.id}`);
    if (response.ok) report = await response.json();
  } catch (err) {
    report = null;  // the answer will tell; keep counting
  }
  if (state.job === job) showProgress(report);
}

function showProgress(report) {
  const job = state.job;
  if (!job) return;
  const seconds = ((performance.now() - job.started) / 1000).toFixed(1);
  let detail = "";
  if (report?.state === "queued" && report.position > 0) {
    detail = ` · waiting: ${report.position} ahead`;
  } else if (report?.total > 0) {
    detail = ` · ${report.done} of ${report.total}`;
  }
  ui.progressText.textContent = job.cancelled ? `Cancelling ${job.model}…` : `Running ${job.model}… ${seconds} s${detail}`;
}

async function cancelRun() {
  const job = state.job;
  if (!job || job.cancelled || !job.id) return;
  job.cancelled = true;
  showProgress(null);
  try {
    await fetch(`/api/jobs/${job.id}/cancel`, { method: "POST" });
  } catch (err) {
    // the run's own answer reports what happened
  }
}

// ---------------------------------------------------------------------------------------- results
function keepResult() {
  const result = state.results[state.selected];
  commit();
  setSource({ blob: result.blob, bitmap: result.bitmap, name: state.source.name }, []);
  for (const input of Object.values(ui.pads)) input.value = 0;
  fitView();
}

function applyResult() {
  if (!state.results[state.selected] || state.busy) return;
  keepResult();
  render();
  setStatus("Working on the result: " + (state.mode === "remove" ? "paint the next area." : "extend it further."));
}

function selectResult(index) {
  if (index < 0 || index >= state.results.length) return;
  state.selected = index;
  state.viewResult = true;
  render();
  scrollToSelected();
}

function scrollToSelected() {
  const thumb = ui.results.children[state.selected];
  if (thumb) thumb.scrollIntoView({ block: "nearest", inline: "nearest" });
}

function resultLabel(result) {
  const strategy = STRATEGY_SHORT[result.strategy] || result.strategy;
  if (result.samples > 1) {
    const seed = result.seed === null || result.seed === undefined ? "" : ` · seed ${result.seed}`;
    return `${result.model} · sample ${result.sample}/${result.samples}${seed}`;
  }
  return `${result.model} · ${strategy}`;
}

function renderResults() {
  ui.results.hidden = state.results.length === 0;
  ui.results.replaceChildren(...state.results.map((result, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "result-thumb";
    button.setAttribute("aria-pressed", index === state.selected);
    const label = resultLabel(result);
    button.title = `Show this result: ${label} (${result.seconds.toFixed(2)} s)`;
    const image = new Image();
    image.src = result.url;
    image.alt = label;
    const caption = document.createElement("span");
    caption.textContent = label;
    button.append(image, caption);
    button.addEventListener("click", () => selectResult(index));
    return button;
  }));
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
  const showResult = showingResult();
  const model = currentModel();
  const problem = state.mode === "extend" ? padsProblem() : "";
  ui.empty.hidden = Boolean(source);
  ui.stage.hidden = !source;
  ui.viewbar.hidden = !source;
  ui.brushPanel.hidden = state.mode !== "remove";
  ui.hdField.hidden = state.mode !== "remove";  // outpainting runs the model on the whole canvas
  ui.samplesField.hidden = state.mode !== "remove" || !model?.gives_several;
  ui.extendPanel.hidden = state.mode !== "extend";
  ui.modeRemove.setAttribute("aria-pressed", state.mode === "remove");
  ui.modeExtend.setAttribute("aria-pressed", state.mode === "extend");
  for (const [tool, button] of Object.entries(ui.tools)) button.setAttribute("aria-pressed", state.tool === tool);
  ui.viewport.dataset.tool = state.tool;
  ui.run.textContent = state.mode === "remove" ? "Remove" : "Extend";
  ui.run.disabled = !source || state.busy || !model || !model.ready || Boolean(problem);
  ui.undo.disabled = !state.undo.length || state.busy;
  ui.redo.disabled = !state.redo.length || state.busy;
  ui.clear.disabled = !state.strokes.length || state.busy;
  ui.resultTools.hidden = !result;
  ui.apply.disabled = !result || state.busy;
  ui.showSource.hidden = state.mode !== "remove";
  ui.showSource.disabled = !showResult;
  if (result) {
    ui.download.href = result.url;
    const sample = result.samples > 1 ? `-sample${result.sample}` : "";
    ui.download.download = `${result.name}-${result.model}${sample}.png`;
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
  } else if (state.mode === "extend" && !problem) {
    [width, height, offset] = [width + sides.left + sides.right, height + sides.top + sides.bottom, [sides.left, sides.top]];
  }
  ui.extendSize.textContent = problem || `${source.bitmap.width}×${source.bitmap.height} → ` +
    `${source.bitmap.width + sides.left + sides.right}×${source.bitmap.height + sides.top + sides.bottom}`;
  ui.extendSize.classList.toggle("warn", Boolean(problem));
  ui.before.width = width;
  ui.before.height = height;
  const ctx = ui.before.getContext("2d");
  if (width !== source.bitmap.width || height !== source.bitmap.height) checker(ctx, width, height);
  ctx.drawImage(source.bitmap, offset[0], offset[1]);
  ui.after.hidden = !showResult || state.showOriginal;
  ui.compareLine.hidden = !showResult || state.showOriginal;
  ui.stage.classList.toggle("result", showResult || state.mode !== "remove");
  if (showResult) {
    ui.after.width = width;
    ui.after.height = height;
    ui.after.getContext("2d").drawImage(result.bitmap, 0, 0);
    updateCompare();
  }
  setStageSize(width, height);
}

// Left of the line: after; right of it: before. At the slider's "After" end all of the result shows.
function updateCompare() {
  const split = Number(ui.compare.value);
  ui.after.style.clipPath = `inset(0 ${100 - split}% 0 0)`;
  ui.compareLine.style.left = `${split}%`;
}

function compareAt(event) {
  const box = ui.stage.getBoundingClientRect();
  ui.compare.value = String(Math.round(Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * 100));
  updateCompare();
}

// ------------------------------------------------------------------------------------ zoom and pan
function scale() {
  return state.view.fit * state.view.zoom;
}

function setStageSize(width, height) {
  const view = state.view;
  if (width !== view.width || height !== view.height) {
    [view.width, view.height] = [width, height];
    fitView();
    return;
  }
  placeStage();
}

function fitView() {
  const view = state.view;
  if (!view.width) return;
  const availableWidth = Math.max(40, ui.viewport.clientWidth - 24);
  const availableHeight = Math.max(40, ui.viewport.clientHeight - 24);
  view.fit = Math.max(0.01, Math.min(availableWidth / view.width, availableHeight / view.height, 4));
  view.zoom = 1;
  centre();
}

function centre() {
  const view = state.view;
  view.x = (ui.viewport.clientWidth - view.width * scale()) / 2;
  view.y = (ui.viewport.clientHeight - view.height * scale()) / 2;
  placeStage();
}

function placeStage() {
  const view = state.view;
  const s = scale();
  Object.assign(ui.stage.style, { width: `${Math.round(view.width * s)}px`, height: `${Math.round(view.height * s)}px`,
                                  left: `${Math.round(view.x)}px`, top: `${Math.round(view.y)}px` });
  ui.zoomValue.textContent = `${Math.round(s * 100)} %`;
  updateSelectionBox();
}

// Zoom to ``zoom`` (times the fitted scale) keeping the picture point under ``at`` (client px) in place.
function zoomAt(zoom, at) {
  const view = state.view;
  const box = ui.viewport.getBoundingClientRect();
  const [px, py] = at || [box.left + box.width / 2, box.top + box.height / 2];
  const old = scale();
  view.zoom = Math.min(32 / view.fit, Math.max(0.1, zoom));
  const ratio = scale() / old;
  view.x = px - box.left - (px - box.left - view.x) * ratio;
  view.y = py - box.top - (py - box.top - view.y) * ratio;
  placeStage();
}

function actualPixels() {
  zoomAt(1 / state.view.fit);
}

// ----------------------------------------------------------------------------------------- events
function setMode(mode) {
  if (mode === state.mode) return;
  const extendResult = mode === "extend" && showingResult() && !state.busy;
  state.mode = mode;
  if (extendResult) {  // Extend works on what is on screen: the result becomes the input (undo goes back)
    keepResult();
    setStatus("Extending the result: choose how far to extend each side (Undo goes back to the photo).");
  }
  state.viewResult = false;
  clearError();
  render();
}

function toggleHelp(show = ui.help.hidden) {
  ui.help.hidden = !show;
  if (show) ui.helpClose.focus();
}

function toggleDrawer(show = !document.body.classList.contains("drawer-open")) {
  document.body.classList.toggle("drawer-open", show);
  ui.drawerToggle.setAttribute("aria-expanded", show);
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

ui.viewport.addEventListener("pointerdown", onPointerDown);
ui.viewport.addEventListener("pointermove", onPointerMove);
ui.viewport.addEventListener("pointerup", onPointerUp);
ui.viewport.addEventListener("pointercancel", onPointerUp);
ui.viewport.addEventListener("pointerleave", () => { ui.cursor.hidden = true; });
ui.viewport.addEventListener("mousedown", (event) => { if (event.button === 1) event.preventDefault(); });  // no autoscroll
ui.viewport.addEventListener("wheel", (event) => {
  if (!state.source) return;
  event.preventDefault();
  zoomAt(state.view.zoom * Math.exp(-event.deltaY * (event.ctrlKey ? 0.01 : 0.002)), [event.clientX, event.clientY]);
}, { passive: false });
ui.zoomIn.addEventListener("click", () => zoomAt(state.view.zoom * ZOOM_STEP));
ui.zoomOut.addEventListener("click", () => zoomAt(state.view.zoom / ZOOM_STEP));
ui.zoomFit.addEventListener("click", fitView);
ui.zoomActual.addEventListener("click", actualPixels);

ui.modeRemove.addEventListener("click", () => setMode("remove"));
ui.modeExtend.addEventListener("click", () => setMode("extend"));
for (const [tool, button] of Object.entries(ui.tools)) button.addEventListener("click", () => setTool(tool));
ui.size.addEventListener("input", () => setBrushSize(ui.size.value));
ui.undo.addEventListener("click", undo);
ui.redo.addEventListener("click", redo);
ui.clear.addEventListener("click", () => {
  commit();
  state.strokes = [];
  redrawMask();
  render();
});
for (const input of Object.values(ui.pads)) {
  input.addEventListener("input", () => {
    state.viewResult = false;
    render();
    if (padsProblem()) setStatus(padsProblem(), "error");
    else clearError();
  });
}
ui.model.addEventListener("change", () => {
  clearError();
  describeModel();
});
ui.run.addEventListener("click", run);
ui.cancel.addEventListener("click", cancelRun);
ui.compare.addEventListener("input", updateCompare);
ui.showSource.addEventListener("click", () => { state.viewResult = false; render(); });
ui.apply.addEventListener("click", applyResult);
ui.helpButton.addEventListener("click", () => toggleHelp());
ui.helpClose.addEventListener("click", () => toggleHelp(false));
ui.help.addEventListener("click", (event) => { if (event.target === ui.help) toggleHelp(false); });
ui.drawerToggle.addEventListener("click", () => toggleDrawer());
// The space for the picture changes with the window, the results strip and the drawer: refit, unless
// the user zoomed (then keep the zoom and the position).
new ResizeObserver(() => (state.view.zoom === 1 ? fitView() : placeStage())).observe(ui.viewport);

document.addEventListener("keydown", (event) => {
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && key === "enter") {
    event.preventDefault();
    run();
    return;
  }
  if (key === "escape") {
    if (!ui.help.hidden) toggleHelp(false);
    else if (state.job) cancelRun();
    else toggleDrawer(false);
    return;
  }
  if (event.target.matches("input[type=number], input[type=text], select")) return;
  if (command && key === "z") {
    event.preventDefault();
    (event.shiftKey ? redo : undo)();
  } else if (command && key === "y") {
    event.preventDefault();
    redo();
  } else if (command) {
    return;
  } else if (event.key === "?") {
    toggleHelp();
  } else if (key === " ") {
    event.preventDefault();
    state.spaceHeld = true;
    ui.viewport.classList.add("panning");
  } else if (key === "o" && !event.repeat) {
    state.showOriginal = true;
    render();
  } else if (key in { b: 1, e: 1, s: 1, k: 1 }) {
    setTool({ b: "brush", e: "eraser", s: "box", k: "click" }[key]);
  } else if (key === "[" || key === "]") {
    setBrushSize(Number(ui.size.value) + (key === "]" ? 1 : -1) * Math.max(1, Math.round(ui.size.value / 10)));
  } else if (key === "+" || key === "=") {
    zoomAt(state.view.zoom * ZOOM_STEP);
  } else if (key === "-") {
    zoomAt(state.view.zoom / ZOOM_STEP);
  } else if (key === "0") {
    fitView();
  } else if (key === "1") {
    actualPixels();
  } else if (key === "arrowleft" || key === "arrowright") {
    if (!state.results.length) return;
    event.preventDefault();
    selectResult(state.selected + (key === "arrowright" ? 1 : -1));
  }
});
document.addEventListener("keyup", (event) => {
  const key = event.key.toLowerCase();
  if (key === " " && state.spaceHeld) {
    event.preventDefault();  // a focused button would take the space as a click
    state.spaceHeld = false;
    ui.viewport.classList.remove("panning");
  } else if (key === "o") {
    state.showOriginal = false;
    render();
  }
});

setup();
