"""The shared options of the ``mpsoc`` commands and the small helpers that turn them into library arguments.

``-v`` becomes the package's log handler here too (:func:`_configure_logging`).

:mod:`mpsoc_nlp.cli` imports these; it holds only the commands and the entry point. Helpers import
the library lazily so that ``mpsoc --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = [
    "DataArg",
    "CodebookOpt",
    "SheetOpt",
    "TextColOpt",
    "CodesColOpt",
    "DocColOpt",
    "ParticipantLabelsOpt",
    "InterviewerLabelsOpt",
    "_transcript_options",
    "_column_map",
    "_read",
    "_codebook",
    "ForceOpt",
    "CoderOpt",
    "ConfigSeedOpt",
    "JobsOpt",
    "BackendOpt",
    "ModelOpt",
    "ConfigOpt",
    "StrategyOpt",
    "_progress",
    "_backend_params",
    "_configure_logging",
]

# the commands' log records keep the CLI's logger name
logger = logging.getLogger("mpsoc_nlp.cli")

DataArg = Annotated[
    list[Path], typer.Argument(help="Segment tables (.csv .tsv .xlsx .jsonl .parquet).", show_default=False)
]
CodebookOpt = Annotated[
    Optional[Path], typer.Option("--codebook", help="A codebook file (.toml/.yaml); default MPSOC.")
]
SheetOpt = Annotated[
    Optional[str],
    typer.Option("--sheet", help="XLSX sheet name or 0-based number; default the one sheet with the needed columns."),
]
TextColOpt = Annotated[Optional[str], typer.Option("--text-column", help="The column holding the text, if not 'text'.")]
CodesColOpt = Annotated[
    Optional[str], typer.Option("--codes-column", help="The column holding the codes, if not 'codes'.")
]
DocColOpt = Annotated[
    Optional[str], typer.Option("--document-id-column", help="The column naming the document, if not 'document_id'.")
]

ParticipantLabelsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--participant-labels",
        help="Transcripts: participants' speaker labels, comma-separated (Kari,Per), added to the known ones.",
    ),
]
InterviewerLabelsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--interviewer-labels",
        help="Transcripts: interviewers' speaker labels, comma-separated (Ola), added to the known ones.",
    ),
]


def _transcript_options(participant: list[str] | None, interviewer: list[str] | None, **kwargs: Any) -> Any:
    """TranscriptOptions with the labels given on the command line (comma-separated) added."""
    from .io.transcripts import TranscriptOptions

    def split(values: list[str] | None) -> list[str]:
        return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]

    return TranscriptOptions.with_labels(split(participant), split(interviewer), **kwargs)


def _column_map(text: str | None, codes: str | None, document: str | None) -> dict[str, str]:
    out = {}
    if text:
        out["text"] = text
    if codes:
        out["codes"] = codes
    if document:
        out["document_id"] = document
    return out


def _read(*paths: Path | None) -> list[Path]:
    """The option files a command reads (a codebook, a config): inputs its output may not touch."""
    return [p for p in paths if p is not None]


def _codebook(path: Path | None) -> Any:
    from .codebook import Codebook

    return Codebook.load(path) if path else Codebook.default()


ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
CoderOpt = Annotated[
    Optional[str], typer.Option("--coder", help="With several coders: whose codes to learn (default: most segments).")
]
ConfigSeedOpt = Annotated[
    Optional[int],
    typer.Option("--seed", help="Random seed: same data and seed give the same model (default: the config's, or 0)."),
]
JobsOpt = Annotated[
    int, typer.Option("--jobs", help="Linear and hybrid: cores to use (-1: all); results do not depend on it.")
]
BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="linear (fast, offline default), hybrid (n-grams + frozen multilingual-e5-small: the best measured; "
        "needs torch) or transformer.",
    ),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="Transformer base model or hybrid encoder: a local folder, a hub name, or multilingual-e5-small "
        "(prepared on first use into the cache, $MPSOC_CACHE; the hybrid's default).",
    ),
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="A TOML file with backend settings.")]
StrategyOpt = Annotated[
    Optional[str],
    typer.Option("--strategy", help="Transformer: finetune (default) or frozen (a linear head on frozen embeddings)."),
]


def _progress(message: str) -> None:
    logger.info("%s", message)
    if sys.stderr.isatty():
        typer.echo(f"  {message}", err=True)


def _backend_params(backend: str, config: Path | None, model: str | None, keep_vocabulary: bool) -> dict[str, Any]:
    from .training import backend_params

    return backend_params(backend, config, model=model, keep_vocabulary=keep_vocabulary)


class _CliHandler(logging.StreamHandler):
    """The handler the command adds (and replaces when run again in one process)."""


def _configure_logging(level: int) -> None:
    """Log the package's messages to stderr; the root logger (and whoever listens there) is left alone."""
    pkg = logging.getLogger("mpsoc_nlp")
    for old in [h for h in pkg.handlers if isinstance(h, _CliHandler)]:
        pkg.removeHandler(old)
    handler = _CliHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mpsoc: %(levelname)s: %(message)s"))
    pkg.addHandler(handler)
    pkg.setLevel(level)
    # progress lines (one per epoch of fine-tuning) show even without -v, also when stderr is a file
    logging.getLogger("mpsoc_nlp.progress").setLevel(min(level, logging.INFO))
