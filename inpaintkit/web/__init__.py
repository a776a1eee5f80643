"""The web app: paint a mask in the browser, remove, extend, compare, download.

``inpaintkit serve`` (or :func:`inpaintkit.web.server.serve`) starts it; the page and its assets
are served from the package, so it works offline. Needs the ``web`` extra (FastAPI, uvicorn,
python-multipart); ``inpaintkit.cli.serve`` describes ``serve`` without importing them.
"""
