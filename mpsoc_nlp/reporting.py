"""Render results for people as plain text and Markdown tables. No statistics here.

The report pages of evaluate and crossval (Markdown and HTML) are in :mod:`mpsoc_nlp.report_pages`, every plot
in :mod:`mpsoc_nlp.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "STATISTIC_LABELS",
    "SUMMARY_LABELS",
    "agreement_text",
    "format_summary",
    "scores_text",
    "segment_agreement_text",
]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text summary of a segment table, as ``mpsoc validate`` prints it."""
    lines = []
    files = summary.get("files")
    if files:
        lines.append("Valid: " + ", ".join(files))
    lines.append(f"  documents  {summary['documents']}")
    lines.append(
        f"  segments   {summary['segments']}"
        + (f"  ({summary['rows']} rows over coders)" if summary["rows"] != summary["segments"] else "")
    )
    coders = summary.get("coders") or {}
    if coders:
        lines.append("  coders     " + ", ".join(f"{k} ({v})" for k, v in coders.items()))
    if summary.get("genres"):
        lines.append("  genres     " + ", ".join(f"{k} ({v})" for k, v in summary["genres"].items()))
    q = summary["text_length_chars"]
    lines.append(
        f"  text length (characters): min {q['min']}, quartiles {q['q1']:.0f} / {q['median']:.0f} / "
        f"{q['q3']:.0f}, max {q['max']}"
    )
    if summary.get("has_codes"):
        lines.append(f"  no code    {_pct(summary['share_no_code'])} of rows")
        lines.append(f"  2+ codes   {_pct(summary['share_two_or_more'])} of rows")
        by_coder = summary.get("codes_by_coder")
        width = max(len(c) for c in summary["codes"])
        if by_coder:
            names = list(by_coder)
            lines.append("  " + "code".ljust(width) + "  " + "  ".join(f"{n:>6}" for n in names))
            for code in summary["codes"]:
                lines.append("  " + code.ljust(width) + "  " + "  ".join(f"{by_coder[n][code]:>6}" for n in names))
        else:
            lines.append("  " + "code".ljust(width) + "  segments")
            for code, n in summary["codes"].items():
                lines.append("  " + code.ljust(width) + f"  {n:>8}")
    else:
        lines.append("  (no codes in the data: it can be classified, not used for training)")
    return "\n".join(lines)


def _f(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and x != x) else f"{x:.3f}"


SUMMARY_LABELS = (
    ("micro_f1", "micro F1 (codes)"),
    ("macro_f1", "macro F1 (codes)"),
    ("type_macro_f1", "macro F1 (community types)"),
    ("valence_macro_f1", "macro F1 (valences)"),
    ("any_community_f1", "F1 'any community'"),
    ("exact_set_accuracy", "exact-set accuracy"),
)


def scores_text(scores: dict[str, Any]) -> str:
    """A compact plain-text table of per-code F1 and kappa, for the terminal."""
    width = max(len(c) for c in scores["per_code"])
    lines = ["  " + "code".ljust(width) + "     F1  kappa  gold  pred"]
    for code, m in scores["per_code"].items():
        lines.append(
            f"  {code.ljust(width)}  {_f(m['f1']):>5}  {_f(m['kappa']):>5}  {m['support']:>4}  {m['predicted']:>4}"
        )
    for key, label in SUMMARY_LABELS:
        if key in scores["summary"]:
            lines.append(f"  {label}: {_f(scores['summary'][key])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Agreement (mpsoc agreement)
# --------------------------------------------------------------------------------------------

STATISTIC_LABELS = {
    "percent_agreement": "percent agreement",
    "cohen_kappa": "Cohen's kappa",
    "weighted_cohen_kappa_linear": "weighted kappa (linear)",
    "weighted_cohen_kappa_quadratic": "weighted kappa (quadratic)",
    "scotts_pi": "Scott's pi",
    "fleiss_kappa": "Fleiss' kappa",
    "krippendorff_alpha": "Krippendorff's alpha",
    "krippendorff_alpha_masi": "Krippendorff's alpha (MASI)",
    "gwet_ac1": "Gwet's AC1",
    "brennan_prediger": "Brennan-Prediger",
    "f1": "F1",
}


_DOES_NOT_APPLY = {
    "weighted_cohen_kappa_linear": "needs ordered categories: give --level ordinal (with --categories for text) or "
    "--categories in order",
    "weighted_cohen_kappa_quadratic": "needs ordered categories (see above)",
    "krippendorff_alpha_masi": "for set-valued ratings only (JSONL lists of codes)",
}


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and x != x)


def _ci(est: Any, low: Any, high: Any, *, digits: int = 2) -> str:
    """``0.81 [0.72, 0.88]``; ``–`` for an undefined value; no brackets without an interval."""
    if _missing(est):
        return "–"
    text = f"{est:.{digits}f}"
    if not _missing(low) and not _missing(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def agreement_text(report: Any) -> str:
    """Plain text of an :class:`~mpsoc_nlp.agreement.AgreementReport`, as ``mpsoc agreement`` prints it."""
    if report.kind == "ratings":
        table = report.table

        def n(k: int, word: str) -> str:
            return f"{k} {word}{'' if k == 1 else 's'}"

        lines = [
            f"Agreement of {n(table.n_coders, 'coder')} on {n(table.n_units, 'unit')} "
            f"({n(table.n_ratings, 'rating')}), "
            f"{report.level} level; {', '.join(report.files)}",
        ]
        width = max(len(v) for v in STATISTIC_LABELS.values())
        for name, value in table.items():
            label = STATISTIC_LABELS.get(name, name) + (f" ({report.level})" if name == "krippendorff_alpha" else "")
            lines.append(f"  {label:<{width + 12}} {'–' if _missing(value) else f'{value:.4f}'}")
        why = {w.split(":", 1)[0] for w in table.warnings}
        quiet = [
            f"{name}: {_DOES_NOT_APPLY[name]}"
            for name, value in table.items()
            if _missing(value) and name not in why and name in _DOES_NOT_APPLY
        ]
        if table.warnings or quiet:
            lines.append("Not computed (–):")
            lines += [f"  {w}" for w in [*table.warnings, *quiet]]
        return "\n".join(lines)
    return segment_agreement_text(report.views, files=report.files)


def segment_agreement_text(views: Any, *, files: Sequence[str] = ()) -> str:
    """Plain text of :func:`~mpsoc_nlp.agreement.segment_agreement`: the MPSOC views."""
    a = views.attrs
    coders = a["coders"]
    two = len(coders) == 2
    lines = []
    names = ", ".join(coders[:-1]) + f" and {coders[-1]}"
    head = f"Agreement between coders {names} on {a['n_segments']} segments coded by two or more of them"
    if a.get("n_documents"):
        head += f", in {a['n_documents']} documents"
    lines.append(head + (f" ({', '.join(files)})" if files else ""))
    per = a.get("segments_per_coder")
    if per:
        lines.append("  segments per coder: " + ", ".join(f"{k} {v}" for k, v in per.items()))
    if a.get("n_segments_single"):
        lines.append(f"  {a['n_segments_single']} segments coded by one coder only are left out")
    if a.get("intervals"):
        lines.append(
            f"  [low, high]: {a['confidence']:.0%} percentile bootstrap intervals, {a['n_resamples']} resamples of "
            f"whole documents (seed {a['seed']})"
        )
    else:
        lines.append("  no intervals: the table has no document_id to resample by")
    stats = ["cohen_kappa", "krippendorff_alpha", "gwet_ac1", "f1"] if two else ["krippendorff_alpha", "gwet_ac1"]
    col = 23
    counts = f"{'both':>5} {coders[0] + ' only':>8} {coders[1] + ' only':>8} {'neither':>7}" if two else ""
    header = (f"  {'':<24}{counts} {'% agree':>8}  " + "".join(f"{STATISTIC_LABELS[s]:<{col}}" for s in stats)).rstrip()
    for level, title in (("code", "per code"), ("type", "per community type"), ("valence", "per valence")):
        rows = views[views["level"] == level]
        if rows.empty:
            continue
        lines += ["", title, header]
        for _, r in rows.iterrows():
            c = (
                f"{r['both_present']:>5} {r['first_only']:>8} {r['second_only']:>8} {r['both_absent']:>7}"
                if two
                else ""
            )
            pa = "–" if _missing(r["percent_agreement"]) else f"{100 * r['percent_agreement']:.1f}"
            cells = "".join(f"{_ci(r[s], r[f'{s}_low'], r[f'{s}_high'], digits=3):<{col}}" for s in stats)
            lines.append(f"  {r['name']:<24}{c} {pa:>8}  {cells}".rstrip())
    sets = views[views["level"] == "set"]
    if not sets.empty:
        r = sets.iloc[0]
        lines += ["", "on whole sets of codes (exact match; MASI gives partial credit for overlapping sets)"]
        for s in ("percent_agreement", "cohen_kappa", "krippendorff_alpha", "krippendorff_alpha_masi"):
            if s == "cohen_kappa" and not two:
                continue
            lines.append(f"  {STATISTIC_LABELS[s]:<30}{_ci(r[s], r[f'{s}_low'], r[f'{s}_high'], digits=3)}")
    notes = [f"  {r['name']}: {r['notes']}" for _, r in views.iterrows() if r["notes"]]
    if notes:
        lines += ["", "Not computed (–):"] + notes
    return "\n".join(lines)
