"""``serve``: the web app. The web extra (FastAPI, uvicorn) is imported only when it starts."""

from __future__ import annotations

import argparse

from ..types import InpaintKitError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``serve`` on ``sub``."""
    parser = sub.add_parser("serve", help="start the web app (paint a mask in the browser)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else has no authentication)",
    )
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument(
        "--models", default=None, metavar="NAME,NAME", help="offer only these registered models (default: all)"
    )
    parser.add_argument(
        "--max-upload-mb", type=float, default=20.0, metavar="MB", help="largest request body in megabytes (default 20)"
    )
    parser.add_argument(
        "--max-pixels", type=int, default=None, help="largest picture or extended canvas in pixels (default 64 MP)"
    )
    parser.add_argument(
        "--max-run-pixels",
        type=int,
        default=None,
        metavar="N",
        help="largest region a model runs on in one piece (default 2048x2048 = 4,194,304): "
        "hd_strategy=original is refused on larger pictures, crop and resize still work",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=4,
        help="requests admitted at once; one runs, the rest wait, more get 'busy' (default 4)",
    )
    parser.add_argument(
        "--upload-seconds",
        type=float,
        default=300.0,
        metavar="S",
        help="time an upload may take before it is refused (default 300)",
    )
    parser.add_argument(
        "--download-weights",
        action="store_true",
        help="let a request download a learned model's missing weights into the cache",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeatable); always accepted: "
        "localhost, 127.0.0.1, ::1 and the --host address. Other Host headers get "
        "a 400 (this stops DNS rebinding)",
    )
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    try:
        from ..web.server import serve
    except ImportError as err:
        raise InpaintKitError(
            f"the web app needs the web extra ({err.name} is missing): pip install 'inpaintkit[web]'"
        ) from None
    if args.max_upload_mb <= 0:
        raise InpaintKitError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    models = None if args.models is None else [name.strip() for name in args.models.split(",") if name.strip()]
    serve(
        args.host,
        args.port,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=args.max_pixels,
        max_run_pixels=args.max_run_pixels,
        queue_size=args.queue_size,
        upload_seconds=args.upload_seconds,
        models_allowed=models,
        device=args.device,
        allow_downloads=args.download_weights,
        allowed_hosts=args.allow_host,
    )
    return 0
