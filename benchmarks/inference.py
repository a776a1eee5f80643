"""Inference benchmark on CPU: latency, peak memory and achieved GFLOP/s per model, size and precision.

Every case (model x size x variant) runs in a fresh subprocess, so its peak RSS is its own. Learned
models run as ``eager`` (the plain eval-mode network, float32), ``fp32``, ``bf16`` and ``int8``
(:func:`inpaintkit.optimize.optimize_for_inference`; int8 for LaMa networks on x86) and ``auto``
(what ``precision="auto"`` picks on this CPU, :func:`inpaintkit.optimize.auto_precision`); classical
ones run once, latency only. Where bf16 is emulated (no AVX512-BF16 or AMX) it runs once, at the
smallest size only: it is many times slower there, which that one row shows.
``pipeline`` is what a user waits for: ``inpaintkit.load(name)`` called on a uint8 picture, every
stage included (decode, padding, the optimised float32 network, post-processing such as
``lama-detail``'s texture transfer, compositing); it needs the model's weights.
FLOPs come from ``torch.utils.flop_counter`` on the eager network at the same input size (the
useful work, the same number for all variants); the float32 and bfloat16 peaks are those of a
large square matmul measured in the same run, and the CPU's model and capability (AVX2, AVX512,
AVX512-BF16, AMX) head the table. Speeds are also given as ratios: over eager and over the
optimised fp32 copy, measured in the same run. The PSNR of bf16, int8 and auto is that of their
output against the fp32 copy's, in the hole.

Weights are a model's shipped file when the package has one (``inpaintkit/assets``), else random
(zero-initialised layers included) with realistic BatchNorm statistics: three train-mode passes on random
256x256 images with cumulative BatchNorm averaging, then eval mode (with default statistics the
activations fade away and the bf16 PSNR would mean nothing). Speed does not depend on the values.

Usage (from the project root)::

    python benchmarks/inference.py                            # writes docs/PERFORMANCE.md
    python benchmarks/inference.py --models big-lama,lama-detail --sizes 512,1024 --section inference-avx2
    python benchmarks/inference.py --models big-lama --sizes 4096 --variants fp32,bf16 \\
        --repeats 1 --warmup 0 --memory-limit-gib 22 --section inference-4096

The table goes between ``<!-- <section>:start -->`` and ``<!-- <section>:end -->`` in
``docs/PERFORMANCE.md``; the rest of that file is left as it is. One section per CPU kind seen
(``inference`` on AVX512-BF16, ``inference-avx2`` ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import memory_gib, reset_peak, spawn_case, write_section

import inpaintkit
from inpaintkit.api import load_model
from inpaintkit.optimize import auto_precision, cpu_info, optimize_for_inference
from inpaintkit.registry import build_architecture, create_model, get_spec

VARIANTS = ("eager", "fp32", "bf16", "int8", "auto", "pipeline")


def make_input(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random picture and a mask of a few boxes (about a quarter of the frame)."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 12, 12, generator=gen)
    image = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic").clamp(0, 1)
    mask = torch.zeros(1, 1, size, size)
    for _ in range(4):
        y, x = (torch.rand(2, generator=gen) * 0.7 * size).long().tolist()
        mask[..., y : y + size // 4, x : x + size // 4] = 1.0
    return image, mask


def shipped(name: str) -> bool:
    """Whether learned model ``name`` has its trained weights in the package (then they are used)."""
    return get_spec(name).weights_status() == "bundled"


def calibrated_state(name: str, path: Path, seed: int = 0) -> None:
    """Save the state dict to benchmark learned model ``name`` with: its shipped weights when the
    package has them, else random weights with realistic BatchNorm statistics."""
    if shipped(name):
        torch.save(load_model(name)[0].state_dict(), path)
        return
    with torch.random.fork_rng():  # the initialisation draws from the global RNG; keep it untouched
        torch.manual_seed(seed)
        model = create_model(name)
        with torch.no_grad():  # a zero-initialised layer (a residual LaMa's head) would make every
            for param in model.parameters():  # variant return the prefill exactly
                if not param.any():
                    param.normal_(0, 0.02)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average over the calibration passes
    model.train()
    with torch.no_grad():
        for i in range(3):
            image, mask = make_input(256, seed=100 + i)
            model(image, mask)
    torch.save(model.state_dict(), path)


def count_flops(name: str, size: int) -> float:
    """FLOPs of one eager forward pass at ``size`` x ``size`` (counted on the meta device).

    A Telea prefill (lama-small's, outpaint-small's) is OpenCV work on real pixels, not network
    FLOPs: the count is the network's alone (with the config's default, tensor-only prefill), and
    the prefill's time is part of the measured latency.
    """
    spec = get_spec(name)
    config = spec.config
    if getattr(config, "prefill", None) == "telea":
        config = dataclasses.replace(
            config, prefill=next(f.default for f in dataclasses.fields(config) if f.name == "prefill")
        )
    with torch.device("meta"):
        model = build_architecture(spec.arch, config).eval()
        image, mask = torch.empty(1, 3, size, size), torch.empty(1, 1, size, size)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(image, mask)
    return float(counter.get_total_flops())


def matmul_peak(dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> float:
    """Best GFLOP/s of an ``n x n`` matmul in ``dtype``; ``n`` drops to 1024 where a 1024 matmul runs
    below 20 GFLOP/s (bf16 emulated on CPUs without AVX512-BF16, where 4096 would take minutes)."""
    small = torch.randn(1024, 1024).to(dtype)
    small @ small
    if 2 * 1024**3 / _timed(lambda: small @ small) / 1e9 < 20:
        n = 1024
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_case(case: dict) -> dict:
    """Run one case in this (fresh) process; return latencies and memory, save the output."""
    torch.set_num_threads(case["threads"])
    if case["memory_limit_gib"]:
        limit = int(case["memory_limit_gib"] * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    image, mask = make_input(case["size"])
    if case["variant"] == "pipeline":  # the whole user-facing call on a uint8 picture
        pipe = inpaintkit.load(case["model"])
        picture = (image[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        hole = (mask[0, 0].numpy() * 255).astype("uint8")
        model, image, mask = (lambda a, b: pipe(a, b).image), picture, hole
    else:
        model = create_model(case["model"]).eval()
        if case["state"]:
            model.load_state_dict(torch.load(case["state"]))
        if case["variant"] in ("fp32", "bf16", "int8", "auto"):
            precision = auto_precision(model) if case["variant"] == "auto" else case["variant"]
            model = optimize_for_inference(model, precision=precision)
    reset_peak()
    before = memory_gib("VmRSS")
    times = []
    try:
        with torch.inference_mode():
            for i in range(case["warmup"] + case["repeats"]):
                start = time.perf_counter()
                out = model(image, mask)
                if i >= case["warmup"]:
                    times.append(time.perf_counter() - start)
    except (RuntimeError, MemoryError) as err:
        return {"error": str(err).splitlines()[0][:120]}
    if case["save"] and case["variant"] != "pipeline":
        torch.save(out, case["save"])
    chosen = {"chosen": precision} if case["variant"] == "auto" else {}
    return {"latency": statistics.median(times), "peak_gib": memory_gib("VmHWM"), "base_gib": before, **chosen}


def _psnr(a: torch.Tensor, b: torch.Tensor, hole: torch.Tensor) -> float:
    """PSNR of ``a`` against ``b`` over the pixels of ``hole`` (``(1, 1, H, W)``, 1 = hole)."""
    inside = hole.bool().expand_as(a)
    return float(10 * torch.log10(1.0 / ((a.float() - b.float())[inside] ** 2).mean().clamp_min(1e-20)))


def _machine() -> str:
    """CPU model and capability, logical CPUs and RAM."""
    try:
        with open("/proc/meminfo") as f:
            ram = f", {int(next(line.split()[1] for line in f if line.startswith('MemTotal'))) / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration):
        ram = ""
    return f"{cpu_info().describe()}, {os.cpu_count()} logical CPUs{ram}"


def bench_model(name: str, size: int, args: argparse.Namespace, folder: Path) -> tuple[list[dict], str]:
    """All variants of one model at one size: rows with latency, memory and output differences."""
    learned = get_spec(name).kind == "learned"
    state = folder / f"{name}.pt"
    if learned and not state.exists():
        calibrated_state(name, state)
    flops = count_flops(name, size) if learned else 0.0
    too_big = flops > args.eager_max_tflop * 1e12
    lama = learned and get_spec(name).arch == "lama"  # int8 is LaMa's
    emulated_bf16 = not cpu_info().native_bf16 and size != min(args.sizes)
    variants = (
        [
            v
            for v in args.variants
            if not (v == "eager" and too_big) and not (v == "int8" and not lama) and not (v == "bf16" and emulated_bf16)
        ]
        if learned
        else ["-"]
    )
    if not learned and "pipeline" in args.variants:
        variants.append("pipeline")
    note = f"eager {name} at {size} ({flops / 1e12:.1f} TFLOP > --eager-max-tflop)" if too_big else ""
    if learned and get_spec(name).local_weights() is None and "pipeline" in variants:
        variants.remove("pipeline")  # a user cannot run it either until the weights are there
        note = "; ".join(filter(None, [note, f"pipeline {name}: no weights here"]))
    rows, outputs = [], {}
    for variant in variants:
        save = folder / f"out-{variant}.pt"
        case = {
            "model": name,
            "size": size,
            "variant": variant,
            "threads": args.threads,
            "repeats": 1 if variant == "bf16" and not cpu_info().native_bf16 else args.repeats,
            "warmup": args.warmup if learned and not (variant == "bf16" and not cpu_info().native_bf16) else 0,
            "state": str(state) if learned else "",
            "save": str(save) if learned else "",
            "memory_limit_gib": args.memory_limit_gib,
        }
        result = spawn_case(__file__, case, ROOT)
        if learned and "error" not in result and variant != "pipeline":
            outputs[variant] = torch.load(save)
        rows.append(
            {
                "model": name,
                "size": size,
                "variant": variant,
                "flops": 0.0 if variant == "pipeline" else flops,
                **result,
            }
        )
    hole = make_input(size)[1]
    latency = {row["variant"]: row["latency"] for row in rows if "latency" in row}
    for row in rows:
        if row["variant"] == "fp32" and "eager" in outputs:
            row["diff"] = float((outputs["fp32"] - outputs["eager"]).abs().max())
        if row["variant"] in ("bf16", "int8", "auto") and "fp32" in outputs and row["variant"] in outputs:
            row["psnr"] = _psnr(outputs[row["variant"]], outputs["fp32"], hole)
        for base in ("eager", "fp32"):
            if base in latency and "latency" in row and row["variant"] not in ("pipeline", base):
                row[f"x_{base}"] = latency[base] / row["latency"]
    if emulated_bf16 and "bf16" in args.variants and learned:
        note = "; ".join(filter(None, [note, f"bf16 {name} at {size} (emulated on this CPU; see the smallest size)"]))
    return rows, note


def _row(row: dict, peaks: dict) -> str:
    variant = f"auto ({row['chosen']})" if "chosen" in row else row["variant"]
    head = f"| {row['model']} | {row['size']} | {variant} |"
    if "error" in row:
        return head + f" failed: {row['error']} |" + " |" * 9
    gflop = row["flops"] / 1e9
    rate = gflop / row["latency"]
    peak = peaks["bf16" if (row.get("chosen") or row["variant"]) == "bf16" else "fp32"]
    cells = [f"{row['latency']:.3f}", f"{row['peak_gib']:.2f}", f"{row['peak_gib'] - row['base_gib']:.2f}"]
    cells += (
        [f"{gflop:.0f}" if gflop >= 10 else f"{gflop:.2g}", f"{rate:.0f}", f"{100 * rate / peak:.0f}%"]
        if gflop
        else ["", "", ""]
    )
    cells += [f"{row[key]:.2f}x" if key in row else "" for key in ("x_eager", "x_fp32")]
    cells += [
        f"{row['diff']:.1e}" if "diff" in row else "",
        (f"{row['psnr']:.1f}" if row["psnr"] < 150 else "identical") if "psnr" in row else "",
    ]
    return head + " " + " | ".join(cells) + " |"


HEADER = (
    "| model | size | variant | median s | peak RSS GiB | run +GiB | GFLOP | GFLOP/s | % of matmul peak "
    "| speed vs eager | speed vs fp32 | max abs vs eager | PSNR vs fp32 in the hole dB |"
    "\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def run(args: argparse.Namespace) -> str:
    """Run every case, print each row as it comes, and return the Markdown section."""
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for size in args.sizes:
                new_rows, note = bench_model(name, size, args, Path(tmp))
                rows += new_rows
                notes += [note] if note else []
                print("\n".join(_row(row, peaks) for row in new_rows), flush=True)
    load_end = os.getloadavg()[0]
    peaks = {
        "fp32": max(peaks["fp32"], matmul_peak(torch.float32)),
        "bf16": max(peaks["bf16"], matmul_peak(torch.bfloat16)),
    }
    command = " ".join(["python benchmarks/inference.py", *sys.argv[1:]])
    trained = [name for name in args.models if get_spec(name).kind == "learned" and shipped(name)]
    intro = (
        f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. {_machine()}; "
        f"torch {torch.__version__}, {args.threads} threads. Matmul peak (4096x4096, or 1024x1024 where that "
        f"runs below 20 GFLOP/s; best of the start and the end of the run): fp32 {peaks['fp32']:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16']:.0f} GFLOP/s. Load "
        f"average (1 min) {load_start:.2f} at the start, {load_end:.2f} at the end (well above 0 means other "
        "work shared the cores). Median of "
        f"{args.repeats} run(s) after {args.warmup} warm-up run(s) (none for classical methods), each case in a "
        "fresh process. Peak RSS is the peak resident size during the runs (weights and the Python/torch "
        "baseline included), 'run +GiB' its growth over the resident size before the first run. GFLOP counted "
        "on the eager network (the same useful work for all variants). Weights: "
        + (f"the shipped files of {', '.join(trained)}; " if trained else "")
        + "random with calibrated BatchNorm statistics for the other learned models."
    )
    title = f"## Inference latency and memory (CPU, {', '.join(str(size) for size in args.sizes)})"
    lines = [title, "", intro, "", HEADER, *(_row(row, peaks) for row in rows)]
    if notes:
        lines += ["", "Skipped: " + "; ".join(notes) + "."]
    return "\n".join(lines)


def split(text: str) -> list[str]:
    """``"a,b,,c"`` -> ``["a", "b", "c"]``."""
    return [item for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=split, default=split("big-lama,lama-small,telea,patchmatch"))
    parser.add_argument("--sizes", type=lambda t: [int(s) for s in split(t)], default=[512, 1024, 2048])
    parser.add_argument("--variants", type=split, default=list(VARIANTS), help="of eager,fp32,bf16,pipeline")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--eager-max-tflop",
        type=float,
        default=2.0,
        help="skip the eager variant above this much work (big-lama at 2048 is 7 TFLOP)",
    )
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=0.0,
        help="address-space limit per case; a case that needs more fails instead of swapping",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--section", default="inference", help="name of the section markers in --out")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    for name in args.models:
        get_spec(name)
    section = run(args)
    print(section)
    if not args.no_write:
        write_section(args.out, args.section, section)


if __name__ == "__main__":
    main()
