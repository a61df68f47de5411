"""Render results for people: plain text, Markdown, HTML, JSON and plots. No statistics here."""

from __future__ import annotations

from typing import Any

__all__ = ["format_summary"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text summary of a segment table, as ``mpsoc validate`` prints it."""
    lines = []
    files = summary.get("files")
    if files:
        lines.append("Valid: " + ", ".join(files))
    lines.append(f"  documents  {summary['documents']}")
    lines.append(f"  segments   {summary['segments']}" + (
        f"  ({summary['rows']} rows over coders)" if summary["rows"] != summary["segments"] else ""))
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
