"""Reading a project's codings into the long segment table (:func:`read_qdpx`, :func:`import_qdpx`),
and the texts to classify.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..._fs import check_output_path
from ..._version import __version__
from ...codebook import Codebook
from ...corpus import segments_from_records
from ...errors import InputError
from ...segmenting import Turn, paragraph_spans, turn_segments
from ..transcripts import TranscriptOptions, parse_turns
from .archive import DEFAULT_LIMITS, ArchiveLimits
from .mapping import _code_map, read_mapping
from .project import ProjectSource, QdpxProject, SourceText, load_project

__all__ = ["QdpxImport", "read_qdpx", "import_qdpx", "read_qdpx_units", "source_texts"]

logger = logging.getLogger(__name__)


@dataclass
class QdpxImport:
    """The result of :func:`read_qdpx`: the long segment table and what was not used.

    Attributes
    ----------
    segments : pandas.DataFrame
        One row per segment and coder (see :mod:`mpsoc_nlp.corpus`), ``codes`` in codebook order.
    unmapped : dict
        Project code (its path) -> number of codings that were left out because the code maps to
        no codebook code. Write them into a mapping file (or map them to ``""`` to ignore them).
    warnings : list of str
        What the lenient reader skipped or doubted.
    """

    segments: pd.DataFrame
    project: QdpxProject
    code_map: dict[str, tuple[str, ...]]
    unmapped: dict[str, int]
    unused_mapping: list[str]
    warnings: list[str]

    @property
    def coders(self) -> list[str]:
        return sorted(str(c) for c in self.segments["coder"].dropna().unique())


def _units(source: ProjectSource, options: TranscriptOptions) -> tuple[list[dict[str, Any]], bool]:
    """Segment records for the text of one source: its turns, or its paragraphs without labels."""
    turns = parse_turns(source.text, options)
    if turns:
        recs = turn_segments(
            source.text, turns, document_id=source.document_id, speakers=options.speakers, unit=options.unit,
            max_chars=options.max_chars, strip=options.strip_marks, marks=options.marks,
        )
        return recs, True
    paras = [
        Turn(i, None, "participant", s, e, source.text.count("\n", 0, s) + 1)
        for i, (s, e) in enumerate(paragraph_spans(source.text))
    ]
    recs = turn_segments(
        source.text, paras, document_id=source.document_id, speakers="all", unit=options.unit,
        max_chars=options.max_chars, strip=options.strip_marks, marks=options.marks, genre=None,
    )
    for r in recs:
        r["speaker"] = None
        r["role"] = None
        r["context"] = None
    return recs, False


_UNIT_COLUMNS = [
    "segment_id", "document_id", "coder", "genre", "speaker", "turn_index", "start", "end", "text", "codes",
    "role", "source_guid",
]


def read_qdpx(
    path: str | PathLike[str],
    *,
    mapping: str | PathLike[str] | Mapping[str, Any] | None = None,
    codebook: Codebook | None = None,
    options: TranscriptOptions | None = None,
    uncoded: bool = True,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    validate: bool = True,
) -> QdpxImport:
    """Read the codings of every coder of a REFI-QDA project into the long segment table.

    Each coded selection becomes a segment of its coder with the codebook codes its project
    codes map to (selections on the same span are merged). A selection that covers exactly a
    turn of the transcript (or one of its sentence windows) gets that turn's ``segment_id``
    ``DOCUMENT:TURN``, as :func:`~mpsoc_nlp.io.transcripts.read_transcript` gives it; other
    spans get ``DOCUMENT:START-END``. With ``uncoded``, every participant turn that a coder left
    uncoded in a source they coded becomes a segment of that coder with no code, so a model
    learns from negatives too.

    Project codes map to codebook codes through ``mapping`` (a ``.toml``/``.csv`` file or a
    dict: see :func:`read_mapping`) or, when the mapping does not name them, when their name
    or path is a label of the codebook (``geografisk:positiv``, ``Relasjonell / Negativ``). Any
    other code is *not* guessed: its codings are left out and counted in ``unmapped``, with a
    warning.

    ``document_id`` is the source's name without a text extension (``INT-01.docx`` ->
    ``INT-01``), or mapped through ``options.document_ids``.
    """
    codebook = codebook or Codebook.default()
    options = options or TranscriptOptions()
    project = load_project(path, limits=limits, validate=validate, options=options)
    table = read_mapping(mapping, codebook) if mapping is not None else None
    code_map, ignored, unused = _code_map(project, codebook, table)
    warn = list(project.warnings)
    for k in unused:
        msg = f"{path}: the mapping names {k!r}, which is no code of the project"
        warn.append(msg)
        logger.warning("%s", msg)
    unmapped: Counter[str] = Counter()
    records: list[tuple[int, dict[str, Any]]] = []
    row = 0
    for source in project.sources:
        units, has_turns = _units(source, options)
        every = units if options.speakers == "all" else _units(source, replace(options, speakers="all"))[0]
        by_span = {(u["start"], u["end"]): u for u in every}
        turn_spans = [(u["start"], u["end"], u) for u in sorted(every, key=lambda u: (u["start"], u["end"]))]
        per_coder: dict[str, dict[tuple[int, int], set[str]]] = defaultdict(dict)
        touched: dict[str, list[tuple[int, int]]] = defaultdict(list)
        bad = 0
        for sel in source.selections:
            if not sel.codes:
                continue  # an annotation (MAXQDA) or a memo: no coding
            if not (0 <= sel.start < sel.end <= len(source.text)):
                bad += 1
                continue
            coder = project.coder_name(sel.coder)
            touched[coder].append((sel.start, sel.end))
            mapped: set[str] = set()
            any_known = False
            for g in sel.codes:
                if g in code_map:
                    mapped.update(code_map[g])
                    any_known = True
                elif g in ignored:
                    any_known = True
                else:
                    code = project.codes.get(g)
                    unmapped["/".join(code.path) if code else f"<unknown code {g}>"] += 1
            if any_known:
                per_coder[coder].setdefault((sel.start, sel.end), set()).update(mapped)
        if bad:
            msg = f"{path}: source {source.name!r}: {bad} selection(s) lie outside the text; skipped"
            warn.append(msg)
            logger.warning("%s", msg)
        for coder in sorted(touched):
            spans = per_coder.get(coder, {})
            rows_of: list[dict[str, Any]] = []
            for (s, e), codes in spans.items():
                unit = by_span.get((s, e))
                if unit is not None:
                    rec = dict(unit)
                else:
                    inside = next((u for us, ue, u in turn_spans if us <= s < ue), None)
                    rec = {
                        "segment_id": f"{source.document_id}:{s}-{e}",
                        "document_id": source.document_id,
                        "genre": "intervju" if has_turns else None,
                        "speaker": inside["speaker"] if inside else None,
                        "turn_index": inside["turn_index"] if inside else None,
                        "start": s,
                        "end": e,
                        "text": source.text[s:e],
                        "role": inside["role"] if inside else None,
                    }
                rec["codes"] = tuple(sorted(codes, key=codebook.index))
                rows_of.append(rec)
            if uncoded:
                for u in units:
                    if u["role"] not in (None, "participant") and options.speakers == "participant":
                        continue
                    if (u["start"], u["end"]) in spans:
                        continue
                    if any(s < u["end"] and u["start"] < e for s, e in touched[coder]):
                        continue
                    rec = dict(u)
                    rec["codes"] = ()
                    rows_of.append(rec)
            rows_of.sort(key=lambda r: (r["start"], r["end"]))
            for rec in rows_of:
                row += 1
                out = {k: rec.get(k) for k in _UNIT_COLUMNS}
                out["coder"] = coder
                out["source_guid"] = source.guid
                records.append((row, out))
    for name, n in sorted(unmapped.items()):
        msg = (
            f"{path}: the project code {name!r} maps to no code of the codebook; its {n} coding(s) are left out. "
            f"Map it in a mapping file (\"{name}\" = \"type:valence\", or \"\" to ignore it)"
        )
        warn.append(msg)
        logger.warning("%s", msg)
    if not records:
        raise InputError(
            "the project has no codings that map to the codebook"
            + (f" (unmapped project codes: {', '.join(sorted(unmapped))}; give --mapping)" if unmapped else ""),
            path=str(path),
        )
    frame = segments_from_records(records, _UNIT_COLUMNS, path=str(path), codebook=codebook)
    frame["codes"] = [tuple(c) if not isinstance(c, tuple) else c for c in frame["codes"]]
    return QdpxImport(frame, project, code_map, dict(unmapped), unused, warn)


def import_qdpx(
    project: str | PathLike[str],
    out: str | PathLike[str],
    *,
    mapping: str | PathLike[str] | None = None,
    codebook: Codebook | None = None,
    uncoded: bool = True,
    speakers: Literal["participant", "all"] = "participant",
    options: TranscriptOptions | None = None,
    force: bool = False,
    protect: Sequence[str | PathLike[str]] = (),
) -> dict[str, Any]:
    """Read a project's codings (see :func:`read_qdpx`) and write them as a segment table.

    ``options`` (speaker labels and the like) replaces ``speakers`` when given.

    ``out`` is a ``.csv``, ``.tsv``, ``.xlsx``, ``.jsonl`` or ``.parquet`` file, written
    atomically with the project, mapping, coders and library version beside it (sidecar,
    the ``About`` sheet or the Parquet metadata, as for predictions); the codings land in
    the sheet ``Codings`` of an ``.xlsx``. Returns the counts: ``segments``, ``with_codes``,
    ``documents``, ``coders``, ``unmapped`` (project code -> codings left out) and ``out``.
    """
    from ..predictions import CODINGS_SHEET, PredictionWriter, output_format

    fmt = output_format(out, None)
    if fmt == "qdpx":
        raise InputError("--out is the segment table to write: .csv, .tsv, .xlsx, .jsonl or .parquet")
    out_p = check_output_path(out, [project, mapping, *protect], force=force)
    result = read_qdpx(
        project,
        mapping=mapping,
        codebook=codebook,
        uncoded=uncoded,
        options=options or TranscriptOptions(speakers=speakers),
    )
    seg = result.segments.drop(columns=["source_file", "source_row"], errors="ignore")
    meta = {
        "project": str(project),
        "mapping": str(mapping) if mapping else None,
        "coders": result.coders,
        "unmapped_codes": result.unmapped,
        "library_version": __version__,
    }
    with PredictionWriter(out_p, fmt, meta, sheet_name=CODINGS_SHEET, force=force) as writer:
        writer.write(seg)
    return {
        "segments": len(seg),
        "with_codes": int(seg["codes"].map(len).gt(0).sum()),
        "documents": int(seg["document_id"].nunique()),
        "coders": list(result.coders),
        "unmapped": dict(result.unmapped),
        "out": str(out_p),
    }


def read_qdpx_units(
    path: str | PathLike[str],
    *,
    options: TranscriptOptions | None = None,
    codebook: Codebook | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> pd.DataFrame:
    """The segments to classify of a project: the participant turns (or paragraphs) of every
    text source, without coder or codes; offsets are in the project's own plain text."""
    options = options or TranscriptOptions()
    project = load_project(path, limits=limits, validate=False, options=options)
    records: list[tuple[int, dict[str, Any]]] = []
    for source in project.sources:
        units, _ = _units(source, options)
        for u in units:
            rec = {k: u.get(k) for k in _UNIT_COLUMNS if k not in ("coder", "codes")}
            rec["context"] = u.get("context")
            rec["source_guid"] = source.guid
            records.append((len(records) + 1, rec))
    if not records:
        raise InputError("the project has no text sources with text to classify", path=str(path))
    cols = [c for c in _UNIT_COLUMNS if c not in ("coder", "codes")] + ["context"]
    return segments_from_records(records, cols, path=str(path), codebook=codebook)


def source_texts(
    path: str | PathLike[str], *, options: TranscriptOptions | None = None
) -> dict[str, SourceText]:
    """The full texts behind an input file, by document_id: a transcript's text as read, or
    each text source of a ``.qdpx`` project. Empty for tables."""
    suffix = Path(path).suffix.lower()
    if suffix in (".txt", ".docx"):
        from ..transcripts import read_transcript_text, transcript_document_id

        text, _ = read_transcript_text(path)
        doc = transcript_document_id(path, options)
        return {doc: SourceText(doc, Path(path).name, text)}
    if suffix == ".qdpx":
        project = load_project(path, validate=False, options=options)
        return {s.document_id: SourceText(s.document_id, s.name, s.text) for s in project.sources}
    return {}


