"""Classify segment tables with a trained coder, streaming in chunks (the library side of ``mpsoc classify``)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._fs import PathArg, atomic_write_text, check_output_path, is_our_folder, sha256_file, write_marker
from ._version import __version__
from .errors import InputError, InputProblem
from .io.cells import check_row_limit
from .io.frames import as_frame, as_inputs, input_name, is_frame
from .io.predictions import PROBA_PREFIX, PredictionWriter, output_format
from .io.segments import iter_segment_chunks
from .io.tables import (
    MERGE_FORMATS,
    TableWriter,
    count_rows,
    merge_tables,
    metadata_sidecar,
    read_jsonl_frame,
    read_metadata,
)
from .models.base import BaseCoder
from .models.folder import load_model, model_digest, read_model_json

if TYPE_CHECKING:
    from .io.journals import JournalOptions
    from .io.transcripts import TranscriptOptions

__all__ = ["PARTS_KIND", "classify", "merge_predictions", "parse_shard", "predict_frame", "prediction_metadata"]

logger = logging.getLogger(__name__)
progress_logger = logging.getLogger("mpsoc_nlp.progress")

#: The kind of folder in the marker of a ``--resume`` run's ``OUT.parts/``.
PARTS_KIND = "classify-parts"


def prediction_metadata(model: BaseCoder, model_dir: PathArg | None = None) -> dict[str, Any]:
    """What every prediction file records: model (and the sha256 of its folder's content), codebook,
    thresholds, library version."""
    meta = getattr(model, "metadata_", {})
    return {
        "model": str(model_dir) if model_dir is not None else meta.get("name"),
        "model_sha256": model_digest(model_dir) if model_dir is not None else None,
        "model_name": meta.get("name"),
        "backend": model.backend,
        "codebook": model.codebook_.name + " " + model.codebook_.version,
        "codes": list(model.codebook_.codes),
        "thresholds": [float(t) for t in model.thresholds_],
        "library_version": __version__,
    }


def predict_frame(model: BaseCoder | PathArg, segments: pd.DataFrame) -> pd.DataFrame:
    """The model's codes for a frame of segments, as a labelled DataFrame for analysis.

    Parameters
    ----------
    model : BaseCoder or path
        A fitted coder, or a model folder to load.
    segments : DataFrame
        A segment frame (:func:`~mpsoc_nlp.io.read_segments`, which also reads a frame from
        ``pd.read_excel``) or any frame with a ``text`` column of strings.

    Returns
    -------
    DataFrame
        The frame's columns and index, ``gold_codes`` (the input's ``codes``, if any) after
        ``text``, ``codes`` (a tuple of codes in codebook order), one ``p:CODE`` probability
        column per code (rounded to 4 decimals) and ``review`` (a probability near its threshold:
        a person should look). :meth:`BaseCoder.predict_proba` gives the same probabilities as a
        bare array in codebook order.

    Examples
    --------
    With a model folder and a sheet: ``predict_frame("models/mpsoc", pd.read_excel("nye.xlsx"))``;
    ``pred[pred["review"]]`` are then the near calls. A model object works too:

    >>> import pandas as pd
    >>> from mpsoc_nlp.models.linear import LinearCoder
    >>> texts = ["Mamma ringer hver dag.", "Gutta drar meg tilbake.", "Jeg bor i byen.", "Mamma er der."] * 3
    >>> codes = [("relasjonell:positiv",), ("rusrelatert:negativ",), (), ("relasjonell:positiv",)] * 3
    >>> model = LinearCoder(threshold_folds=0).fit(texts, codes)
    >>> pred = predict_frame(model, pd.DataFrame({"text": ["Mamma ringer meg."]}, index=["s1"]))
    >>> list(pred.index), pred.loc["s1", "codes"], len([c for c in pred.columns if c.startswith("p:")])
    (['s1'], ('relasjonell:positiv',), 10)
    """
    if not isinstance(model, BaseCoder):
        model = load_model(model)
    if "text" not in segments.columns:
        raise InputError(
            f"predict_frame needs a 'text' column; the frame has {list(map(str, segments.columns))}. "
            "Rename it, or read the frame with read_segments(frame, columns={'text': ...})",
            path="DataFrame",
        )
    proba = model.predict_proba(segments["text"].tolist())
    codes = model.codebook_.decode(proba, model.thresholds_)
    out = segments.drop(columns=["codes"], errors="ignore").copy()
    if "codes" in segments.columns:
        out.insert(out.columns.get_loc("text") + 1, "gold_codes", segments["codes"].to_numpy())
    out["codes"] = codes
    for j, code in enumerate(model.codebook_.codes):
        out[f"{PROBA_PREFIX}{code}"] = np.round(proba[:, j], 4)
    out["review"] = model.review(proba)
    return out


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``'3/10'`` -> ``(3, 10)``: the third of ten shards (``K`` counts from 1, as Slurm arrays do).

    >>> parse_shard("3/10")
    (3, 10)
    """
    if shard is None or shard == "":
        return None
    if isinstance(shard, tuple):
        k, n = shard
    else:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(shard))
        if not m:
            raise InputError(f"--shard must look like K/N (for example 3/10), not {shard!r}")
        k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        hint = " (shards count from 1: with a Slurm array use --array=1-N)" if k == 0 else ""
        raise InputError(f"--shard {k}/{n}: K must be between 1 and N{hint}")
    return k, n


def _shard_mask(frame: pd.DataFrame, k: int, n: int) -> np.ndarray:
    """Rows of shard ``k`` of ``n``: whole documents, by a stable hash of ``document_id``."""
    if "document_id" in frame.columns:
        pairs = zip(frame["document_id"], frame["segment_id"], strict=True)
        keys = [d if isinstance(d, str) and d else s for d, s in pairs]
    else:
        keys = list(frame["segment_id"])
    return np.fromiter((zlib.crc32(str(x).encode("utf-8")) % n == k - 1 for x in keys), dtype=bool, count=len(keys))


def _signature(paths: list[PathArg], model_sha256: str | None, **options: Any) -> dict[str, Any]:
    files = []
    for p in paths:
        st = Path(p).stat()
        files.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return {"inputs": files, "model_sha256": model_sha256, **options}


def _write_part(path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    """One finished chunk of a ``--resume`` run, as plain JSONL (no metadata); returns its rows and sha256."""
    with TableWriter(path, "jsonl", force=True) as writer:
        writer.write(frame)
    return {"rows": writer.rows, "sha256": writer.sha256}


def _check_parts(parts: Path, state: dict[str, Any]) -> None:
    """Refuse to resume from finished chunks that changed since they were written (cut, edited, lost)."""
    for name, info in sorted(state.get("parts", {}).items()):
        part = parts / name
        if not part.is_file() or sha256_file(part) != info.get("sha256"):
            raise InputError(
                f"{part} is missing or changed since this run wrote it (its sha256 differs from state.json); "
                f"delete {parts} to start afresh",
                path=str(part),
            )


def _open_parts(parts: Path, signature: dict[str, Any]) -> dict[str, Any]:
    """The state of a ``--resume`` run in ``parts`` (checked), or a new one in a new marked folder."""
    if parts.exists() and not is_our_folder(parts, PARTS_KIND):
        raise InputError(
            f"{parts} holds a run with other inputs, model or options, or files that mpsoc did not write (it has "
            "no marker); move it away to start afresh, or run without --resume"
        )
    state_file = parts / "state.json"
    if state_file.is_file():
        state: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
        if state.get("signature") != signature:
            raise InputError(
                f"{parts} holds a run with other inputs, model or options (the model folder's content changed, or "
                "an input); delete the folder to start afresh, or run without --resume"
            )
        _check_parts(parts, state)
        logger.info("resuming after %d finished chunks (%d segments)", state["done"], state["counts"]["segments"])
        return state
    parts.mkdir(parents=True, exist_ok=True)
    write_marker(parts, PARTS_KIND)
    return {"signature": signature, "done": 0, "counts": {"segments": 0, "with_codes": 0, "review": 0}, "parts": {}}


def _read_part(path: Path) -> pd.DataFrame:
    """A chunk that :func:`_write_part` wrote, with the dtypes :func:`predict_frame` gave it."""
    frame = read_jsonl_frame(path)
    for c in ("codes", "gold_codes"):
        if c in frame.columns:
            frame[c] = [tuple(v) if isinstance(v, list) else v for v in frame[c]]
    for c in ("turn_index", "start", "end", "source_row"):
        if c in frame.columns:
            frame[c] = frame[c].astype("Int64")
    for c in frame.columns:
        if str(c).startswith(PROBA_PREFIX):
            frame[c] = frame[c].astype(float)
    if "review" in frame.columns:
        frame["review"] = frame["review"].astype(bool)
    return frame


def classify(
    model: BaseCoder | PathArg,
    inputs: PathArg | pd.DataFrame | Sequence[Any] | None,
    out: PathArg,
    *,
    fmt: str | None = None,
    force: bool = False,
    chunk_size: int = 10_000,
    sheet: str | int | None = None,
    columns: dict[str, str] | None = None,
    progress: bool | None = None,
    into: PathArg | None = None,
    mapping: PathArg | dict[str, Any] | None = None,
    shard: str | tuple[int, int] | None = None,
    resume: bool = False,
    transcripts: TranscriptOptions | None = None,
    journals: JournalOptions | None = None,
    quantize: bool = False,
    jobs: int | None = -1,
    protect: Sequence[PathArg] = (),
    excel: bool = False,
) -> dict[str, Any]:
    """Classify segment tables, transcripts, journal exports or projects and write predictions.

    Inputs are streamed in chunks of ``chunk_size`` segments and the output is written as it
    goes under a temporary name, so memory stays flat and an interrupted run leaves nothing.
    Existing ``codes`` in the input are carried through as ``gold_codes`` and never used.

    Parameters
    ----------
    inputs : path, DataFrame, Dataset, or a list of them
        Segment tables, ``.txt``/``.docx`` transcripts, journal exports, ``.qdpx`` projects, in
        any mix; a DataFrame or ``datasets.Dataset`` is read as a table (see
        :func:`~mpsoc_nlp.io.read_segments`). May be empty with ``into``: then the project's own texts are classified.
    fmt : str, optional
        ``csv``, ``tsv``, ``xlsx``, ``jsonl``, ``parquet`` or ``qdpx``; default from ``out``.
    into : path, optional
        A researcher's ``.qdpx``: write a copy of it with the model's codings added (``qdpx``).
    mapping : path or dict, optional
        With ``into``: the project's code names -> codebook codes, to code with its own codes.
    shard : str or (int, int), optional
        ``"K/N"``: classify only the K-th of N shards (whole documents, by a stable hash of
        ``document_id``); join the outputs with :func:`merge_predictions`.
    resume : bool
        Keep finished chunks in ``OUT.parts/`` and, when run again with the same inputs and
        options, continue after the last finished chunk. The folder is removed at the end.
    transcripts, journals : options, optional
        How transcripts and journal exports are segmented.
    quantize : bool
        A transformer or hybrid model folder on CPU: load its encoder with dynamic int8
        quantisation (for the hybrid a warning says what it costs).
    excel : bool
        CSV for Norwegian Excel: UTF-8 with BOM and ``;`` as delimiter, so a double-click opens it
        in columns with æøå intact (the default CSV, UTF-8 and ``,``, suits pandas and R).
    jobs : int, optional
        Cores the linear coder uses within each chunk (joblib; ``-1``: all, ``None``: the model's
        own setting). The output does not depend on it.
    protect : paths
        Further files the run reads: like the inputs, ``out`` is never one of them.

    Before any work the output is checked (:func:`mpsoc_nlp._fs.check_output_path`: never an
    input, never inside the model folder; an existing file only with ``force``), and for
    ``.xlsx`` the rows of the table inputs are counted against the worksheet's row limit.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1 segment, not {chunk_size!r}")
    model_dir = None
    if not isinstance(model, BaseCoder):
        model_dir = model
        if quantize:
            if read_model_json(model).get("backend") not in ("transformer", "hybrid"):
                raise InputError("--quantize applies to transformer and hybrid models only (their encoder)")
            model = load_model(model, quantize=True)
        else:
            model = load_model(model)
    elif quantize:
        raise InputError(
            "quantize applies when a model folder is loaded: pass its path, or load_model(path, quantize=True)"
        )
    if jobs is not None and "n_jobs" in model.get_params():
        model.set_params(n_jobs=jobs)
    codebook = model.codebook_
    paths: list[Any] = as_inputs(inputs)  # paths, DataFrames or Datasets
    files = [p for p in paths if not is_frame(p)]
    if into is not None:
        if fmt is not None and fmt.lower().lstrip(".") != "qdpx":
            raise InputError(f"--into writes a .qdpx project; --format {fmt} does not go with it")
        fmt = "qdpx"
        if not paths:
            paths = [into]
    if not paths:
        raise InputError("no input files were given")
    for p in files:
        if Path(p).is_dir():
            raise InputError(f"is a folder; give the files in it, e.g. {Path(p) / '*.csv'}", path=str(p))
    if resume and len(files) < len(paths):
        raise InputError("resume continues a run over input files; a DataFrame or Dataset is classified whole")
    fmt = output_format(out, fmt)
    if excel and fmt != "csv":
        raise InputError(f"--excel writes CSV for Excel (UTF-8 with BOM, ';'); it does not apply to {fmt}")
    shard_kn = parse_shard(shard)
    mapping_path = None if mapping is None or isinstance(mapping, dict) else mapping
    out_p = check_output_path(out, [model_dir, *files, into, mapping_path, *protect], force=force)
    if fmt == "xlsx" and shard_kn is None:
        check_row_limit(sum(count_rows(p, sheet=sheet) or 0 for p in files), out_p)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm.auto import tqdm

    meta = prediction_metadata(model, model_dir)
    meta["inputs"] = [input_name(p) for p in paths]
    if shard_kn is not None:
        meta["shard"] = f"{shard_kn[0]}/{shard_kn[1]}"
    if into is not None:
        meta["into"] = str(into)

    counts: dict[str, Any] = {"segments": 0, "with_codes": 0, "review": 0, "files": [input_name(p) for p in paths]}
    if shard_kn is not None:
        counts["shard"] = meta["shard"]

    parts: Path | None = None
    state: dict[str, Any] = {}
    if resume:
        parts = out_p.with_name(out_p.name + ".parts")
        signature = _signature(
            paths, meta["model_sha256"] or meta["model"], chunk_size=chunk_size, fmt=fmt, shard=meta.get("shard"),
            sheet=sheet, columns=columns or {}, into=str(into) if into is not None else None,
            transcripts=repr(transcripts), journals=repr(journals),
        )
        state = _open_parts(parts, signature)
        for k in ("segments", "with_codes", "review"):
            counts[k] = state["counts"][k]

    def predictions() -> Any:
        """Prediction chunks of every input (this shard only), columns aligned to the first."""
        columns_seen: list[str] | None = state.get("columns")
        index = 0
        sample.clear()
        for path in paths:
            for chunk in iter_segment_chunks(
                path, chunk_size=chunk_size, codebook=codebook, sheet=sheet, columns=columns,
                transcripts=transcripts, journals=journals,
            ):
                i = index
                index += 1
                if not sample and len(chunk):
                    sample.append(chunk.iloc[:1])
                if parts is not None and i < state["done"]:
                    continue
                if shard_kn is not None:
                    chunk = chunk[_shard_mask(chunk, *shard_kn)].reset_index(drop=True)
                pred = predict_frame(model, chunk) if len(chunk) else None
                if pred is not None:
                    if columns_seen is None:
                        columns_seen = list(pred.columns)
                    else:
                        for c in columns_seen:
                            if c not in pred.columns:
                                pred[c] = None
                        extra = [c for c in pred.columns if c not in columns_seen]
                        if extra:
                            logger.warning("%s: columns %s are not in the first input and are left out", path, extra)
                        pred = pred[columns_seen]
                yield i, pred, columns_seen

    sample: list[pd.DataFrame] = []

    def write_empty(writer: Any) -> None:
        """A shard that got no documents still writes a valid file with the columns and metadata."""
        if sample:
            writer.write(predict_frame(model, sample[0]).iloc[:0])

    def open_writer() -> Any:
        if fmt == "qdpx":
            from .io.qdpx import QdpxWriter, source_texts

            sources: dict[str, Any] = {}
            if into is None:
                for p in files:
                    sources.update(source_texts(p, options=transcripts))
            return QdpxWriter(
                out_p, meta, codebook=codebook, sources=sources, into=into, mapping=mapping, options=transcripts,
                force=force,
            )
        return PredictionWriter(out_p, fmt, meta, force=force, excel=excel)

    def tally(pred: pd.DataFrame) -> None:
        counts["segments"] += len(pred)
        counts["with_codes"] += int(pred["codes"].map(len).gt(0).sum())
        counts["review"] += int(pred["review"].sum())

    total = _expected_rows(paths, sheet) if show and shard_kn is None else None
    with tqdm(total=total, unit=" segments", disable=not show, file=sys.stderr, desc="classifying") as bar:
        # a Slurm log or a redirected stderr: a plain line now and then instead of a bar
        step = bar.update if show else _ChunkLog().update
        if parts is None:
            with open_writer() as writer:
                for _, pred, _ in predictions():
                    if pred is None:
                        continue
                    writer.write(pred)
                    tally(pred)
                    step(len(pred))
                if not writer.rows:
                    write_empty(writer)
        else:
            step(counts["segments"])
            for i, pred, cols in predictions():
                if pred is not None:
                    name = f"part-{i:07d}.jsonl"
                    state.setdefault("parts", {})[name] = _write_part(parts / name, pred)
                    tally(pred)
                    step(len(pred))
                totals = {k: counts[k] for k in ("segments", "with_codes", "review")}
                state.update(done=i + 1, columns=cols, counts=totals)
                atomic_write_text(parts / "state.json", json.dumps(state, ensure_ascii=False), replace=True)
            _check_parts(parts, state)
            with open_writer() as writer:
                for name in sorted(state.get("parts", {})):
                    writer.write(_read_part(parts / name))
                if not writer.rows:
                    write_empty(writer)
            shutil.rmtree(parts)
    if fmt == "qdpx":
        counts["selections"] = getattr(writer, "written", 0)
    counts["out"] = str(out_p)
    return counts


def _expected_rows(paths: Sequence[Any], sheet: str | int | None) -> int | None:
    """Segments the inputs hold, for the progress bar's total: ``None`` unless every input is a table."""
    total = 0
    for p in paths:
        n = len(as_frame(p)) if is_frame(p) else count_rows(p, sheet=sheet)
        if n is None:
            return None
        total += n
    return total


class _ChunkLog:
    """Progress for a log file: one line on the ``mpsoc_nlp.progress`` logger at most every ``every`` seconds."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            progress_logger.info("classified %d segments (%.0f segments/s)", self.done, rate)


def _check_shard(path: Path, fmt: str, meta: dict[str, Any] | None) -> list[InputProblem]:
    """Problems of one shard against its own metadata: none recorded, a cut or edited file, a damaged Parquet."""
    if meta is None:
        where = "the Parquet metadata" if fmt == "parquet" else f"{path.name}.meta.json beside it"
        return [InputProblem(str(path), f"no mpsoc metadata ({where}): cannot check that the file is whole and "
                             "comes from the same model; merge only files that 'mpsoc classify --shard' wrote")]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(path)  # a cut file has no footer
        except Exception:
            return [InputProblem(str(path), "the Parquet file is damaged or cut short; classify this shard again")]
        return []
    if "sha256" not in meta:
        return [InputProblem(str(path), "its metadata records no sha256 (an earlier mpsoc-nlp wrote it): cannot "
                             "check that the file is whole; classify this shard again")]
    if sha256_file(path) != meta["sha256"]:
        rows = f" ({meta['rows']} rows when written)" if "rows" in meta else ""
        return [InputProblem(str(path), f"the file changed since it was written{rows}: its sha256 differs from "
                             "its metadata (cut short or edited?); classify this shard again")]
    return []


def merge_predictions(shards: Sequence[PathArg], out: PathArg, *, force: bool = False) -> dict[str, Any]:
    """Join prediction files of ``--shard K/N`` runs into one file of the same format.

    Each shard is verified against its own metadata (CSV/TSV/JSONL: row count and sha256 in the
    sidecar; Parquet: an intact footer); the shards must come from the same model (the sha256 of
    its folder's content, not its path), codebook and thresholds, and when they record their
    shard, all of ``1..N`` must be there exactly once. CSV/TSV/JSONL/Parquet are copied with flat
    memory.
    """
    paths = [Path(p) for p in shards]
    if not paths:
        raise InputError("no prediction files were given to merge")
    for p in paths:
        if not p.is_file():
            raise InputError("no such file", path=str(p))
    fmts = {output_format(p, None) for p in paths}
    if len(fmts) > 1:
        raise InputError(f"the shards have different formats ({', '.join(sorted(fmts))}); merge files of one format")
    fmt = fmts.pop()
    if fmt not in MERGE_FORMATS:
        raise InputError(
            f"mpsoc merge joins {', '.join(MERGE_FORMATS)} files, not {fmt}; write the shards as one of those"
        )
    out_fmt = output_format(out, None)
    if out_fmt != fmt:
        raise InputError(f"the merged file must have the shards' format ({fmt}), not {out_fmt}")
    sidecars = [metadata_sidecar(p) for p in paths] if fmt != "parquet" else []
    out_p = check_output_path(out, [*paths, *sidecars], force=force)
    metas = [read_metadata(p, fmt) for p in paths]
    problems = [problem for p, m in zip(paths, metas, strict=True) for problem in _check_shard(p, fmt, m)]
    known = [(p, m) for p, m in zip(paths, metas, strict=True) if m is not None]
    if known:
        ref_p, ref = known[0]
        for p, m in known[1:]:
            for key in ("model_sha256", "codes", "thresholds", "library_version"):
                if m.get(key) != ref.get(key):
                    what = "model (the content of its folder)" if key == "model_sha256" else key
                    msg = f"its {what} differs from {ref_p.name}'s"
                    if key != "model_sha256":
                        msg += f": {m.get(key)!r} vs {ref.get(key)!r}"
                    problems.append(InputProblem(str(p), msg))
        shard_ids = [str(m["shard"]) for _, m in known if m.get("shard")]
        if shard_ids:
            parsed = [kn for kn in (parse_shard(s) for s in shard_ids) if kn is not None]
            ns = {n for _, n in parsed}
            if len(ns) > 1:
                problems.append(
                    InputProblem(str(out_p), f"the shards split the input in different ways: {sorted(set(shard_ids))}")
                )
            else:
                n = ns.pop()
                got = Counter(k for k, _ in parsed)
                dup = sorted(k for k, c in got.items() if c > 1)
                missing = sorted(set(range(1, n + 1)) - set(got))
                if dup:
                    problems.append(InputProblem(str(out_p), f"shard(s) {dup} of {n} are given twice"))
                if missing:
                    problems.append(InputProblem(str(out_p), f"shard(s) {missing} of {n} are missing"))
    if problems:
        raise InputError(problems)
    merged = None
    if known:
        merged = {k: v for k, v in known[0][1].items() if k not in ("shard", "sha256")}
        if all("rows" in m for _, m in known):
            merged["rows"] = sum(int(m["rows"]) for _, m in known)
        merged["merged_from"] = [str(x) for x in paths]
    rows = merge_tables(paths, out_p, fmt, merged, force=force)
    return {"files": [str(p) for p in paths], "rows": rows, "out": str(out_p)}
