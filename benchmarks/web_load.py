"""Load test of the web app: 16 concurrent clients with large uploads, the server's peak memory.

Starts ``inpaintkit serve`` as a subprocess on a free port (one model, ``--threads`` torch threads),
loads the model with one small request, then lets ``--clients`` threads post at once: 12 MP photos
(the bundled rocket photo upscaled, with film-like noise, JPEG) with three holes, by ``crop`` and
``resize``; one whole-image run at the largest size allowed (``--max-run-pixels``, 2048x2048 by
default); a 64 MP photo (the largest picture accepted) by ``crop`` and by ``resize``; and requests
that must be refused: 12 MP ``original`` (over the whole-image limit), one large hole in a 12 MP
photo by ``crop`` (its crop is over the limit), a 70 MP picture (over the pixel limit) and a 27 MB
upload (over the upload limit). A client answered 503 (queue full) waits ``Retry-After`` and sends
again.

The server's peak resident memory is its ``VmHWM`` (``/proc/PID/status``) at the end: the
Python/torch baseline, the model, the uploads held and the jobs, all together.

Usage (from the project root)::

    python benchmarks/web_load.py                     # writes the web-load section of docs/PERFORMANCE.md
    python benchmarks/web_load.py --clients 4 --no-write
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_section

from inpaintkit.io import DEFAULT_MAX_PIXELS
from inpaintkit.web._work import DEFAULT_MAX_RUN_PIXELS, POSTPROCESS_FACTOR
from inpaintkit.web.server import DEFAULT_MAX_UPLOAD_BYTES

HEADER = (
    "| request | picture | upload MB | strategy | clients | answers | 503 retries | median s | max s |\n"
    "|---|---|---:|---|---:|---|---:|---:|---:|"
)


@dataclass(frozen=True)
class Case:
    """One kind of request: its picture, mask, strategy and how many clients send it."""

    name: str
    size: tuple[int, int]
    strategy: str
    clients: int
    hole: str = "boxes"  # "boxes": three 300x300 holes; "large": one hole of 90% x 50% of the picture
    fmt: str = "JPEG"  # "JPEG" (a photo), "PNG" (flat grey: a tiny file of many pixels), "noise" (a huge PNG)


def plan(clients: int, run_side: int) -> list[Case]:
    """The request mix for ``clients`` clients (16 by default; fewer drop the 12 MP crops first)."""
    fixed = [
        Case("whole image at the run limit", (run_side, run_side), "original", 1),
        Case("largest picture, crop", (8000, 8000), "crop", 1),
        Case("largest picture, resize", (8000, 8000), "resize", 1),
        Case("12 MP whole image (refused)", (4000, 3000), "original", 2),
        Case("12 MP, one large hole, crop (refused)", (4000, 3000), "crop", 1, hole="large"),
        Case("70 MP picture (refused)", (8400, 8400), "crop", 1, fmt="PNG"),
        Case("upload over 20 MB (refused)", (3000, 3000), "crop", 1, fmt="noise"),
        Case("12 MP resize", (4000, 3000), "resize", 3),
    ]
    crops = max(clients - sum(case.clients for case in fixed), 0)
    cases = [Case("12 MP crop", (4000, 3000), "crop", crops), *fixed]
    while sum(case.clients for case in cases) > clients:  # fewer clients: shrink from the first case on
        first = next(case for case in cases if case.clients)
        cases[cases.index(first)] = replace(first, clients=first.clients - 1)
    return [case for case in cases if case.clients]


# ------------------------------------------------------------------------------------------ inputs
def picture(case: Case, seed: int = 0) -> bytes:
    """The upload of ``case``: an upscaled photo with noise (JPEG), a flat PNG or a noise PNG."""
    width, height = case.size
    rng = np.random.default_rng(seed)
    buffer = BytesIO()
    if case.fmt == "PNG":
        Image.new("RGB", case.size, (128, 128, 128)).save(buffer, format="PNG")
    elif case.fmt == "noise":
        Image.fromarray(rng.integers(0, 256, (height, width, 3), np.uint8)).save(buffer, format="PNG", compress_level=1)
    else:
        photo = Image.open(ROOT / "inpaintkit" / "assets" / "rocket.jpg").convert("RGB")
        rgb = np.array(photo.resize(case.size, Image.BICUBIC))
        for rows in range(0, height, 1024):  # film-like noise, a band at a time
            band = rgb[rows : rows + 1024]
            band[:] = np.clip(band + rng.normal(0, 4, band.shape), 0, 255)
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def mask(case: Case) -> bytes:
    """The mask of ``case`` as PNG: three 300x300 holes, or one hole of 90% x 50% of the picture."""
    width, height = case.size
    hole = Image.new("L", case.size, 0)
    if case.hole == "large":
        hole.paste(255, (width // 20, height // 4, width - width // 20, height - height // 4))
    else:
        for fx, fy in ((0.2, 0.3), (0.55, 0.6), (0.8, 0.25)):
            x, y = int(fx * width), int(fy * height)
            hole.paste(255, (x, y, x + 300, y + 300))
    buffer = BytesIO()
    hole.save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(fields: dict[str, str | bytes]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``fields`` (bytes are sent as files) and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, bytes):
            parts += [
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode(),
                value,
                b"\r\n",
            ]
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, body: bytes, content_type: str, deadline: float) -> tuple[int, str, int, float]:
    """POST to ``/api/inpaint`` until the answer is not 503; ``(status, detail, retries, seconds)``."""
    start, retries = time.monotonic(), 0
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
        try:
            conn.request("POST", "/api/inpaint", body, {"Content-Type": content_type})
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        if answer.status == 503 and time.monotonic() < deadline:
            retries += 1
            time.sleep(float(answer.getheader("Retry-After") or 1))
            continue
        if answer.status == 200:
            detail = f"PNG, {answer.getheader('X-Inpaint-Strategy')}"
        else:
            detail = json.loads(data)["error"]
        return answer.status, detail, retries, time.monotonic() - start


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of process ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def run(args: argparse.Namespace) -> str:
    """Run the load test; the Markdown section that reports it."""
    run_side = int(args.max_run_pixels**0.5)
    cases = plan(args.clients, run_side)
    print(f"preparing {sum(case.clients for case in cases)} uploads ...", flush=True)
    bodies = {}
    for case in cases:
        image = picture(case)
        bodies[case] = multipart(
            {"image": image, "mask": mask(case), "model": args.model, "hd_strategy": case.strategy}
        )
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    command = [
        sys.executable,
        "-m",
        "inpaintkit",
        "serve",
        "--port",
        str(port),
        "--models",
        args.model,
        "--queue-size",
        str(args.queue_size),
        "--max-run-pixels",
        str(args.max_run_pixels),
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        warm = Case("warm-up", (256, 256), "original", 1)
        status, detail, _, _ = post(
            port, *multipart({"image": picture(warm), "mask": mask(warm), "model": args.model}), time.monotonic()
        )
        assert status == 200, detail
        idle_gib = memory_kib(server.pid, "VmRSS") / 2**20
        load_start = os.getloadavg()[0]
        results: dict[Case, list[tuple[int, str, int, float]]] = {case: [] for case in cases}
        barrier = threading.Barrier(sum(case.clients for case in cases))
        stop = time.monotonic() + args.timeout

        def client(case: Case) -> None:
            barrier.wait()
            results[case].append(post(port, *bodies[case], stop))

        threads = [threading.Thread(target=client, args=(case,)) for case in cases for _ in range(case.clients)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - start
        peak_gib = memory_kib(server.pid, "VmHWM") / 2**20
    finally:
        server.terminate()
        server.wait(30)
    rows = []
    for case in cases:
        answers = Counter(status for status, *_ in results[case])
        seconds = [s for *_, s in results[case]]
        rows.append(
            f"| {case.name} | {case.size[0]}x{case.size[1]} | {len(bodies[case][0]) / 1e6:.1f} | "
            f"{case.strategy} | {case.clients} | "
            f"{', '.join(f'{status} x{n}' for status, n in sorted(answers.items()))} | "
            f"{sum(retries for _, _, retries, _ in results[case])} | {statistics.median(seconds):.1f} | "
            f"{max(seconds):.1f} |"
        )
        print(rows[-1], flush=True)
    refusals = sorted({detail for case in cases for status, detail, *_ in results[case] if status != 200})
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python benchmarks/web_load.py", *sys.argv[1:]])
    return "\n".join(
        [
            f"## Web app under load: {args.clients} clients, large uploads",
            "",
            f"Limits (`inpaintkit serve` defaults): uploads up to {DEFAULT_MAX_UPLOAD_BYTES / 2**20:.0f} MiB "
            f"(`--max-upload-mb`); pictures up to {DEFAULT_MAX_PIXELS / 1e6:.0f} MP (`--max-pixels`); a model runs on "
            f"at most {DEFAULT_MAX_RUN_PIXELS:,} pixels (2048x2048) in one piece (`--max-run-pixels`), so "
            "`hd_strategy=original` on a larger picture, or a crop around a larger hole, gets a 413 that names the "
            f"other strategies; full-resolution post-processing (lama-detail's texture transfer) covers at most "
            f"{POSTPROCESS_FACTOR}x that; `--queue-size` requests (4) are admitted at once, before their upload is "
            "read; one job runs at a time; more requests get a 503 with Retry-After.",
            "",
            f"`OMP_NUM_THREADS={args.threads} {command}` on {now}: `inpaintkit serve --models "
            f"{args.model} --queue-size {args.queue_size} --max-run-pixels {args.max_run_pixels}` in a subprocess, "
            f"torch {args.threads} thread(s), "
            f"{os.cpu_count()} logical CPUs shared with other work (load average (1 min) {load_start:.2f} at the "
            f"start, {os.getloadavg()[0]:.2f} at the end). {sum(c.clients for c in cases)} clients post at once; a 503 "
            "(queue full) is retried after its Retry-After. Seconds include the wait in the queue.",
            "",
            HEADER,
            *rows,
            "",
            f"**Server peak RSS (VmHWM): {peak_gib:.2f} GiB** ({idle_gib:.2f} GiB resident after loading the model; "
            f"{wall:.0f} s for all clients).",
            "",
            "Refusals, as the clients read them:",
            "",
            *[f"* {detail}" for detail in refusals],
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--model", default="lama-small")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--queue-size", type=int, default=4)
    parser.add_argument("--max-run-pixels", type=int, default=DEFAULT_MAX_RUN_PIXELS)
    parser.add_argument("--timeout", type=float, default=900, help="seconds after which a 503 is not retried")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--section", default="web-load", help="name of the section markers in --out")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    section = run(args)
    print(section)
    if not args.no_write:
        write_section(args.out, args.section, section)
        print(f"wrote the {args.section} section of {args.out}")


if __name__ == "__main__":
    main()
