"""The ``mpsoc`` command: parse arguments, call one library function, map errors to exit codes.

Exit codes: 0 success, 2 bad input or usage (a message, no traceback), 1 an internal error.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .errors import MpsocError

__all__ = ["app", "main"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="mpsoc",
    help=(
        "Code Norwegian interview segments and journal notes by MPSOC community type and valence: "
        "validate coded data, train, classify, evaluate against human coders."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DataArg = Annotated[list[Path], typer.Argument(help="Segment tables (.csv .tsv .xlsx .jsonl .parquet).", show_default=False)]
CodebookOpt = Annotated[Optional[Path], typer.Option("--codebook", help="A codebook file (.toml/.yaml); default MPSOC.")]
SheetOpt = Annotated[Optional[str], typer.Option("--sheet", help="XLSX sheet name or 0-based number; default the first.")]
TextColOpt = Annotated[Optional[str], typer.Option("--text-column", help="The column holding the text, if not 'text'.")]
CodesColOpt = Annotated[Optional[str], typer.Option("--codes-column", help="The column holding the codes, if not 'codes'.")]
DocColOpt = Annotated[
    Optional[str], typer.Option("--document-id-column", help="The column naming the document, if not 'document_id'.")
]


class _NotBuilt(MpsocError):
    pass


def _not_built(command: str, issue: str) -> None:
    raise _NotBuilt(
        f"'mpsoc {command}' is not available in this version yet ({issue}). "
        "See the README for what works now."
    )


def _column_map(text: str | None, codes: str | None, document: str | None) -> dict[str, str]:
    out = {}
    if text:
        out["text"] = text
    if codes:
        out["codes"] = codes
    if document:
        out["document_id"] = document
    return out


def _codebook(path: Path | None) -> Any:
    from .codebook import Codebook

    return Codebook.load(path) if path else Codebook.default()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)] = False,
) -> None:
    if version:
        typer.echo(f"mpsoc-nlp {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="mpsoc: %(levelname)s: %(message)s", stream=sys.stderr, force=True)


@app.command()
def validate(
    data: DataArg,
    codebook: CodebookOpt = None,
    sheet: SheetOpt = None,
    text_column: TextColOpt = None,
    codes_column: CodesColOpt = None,
    document_id_column: DocColOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check coded segment tables and summarise them, or list every problem at once."""
    from .corpus import summarize
    from .io import read_segments
    from .reporting import format_summary

    cb = _codebook(codebook)
    segments = read_segments(
        data, codebook=cb, sheet=sheet, columns=_column_map(text_column, codes_column, document_id_column)
    )
    summary = summarize(segments, cb)
    summary["files"] = [str(p) for p in data]
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        typer.echo(format_summary(summary))


@app.command()
def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="The model folder to write.")],
    backend: Annotated[str, typer.Option("--backend", help="linear or transformer.")] = "linear",
    model: Annotated[Optional[str], typer.Option("--model", help="Base model: local folder or hub name.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="A TOML training config.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Train a model on coded segments and save it as a model folder."""
    _not_built("train", "the linear model lands with issue 4, the transformer with issue 5")


@app.command()
def classify(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    inputs: Annotated[list[Path], typer.Argument(help="Segment tables, transcripts or journals to classify.")],
    out: Annotated[Path, typer.Option("--out", help="The predictions file to write.")],
    fmt: Annotated[Optional[str], typer.Option("--format", help="csv, tsv, xlsx, jsonl, parquet or qdpx.")] = None,
) -> None:
    """Classify new segments with a trained model."""
    _not_built("classify", "issue 4")


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    gold: Annotated[list[Path], typer.Argument(help="Segment tables coded by people.")],
    out: Annotated[Path, typer.Option("--out", help="The report folder to write.")],
) -> None:
    """Evaluate a model against human coders, as one more coder."""
    _not_built("evaluate", "issue 6")


@app.command()
def crossval(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="The report folder to write.")],
    folds: Annotated[int, typer.Option("--folds", help="Number of folds, grouped by document.")] = 5,
    learning_curve: Annotated[bool, typer.Option("--learning-curve", help="Also score 20%..100% of the training folds.")] = False,
) -> None:
    """Cross-validate a model, grouping folds by document."""
    _not_built("crossval", "issue 4")


@app.command()
def agreement(
    data: DataArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
) -> None:
    """Inter-rater agreement between coders (and the model)."""
    _not_built("agreement", "issue 6")


@app.command("import-qdpx")
def import_qdpx(
    project: Annotated[Path, typer.Argument(help="A REFI-QDA project (.qdpx).")],
    out: Annotated[Path, typer.Option("--out", help="The segment table to write.")],
) -> None:
    """Read a REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, QualCoder) into a segment table."""
    _not_built("import-qdpx", "issue 7")


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option("--data", help="The sample corpus folder.")] = Path("data_samples"),
) -> None:
    """Run the main job end to end on the sample corpus."""
    from .demo import run_demo

    run_demo(data_dir, echo=typer.echo)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mpsoc`` script; returns the exit code.

    Typer handles usage errors itself (exit 2); library errors become a message and exit 2,
    anything else an "internal error" and exit 1.
    """
    try:
        app(args=argv, prog_name="mpsoc")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except MpsocError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # an internal error: say so, keep the traceback for -vv
        logger.debug("internal error", exc_info=True)
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in mpsoc-nlp; run again with -vv for the traceback and report it.",
            err=True,
        )
        return 1
    return 0
