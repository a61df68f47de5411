"""The report pages of ``mpsoc evaluate`` and ``mpsoc crossval`` as blocks, rendered as Markdown and as
self-contained HTML.

No statistics here: every number comes from the :class:`~mpsoc_nlp.results.Evaluation`.
"""

from __future__ import annotations

import re
from typing import Any

from .reporting import STATISTIC_LABELS, SUMMARY_LABELS, _ci, _missing
from .results import MIN_POSITIVES, Comparison, CrossValidation, Evaluation, HumanReference, Interval, Verdict

__all__ = [
    "CROSSVAL_PLOTS",
    "EVALUATION_PLOTS",
    "blocks_html",
    "blocks_markdown",
    "crossval_html",
    "crossval_markdown",
    "evaluation_html",
    "evaluation_markdown",
    "html_table",
    "numeric_columns",
]

#: The plots of an evaluation report: file name and caption.
EVALUATION_PLOTS = (
    ("model_vs_humans.png", "The model beside the human coders"),
    ("per_code_f1_kappa.png", "F1 and Cohen's kappa per code, with intervals"),
    ("confusion_type.png", "Confusion of community types"),
    ("confusion_valence.png", "Confusion of valences"),
)


#: A verdict in a word or two, for tables.
VERDICT_WORDS = {
    "within": "within",
    "below": "below",
    "above": "above",
    "too_few": "too few segments to decide",
    "not_available": "n/a",
    "undefined": "undefined",
}


def _verdict_word(v: Verdict) -> str:
    return VERDICT_WORDS[v.verdict]


def _human_range(v: Verdict) -> str:
    if v.human_low is None or v.human_high is None:
        return "–"
    if v.degenerate_range:
        return f"{v.human_low:.2f} – {v.human_high:.2f} (one point)"
    return f"{v.human_low:.2f} – {v.human_high:.2f}"


def _interval(s: Interval, digits: int = 2) -> str:
    return _ci(s.estimate, s.low, s.high, digits=digits)


def _ci_of(comp: Comparison, level: str, name: str, stat: str, digits: int = 2) -> str:
    return _interval(comp.statistic(level, name, stat), digits)


def _num_or_dash(x: Any, digits: int = 2) -> str:
    return "–" if _missing(x) else f"{x:.{digits}f}"


def _evaluation_blocks(ev: Evaluation) -> list[tuple[str, Any]]:
    """The report as blocks: (h1|h2|h3|p|list, text), ("table", (header, rows)) and ("img", (file, caption))."""
    comps = ev.comparisons
    model = ev.model
    gold = ev.gold
    st = ev.settings
    mc = ev.model_coder
    humans = gold.coders
    stat_label = STATISTIC_LABELS.get(st.verdict_statistic, st.verdict_statistic)
    blocks: list[tuple[str, Any]] = []
    training_scores = ev.overlap.mode == "included"
    blocks.append(
        (
            "h1",
            f"Evaluation of the model {model.model_name or model.model} as one more coder"
            + (": TRAINING-DATA SCORES" if training_scores else ""),
        )
    )
    if ev.overlap.found:
        blocks.append(("warn", ev.overlap.message()))
    blocks.append(
        (
            "list",
            [
                f"Model: {model.model} ({model.backend} backend, codebook {model.codebook}), "
                f"coding as '{mc}'.",
                f"Gold: {gold.segments} segments in {gold.documents} documents"
                + (f" from {', '.join(gold.files)}" if gold.files else "")
                + "; coded by "
                + ", ".join(f"{h} ({gold.segments_per_coder[h]} segments)" for h in humans)
                + "."
                + (
                    f" Left out: {len(ev.overlap.documents)} documents the model was trained on "
                    f"({', '.join(ev.overlap.documents)})."
                    if ev.overlap.mode == "excluded"
                    else " These include documents the model was trained on." if training_scores else ""
                ),
                "Checked for overlap with the training data: "
                + (", ".join(ev.overlap.checked) if ev.overlap.checked else "nothing (the model records no training "
                   "files or ids)")
                + ".",
                f"Intervals: {st.confidence:.0%} percentile bootstrap intervals, {st.resamples} resamples of "
                "whole "
                f"documents (seed {st.seed}); segments of one interview are not independent.",
                f"mpsoc-nlp {ev.library_version}.",
            ],
        )
    )
    for note in ev.notes:
        blocks.append(("p", f"**Note.** {note}"))

    # verdicts
    blocks.append(("h2", "Verdicts: is the model within the range of the human coders?"))
    if ev.human_vs_human:
        pairs = sorted({h.coders for v in ev.verdicts for h in v.human})
        blocks.append(
            (
                "p",
                f"For each code, community type, valence and whole set of codes: the model's {stat_label} with the "
                "human coders (its mean over the coders, on the segments they share) against the range of the human "
                f"coders' {stat_label} with each other, from the lowest lower bound to the highest upper bound of "
                "their intervals. *Below* means the model agrees with people less than people agree with each "
                "other; *within*, about as well. "
                f"*Too few* means a human coder gave the code (type, valence) to fewer than {MIN_POSITIVES} of the "
                f"segments both coded (for whole sets: fewer than {MIN_POSITIVES} segments): kappa then swings on one "
                "or two segments, so no verdict is given. A human range of one point (*one point*, e.g. 1.00 – "
                "1.00) means the coders agreed identically in every resample; the model's intervals show how far "
                "it is from that.",
            )
        )
        model_comp = {h: comps[ev.by_coder[h].pairs[0].model] for h in humans if len(ev.by_coder[h].pairs) == 1}
        header = (
            ["level", "name", f"model, mean over coders ({stat_label})"]
            + [f"model vs {h} [interval]" for h in humans]
            + [f"{a} vs {b} [interval]" for a, b in pairs]
            + [
                "human range",
                f"fewest positives of a human coder (of {MIN_POSITIVES} needed)",
                "verdict: vs the human range",
            ]
        )
        rows = []
        for v in ev.verdicts:
            human_by_pair = {h.coders: h.interval for h in v.human}
            rows.append(
                [v.level, v.name, _num_or_dash(v.model)]
                + [
                    _interval(model_comp[h].statistic(v.level, v.name, v.statistic))
                    if h in model_comp
                    else _num_or_dash(v.model_by_coder.get(h))
                    for h in humans
                ]
                + [_interval(human_by_pair.get(p, Interval())) for p in pairs]
                + [
                    _human_range(v),
                    "–" if v.min_positives is None else str(v.min_positives),
                    f"**{_verdict_word(v)}**",
                ]
            )
        blocks.append(("table", (header, rows)))
        counts: dict[str, int] = {}
        for v in ev.verdicts:
            if v.level == "code":
                counts[v.verdict] = counts.get(v.verdict, 0) + 1
        blocks.append(
            (
                "p",
                "Per code, against the range of the human coders: "
                + ", ".join(f"{n} {VERDICT_WORDS[k]}" for k, n in sorted(counts.items()))
                + ".",
            )
        )
    else:
        blocks.append(
            ("p", "Not available: the gold data has one human coder, so there is no human range to compare with.")
        )

    # per coder
    for h in humans:
        info = ev.by_coder[h]
        blocks.append(("h2", f"Coder {h}"))
        for pair in info.pairs:
            hc, mcomp = comps[pair.human], comps[pair.model]
            other = pair.other
            blocks.append(
                (
                    "h3",
                    f"The model vs {h} beside {other} vs {h}, on the {pair.segments} segments both {h} and "
                    f"{other} coded "
                    f"({mcomp.documents} documents)",
                )
            )
            for level, title in (("code", "code"), ("type", "community type"), ("valence", "valence")):
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
                verdict_of = {(v.level, v.name): v for v in ev.verdicts}
                for name in mcomp.agreement[level]:
                    verdict = verdict_of.get((level, name))
                    rows.append(
                        [
                            name,
                            _ci_of(mcomp, level, name, "cohen_kappa"),
                            _ci_of(hc, level, name, "cohen_kappa"),
                            _ci_of(mcomp, level, name, "f1"),
                            _ci_of(hc, level, name, "f1"),
                            _ci_of(mcomp, level, name, "krippendorff_alpha"),
                            _ci_of(hc, level, name, "krippendorff_alpha"),
                            _verdict_word(verdict) if verdict else "",
                        ]
                    )
                if rows:
                    blocks.append(("table", (header, rows)))
            set_rows = [
                [
                    STATISTIC_LABELS[s],
                    _ci_of(mcomp, "set", "(whole sets)", s, 3),
                    _ci_of(hc, "set", "(whole sets)", s, 3),
                ]
                for s in ("percent_agreement", "cohen_kappa", "krippendorff_alpha_masi")
            ]
            blocks.append(("p", "Whole sets of codes (exact match; MASI gives partial credit for overlapping sets):"))
            blocks.append(("table", (["statistic", f"model vs {h}", f"{other} vs {h}"], set_rows)))
        comp = comps[info.model]
        sc = ev.scores[h]
        blocks.append(
            (
                "h3",
                f"The model against {h} as gold, on all {comp.segments} segments {h} coded "
                f"({comp.documents} documents)",
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
                    code,
                    _num_or_dash(s["precision"]),
                    _num_or_dash(s["recall"]),
                    _ci_of(comp, "code", code, "f1"),
                    _ci_of(comp, "code", code, "cohen_kappa"),
                    _ci_of(comp, "code", code, "gwet_ac1"),
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
    blocks.append(
        (
            "p",
            f"{len(ev.disagreements)} of {gold.segments} segments have codes on which the coders and the model do not "
            "all agree. "
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


_NUMBER = re.compile(
    r"^(–|-?\d[\d.]* ?%?( \[-?[\d.]+, -?[\d.]+\])?( ± [\d.]+)?|-?[\d.]+ – -?[\d.]+( \(one point\))?)$"
)


def numeric_columns(rows: list[list[str]], width: int) -> list[bool]:
    """Which columns hold numbers (a value, ``0.81 [0.72, 0.88]``, ``0.81 ± 0.05``, or a dash): right-aligned."""
    out = []
    for j in range(width):
        cells = [str(r[j]) for r in rows if j < len(r)]
        out.append(bool(cells) and all(_NUMBER.match(c) for c in cells) and any(c != "–" for c in cells))
    return out


def html_table(header: list[str], rows: list[list[str]]) -> str:
    """A table: numbers right-aligned and never wrapped (intervals stay on one line), text left-aligned."""
    numeric = numeric_columns(rows, len(header))

    def cls(j: int) -> str:
        return ' class="num"' if numeric[j] else ' class="name"' if j == 0 else ""

    return (
        '<div class="table"><table><thead><tr>'
        + "".join(f"<th{cls(j)}>{_inline_html(h)}</th>" for j, h in enumerate(header))
        + "</tr></thead><tbody>"
        + "".join(
            "<tr>" + "".join(f"<td{cls(j)}>{_inline_html(c)}</td>" for j, c in enumerate(row)) + "</tr>"
            for row in rows
        )
        + "</tbody></table></div>"
    )


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def blocks_markdown(blocks: list[tuple[str, Any]]) -> str:
    """Report blocks as Markdown; plots are linked as the PNG files beside it."""
    out: list[str] = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            out += [f"{'#' * int(kind[1])} {content}", ""]
        elif kind == "p":
            out += [content, ""]
        elif kind == "warn":
            out += [f"> **Warning.** {content}", ""]
        elif kind == "list":
            out += [f"- {item}" for item in content] + [""]
        elif kind == "table":
            header, rows = content
            numeric = numeric_columns(rows, len(header))
            out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            out.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("")
        elif kind == "img":
            file, caption = content
            out += [f"![{caption}]({file})", ""]
    return "\n".join(out)


def evaluation_markdown(evaluation: Evaluation) -> str:
    """``report.md`` of an evaluation; plots are linked as the PNG files beside it."""
    return blocks_markdown(_evaluation_blocks(evaluation))


def _inline_html(text: str) -> str:
    import html

    text = html.escape(str(text), quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


_HTML_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1280px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
div.table{overflow-x:auto;margin:.6em 0 1.2em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}
th.num{text-align:right}th{min-width:4em}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.name{white-space:nowrap;font-weight:500}
tbody tr:nth-child(even){background:#fafafa}
code{font-size:.95em}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}
.warn{background:#fff3cd;border:2px solid #d39e00;padding:.6em .8em;border-radius:4px}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
"""


def blocks_html(blocks: list[tuple[str, Any]], images: dict[str, bytes], *, title: str = "Report") -> str:
    """Report blocks as self-contained HTML (inline style, the plots embedded as base64 PNG, no links out)."""
    import base64
    import html

    body: list[str] = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            if kind == "h1":
                title = str(content)
            body.append(f"<{kind}>{_inline_html(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline_html(content)}</p>")
        elif kind == "warn":
            body.append(f'<p class="warn" role="alert"><strong>Warning.</strong> {_inline_html(content)}</p>')
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in content) + "</ul>")
        elif kind == "table":
            header, rows = content
            body.append(html_table(header, rows))
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


def evaluation_html(evaluation: Evaluation, images: dict[str, bytes]) -> str:
    """``report.html``: self-contained (inline style, the plots embedded as base64 PNG, no links out)."""
    return blocks_html(_evaluation_blocks(evaluation), images, title="Evaluation")


# --------------------------------------------------------------------------------------------
# Cross-validation (mpsoc crossval)
# --------------------------------------------------------------------------------------------

#: The plots of a cross-validation report.
CROSSVAL_PLOTS = (("learning_curve.png", "Learning curve: scores on held-out documents against coded segments"),)


def _score_tables(scores: dict[str, Any], human: HumanReference | None) -> list[tuple[str, Any]]:
    """The tables of a :func:`~mpsoc_nlp.scores.score`: summary, per code, per type, per valence."""
    blocks: list[tuple[str, Any]] = []
    header = ["measure", "model (pooled out of fold)"]
    if human is not None:
        header.append(f"{human.coders[1]} vs {human.coders[0]} (human, {human.segments} segments)")
    rows = []
    for key, label in SUMMARY_LABELS:
        if key in scores["summary"]:
            row = [label, _num_or_dash(scores["summary"][key], 3)]
            if human is not None:
                row.append(_num_or_dash(human.summary.get(key), 3))
            rows.append(row)
    blocks.append(("table", (header, rows)))
    for section, head in (("per_code", "code"), ("per_type", "community type"), ("per_valence", "valence")):
        if section not in scores:
            continue
        rows = [
            [
                name,
                _num_or_dash(m["precision"], 3),
                _num_or_dash(m["recall"], 3),
                _num_or_dash(m["f1"], 3),
                _num_or_dash(m["kappa"], 3),
                str(m["support"]),
                str(m["predicted"]),
            ]
            for name, m in scores[section].items()
        ]
        blocks.append(
            ("table", ([head, "precision", "recall", "F1", "Cohen's kappa", "gold used it", "model used it"], rows))
        )
    return blocks


def _crossval_blocks(cv: CrossValidation, *, backend: str, coder: str | None, seed: int) -> list[tuple[str, Any]]:
    from .plots import CURVE_BAND, CURVE_METRICS

    blocks: list[tuple[str, Any]] = [("h1", f"Cross-validation: {backend} coder")]
    blocks.append(
        (
            "p",
            f"{len(cv.fold_scores)} folds grouped by document (no interview or journal is split between training "
            f"and test); codes of coder `{coder}`; seed {seed}. Scores pool the out-of-fold predictions.",
        )
    )
    if cv.human is not None:
        a, b = cv.human.coders
        blocks.append(
            (
                "p",
                f"Human reference: coder {b} scored against {a} (as gold, like the model) on the "
                f"{cv.human.segments} segments both coded ({cv.human.documents} documents).",
            )
        )
    else:
        blocks.append(("p", "Human reference: none (no second coder coded the same segments)."))
    blocks.append(("h2", f"Pooled out-of-fold scores ({cv.scores['n_segments']} segments)"))
    blocks += _score_tables(cv.scores, cv.human)
    curve = cv.learning_curve
    if curve is not None:
        blocks.append(("h2", "Learning curve"))
        blocks.append(
            (
                "p",
                "Each fold's model is trained again on 20 %, 40 %, ... of its training documents (whole documents) "
                f"and scored on the same held-out fold. Points are means over folds; {CURVE_BAND}"
                + ("; dashed lines are the human reference." if cv.human is not None else "."),
            )
        )
        blocks.append(("img", CROSSVAL_PLOTS[0]))
        metrics = [(k, label) for k, label in CURVE_METRICS if f"{k}_mean" in curve]
        header = ["share of training documents", "training segments (mean over folds)"] + [
            f"{label} (mean ± sd over folds)" for _, label in metrics
        ]
        rows = []
        for _, r in curve.iterrows():
            rows.append(
                [f"{r['fraction']:.0%}", f"{r['train_segments']:.0f}"]
                + [
                    f"{r[f'{k}_mean']:.3f} ± {0 if _missing(r[f'{k}_sd']) else r[f'{k}_sd']:.3f}"
                    for k, _ in metrics
                ]
            )
        blocks.append(("table", (header, rows)))
    return blocks


def crossval_markdown(cv: CrossValidation, *, backend: str, coder: str | None, seed: int) -> str:
    """``report.md`` of a cross-validation: pooled scores, the human reference and, if computed, the learning curve."""
    return blocks_markdown(_crossval_blocks(cv, backend=backend, coder=coder, seed=seed))


def crossval_html(
    cv: CrossValidation, images: dict[str, bytes], *, backend: str, coder: str | None, seed: int
) -> str:
    """``report.html`` of a cross-validation: self-contained, the learning curve embedded."""
    return blocks_html(_crossval_blocks(cv, backend=backend, coder=coder, seed=seed), images)
