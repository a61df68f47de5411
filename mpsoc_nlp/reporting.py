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


def scores_markdown(scores: dict[str, Any], *, title: str = "Scores") -> str:
    """Markdown tables of :func:`mpsoc_nlp.evaluation.score` output."""
    lines = [f"## {title}", "", f"{scores['n_segments']} segments.", "", "| measure | value |", "|---|---:|"]
    for key, label in SUMMARY_LABELS:
        if key in scores["summary"]:
            lines.append(f"| {label} | {_f(scores['summary'][key])} |")
    for section, head in (("per_code", "code"), ("per_type", "community type"), ("per_valence", "valence")):
        if section not in scores:
            continue
        lines += ["", f"| {head} | precision | recall | F1 | Cohen's kappa | gold | predicted |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, m in scores[section].items():
            lines.append(
                f"| `{name}` | {_f(m['precision'])} | {_f(m['recall'])} | {_f(m['f1'])} | {_f(m['kappa'])} "
                f"| {m['support']} | {m['predicted']} |"
            )
    return "\n".join(lines)


def scores_text(scores: dict[str, Any]) -> str:
    """A compact plain-text table of per-code F1 and kappa, for the terminal."""
    width = max(len(c) for c in scores["per_code"])
    lines = ["  " + "code".ljust(width) + "     F1  kappa  gold  pred"]
    for code, m in scores["per_code"].items():
        lines.append(f"  {code.ljust(width)}  {_f(m['f1']):>5}  {_f(m['kappa']):>5}  {m['support']:>4}  {m['predicted']:>4}")
    for key, label in SUMMARY_LABELS:
        if key in scores["summary"]:
            lines.append(f"  {label}: {_f(scores['summary'][key])}")
    return "\n".join(lines)


def plot_learning_curve(curve: Any, path: Any, *, title: str = "How scores grow with coded segments") -> None:
    """A PNG of mean F1 (with ±1 sd over folds) against the number of training segments."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    x = curve["train_segments"].to_numpy()
    for key, label in (("macro_f1", "macro F1, codes"), ("type_macro_f1", "macro F1, community types"),
                       ("valence_macro_f1", "macro F1, valences"), ("any_community_f1", "F1, any community")):
        if f"{key}_mean" not in curve:
            continue
        m = curve[f"{key}_mean"].to_numpy()
        s = curve[f"{key}_sd"].fillna(0).to_numpy()
        ax.plot(x, m, marker="o", label=label)
        ax.fill_between(x, m - s, m + s, alpha=0.15)
    ax.set_xlabel("coded training segments (mean over folds)")
    ax.set_ylabel("score on held-out documents")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
