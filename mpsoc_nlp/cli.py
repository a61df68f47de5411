"""The ``mpsoc`` command: parse arguments, call one library function, map errors to exit codes.

Exit codes: 0 success, 2 bad input or usage (a message, no traceback), 1 an internal error.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ._cli_options import (
    BackendOpt,
    CodebookOpt,
    CoderOpt,
    CodesColOpt,
    ConfigOpt,
    ConfigSeedOpt,
    DataArg,
    DocColOpt,
    ForceOpt,
    InterviewerLabelsOpt,
    JobsOpt,
    ModelOpt,
    ParticipantLabelsOpt,
    SheetOpt,
    StrategyOpt,
    TextColOpt,
    _backend_params,
    _codebook,
    _column_map,
    _configure_logging,
    _progress,
    _read,
    _transcript_options,
)
from ._version import __version__
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
    _configure_logging(level)


@app.command()
def validate(
    data: DataArg,
    codebook: CodebookOpt = None,
    sheet: SheetOpt = None,
    text_column: TextColOpt = None,
    codes_column: CodesColOpt = None,
    document_id_column: DocColOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    participant_labels: ParticipantLabelsOpt = None,
    interviewer_labels: InterviewerLabelsOpt = None,
) -> None:
    """Check coded segment tables and summarise them, or list every problem at once."""
    from .corpus import summarize
    from .io.segments import read_segments
    from .reporting import format_summary

    cb = _codebook(codebook)
    segments = read_segments(
        data,
        codebook=cb,
        sheet=sheet,
        columns=_column_map(text_column, codes_column, document_id_column),
        transcripts=_transcript_options(participant_labels, interviewer_labels),
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
    backend: BackendOpt = "linear",
    model: ModelOpt = None,
    config: ConfigOpt = None,
    coder: CoderOpt = None,
    seed: ConfigSeedOpt = None,
    folds: Annotated[
        int, typer.Option("--folds", help="Folds of the grouped cross-validation for the model card (0: skip).")
    ] = 5,
    keep_vocabulary: Annotated[
        bool, typer.Option("--keep-vocabulary", help="Linear: keep the word n-grams for explanations (stores text).")
    ] = False,
    strategy: StrategyOpt = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Transformer: checkpoint each epoch in OUT.checkpoints/ and continue there after a stop."
        ),
    ] = False,
    jobs: JobsOpt = -1,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="The model's name in reports and projects (default: the --out folder's name)."),
    ] = None,
    force: ForceOpt = False,
    codebook: CodebookOpt = None,
    sheet: SheetOpt = None,
    text_column: TextColOpt = None,
    codes_column: CodesColOpt = None,
    document_id_column: DocColOpt = None,
) -> None:
    """Train a model on coded segments and save it as a model folder."""
    from .reporting import scores_text
    from .training import backend_params, resolve_seed
    from .training import train as train_model

    params = backend_params(
        backend, config, model=model, keep_vocabulary=keep_vocabulary, strategy=strategy, resume=resume, out=out
    )
    fitted = train_model(
        data,
        out=out,
        backend=backend,  # type: ignore[arg-type]  # checked by make_coder
        coder=coder,
        codebook=_codebook(codebook),
        seed=resolve_seed(seed, backend, config),
        cv_folds=folds,
        force=force,
        sheet=sheet,
        columns=_column_map(text_column, codes_column, document_id_column),
        name=name,
        progress=_progress,
        jobs=jobs,
        protect=_read(codebook, config),
        **params,
    )
    meta = getattr(fitted, "metadata_", {})
    data_info = meta.get("training_data", {})
    typer.echo(
        f"Trained a {backend} model on {data_info.get('segments')} segments from {data_info.get('documents')} documents"
        + (f" (coder {meta['coder']})" if meta.get("coder") else "")
        + f"; saved to {out}"
    )
    if "metrics" in meta:
        typer.echo(f"Cross-validated scores ({len(meta['metrics']['folds'])} folds grouped by document):")
        typer.echo(scores_text(meta["metrics"]))


@app.command()
def classify(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    out: Annotated[Path, typer.Option("--out", help="The predictions file to write.")],
    inputs: Annotated[
        Optional[list[Path]],
        typer.Argument(
            help="Segment tables, transcripts (.txt .docx), journal exports, .qdpx projects; any mix.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="csv, tsv, xlsx, jsonl, parquet or qdpx (default: from --out).")
    ] = None,
    force: ForceOpt = False,
    batch_size: Annotated[int, typer.Option("--chunk-size", help="Segments read and classified at a time.")] = 10_000,
    sheet: SheetOpt = None,
    text_column: TextColOpt = None,
    into: Annotated[
        Optional[Path],
        typer.Option("--into", help="Add the model's codings to a copy of this .qdpx project (implies --format qdpx)."),
    ] = None,
    mapping: Annotated[
        Optional[Path],
        typer.Option("--mapping", help="With --into: project code names -> codebook codes (.toml/.csv)."),
    ] = None,
    shard: Annotated[
        Optional[str],
        typer.Option("--shard", help="K/N: classify only shard K of N (whole documents); see mpsoc merge."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep finished chunks in OUT.parts/ and continue there after a stop.")
    ] = False,
    all_speakers: Annotated[
        bool, typer.Option("--all-speakers", help="Transcripts: classify the interviewer's turns too.")
    ] = False,
    strip_marks: Annotated[
        bool, typer.Option("--strip-marks", help="Transcripts: leave timestamps and (ler)/(pause) out of the text.")
    ] = False,
    participant_labels: ParticipantLabelsOpt = None,
    interviewer_labels: InterviewerLabelsOpt = None,
    quantize: Annotated[
        bool,
        typer.Option(
            "--quantize",
            help="Transformer or hybrid on CPU: dynamic int8 quantisation of the encoder (faster; costs the "
            "hybrid most of its gain).",
        ),
    ] = False,
    jobs: JobsOpt = -1,
    excel: Annotated[
        bool,
        typer.Option("--excel", help="CSV for Norwegian Excel: UTF-8 with BOM and ';' (default: UTF-8 and ',')."),
    ] = False,
) -> None:
    """Classify new segments with a trained model; existing codes are kept as gold_codes."""
    from .classification import classify as run

    counts = run(
        model_dir,
        inputs or [],
        out,
        fmt=fmt,
        force=force,
        chunk_size=batch_size,
        sheet=sheet,
        columns=_column_map(text_column, None, None),
        into=into,
        mapping=mapping,
        shard=shard,
        resume=resume,
        transcripts=_transcript_options(
            participant_labels,
            interviewer_labels,
            speakers="all" if all_speakers else "participant",
            strip_marks=strip_marks,
        ),
        quantize=quantize,
        jobs=jobs,
        excel=excel,
    )
    typer.echo(
        f"Classified {counts['segments']} segments: {counts['with_codes']} with at least one code, "
        f"{counts['review']} flagged for review. Wrote {counts['out']}"
        + (f" ({counts['selections']} coded selections)" if "selections" in counts else "")
        + (f" (shard {counts['shard']})" if "shard" in counts else "")
    )


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    gold: Annotated[list[Path], typer.Argument(help="Segment tables coded by people.")],
    out: Annotated[Path, typer.Option("--out", help="The report folder to write.")],
    force: ForceOpt = False,
    resamples: Annotated[
        int, typer.Option("--resamples", help="Bootstrap resamples of documents for the intervals.", min=1)
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the bootstrap: the same seed gives the same intervals.")
    ] = 0,
    sheet: SheetOpt = None,
    include_training_data: Annotated[
        bool,
        typer.Option(
            "--include-training-data",
            help="Also score gold documents the model was trained on (labelled as training-data scores).",
        ),
    ] = False,
) -> None:
    """Evaluate a model against human coders, as one more coder; write a report folder.

    Gold documents the model was trained on are left out of the scores (and named) unless
    --include-training-data is given.
    """
    from .report_folders import evaluate_to_folder
    from .reporting import STATISTIC_LABELS

    ev = evaluate_to_folder(
        model_dir, gold, out, force=force, n_resamples=resamples, seed=seed, sheet=sheet,
        include_training_data=include_training_data,
    )
    if ev.overlap.found:
        typer.echo(f"WARNING: {ev.overlap.message()}")
    typer.echo(
        f"Evaluated the model on {ev.gold.segments} segments in {ev.gold.documents} documents, coded by "
        + ", ".join(ev.gold.coders)
        + (" (TRAINING-DATA SCORES: the model was trained on some of these)." if ev.overlap.mode == "included" else ".")
    )
    for note in ev.notes:
        typer.echo(note)
    if ev.human_vs_human:
        stat = STATISTIC_LABELS.get(ev.settings.verdict_statistic, ev.settings.verdict_statistic)
        typer.echo(f"Per code, the model's {stat} with the human coders (mean), against their range:")
        for v in ev.verdicts:
            if v.level == "code":
                model = "  –  " if v.model is None else f"{v.model:5.2f}"
                typer.echo(f"  {v.name:<24} {model}  {v.verdict_text}")
    typer.echo(
        f"{len(ev.disagreements)} segments where coders or model differ. Wrote {out}/report.html, report.md, "
        "metrics.json, disagreements.xlsx"
    )


@app.command()
def crossval(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="The report folder to write.")],
    backend: BackendOpt = "linear",
    model: ModelOpt = None,
    config: ConfigOpt = None,
    folds: Annotated[int, typer.Option("--folds", help="Number of folds, grouped by document.")] = 5,
    learning_curve: Annotated[
        bool, typer.Option("--learning-curve", help="Also train on 20%..100% of the training documents.")
    ] = False,
    coder: CoderOpt = None,
    seed: ConfigSeedOpt = None,
    force: ForceOpt = False,
    codebook: CodebookOpt = None,
    sheet: SheetOpt = None,
) -> None:
    """Cross-validate a model, grouping folds by document; optionally a learning curve."""
    from .crossvalidation import run_crossval
    from .reporting import scores_text
    from .training import resolve_seed

    cv = run_crossval(
        data,
        out=out,
        backend=backend,
        folds=folds,
        learning_curve=learning_curve,
        coder=coder,
        codebook=_codebook(codebook),
        seed=resolve_seed(seed, backend, config),
        force=force,
        sheet=sheet,
        progress=_progress,
        protect=_read(codebook, config),
        **_backend_params(backend, config, model, False),
    )
    typer.echo(f"Cross-validated {backend} coder, {len(cv.fold_scores)} folds grouped by document:")
    typer.echo(scores_text(cv.scores))
    if cv.learning_curve is not None:
        typer.echo("Learning curve (macro F1 over codes, mean over folds):")
        for _, r in cv.learning_curve.iterrows():
            typer.echo(
                f"  {r['fraction']:>4.0%} of training documents, {r['train_segments']:>6.0f} segments: "
                f"{r['macro_f1_mean']:.3f}"
            )
    typer.echo(f"Wrote {out}/report.html, report.md, metrics.json")


@app.command()
def agreement(
    data: Annotated[
        list[Path],
        typer.Argument(
            help="Ratings files (unit, coder, value) or segment tables with several coders (.csv .tsv .xlsx .jsonl "
            ".parquet).",
            show_default=False,
        ),
    ],
    unit: Annotated[
        Optional[str], typer.Option("--unit", help="Ratings file: the column naming the unit (default unit).")
    ] = None,
    coder: Annotated[
        Optional[str], typer.Option("--coder", help="Ratings file: the column naming the coder (default coder).")
    ] = None,
    value: Annotated[
        Optional[str], typer.Option("--value", help="Ratings file: the column of the values (default value).")
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="Ratings file: nominal, ordinal, interval or ratio (Krippendorff's alpha).")
    ] = "nominal",
    categories: Annotated[
        Optional[str],
        typer.Option("--categories", help="Ratings file: all categories in order, comma-separated (a,b,c)."),
    ] = None,
    resamples: Annotated[
        int,
        typer.Option("--resamples", help="Segment table: bootstrap resamples of documents for the intervals.", min=1),
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Segment table: seed of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    codebook: CodebookOpt = None,
    sheet: SheetOpt = None,
    coders: Annotated[
        Optional[str], typer.Option("--coders", help="Segment table: compare only these coders, comma-separated (A,B).")
    ] = None,
) -> None:
    """Inter-rater agreement: every statistic that applies to a ratings file (unit, coder, value), or the MPSOC
    views of a segment table with several coders (per code, type, valence and whole sets, with intervals)."""
    from .agreement import agreement_report
    from .reporting import agreement_text

    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise typer.BadParameter(f"--level must be nominal, ordinal, interval or ratio, not {level!r}")
    cats = [c.strip() for c in categories.split(",") if c.strip()] if categories is not None else None
    report = agreement_report(
        data,
        unit=unit,
        coder=coder,
        value=value,
        level=level,  # type: ignore[arg-type]
        categories=cats,  # type: ignore[arg-type]
        codebook=_codebook(codebook),
        n_resamples=resamples,
        seed=seed,
        sheet=sheet,
        coders=[c.strip() for c in coders.split(",") if c.strip()] if coders else None,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, allow_nan=False))
    else:
        typer.echo(agreement_text(report))


@app.command("import-qdpx")
def import_qdpx(
    project: Annotated[Path, typer.Argument(help="A REFI-QDA project (.qdpx).")],
    out: Annotated[Path, typer.Option("--out", help="The segment table to write (.csv .tsv .xlsx .jsonl .parquet).")],
    mapping: Annotated[
        Optional[Path], typer.Option("--mapping", help="Project code names -> codebook codes (.toml or .csv).")
    ] = None,
    no_uncoded: Annotated[
        bool, typer.Option("--no-uncoded", help="Leave out the participant turns a coder left uncoded.")
    ] = False,
    all_speakers: Annotated[
        bool, typer.Option("--all-speakers", help="Uncoded interviewer turns become segments too.")
    ] = False,
    force: ForceOpt = False,
    codebook: CodebookOpt = None,
    participant_labels: ParticipantLabelsOpt = None,
    interviewer_labels: InterviewerLabelsOpt = None,
) -> None:
    """Read a REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, QualCoder) into a segment table."""
    from .io.qdpx import import_qdpx as run

    res = run(
        project,
        out,
        mapping=mapping,
        codebook=_codebook(codebook),
        uncoded=not no_uncoded,
        options=_transcript_options(
            participant_labels, interviewer_labels, speakers="all" if all_speakers else "participant"
        ),
        force=force,
        protect=_read(codebook),
    )
    n, coded, coders = res["segments"], res["with_codes"], res["coders"]
    typer.echo(
        f"Read {n} segments of {len(coders)} coder(s) ({', '.join(coders)}) from "
        f"{res['documents']} documents: {coded} with codes, {n - coded} without. Wrote {res['out']}"
    )
    if res["unmapped"]:
        typer.echo(
            "Project codes that map to no codebook code (their codings are left out; map them with --mapping):",
            err=True,
        )
        for name, count in sorted(res["unmapped"].items()):
            typer.echo(f"  {name!r}: {count} coding(s)", err=True)


@app.command()
def merge(
    shards: Annotated[list[Path], typer.Argument(help="Prediction files of --shard K/N runs.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="The merged predictions file (same format as the shards).")],
    force: ForceOpt = False,
) -> None:
    """Join the predictions of `mpsoc classify --shard K/N` runs into one file."""
    from .classification import merge_predictions

    res = merge_predictions(shards, out, force=force)
    rows = f"{res['rows']} rows from " if res["rows"] is not None else ""
    typer.echo(f"Merged {rows}{len(res['files'])} files into {res['out']}")


@app.command("export-qdc")
def export_qdc(
    out: Annotated[Path, typer.Argument(help="The REFI-QDA codebook file to write (.qdc).")],
    codebook: CodebookOpt = None,
    force: ForceOpt = False,
) -> None:
    """Write the codebook as a REFI-QDA .qdc, to import into NVivo, ATLAS.ti, MAXQDA or QualCoder."""
    from .io.qdpx import write_qdc

    typer.echo(f"Wrote {write_qdc(out, _codebook(codebook), force=force, protect=_read(codebook))}")


@app.command("prepare-model")
def prepare_model(
    name: Annotated[str, typer.Argument(help="The pretrained model: multilingual-e5-small.")],
    out: Annotated[Path, typer.Option("--out", help="The Hugging Face folder to write.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a folder prepare-model wrote before.")] = False,
    weights: Annotated[
        Optional[Path],
        typer.Option("--weights", help="A copy of the package's weights file to convert (same sha256 required)."),
    ] = None,
) -> None:
    """Write a local Hugging Face folder of a pretrained encoder from an installed package (offline)."""
    from .models.pretrained import prepare_model as run

    done = run(name, out=out, force=force, weights=weights)
    typer.echo(f"Prepared {name} in {done}; use it with --backend hybrid --model {done} (or --backend transformer)")


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option("--data", help="The sample corpus folder.")] = Path("data_samples"),
    out: Annotated[Path, typer.Option("--out", help="Where the demo writes (replaced on every run).")] = Path(
        "out/demo"
    ),
    backend: Annotated[
        str, typer.Option("--backend", help="linear (the default, no torch needed) or hybrid (n-grams + frozen e5).")
    ] = "linear",
    model: Annotated[
        Optional[str],
        typer.Option("--model", help="Hybrid: the encoder, a folder or multilingual-e5-small (the default)."),
    ] = None,
) -> None:
    """Run the main job end to end on the sample corpus: validate, train, classify, compare with a human coder."""
    from .demo import run_demo

    run_demo(data_dir, out, echo=typer.echo, backend=backend, model=model)


class Terminated(KeyboardInterrupt):
    """SIGTERM (Slurm's time limit, ``scancel``, ``kill``), raised so that every temporary file is removed."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mpsoc`` script; returns the exit code.

    Typer handles usage errors itself (exit 2); library errors become a message and exit 2,
    anything else an "internal error" and exit 1. SIGTERM is handled as Ctrl-C is (temporary
    files removed, nothing published) and gives exit 143.
    """
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> int:
    try:
        app(args=argv, prog_name="mpsoc")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except MpsocError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except Terminated:
        typer.echo("Terminated (SIGTERM).", err=True)
        return 143
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
