"""Render results for people: plain text, Markdown, HTML, JSON and plots. No statistics here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "EVALUATION_PLOTS",
    "STATISTIC_LABELS",
    "agreement_text",
    "evaluation_html",
    "evaluation_markdown",
    "format_summary",
    "plot_confusion",
    "plot_learning_curve",
    "plot_model_vs_humans",
    "plot_per_code",
    "scores_markdown",
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


def scores_markdown(scores: dict[str, Any], *, title: str = "Scores") -> str:
    """Markdown tables of :func:`mpsoc_nlp.evaluation.score` output."""
    lines = [f"## {title}", "", f"{scores['n_segments']} segments.", "", "| measure | value |", "|---|---:|"]
    for key, label in SUMMARY_LABELS:
        if key in scores["summary"]:
            lines.append(f"| {label} | {_f(scores['summary'][key])} |")
    for section, head in (("per_code", "code"), ("per_type", "community type"), ("per_valence", "valence")):
        if section not in scores:
            continue
        lines += [
            "",
            f"| {head} | precision | recall | F1 | Cohen's kappa | gold | predicted |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
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
        lines.append(
            f"  {code.ljust(width)}  {_f(m['f1']):>5}  {_f(m['kappa']):>5}  {m['support']:>4}  {m['predicted']:>4}"
        )
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
    for key, label in (
        ("macro_f1", "macro F1, codes"),
        ("type_macro_f1", "macro F1, community types"),
        ("valence_macro_f1", "macro F1, valences"),
        ("any_community_f1", "F1, any community"),
    ):
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


# --------------------------------------------------------------------------------------------
# Evaluation reports (mpsoc evaluate): blocks rendered as Markdown and as self-contained HTML
# --------------------------------------------------------------------------------------------

#: The plots of an evaluation report: file name and caption.
EVALUATION_PLOTS = (
    ("model_vs_humans.png", "The model beside the human coders"),
    ("per_code_f1_kappa.png", "F1 and Cohen's kappa per code, with intervals"),
    ("confusion_type.png", "Confusion of community types"),
    ("confusion_valence.png", "Confusion of valences"),
)
_VERDICT_COLOURS = {"within": "#1b9e77", "below": "#d95f02", "above": "#7570b3"}
_SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_HUMAN_COLOUR = "#444444"


def _verdict_word(v: dict[str, Any]) -> str:
    return {"within": "within", "below": "below", "above": "above", "not_available": "n/a", "undefined": "undefined"}[
        v["verdict"]
    ]


def _comparison_index(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in metrics["comparisons"]}


def _stat_of(comp: dict[str, Any], level_key: str, name: str, stat: str) -> dict[str, Any]:
    return comp["agreement"][level_key].get(name, {}).get(stat) or {}


def _ci_of(comp: dict[str, Any], level_key: str, name: str, stat: str, digits: int = 2) -> str:
    s = _stat_of(comp, level_key, name, stat)
    return _ci(s.get("estimate"), s.get("low"), s.get("high"), digits=digits)


def _num_or_dash(x: Any, digits: int = 2) -> str:
    return "–" if _missing(x) else f"{x:.{digits}f}"


def _evaluation_blocks(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report as blocks: (h1|h2|h3|p|list, text), ("table", (header, rows)) and ("img", (file, caption))."""
    m = metrics
    comps = _comparison_index(m)
    model = m["model"]
    gold = m["gold"]
    st = m["settings"]
    mc = m["model_coder"]
    humans = gold["coders"]
    stat_label = STATISTIC_LABELS.get(st["verdict_statistic"], st["verdict_statistic"])
    blocks: list[tuple[str, Any]] = []
    blocks.append(("h1", f"Evaluation of the model {model.get('model_name') or model.get('model')} as one more coder"))
    blocks.append(
        (
            "list",
            [
                f"Model: {model.get('model')} ({model.get('backend')} backend, codebook {model.get('codebook')}), "
                f"coding as '{mc}'.",
                f"Gold: {gold['segments']} segments in {gold['documents']} documents"
                + (f" from {', '.join(gold['files'])}" if gold["files"] else "")
                + "; coded by "
                + ", ".join(f"{h} ({gold['segments_per_coder'][h]} segments)" for h in humans)
                + ".",
                f"Intervals: {st['confidence']:.0%} percentile bootstrap intervals, {st['resamples']} resamples of "
                "whole "
                f"documents (seed {st['seed']}); segments of one interview are not independent.",
                f"mpsoc-nlp {m['library_version']}.",
            ],
        )
    )
    for note in m["notes"]:
        blocks.append(("p", f"**Note.** {note}"))

    # verdicts
    blocks.append(("h2", "Verdicts: is the model within the range of the human coders?"))
    if m["human_vs_human"]:
        pairs = sorted({tuple(h["coders"]) for v in m["verdicts"] for h in v["human"]})
        blocks.append(
            (
                "p",
                f"For each code, community type, valence and whole set of codes: the model's {stat_label} with the "
                "human coders (its mean over the coders, on the segments they share) against the range of the human "
                f"coders' {stat_label} with each other, from the lowest lower bound to the highest upper bound of "
                "their intervals. *Below* means the model agrees with people less than people agree with each "
                "other; *within*, about as well.",
            )
        )
        header = (
            ["", "name", f"model ({stat_label})"]
            + [f"model vs {h}" for h in humans]
            + [f"{a} vs {b}" for a, b in pairs]
            + ["human range", "verdict"]
        )
        rows = []
        for v in m["verdicts"]:
            human_by_pair = {tuple(h["coders"]): h for h in v["human"]}
            rows.append(
                [v["level"], f"`{v['name']}`", _num_or_dash(v["model"])]
                + [_num_or_dash(v["model_by_coder"].get(h)) for h in humans]
                + [
                    _ci(
                        human_by_pair.get(p, {}).get("estimate"),
                        human_by_pair.get(p, {}).get("low"),
                        human_by_pair.get(p, {}).get("high"),
                    )
                    for p in pairs
                ]
                + [
                    f"{_num_or_dash(v['human_low'])} – {_num_or_dash(v['human_high'])}",
                    f"**{_verdict_word(v)}**",
                ]
            )
        blocks.append(("table", (header, rows)))
        counts: dict[str, int] = {}
        for v in m["verdicts"]:
            if v["level"] == "code":
                counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
        blocks.append(
            (
                "p",
                "Per code: "
                + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
                + " the range "
                "of the human coders.",
            )
        )
    else:
        blocks.append(
            ("p", "Not available: the gold data has one human coder, so there is no human range to compare with.")
        )

    # per coder
    for h in humans:
        info = m["by_coder"][h]
        blocks.append(("h2", f"Coder {h}"))
        for pair in info["pairs"]:
            hc, mcomp = comps[pair["human"]], comps[pair["model"]]
            other = pair["other"]
            blocks.append(
                (
                    "h3",
                    f"The model vs {h} beside {other} vs {h}, on the {pair['segments']} segments both {h} and "
                    f"{other} coded "
                    f"({mcomp['documents']} documents)",
                )
            )
            for key, title in (("per_code", "code"), ("per_type", "community type"), ("per_valence", "valence")):
                header = [
                    title,
                    f"kappa: model vs {h}",
                    f"kappa: {other} vs {h}",
                    f"F1: model vs {h}",
                    f"F1: {other} vs {h}",
                    f"alpha: model vs {h}",
                    f"alpha: {other} vs {h}",
                    "verdict",
                ]
                rows = []
                verdict_of = {(v["level"], v["name"]): v for v in m["verdicts"]}
                level = {"per_code": "code", "per_type": "type", "per_valence": "valence"}[key]
                for name in mcomp["agreement"][key]:
                    v = verdict_of.get((level, name))
                    rows.append(
                        [
                            f"`{name}`",
                            _ci_of(mcomp, key, name, "cohen_kappa"),
                            _ci_of(hc, key, name, "cohen_kappa"),
                            _ci_of(mcomp, key, name, "f1"),
                            _ci_of(hc, key, name, "f1"),
                            _ci_of(mcomp, key, name, "krippendorff_alpha"),
                            _ci_of(hc, key, name, "krippendorff_alpha"),
                            _verdict_word(v) if v else "",
                        ]
                    )
                if rows:
                    blocks.append(("table", (header, rows)))
            set_rows = [
                [
                    STATISTIC_LABELS[s],
                    _ci_of(mcomp, "sets", "(whole sets)", s, 3),
                    _ci_of(hc, "sets", "(whole sets)", s, 3),
                ]
                for s in ("percent_agreement", "cohen_kappa", "krippendorff_alpha_masi")
            ]
            blocks.append(("p", "Whole sets of codes (exact match; MASI gives partial credit for overlapping sets):"))
            blocks.append(("table", (["statistic", f"model vs {h}", f"{other} vs {h}"], set_rows)))
        comp = comps[info["model"]]
        sc = m["scores"][h]
        blocks.append(
            (
                "h3",
                f"The model against {h} as gold, on all {comp['segments']} segments {h} coded "
                f"({comp['documents']} documents)",
            )
        )
        header = [
            "code",
            "precision",
            "recall",
            "F1 [interval]",
            "Cohen's kappa [interval]",
            "Gwet's AC1",
            f"{h} used it",
            "model used it",
        ]
        rows = []
        for code, s in sc["per_code"].items():
            rows.append(
                [
                    f"`{code}`",
                    _num_or_dash(s["precision"]),
                    _num_or_dash(s["recall"]),
                    _ci_of(comp, "per_code", code, "f1"),
                    _ci_of(comp, "per_code", code, "cohen_kappa"),
                    _ci_of(comp, "per_code", code, "gwet_ac1"),
                    str(s["support"]),
                    str(s["predicted"]),
                ]
            )
        blocks.append(("table", (header, rows)))
        summary = sc["summary"]
        blocks.append(
            (
                "p",
                "; ".join(f"{label} {_num_or_dash(summary[k], 3)}" for k, label in SUMMARY_LABELS if k in summary)
                + ".",
            )
        )

    blocks.append(("h2", "Plots"))
    for file, caption in EVALUATION_PLOTS:
        blocks.append(("img", (file, caption)))
    blocks.append(
        (
            "p",
            "Confusion matrices: rows are the first coder's community types (or valences), columns the second's. "
            "Labels both gave lie on the diagonal; a label only the row coder gave is split over the labels only "
            "the column coder gave, or counts under (none); so each row sums to how often the row coder used the "
            "label. Colours show the share of the row.",
        )
    )

    blocks.append(("h2", "Disagreements"))
    dis = m["disagreements"]
    blocks.append(
        (
            "p",
            f"{dis['segments']} of {dis['of']} segments have codes on which the coders and the model do not all agree. "
            "They are listed side by side in disagreements.xlsx (each coder's codes, the model's codes and "
            "probabilities, and the codes in dispute) for review.",
        )
    )
    blocks.append(("h2", "How to read the numbers"))
    blocks.append(
        (
            "list",
            [
                "Cohen's kappa and Krippendorff's alpha: agreement beyond chance on presence/absence of a code; "
                "1 is perfect, 0 is chance level. Rare codes make them unstable: read them with their intervals.",
                "Gwet's AC1: like kappa, but stays high when both coders agree that a rare code is absent.",
                "F1: the share of the codes two coders gave on which they met; symmetric in the two coders.",
                "A dash (–) is a statistic that is undefined on these segments (for example a code nobody used).",
            ],
        )
    )
    return blocks


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def evaluation_markdown(metrics: dict[str, Any]) -> str:
    """``report.md`` of an evaluation; plots are linked as the PNG files beside it."""
    out: list[str] = []
    for kind, content in _evaluation_blocks(metrics):
        if kind in ("h1", "h2", "h3"):
            out += [f"{'#' * int(kind[1])} {content}", ""]
        elif kind == "p":
            out += [content, ""]
        elif kind == "list":
            out += [f"- {item}" for item in content] + [""]
        elif kind == "table":
            header, rows = content
            out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            out.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("")
        elif kind == "img":
            file, caption = content
            out += [f"![{caption}]({file})", ""]
    return "\n".join(out)


def _inline_html(text: str) -> str:
    import html
    import re

    text = html.escape(str(text), quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


_HTML_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f0f0f0}td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}
code{font-size:.95em}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
"""


def evaluation_html(metrics: dict[str, Any], images: dict[str, bytes]) -> str:
    """``report.html``: self-contained (inline style, the plots embedded as base64 PNG, no links out)."""
    import base64
    import html

    title = "Evaluation"
    body: list[str] = []
    for kind, content in _evaluation_blocks(metrics):
        if kind in ("h1", "h2", "h3"):
            if kind == "h1":
                title = str(content)
            body.append(f"<{kind}>{_inline_html(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline_html(content)}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in content) + "</ul>")
        elif kind == "table":
            header, rows = content
            body.append(
                "<table><thead><tr>"
                + "".join(f"<th>{_inline_html(h)}</th>" for h in header)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</tbody></table>"
            )
        elif kind == "img":
            file, caption = content
            data = images.get(file)
            if data is None:
                continue
            b64 = base64.b64encode(data).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
                f"<figcaption>{html.escape(caption)} ({html.escape(file)})</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_HTML_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------
# Evaluation plots
# --------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Any) -> None:
    fig.savefig(path, metadata={"Software": None})
    _pyplot().close(fig)


def plot_confusion(entries: Sequence[dict[str, Any]], path: Any, *, dimension: str) -> None:
    """Confusion matrices (one panel per pair of coders) of community types or valences as a PNG."""
    plt = _pyplot()
    n = max(len(entries), 1)
    labels = entries[0]["labels"] if entries else []
    size = 1.4 + 0.62 * len(labels)
    fig, axes = plt.subplots(1, n, figsize=(size * n + 0.4, size + 0.6), dpi=120, squeeze=False, layout="constrained")
    for ax, e in zip(axes[0], entries, strict=False):
        mat = np.asarray(e["matrix"], dtype=float)
        share = mat / np.maximum(mat.sum(axis=1, keepdims=True), 1e-12)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                v = mat[i, j]
                if v == 0:
                    continue
                text = f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=9, color="white" if share[i, j] > 0.55 else "black"
                )
        ax.set_xticks(range(len(e["labels"])))
        ax.set_xticklabels(e["labels"], rotation=35, ha="right", fontsize=9)
        ax.set_yticks(range(len(e["labels"])))
        ax.set_yticklabels(e["labels"], fontsize=9)
        ax.set_ylabel(f"{e['rows']} (rows)", fontsize=10)
        ax.set_xlabel(f"{e['columns']} (columns)", fontsize=10)
        ax.set_title(f"{e['rows']} vs {e['columns']}", fontsize=10)
    for ax in axes[0][len(entries) :]:
        ax.axis("off")
    what = "community types" if dimension == "type" else "valences"
    fig.suptitle(f"Confusion of {what}: counts; colour = share of the row", fontsize=11)
    _save(fig, path)


def _plot_series(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(label, comparison, colour) for the per-code plot: human pairs, then the model vs each coder."""
    comps = _comparison_index(metrics)
    series: list[tuple[str, dict[str, Any], str]] = []
    seen = set()
    mc = metrics["model_coder"]
    k = 0
    for h in metrics["gold"]["coders"]:
        info = metrics["by_coder"][h]
        pairs = info["pairs"] or [{"human": None, "model": info["model"], "other": None}]
        for p in pairs:
            if p["human"] and p["human"] not in seen:
                seen.add(p["human"])
                a, b = comps[p["human"]]["coders"]
                series.append((f"{a} vs {b}", comps[p["human"]], _HUMAN_COLOUR))
            if p["model"] not in seen:
                seen.add(p["model"])
                series.append((f"{mc} vs {h}", comps[p["model"]], _SERIES_COLOURS[k % len(_SERIES_COLOURS)]))
                k += 1
    return series[:8]


def plot_per_code(metrics: dict[str, Any], path: Any) -> None:
    """F1 and Cohen's kappa per code with intervals: the model vs each coder beside the human pairs."""
    plt = _pyplot()
    codes = metrics["model"]["codes"]
    series = _plot_series(metrics)
    n = len(series)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * len(codes) * max(1, n / 2.5) + 1.8), dpi=120, sharey=True)
    y = np.arange(len(codes))[::-1].astype(float)
    offsets = (np.arange(n) - (n - 1) / 2) * (0.7 / max(n, 1))
    lows_seen = [0.0]
    for ax, stat, title in ((axes[0], "f1", "F1"), (axes[1], "cohen_kappa", "Cohen's kappa")):
        for (label, comp, colour), off in zip(series, offsets, strict=True):
            for i, code in enumerate(codes):
                s = comp["agreement"]["per_code"].get(code, {}).get(stat) or {}
                est, low, high = s.get("estimate"), s.get("low"), s.get("high")
                if _missing(est):
                    ax.plot([0], [y[i] - off], marker="x", color=colour, ms=4, alpha=0.6)
                    continue
                if not _missing(low) and not _missing(high):
                    ax.plot([low, high], [y[i] - off] * 2, color=colour, lw=1.6, alpha=0.85)
                    lows_seen.append(float(low or 0.0))
                ax.plot([est], [y[i] - off], "o", color=colour, ms=5, label=label if i == 0 else None)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        for yy in y[:-1] - 0.5:
            ax.axhline(yy, color="#e5e5e5", lw=0.8)
    lo = min(-0.05, min(lows_seen) - 0.05)
    for ax in axes:
        ax.set_xlim(lo, 1.02)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(codes, fontsize=9)
    axes[0].set_ylim(-0.6, len(codes) - 0.4)
    handles, labels = axes[0].get_legend_handles_labels()
    conf = metrics["settings"]["confidence"]
    fig.legend(handles, labels, loc="lower center", ncol=min(n, 4), fontsize=9, frameon=False)
    fig.suptitle(
        f"F1 and Cohen's kappa per code, {conf:.0%} bootstrap intervals by document (x: undefined)", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _save(fig, path)


def plot_model_vs_humans(metrics: dict[str, Any], path: Any) -> None:
    """The model's agreement with each human coder (with intervals) against the range of the humans' agreement."""
    plt = _pyplot()
    verdicts = metrics["verdicts"]
    stat = STATISTIC_LABELS.get(metrics["settings"]["verdict_statistic"], metrics["settings"]["verdict_statistic"])
    comps = _comparison_index(metrics)
    humans = metrics["gold"]["coders"]
    # the model vs each coder on the segments shared with another coder (else on all of the coder's segments)
    model_comp = {}
    for h in humans:
        info = metrics["by_coder"][h]
        model_comp[h] = comps[info["pairs"][0]["model"] if info["pairs"] else info["model"]]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(verdicts) + 1.8), dpi=120, layout="constrained")
    y = np.arange(len(verdicts))[::-1].astype(float)
    key_of = {"code": "per_code", "type": "per_type", "valence": "per_valence", "set": "sets"}
    shown = [h for h in humans][:6]
    offsets = (np.arange(len(shown)) + 1) * (0.36 / (len(shown) + 1)) - 0.18
    xs = [0.0]
    for i, v in enumerate(verdicts):
        if not _missing(v.get("human_low")) and not _missing(v.get("human_high")):
            ax.barh(
                y[i],
                v["human_high"] - v["human_low"],
                left=v["human_low"],
                height=0.7,
                color="#d4d4d4",
                label="range of the human coders" if i == 0 else None,
                zorder=1,
            )
            xs.append(v["human_low"])
        for h in v["human"]:
            if not _missing(h.get("estimate")):
                ax.plot(
                    [h["estimate"]],
                    [y[i]],
                    "|",
                    color=_HUMAN_COLOUR,
                    ms=14,
                    mew=2,
                    zorder=2,
                    label="human vs human" if i == 0 else None,
                )
        for k, (h, off) in enumerate(zip(shown, offsets, strict=True)):
            s = _stat_of(model_comp[h], key_of[v["level"]], v["name"], v["statistic"])
            colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
            yy = y[i] + off
            if not _missing(s.get("low")) and not _missing(s.get("high")):
                ax.plot([s["low"], s["high"]], [yy, yy], color=colour, lw=1.4, alpha=0.9, zorder=3)
                xs.append(s["low"])
            if not _missing(s.get("estimate")):
                ax.plot(
                    [s["estimate"]],
                    [yy],
                    "o",
                    mfc="white",
                    color=colour,
                    ms=4.5,
                    zorder=4,
                    label=f"model vs {h}, with interval" if i == 0 else None,
                )
        if not _missing(v.get("model")) and v["verdict"] != "not_available":
            ax.plot(
                [v["model"]],
                [y[i]],
                marker="D",
                color=_VERDICT_COLOURS.get(v["verdict"], "black"),
                ms=7,
                mec="black",
                mew=0.5,
                ls="none",
                zorder=5,
            )
            xs.append(v["model"])
    for verdict, colour in _VERDICT_COLOURS.items():
        if any(v["verdict"] == verdict for v in verdicts):
            ax.plot(
                [],
                [],
                marker="D",
                color=colour,
                mec="black",
                mew=0.5,
                ls="none",
                label=f"model, mean over coders: {verdict} the range",
            )
    ax.set_yticks(y)
    ax.set_yticklabels([v["name"] if v["level"] != "set" else "whole sets" for v in verdicts], fontsize=9)
    prev = None
    for i, v in enumerate(verdicts):
        if prev is not None and v["level"] != prev:
            ax.axhline(y[i] + 0.5, color="#888", lw=0.8)
        prev = v["level"]
    ax.set_xlim(min(-0.05, min(xs) - 0.05), 1.03)
    ax.set_ylim(-0.7, len(verdicts) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(stat)
    conf = metrics["settings"]["confidence"]
    title = f"The model as one more coder: {stat}, {conf:.0%} intervals by document"
    if not metrics["human_vs_human"]:
        title += "\n(one human coder: no human range, no verdicts)"
    ax.set_title(title + "\ncodes | community types | valences | whole sets", fontsize=10)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5, frameon=False)
    _save(fig, path)
