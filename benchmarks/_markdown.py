"""Replacing one marked section of a Markdown file, shared by the benchmark scripts."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, name: str, section: str, title: str = "# Performance") -> None:
    """Put ``section`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``.

    The rest of the file is left as it is; the section is appended when its markers are absent, and
    a new file starts with ``title``.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{section.strip()}\n{end}"
    text = path.read_text() if path.exists() else title + "\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
