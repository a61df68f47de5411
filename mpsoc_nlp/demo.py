"""``mpsoc demo``: the main job end to end on the sample corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .codebook import Codebook
from .corpus import summarize
from .errors import InputError
from .io import read_segments
from .reporting import format_summary

__all__ = ["run_demo"]


def run_demo(data_dir: str | Path = "data_samples", *, echo: Callable[[str], None] = print) -> dict:
    """Validate and summarise the sample corpus; return its summary."""
    data_dir = Path(data_dir)
    codings = data_dir / "codings.csv"
    if not codings.is_file():
        raise InputError(
            f"the sample corpus is not there ({codings} is missing); run the demo from the repository root "
            "or pass --data FOLDER"
        )
    codebook = Codebook.default()
    echo(f"== 1. Validate {codings}")
    segments = read_segments(codings, codebook=codebook, require_codes=True, require_documents=True)
    summary = summarize(segments, codebook)
    summary["files"] = [str(codings)]
    echo(format_summary(summary))
    return summary
