"""``inpaintkit`` command line: a thin shell that decodes arguments and calls the library.

Errors meant for the user (:class:`~inpaintkit.types.InpaintKitError`) and those of the system
(:class:`OSError`: a read-only folder, a full disk) print one line ``error: ...`` on stderr and exit
with status 2. Files are written atomically, so a failure leaves no partial output.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
log = logging.getLogger("inpaintkit")


# ----------------------------------------------------------------------------------------- remove
def _pairs(image: Path, mask: Path, out: Path) -> list[tuple[Path, Path, Path]]:
    """Match images to masks (by file stem when folders are given) and choose output paths."""
    from .types import InputError

    for path in (image, mask):
        if not path.exists():
            raise InputError(f"no such file: {path}")
        if not (path.is_file() or path.is_dir()):
            raise InputError(f"{path} is neither a regular file nor a folder")
    if image.is_file():
        if mask.is_dir():
            raise InputError(f"{mask} is a folder but {image} is a single image")
        target = out / f"{image.stem}.png" if out.is_dir() else out
        return [(image, mask, target)]
    if not mask.is_dir():
        raise InputError(f"{image} is a folder, so the mask {mask} must be a folder too")
    if out.exists() and not out.is_dir():
        raise InputError(f"{image} is a folder, so -o {out} must be a folder")
    masks = {p.stem: p for p in sorted(mask.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    images = [p for p in sorted(image.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image}")
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise InputError(
            f"no mask in {mask} with the same name as: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
        )
    return [(p, masks[p.stem], out / f"{p.stem}.png") for p in images]


def cmd_remove(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import load
    from .io import read_image, write_image
    from .masks import load_mask
    from .types import InpaintKitError

    jobs = _pairs(Path(args.image), Path(args.mask), Path(args.output))
    todo = [job for job in jobs if args.overwrite or not job[2].exists()]
    if len(jobs) == 1 and not todo:
        raise InpaintKitError(f"{jobs[0][2]} exists; pass --overwrite to replace it")
    for _, _, target in (job for job in jobs if job not in todo):
        log.warning("skipping %s: output exists (pass --overwrite to replace it)", target)
    options = {
        key: value
        for key in ("scales", "iterations", "vgg_weights", "feature_space")
        if (value := getattr(args, key)) is not None
    }
    pipe = load(
        args.model,
        weights=args.weights,
        trust=args.trust,
        device=args.device,
        hd_strategy=args.hd_strategy,
        max_pixels=args.max_pixels,
        postprocess=not args.no_postprocess,
        precision=args.precision,
        model_options=options,
    )
    failures = []
    for image_path, mask_path, target in tqdm(todo, desc=f"{args.model}", unit="img", disable=len(todo) < 2):
        try:
            picture = read_image(image_path, max_pixels=args.max_pixels)
            hole = load_mask(mask_path, max_pixels=args.max_pixels)
            result = pipe(picture, hole, dilate=args.dilate, feather=args.feather, resize_mask=args.resize_mask)
            for message in result.warnings:
                log.warning("%s: %s", image_path.name, message)
            write_image(target, result.image, overwrite=args.overwrite)
        except InpaintKitError as err:
            if len(jobs) == 1:
                raise
            failures.append(f"{image_path.name}: {err}")
            continue
        if len(jobs) == 1:
            print(f"wrote {target} ({result.strategy}, {result.seconds:.2f} s)")
    if len(jobs) > 1:
        print(f"wrote {len(todo) - len(failures)} of {len(jobs)} images to {args.output}")
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from .api import load
    from .io import read_image, write_image
    from .masks import load_mask
    from .pipelines.processing import side_by_side

    assets = files("inpaintkit") / "assets"
    picture = read_image(assets / "rocket.jpg")
    mask = load_mask(assets / "rocket_mask.png")
    pipe = load(args.model)
    result = pipe(picture, mask)
    out = Path(args.output)
    write_image(out / "result.png", result.image, overwrite=args.overwrite)
    write_image(out / "side_by_side.png", side_by_side(picture.rgb, mask, result.image.rgb), overwrite=args.overwrite)
    print(
        f"{args.model}: filled {int(mask.sum())} pixels in {result.seconds:.2f} s; "
        f"wrote {out / 'result.png'} and {out / 'side_by_side.png'}"
    )
    return 0


# ----------------------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> int:
    import torch

    from .registry import DEFAULT_MODEL, create_model, list_models

    rows = [("name", "kind", "parameters", "weights", "licence")]
    for spec in list_models():
        params = "-"
        if spec.kind != "classical":
            with torch.device("meta"):
                params = f"{sum(p.numel() for p in create_model(spec.name).parameters()):,}"
        name = spec.name + (" (default)" if spec.name == DEFAULT_MODEL else "")
        rows.append((name, spec.kind, params, spec.weights_status(), spec.licence))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


# ------------------------------------------------------------------------------------------ masks
def cmd_masks(args: argparse.Namespace) -> int:
    from .masks import write_eval_set

    paths = write_eval_set(args.preset, args.size, args.count, args.seed, Path(args.output), overwrite=args.overwrite)
    print(f"wrote {len(paths)} {args.preset} masks at {args.size} to {args.output}")
    return 0


# ---------------------------------------------------------------------------------------- convert
def cmd_convert(args: argparse.Namespace) -> int:
    from .weights import convert

    loaded = convert(args.source, args.target, trust=args.trust, overwrite=args.overwrite)
    print(f"wrote {args.target} ({loaded.arch}, {len(loaded.state_dict)} tensors, from {loaded.source_format})")
    return 0


# ------------------------------------------------------------------------------------------ train
def cmd_train(args: argparse.Namespace) -> int:
    import os

    from .training.trainer import run_training

    run = run_training(args.config, args.overrides, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {run}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .io import write_file
    from .training.export import export_checkpoint, model_card
    from .types import InpaintKitError

    target = Path(args.target)
    card = target.with_suffix(".md")
    for path in (target, card) if args.card else (target,):
        if path.exists() and not args.overwrite:
            raise InpaintKitError(f"{path} exists; pass --overwrite to replace it")
    evidence = ""
    if args.evidence:
        try:
            evidence = Path(args.evidence).read_text()
        except OSError as err:
            raise InpaintKitError(f"cannot read --evidence {args.evidence}: {err.strerror}") from None
    notes = {"licence": args.licence} if args.licence else None
    export_checkpoint(args.checkpoint, target, ema=not args.no_ema, metadata=notes)
    print(f"wrote {target}")
    if args.card:
        write_file(card, model_card(target, name=args.name or target.stem, evidence=evidence))
        print(f"wrote {card}")
    return 0


# ----------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .evaluation import add_eval_arguments
    from .pipelines.diverse import add_diverse_arguments
    from .pipelines.outpaint import add_outpaint_arguments
    from .registry import DEFAULT_MODEL
    from .web import add_serve_arguments

    parser = argparse.ArgumentParser(prog="inpaintkit", description="Image inpainting and outpainting.")
    parser.add_argument("--version", action="version", version=f"inpaintkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("remove", help="fill the holes of an image (or a folder of images)")
    p.add_argument("image", help="image file, or a folder of images")
    p.add_argument(
        "--mask",
        required=True,
        help="mask file (non-zero grey or non-transparent alpha = hole), or a folder of masks "
        "with the same file names as the images",
    )
    p.add_argument("-o", "--output", required=True, help="output file, or folder for folder input")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"registered name or weight file (default {DEFAULT_MODEL})")
    p.add_argument("--weights", help="weight file to use instead of the registered download")
    p.add_argument("--trust", action="store_true", help="allow full unpickling of a .ckpt you trust")
    p.add_argument(
        "--hd-strategy",
        choices=["original", "resize", "crop"],
        default="crop",
        help="large images: whole image, downscaled, or crops around each hole (default crop)",
    )
    p.add_argument("--dilate", type=int, default=0, metavar="N", help="grow the hole by N pixels")
    p.add_argument("--feather", type=int, default=0, metavar="N", help="blend the fill over N pixels")
    p.add_argument("--resize-mask", action="store_true", help="resize a mask whose size differs from the image")
    p.add_argument(
        "--no-postprocess",
        action="store_true",
        help="skip a model's own post-processing (GLCIC: Telea + Poisson blending; lama-detail: "
        "the texture copied from the photo)",
    )
    p.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (default 64 MP)")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="learned models on CPU: bf16 is about 2x faster on AVX512-BF16 CPUs (default fp32)",
    )
    p.add_argument("--scales", type=int, metavar="N", help="neural-patch: number of scales (default 3)")
    p.add_argument(
        "--iterations",
        type=int,
        metavar="N",
        help="neural-patch: L-BFGS iterations per scale (default 100 with pixel features, 10 with VGG)",
    )
    p.add_argument("--vgg-weights", metavar="PATH", help="neural-patch: torchvision's vgg19-dcbb9e9d.pth")
    p.add_argument(
        "--feature-space",
        choices=["auto", "vgg", "pixel"],
        help="neural-patch: texture features (default auto: VGG-19 when its weights are at hand)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("demo", help="remove the tower from the bundled sample photo")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"registered name or weight file (default {DEFAULT_MODEL})")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("masks", help="write a fixed, seeded evaluation mask set")
    p.add_argument("--preset", required=True, help="thin, medium or thick")
    p.add_argument("--size", type=int, default=512, help="256 or 512")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_masks)

    p = sub.add_parser(
        "train",
        help="train a model from a recipe (configs/*.yaml); torchrun-ready",
        description="Extra --section.key=value arguments override the recipe (type-checked).",
    )
    p.add_argument("config", help="recipe YAML, e.g. configs/lama-small-cpu.yaml")
    p.add_argument("--resume", action="store_true", help="continue the run in the recipe's out_dir exactly")
    p.set_defaults(func=cmd_train, overrides=[])

    p = sub.add_parser("export", help="write a training checkpoint's generator as a .safetensors model file")
    p.add_argument("checkpoint", help="last.pt or best.pt of a run")
    p.add_argument("target", help="output .safetensors")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator, not its EMA")
    p.add_argument("--licence", default="", help="licence note stored in the file")
    p.add_argument("--card", action="store_true", help="also write the model card TARGET.md from the training notes")
    p.add_argument("--name", default="", help="model name in the card (default: the target's file name)")
    p.add_argument("--evidence", default="", help="Markdown file appended to the card (e.g. an eval summary.md)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="evaluate models on standard mask protocols -> CSV, summary, HTML")
    add_eval_arguments(p)

    p = sub.add_parser("outpaint", help="extend an image on any side (recursive with --steps)")
    add_outpaint_arguments(p)

    p = sub.add_parser("diverse", help="draw several completions of one image (PD-GAN) and a contact sheet")
    add_diverse_arguments(p)

    p = sub.add_parser("serve", help="start the web app (paint a mask in the browser)")
    add_serve_arguments(p)

    p = sub.add_parser("convert", help="convert official LaMa weights (.ckpt or TorchScript) to safetensors")
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--trust", action="store_true", help="allow full unpickling of a .ckpt you trust")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .types import InpaintKitError

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.overrides = unknown
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except InpaintKitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only folder, a full disk, a parent that is a file ...
        reason = (err.strerror or str(err) or type(err).__name__).splitlines()[0]
        print(f"error: {err.filename}: {reason}" if err.filename else f"error: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
