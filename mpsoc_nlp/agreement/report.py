"""``mpsoc agreement``: one function from files to a result (:class:`AgreementReport`).

Two kinds of input:

* a **ratings file** (columns unit, coder, value; see :func:`mpsoc_nlp.io.ratings.read_ratings`):
  every statistic of :func:`~mpsoc_nlp.agreement.statistics.agreement_table` that applies;
* a **segment table** (a ``codes`` column, several coders in long format): the MPSOC views of
  :func:`~mpsoc_nlp.agreement.views.segment_agreement`, per code, per community type, per valence
  and on whole sets of codes, with percentile bootstrap intervals that resample whole documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from mpsoc_nlp.codebook import Codebook
from mpsoc_nlp.errors import InputError

from .._fs import PathArg
from .statistics import AgreementTable, agreement_table
from .views import json_number, segment_agreement, views_records

__all__ = ["AgreementReport", "agreement_report"]

@dataclass
class AgreementReport:
    """What ``mpsoc agreement`` found: a ratings table or the MPSOC views of a segment table."""

    kind: Literal["ratings", "segments"]
    files: list[str]
    table: AgreementTable | None = None
    views: pd.DataFrame | None = None
    level: str = "nominal"
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: for ratings exactly the statistics by name plus ``warnings``."""
        if self.kind == "ratings":
            assert self.table is not None
            out: dict[str, Any] = {k: json_number(v) for k, v in self.table.items()}
            out["warnings"] = list(self.table.warnings) + list(self.info.get("warnings", []))
            return out
        assert self.views is not None
        return {
            "files": self.files,
            **{k: v for k, v in self.views.attrs.items()},
            "views": views_records(self.views),
        }


def _is_segment_table(path: Any, sheet: str | int | None) -> tuple[bool, list[str]]:
    from ..corpus import _resolve_columns
    from ..io.frames import as_frame, is_frame
    from ..io.tables import read_table
    from ..io.workbooks import SheetNeed

    def coded(cols: Sequence[str]) -> bool:
        found = _resolve_columns(cols, None)
        return "value" in cols or "codes" in found or "community_type" in found

    need = SheetNeed(coded, "a 'codes' column, or a 'value' column (ratings)")
    table = as_frame(path) if is_frame(path) else read_table(path, sheet=sheet, need=need).frame
    columns = [str(c) for c in table.columns]
    resolved = _resolve_columns(columns, None)
    return ("codes" in resolved or "community_type" in resolved), columns


def agreement_report(
    paths: PathArg | pd.DataFrame | Sequence[Any],
    *,
    unit: str | None = None,
    coder: str | None = None,
    value: str | None = None,
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal",
    categories: Sequence[Any] | None = None,
    codebook: Codebook | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    sheet: str | int | None = None,
    coders: Sequence[str] | None = None,
) -> AgreementReport:
    """Agreement between the coders of ratings files or segment tables.

    A file is read as a ratings file when ``unit``, ``coder`` or ``value`` is given or it has a
    ``value`` column; otherwise as a segment table when it has a ``codes`` (or ``community_type``)
    column. All files must be of one kind.

    Parameters
    ----------
    paths : path, DataFrame, Dataset, or a list of them
        Tables (CSV, TSV, XLSX, JSONL, Parquet) or frames of the same columns.
    unit, coder, value : str, optional
        Column names of a ratings file (default ``unit``, ``coder``, ``value``).
    level : {'nominal', 'ordinal', 'interval', 'ratio'}
        Level of measurement of a ratings file's values.
    categories : sequence, optional
        A ratings file's categories in order (fixes their number and order).
    codebook : Codebook, optional
        For segment tables; default MPSOC.
    n_resamples, seed, confidence
        Bootstrap intervals of segment tables (resampling documents).
    coders : list of str, optional
        Segment tables: compare only these coders (default: every coder in the files).
    """
    from mpsoc_nlp.io.frames import as_inputs, input_name
    from mpsoc_nlp.io.ratings import read_ratings

    files = as_inputs(paths)
    if not files:
        raise InputError("no input files were given")
    explicit = any(x is not None for x in (unit, coder, value))
    kinds = []
    for path in files:
        if explicit:
            kinds.append("ratings")
            continue
        is_segments, columns = _is_segment_table(path, sheet)
        if "value" in columns:
            kinds.append("ratings")
        elif is_segments:
            kinds.append("segments")
        else:
            raise InputError(
                f"found the columns {columns}: neither a ratings file (columns unit, coder, value; name "
                "yours with --unit, --coder, --value) nor a segment table (a 'codes' column)",
                path=input_name(path),
            )
    if len(set(kinds)) > 1:
        raise InputError(
            "give files of one kind together: "
            + ", ".join(
                f"{input_name(p)} is a {'ratings file' if k == 'ratings' else 'segment table'}"
                for p, k in zip(files, kinds, strict=True)
            )
        )
    names = [input_name(p) for p in files]
    if kinds[0] == "ratings":
        ratings = read_ratings(
            files, unit=unit or "unit", coder=coder or "coder", value=value or "value", level=level,
            categories=categories, sheet=sheet,
        )
        table = agreement_table(ratings, level=level, categories=ratings.attrs.get("categories"))
        return AgreementReport("ratings", names, table=table, level=level)
    if level != "nominal" or categories is not None:
        raise InputError(
            "--level and --categories apply to ratings files (unit, coder, value); a segment table is "
            "compared code by code (present/absent) and on whole sets of codes"
        )
    from mpsoc_nlp.io import read_segments

    codebook = codebook or Codebook.default()
    segments = read_segments(files, codebook=codebook, sheet=sheet, require_codes=True)
    if "coder" not in segments.columns or segments["coder"].isna().all():
        raise InputError(
            "the segment table names no coders: add a 'coder' column, with one row per segment and coder",
            path=names[0],
        )
    if coders:
        known = set(segments["coder"].astype(str))
        unknown = [c for c in coders if c not in known]
        if unknown:
            raise InputError(f"no rows of the coder(s) {unknown}; the files hold {sorted(known)}", path=names[0])
        segments = segments[segments["coder"].astype(str).isin(list(coders))].reset_index(drop=True)
    views = segment_agreement(
        segments, codebook.codes, n_resamples=n_resamples, seed=seed, confidence=confidence,
        group="document_id" if "document_id" in segments.columns else None,
    )
    per_coder = segments["coder"].value_counts()
    views.attrs["segments_per_coder"] = {str(k): int(v) for k, v in per_coder.sort_index().items()}
    views.attrs["n_segments_single"] = int(segments["segment_id"].nunique()) - int(views.attrs["n_segments"])
    return AgreementReport("segments", names, views=views)
