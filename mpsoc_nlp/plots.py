"""Every plot of the reports, as PNG files (matplotlib, Agg backend). No statistics here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np

from .reporting import STATISTIC_LABELS, _missing
from .results import Comparison, ConfusionMatrix, Evaluation, HumanReference

__all__ = [
    "CURVE_BAND",
    "CURVE_METRICS",
    "plot_confusion",
    "plot_learning_curve",
    "plot_model_vs_humans",
    "plot_per_code",
]

_VERDICT_COLOURS = {"within": "#1b9e77", "below": "#d95f02", "above": "#7570b3"}
_SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_HUMAN_COLOUR = "#444444"


#: The metrics a learning curve draws, with their labels.
CURVE_METRICS = (
    ("macro_f1", "macro F1, codes"),
    ("type_macro_f1", "macro F1, community types"),
    ("valence_macro_f1", "macro F1, valences"),
    ("any_community_f1", "F1, any community"),
)
#: What the band around each learning curve is.
CURVE_BAND = "band: mean ± 1 sd over folds"


def plot_learning_curve(
    curve: Any,
    path: Any,
    *,
    human: HumanReference | None = None,
    title: str = "How scores grow with coded segments",
) -> list[str]:
    """A PNG of mean scores (with a band of ±1 sd over folds) against the number of training segments.

    With ``human``, each metric's value for the second human coder is drawn as a dashed line of the
    same colour. Returns the legend's labels (also written into the PNG's ``Description``).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120, layout="constrained")
    x = curve["train_segments"].to_numpy()
    for k, (key, label) in enumerate(CURVE_METRICS):
        if f"{key}_mean" not in curve:
            continue
        colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
        m = curve[f"{key}_mean"].to_numpy()
        s = curve[f"{key}_sd"].fillna(0).to_numpy()
        ax.plot(x, m, marker="o", color=colour, label=f"{label} (mean over folds)")
        ax.fill_between(x, m - s, m + s, color=colour, alpha=0.15, lw=0)
        ref = human.summary.get(key) if human is not None else None
        if _shown(ref):
            a, b = human.coders  # type: ignore[union-attr]
            ax.axhline(ref, color=colour, ls="--", lw=1.2, label=f"{b} vs {a} (human), {label}")
    ax.fill_between([], [], [], color="#888", alpha=0.25, label=CURVE_BAND)
    ax.set_xlabel("coded training segments (mean over folds)")
    ax.set_ylabel("score on held-out documents")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    sub = CURVE_BAND
    if human is not None:
        sub += f"; dashed: {human.coders[1]} vs {human.coders[0]} on the {human.segments} segments both coded"
    ax.set_title(f"{title}\n{sub}", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.savefig(path, metadata={"Software": None, "Title": title, "Description": "; ".join(labels)})
    plt.close(fig)
    return labels


def _shown(x: float | None) -> TypeGuard[float]:
    """A number to draw (not an undefined statistic)."""
    return not _missing(x)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Any) -> None:
    fig.savefig(path, metadata={"Software": None})
    _pyplot().close(fig)


def plot_confusion(entries: Sequence[ConfusionMatrix], path: Any, *, dimension: str) -> list[str]:
    """Confusion matrices (one panel per pair of coders) of community types or valences as a PNG.

    Colour is the share of the row (with a colour bar); every cell shows its count, zeros in grey.
    Returns the colour bar's label (also in the PNG's ``Description``).
    """
    plt = _pyplot()
    n = max(len(entries), 1)
    labels = entries[0].labels if entries else []
    size = 1.6 + 0.75 * len(labels)
    fig, axes = plt.subplots(1, n, figsize=(size * n + 1.2, size + 0.9), dpi=120, squeeze=False, layout="constrained")
    image = None
    for ax, e in zip(axes[0], entries, strict=False):
        mat = np.asarray(e.matrix, dtype=float)
        share = mat / np.maximum(mat.sum(axis=1, keepdims=True), 1e-12)
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                v = mat[i, j]
                text = f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"
                colour = "#9a9a9a" if v == 0 else "white" if share[i, j] > 0.5 else "#111111"
                ax.text(j, i, text, ha="center", va="center", fontsize=10, color=colour,
                        fontweight="normal" if v == 0 else "bold")
        ax.set_xticks(range(len(e.labels)))
        ax.set_xticklabels(e.labels, rotation=35, ha="right", fontsize=9.5)
        ax.set_yticks(range(len(e.labels)))
        ax.set_yticklabels(e.labels, fontsize=9.5)
        ax.set_ylabel(f"{e.rows} (rows)", fontsize=10)
        ax.set_xlabel(f"{e.columns} (columns)", fontsize=10)
        ax.set_title(f"{e.rows} vs {e.columns}", fontsize=10)
    for ax in axes[0][len(entries) :]:
        ax.axis("off")
    bar_label = "share of the row coder's uses of the label"
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes[0]), shrink=0.8, pad=0.02)
        bar.set_label(bar_label, fontsize=9)
        bar.ax.tick_params(labelsize=8)
    what = "community types" if dimension == "type" else "valences"
    title = f"Confusion of {what}: numbers are counts; colour = share of the row"
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, metadata={"Software": None, "Title": title, "Description": f"colour bar: {bar_label}"})
    plt.close(fig)
    return [bar_label]


def _plot_series(ev: Evaluation) -> list[tuple[str, Comparison, str]]:
    """(label, comparison, colour) for the per-code plot: human pairs, then the model vs each coder."""
    comps = ev.comparisons
    series: list[tuple[str, Comparison, str]] = []
    seen = set()
    mc = ev.model_coder
    k = 0
    for h in ev.gold.coders:
        info = ev.by_coder[h]
        pairs: list[tuple[str | None, str]] = [(p.human, p.model) for p in info.pairs] or [(None, info.model)]
        for human, model in pairs:
            if human and human not in seen:
                seen.add(human)
                a, b = comps[human].coders
                series.append((f"{a} vs {b}", comps[human], _HUMAN_COLOUR))
            if model not in seen:
                seen.add(model)
                series.append((f"{mc} vs {h}", comps[model], _SERIES_COLOURS[k % len(_SERIES_COLOURS)]))
                k += 1
    return series[:8]


def plot_per_code(evaluation: Evaluation, path: Any) -> None:
    """F1 and Cohen's kappa per code with intervals: the model vs each coder beside the human pairs."""
    plt = _pyplot()
    codes = evaluation.model.codes
    series = _plot_series(evaluation)
    n = len(series)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * len(codes) * max(1, n / 2.5) + 1.8), dpi=120, sharey=True)
    y = np.arange(len(codes))[::-1].astype(float)
    offsets = (np.arange(n) - (n - 1) / 2) * (0.7 / max(n, 1))
    lows_seen = [0.0]
    for ax, stat, title in ((axes[0], "f1", "F1"), (axes[1], "cohen_kappa", "Cohen's kappa")):
        for (label, comp, colour), off in zip(series, offsets, strict=True):
            for i, code in enumerate(codes):
                s = comp.statistic("code", code, stat)
                est, low, high = s.estimate, s.low, s.high
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
    conf = evaluation.settings.confidence
    fig.legend(handles, labels, loc="lower center", ncol=min(n, 4), fontsize=9, frameon=False)
    fig.suptitle(
        f"F1 and Cohen's kappa per code, {conf:.0%} bootstrap intervals by document (x: undefined)", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _save(fig, path)


def plot_model_vs_humans(evaluation: Evaluation, path: Any) -> None:
    """The model's agreement with each human coder (with intervals) against the range of the humans' agreement."""
    plt = _pyplot()
    verdicts = evaluation.verdicts
    stat = STATISTIC_LABELS.get(evaluation.settings.verdict_statistic, evaluation.settings.verdict_statistic)
    comps = evaluation.comparisons
    humans = evaluation.gold.coders
    # the model vs each coder on the segments shared with another coder (else on all of the coder's segments)
    model_comp = {}
    for h in humans:
        info = evaluation.by_coder[h]
        model_comp[h] = comps[info.pairs[0].model if info.pairs else info.model]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(verdicts) + 1.8), dpi=120, layout="constrained")
    y = np.arange(len(verdicts))[::-1].astype(float)
    shown = [h for h in humans][:6]
    offsets = (np.arange(len(shown)) + 1) * (0.36 / (len(shown) + 1)) - 0.18
    xs = [0.0]
    for i, v in enumerate(verdicts):
        if _shown(v.human_low) and _shown(v.human_high):
            ax.barh(
                y[i],
                v.human_high - v.human_low,
                left=v.human_low,
                height=0.7,
                color="#d4d4d4",
                label="range of the human coders" if i == 0 else None,
                zorder=1,
            )
            xs.append(v.human_low)
        for hp in v.human:
            if _shown(hp.interval.estimate):
                ax.plot(
                    [hp.interval.estimate],
                    [y[i]],
                    "|",
                    color=_HUMAN_COLOUR,
                    ms=14,
                    mew=2,
                    zorder=2,
                    label="human vs human" if i == 0 else None,
                )
        for k, (h, off) in enumerate(zip(shown, offsets, strict=True)):
            s = model_comp[h].statistic(v.level, v.name, v.statistic)
            colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
            yy = y[i] + off
            if _shown(s.low) and _shown(s.high):
                ax.plot([s.low, s.high], [yy, yy], color=colour, lw=1.4, alpha=0.9, zorder=3)
                xs.append(s.low)
            if _shown(s.estimate):
                ax.plot(
                    [s.estimate],
                    [yy],
                    "o",
                    mfc="white",
                    color=colour,
                    ms=4.5,
                    zorder=4,
                    label=f"model vs {h}, with interval" if i == 0 else None,
                )
        if _shown(v.model) and v.verdict != "not_available":
            ax.plot(
                [v.model],
                [y[i]],
                marker="D",
                color=_VERDICT_COLOURS.get(v.verdict, "black"),
                ms=7,
                mec="black",
                mew=0.5,
                ls="none",
                zorder=5,
            )
            xs.append(v.model)
    for verdict, colour in _VERDICT_COLOURS.items():
        if any(v.verdict == verdict for v in verdicts):
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
    ax.set_yticklabels([v.name if v.level != "set" else "whole sets" for v in verdicts], fontsize=9)
    prev = None
    for i, v in enumerate(verdicts):
        if prev is not None and v.level != prev:
            ax.axhline(y[i] + 0.5, color="#888", lw=0.8)
        prev = v.level
    ax.set_xlim(min(-0.05, min(xs) - 0.05), 1.03)
    ax.set_ylim(-0.7, len(verdicts) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(stat)
    conf = evaluation.settings.confidence
    title = f"The model as one more coder: {stat}, {conf:.0%} intervals by document"
    if not evaluation.human_vs_human:
        title += "\n(one human coder: no human range, no verdicts)"
    ax.set_title(title + "\ncodes | community types | valences | whole sets", fontsize=10)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5, frameon=False)
    _save(fig, path)
