"""Writes one benchmark's section of docs/benchmarks.md, leaving the others alone."""

import platform
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts in `bench/` (run them with `make bench`). Figures are from "
    "one run on the machine named in each section; compare ratios, not absolute times.\n"
)


def machine() -> str:
    import os

    import tensorflow as tf

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}"
    )


def write_section(title: str, body: str) -> None:
    begin, end = f"<!-- begin {title} -->", f"<!-- end {title} -->"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    section = f"{begin}\n## {title}\n\n_{stamp}, {machine()}._\n\n{body.strip()}\n{end}"
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        text = f"{before}{section}{after}"
    else:
        text = f"{text.rstrip()}\n\n{section}\n"
    BENCHMARKS.parent.mkdir(parents=True, exist_ok=True)
    BENCHMARKS.write_text(text, encoding="utf-8")
