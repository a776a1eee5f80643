"""``remove``, ``demo``, ``outpaint`` and ``diverse``: fill or extend pictures with a model."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from pathlib import Path

from ..types import PRECISIONS, SIDES, InpaintKitError, InputError
from ._options import DEFAULT_MODEL_HELP, DEFAULT_OUTPAINT_HELP, HD_STRATEGY_HELP, add_output, add_weights

log = logging.getLogger("inpaintkit")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the commands of this module on ``sub``."""
    p = sub.add_parser("remove", help="fill the holes of an image (or a folder of images)")
    p.add_argument("image", help="image file, or a folder of images")
    p.add_argument(
        "--mask",
        required=True,
        help="mask file (non-zero grey or non-transparent alpha = hole), or a folder of masks "
        "with the same file names as the images",
    )
    p.add_argument("-o", "--output", required=True, help="output file, or folder for folder input")
    p.add_argument("--model", default=None, help=f"registered name or weight file ({DEFAULT_MODEL_HELP})")
    add_weights(p)
    p.add_argument("--hd-strategy", default="crop", help=HD_STRATEGY_HELP)
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
        choices=PRECISIONS,
        default="auto",
        help="learned models on CPU (default auto: bf16 where the CPU has it natively, else fp32); bf16 is "
        "about 2x faster on AVX512-BF16 or AMX CPUs and many times slower elsewhere; int8: LaMa on x86",
    )
    p.add_argument(
        "--scales", type=int, metavar="N", help="neural-patch: at most N pyramid scales (default: down to ~48 px)"
    )
    p.add_argument(
        "--iterations",
        type=int,
        metavar="N",
        help="neural-patch: patch-synthesis (search + vote) iterations at the coarsest scale (default 6)",
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
    p.add_argument("--model", default=None, help=f"registered name or weight file ({DEFAULT_MODEL_HELP})")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("outpaint", help="extend an image on any side (recursive with --steps)")
    p.add_argument("image", help="image file to extend")
    for side in SIDES:
        p.add_argument(f"--{side}", type=int, default=0, metavar="N", help=f"pixels to add on the {side}")
    p.add_argument(
        "--steps",
        type=int,
        default=1,
        metavar="K",
        help="extend in K steps, feeding each result back (recursive outpainting; default 1)",
    )
    p.add_argument(
        "--model",
        default=None,
        help=f"registered name or weight file ({DEFAULT_OUTPAINT_HELP}; outpaint-small, GLCIC and the "
        "classical methods work too)",
    )
    add_weights(p)
    p.add_argument(
        "--no-blend",
        action="store_true",
        help="keep the original pixels exactly instead of Poisson-blending them into the result",
    )
    p.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (default 64 MP)")
    p.add_argument("--device", default="cpu")
    add_output(p, "output image file")
    p.set_defaults(func=cmd_outpaint)

    p = sub.add_parser("diverse", help="draw several completions of one image (PD-GAN) and a contact sheet")
    p.add_argument("image", help="image file")
    p.add_argument("--mask", required=True, help="mask file (non-zero grey or non-transparent alpha = hole)")
    p.add_argument("-n", "--samples", type=int, default=8, metavar="N", help="completions to draw (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise; the same seed gives the same samples")
    p.add_argument("--model", default="pdgan-small", help="noise-driven model or weight file (default pdgan-small)")
    add_weights(p, "the bundled one")
    p.add_argument("--hd-strategy", default="crop", help=HD_STRATEGY_HELP)
    p.add_argument("--dilate", type=int, default=0, metavar="N", help="grow the hole by N pixels")
    p.add_argument("--resize-mask", action="store_true", help="resize a mask whose size differs from the image")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (default 64 MP)")
    p.add_argument("--device", default="cpu")
    add_output(p, "output folder")
    p.set_defaults(func=cmd_diverse)


# ----------------------------------------------------------------------------------------- remove
def _pairs(image: Path, mask: Path, out: Path) -> list[tuple[Path, Path, Path]]:
    """Match images to masks (by file stem when folders are given) and choose output paths."""
    from ..io import IMAGE_SUFFIXES

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


#: Write errors after which a folder run stops: every later file would fail the same way.
_FOLDER_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def cmd_remove(args: argparse.Namespace) -> int:
    """Fill the holes of one image, or of a folder of images with a folder of masks."""
    from tqdm import tqdm

    from ..api import load
    from ..io import read_image, write_image
    from ..masks import load_mask
    from ..registry import DEFAULT_MODEL

    model = args.model or DEFAULT_MODEL
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
        model,
        weights=args.weights,
        trust=args.trust,
        device=args.device,
        hd_strategy=args.hd_strategy,
        max_pixels=args.max_pixels,
        postprocess=not args.no_postprocess,
        precision=args.precision,
        model_options=options,
    )
    failures, written = [], 0
    for index, (image_path, mask_path, target) in enumerate(
        tqdm(todo, desc=f"{model}", unit="img", disable=len(todo) < 2)
    ):
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
        except OSError as err:
            if len(jobs) == 1 or err.errno not in _FOLDER_FULL:
                raise
            left = len(todo) - index - 1
            failures.append(f"{err.filename}: {err.strerror}; stopped, {left} more image(s) not written")
            break
        written += 1
        if len(jobs) == 1:
            print(f"wrote {target} ({_runs(pipe)}, {result.strategy}, {result.seconds:.2f} s)")
    if len(jobs) > 1:
        print(f"wrote {written} of {len(jobs)} images to {args.output}")
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


def _runs(pipe: object) -> str:
    """What ran, as the timing line shows it: ``lama-small fp32 (auto)``, or ``telea``."""
    return f"{pipe.name} {pipe.precision}".strip()


# ------------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """Fill the bundled photo's mask and write the result and a side-by-side picture."""
    from importlib.resources import files

    from ..api import load
    from ..io import read_image, write_image
    from ..masks import load_mask
    from ..pipelines.processing import side_by_side
    from ..registry import DEFAULT_MODEL

    model = args.model or DEFAULT_MODEL
    assets = files("inpaintkit") / "assets"
    picture = read_image(assets / "rocket.jpg")
    mask = load_mask(assets / "rocket_mask.png")
    pipe = load(model)
    result = pipe(picture, mask)
    out = Path(args.output)
    write_image(out / "result.png", result.image, overwrite=args.overwrite)
    write_image(out / "side_by_side.png", side_by_side(picture.rgb, mask, result.image.rgb), overwrite=args.overwrite)
    print(
        f"{_runs(pipe)}: filled {int(mask.sum())} pixels in {result.seconds:.2f} s; "
        f"wrote {out / 'result.png'} and {out / 'side_by_side.png'}"
    )
    return 0


# --------------------------------------------------------------------------------------- outpaint
def cmd_outpaint(args: argparse.Namespace) -> int:
    """Read, extend, write; prints one line."""
    from ..api import load_outpainter
    from ..io import write_image
    from ..registry import DEFAULT_OUTPAINT_MODEL

    target = Path(args.output)
    if target.exists() and not args.overwrite:
        raise InputError(f"{target} exists; pass --overwrite to replace it")
    pipe = load_outpainter(
        args.model or DEFAULT_OUTPAINT_MODEL,
        weights=args.weights,
        trust=args.trust,
        device=args.device,
        max_pixels=args.max_pixels,
    )
    result = pipe(
        Path(args.image), args.left, args.right, args.top, args.bottom, steps=args.steps, blend=not args.no_blend
    )
    write_image(target, result.image, overwrite=args.overwrite)
    width, height = result.image.size
    print(f"wrote {target} ({width}x{height}, {_runs(pipe)}, {result.steps} step(s), {result.seconds:.2f} s)")
    return 0


# ---------------------------------------------------------------------------------------- diverse
def cmd_diverse(args: argparse.Namespace) -> int:
    """Read, draw ``-n`` completions, write them and a contact sheet (all files or none)."""
    from ..api import load
    from ..io import output_set, read_image, write_image
    from ..masks import load_mask
    from ..pipelines.diverse import CONTACT_SHEET, DiversePipeline, contact_sheet, sample_names

    if args.samples < 1:
        raise InputError(f"-n must be at least 1, got {args.samples}")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out} exists and is not a folder")
    targets = [out / name for name in sample_names(args.samples)]
    existing = [path for path in [*targets, out / CONTACT_SHEET] if path.exists()]
    if existing and not args.overwrite:
        raise InputError(
            f"{existing[0]} exists ({len(existing)} of the output files do); pass --overwrite to replace them"
        )
    picture = read_image(args.image, max_pixels=args.max_pixels)
    hole = load_mask(args.mask, max_pixels=args.max_pixels)
    pipe = load(
        args.model,
        weights=args.weights,
        trust=args.trust,
        device=args.device,
        hd_strategy=args.hd_strategy,
        max_pixels=args.max_pixels,
    )
    if not isinstance(pipe, DiversePipeline):
        raise InputError(
            f"{args.model} gives a single completion per input; diverse needs a noise-driven model such as pdgan-small"
        )
    results = pipe.generate(
        picture, hole, args.samples, seed=args.seed, dilate=args.dilate, resize_mask=args.resize_mask
    )
    for message in results[0].warnings:
        log.warning("%s: %s", Path(args.image).name, message)
    sheet = contact_sheet(picture.rgb, results[0].mask, [result.image.rgb for result in results])
    with output_set() as written:  # all of them or none
        for target, result in zip(targets, results):
            written.append(write_image(target, result.image, overwrite=args.overwrite))
        written.append(write_image(out / CONTACT_SHEET, sheet, overwrite=args.overwrite))
    seconds = sum(result.seconds for result in results)
    print(f"wrote {args.samples} samples and {CONTACT_SHEET} to {out} ({seconds:.2f} s)")
    return 0
