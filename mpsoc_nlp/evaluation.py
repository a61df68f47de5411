"""Model versus people: the model as one more coder (:func:`evaluate_model`), grouped cross-validation.

The scores of one set of codings against another are in :mod:`mpsoc_nlp.scores`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from .agreement.views import BINARY_STATISTICS, SET_STATISTICS, segment_agreement, statistics_of
from .codebook import Codebook
from .errors import InputError
from .models.base import BaseCoder
from .provenance import seen_mask, training_overlap
from .results import (
    LEVEL_KEYS,
    MIN_POSITIVES,
    VERDICTS,
    CoderLinks,
    Comparison,
    ConfusionMatrix,
    Counts,
    CrossValidation,
    Evaluation,
    GoldInfo,
    HumanPair,
    Interval,
    ModelInfo,
    PairLink,
    Settings,
    VariableAgreement,
    Verdict,
)
from .scores import binary_scores, multilabel_confusion, score

__all__ = [
    "VERDICTS",
    "score",
    "cross_validate",
    "CrossValidation",
    "binary_scores",
    "Evaluation",
    "evaluate_model",
    "multilabel_confusion",
]

logger = logging.getLogger(__name__)

LEARNING_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)


def _group_folds(groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        raise InputError("cross-validation needs segments from at least 2 documents (document_id)")
    k = min(folds, n_groups)
    if k < folds:
        logger.warning("only %d documents: using %d folds instead of %d", n_groups, k, folds)
    return list(GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(groups)), groups=groups))


def _subsample_documents(train_idx: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    docs = np.array(sorted(set(groups[train_idx].tolist())), dtype=object)
    rng = np.random.default_rng(seed)
    keep_n = max(2, int(round(fraction * len(docs))))
    keep = set(rng.permutation(docs)[:keep_n].tolist())
    return train_idx[np.isin(groups[train_idx], list(keep))]


def cross_validate(
    texts: Sequence[str],
    code_sets: Sequence[Sequence[str]],
    groups: Sequence[Any],
    make_model: Callable[[], BaseCoder],
    codebook: Codebook,
    *,
    folds: int = 5,
    seed: int = 0,
    with_learning_curve: bool = False,
    fractions: Sequence[float] = LEARNING_FRACTIONS,
    progress: Callable[[str], None] | None = None,
) -> CrossValidation:
    """Cross-validate a coder with folds grouped by document; optionally a learning curve.

    The learning curve trains on 20 %, 40 %, ... of the training documents of each fold (whole
    documents, as researchers code whole interviews) and scores the same test fold.
    """
    text_arr = np.asarray(list(texts), dtype=object)
    y = codebook.encode(list(code_sets))
    g = np.asarray([str(x) for x in groups], dtype=object)
    splits = _group_folds(g, folds, seed)
    proba = np.zeros(y.shape, dtype=np.float64)
    pred = np.zeros(y.shape, dtype=np.uint8)
    fold_of = np.zeros(len(y), dtype=np.int64)
    fold_scores = []
    curve_rows = []
    for k, (train_idx, test_idx) in enumerate(splits):
        if progress:
            progress(f"fold {k + 1}/{len(splits)}")
        model = make_model().fit(text_arr[train_idx].tolist(), y[train_idx], groups=g[train_idx])
        pr = model.predict_proba(text_arr[test_idx].tolist())
        proba[test_idx] = pr
        pred[test_idx] = (pr >= model.thresholds_).astype(np.uint8)  # type: ignore[attr-defined]
        fold_of[test_idx] = k
        fold_scores.append(score(y[test_idx], pred[test_idx], codebook))
        if with_learning_curve:
            for frac in fractions:
                if frac >= 1.0:
                    sub = train_idx
                    sc = fold_scores[-1]
                else:
                    sub = _subsample_documents(train_idx, g, frac, seed + k)
                    m = make_model().fit(text_arr[sub].tolist(), y[sub], groups=g[sub])
                    sc = score(y[test_idx], m.predict(text_arr[test_idx].tolist()), codebook)
                curve_rows.append(
                    {
                        "fold": k,
                        "fraction": frac,
                        "train_segments": int(len(sub)),
                        "train_documents": int(len(set(g[sub].tolist()))),
                        **{
                            key: sc["summary"][key]
                            for key in ("micro_f1", "macro_f1", "type_macro_f1", "valence_macro_f1", "any_community_f1")
                            if key in sc["summary"]
                        },
                    }
                )
    pooled = score(y, pred, codebook)
    curve = None
    if curve_rows:
        raw = pd.DataFrame(curve_rows)
        metrics = [c for c in raw.columns if c.endswith("_f1")]
        agg = raw.groupby("fraction").agg(
            train_segments=("train_segments", "mean"),
            train_documents=("train_documents", "mean"),
            **{f"{m}_mean": (m, "mean") for m in metrics},
            **{f"{m}_sd": (m, "std") for m in metrics},
        )
        curve = agg.reset_index()
    return CrossValidation(
        scores=pooled,
        fold_scores=fold_scores,
        proba=proba,
        predicted=codebook.decode(pred, 0.5),
        folds=fold_of,
        learning_curve=curve,
    )


# --------------------------------------------------------------------------------------------
# The model as one more coder
# --------------------------------------------------------------------------------------------

MODEL_CODER = "model"
NONE_LABEL = "(none)"
def _num(v: Any) -> float | None:
    if v is None or v is pd.NA:
        return None
    f = float(v)
    return None if f != f else f


def _count(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _comparison(
    ratings: pd.DataFrame,
    first: str,
    second: str,
    segment_ids: Sequence[Any],
    subset: str,
    codebook: Codebook,
    settings: Settings,
    *,
    id: str | None = None,
) -> Comparison:
    ids = set(segment_ids)
    sub = ratings.loc[ratings["coder"].isin([first, second]) & ratings["segment_id"].isin(ids)]
    table = segment_agreement(
        sub,
        codebook.codes,
        coders=[first, second],
        n_resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    c1, c2 = table.attrs["coders"]
    agreement: dict[str, dict[str, VariableAgreement]] = {level: {} for level in LEVEL_KEYS}
    for _, row in table.iterrows():
        agreement[str(row["level"])][str(row["name"])] = VariableAgreement(
            n_units=_count(row["n_units"]),
            statistics={stat: Interval(*values) for stat, values in statistics_of(row).items()},
            notes=row["notes"] or "",
            counts=Counts(
                both=_count(row["both_present"]),
                only={str(c1): _count(row["first_only"]), str(c2): _count(row["second_only"])},
                neither=_count(row["both_absent"]),
            ),
        )
    return Comparison(
        id=id or f"{first} vs {second}",
        coders=(first, second),
        subset=subset,
        segments=int(table.attrs["n_segments"]),
        documents=int(table.attrs["n_documents"]),
        agreement=agreement,
    )


def _verdicts(
    comparisons: dict[str, Comparison],
    human_pairs: list[tuple[str, str, str, str, str]],
    model_all: dict[str, str],
    codebook: Codebook,
    statistic: str,
) -> list[Verdict]:
    variables = (
        [("code", c) for c in codebook.codes]
        + [("type", t) for t in codebook.type_names]
        + [("valence", v) for v in (codebook.valence_names if codebook.valences else ())]
        + [("set", "(whole sets)")]
    )
    out = []
    for level, name in variables:
        stat = statistic if level != "set" or statistic in SET_STATISTICS else "krippendorff_alpha_masi"
        human = []
        model_values: dict[str, list[float]] = {}
        for hi, hj, h_id, mi_id, mj_id in human_pairs:
            human.append(HumanPair((hi, hj), comparisons[h_id].statistic(level, name, stat)))
            for h, cid in ((hi, mi_id), (hj, mj_id)):
                est = comparisons[cid].statistic(level, name, stat).estimate
                if est is not None:
                    model_values.setdefault(h, []).append(est)
        if not human_pairs:
            by_coder = {h: comparisons[cid].statistic(level, name, stat) for h, cid in model_all.items()}
            estimates = [v.estimate for v in by_coder.values() if v.estimate is not None]
            model = _num(np.mean(estimates)) if by_coder and len(estimates) == len(by_coder) else None
            out.append(
                Verdict(
                    level, name, stat, human, model, {h: v.estimate for h, v in by_coder.items()}, None, None,
                    "not_available",
                )
            )
            continue
        by_coder_mean: dict[str, float | None] = {h: float(np.mean(v)) for h, v in model_values.items()}
        model = float(np.mean([x for v in model_values.values() for x in v])) if model_values else None
        positives = _positives([comparisons[h_id] for _, _, h_id, _, _ in human_pairs], level, name)
        lows = [h.interval.low for h in human if h.interval.low is not None]
        highs = [h.interval.high for h in human if h.interval.high is not None]
        ests = [h.interval.estimate for h in human if h.interval.estimate is not None]
        low = min(lows) if lows else (min(ests) if ests else None)
        high = max(highs) if highs else (max(ests) if ests else None)
        if model is None or low is None or high is None:
            verdict = "undefined"
        elif positives is not None and positives < MIN_POSITIVES:
            verdict = "too_few"
        elif model < low - 1e-12:
            verdict = "below"
        elif model > high + 1e-12:
            verdict = "above"
        else:
            verdict = "within"
        out.append(Verdict(level, name, stat, human, model, by_coder_mean, low, high, verdict, positives))
    return out


def _positives(human_comparisons: list[Comparison], level: str, name: str) -> int | None:
    """The fewest positive segments a human coder gave in the human-vs-human comparisons (segments, for sets).

    Only people count: a model that never gives a code a human gives often is plainly below, not undecided.
    """
    found: list[int] = []
    for comp in human_comparisons:
        if level == "set":
            found.append(comp.segments)
            continue
        row = comp.agreement[level].get(name)
        if row is None or row.counts.both is None:
            continue
        found += [row.counts.both + (only or 0) for only in row.counts.only.values()]
    return min(found) if found else None


def _codes_cell(codes: Any) -> str:
    if not isinstance(codes, tuple):
        return ""
    return "; ".join(codes) if codes else "(no code)"


def evaluate_model(
    model: BaseCoder | str | Any,
    gold: pd.DataFrame | str | Any,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    statistic: str = "cohen_kappa",
    sheet: str | int | None = None,
    include_training_data: bool = False,
) -> Evaluation:
    """Evaluate a model as one more coder beside the human coders of ``gold``.

    A verdict needs enough data: where a human coder of a compared pair gave a code to fewer than
    ``MIN_POSITIVES`` (10) of the segments both coded, the verdict is ``too_few`` ("too few
    segments to decide"), since kappa then swings on one or two segments; for whole sets, fewer
    than 10 segments. A human range of one point (people agree identically on every resample) is
    flagged as ``degenerate_range``.

    Gold documents the model was trained on (found by file sha256, document ids or segment ids,
    see :mod:`mpsoc_nlp.provenance`) are left out of the scores unless ``include_training_data``;
    either way the result's ``overlap`` says so, and with ``include_training_data`` the scores are
    labelled as training-data scores.

    The model codes every gold segment. For each human coder it is compared with that coder on
    all the coder's segments; and for each pair of human coders, on the segments both coded, the
    model's agreement with each of them is set beside their agreement with each other, per
    code, per community type, per valence and on whole sets, with percentile bootstrap
    intervals that resample documents.

    The verdict for a code compares the model's ``statistic`` (its mean over the human coders,
    on the segments they share) with the range of the human coders: from the lowest lower
    bound to the highest upper bound of the human-vs-human intervals. Below that range the model
    agrees with people less than people agree with each other; within it, about as well.

    Parameters
    ----------
    model : BaseCoder or path
        A fitted coder or a model folder.
    gold : DataFrame, Dataset, path or list of them
        Segments coded by people (checked as :func:`~mpsoc_nlp.io.read_segments` checks them):
        ``segment_id``, ``document_id``, ``text``, ``codes``, and
        ``coder`` when several people coded (long format: one row per segment and coder).
    n_resamples, seed, confidence
        The bootstrap (resampling documents).
    statistic : {'cohen_kappa', 'krippendorff_alpha', 'gwet_ac1', 'percent_agreement', 'f1'}
        The statistic of the verdicts.
    include_training_data : bool
        Score the gold documents the model was trained on too (training-data scores).

    Returns
    -------
    Evaluation
    """
    from .classification import predict_frame, prediction_metadata
    from .models.base import load_model

    if statistic not in BINARY_STATISTICS:
        raise InputError(f"the verdict statistic must be one of {list(BINARY_STATISTICS)}, not {statistic!r}")
    model_dir = None
    if not isinstance(model, BaseCoder):
        model_dir = model
        model = load_model(model)
    codebook: Codebook = model.codebook_  # type: ignore[attr-defined]
    from .io.frames import as_inputs, is_frame
    from .io.segments import read_segments

    inputs = as_inputs(gold)
    files = [str(p) for p in inputs if not is_frame(p)]
    segments = read_segments(inputs, codebook=codebook, sheet=sheet, require_codes=True, require_documents=True)
    for col in ("segment_id", "document_id", "text", "codes"):
        if col not in segments.columns:
            raise InputError(f"the gold segments need a {col!r} column")
    if segments["document_id"].isna().any():
        raise InputError("every gold segment needs its document_id (the bootstrap resamples documents)")
    segments = segments.copy()
    segments["codes"] = [c if isinstance(c, tuple) else codebook.parse_codes(c) for c in segments["codes"]]
    if "coder" not in segments.columns:
        segments["coder"] = None
    segments["coder"] = segments["coder"].map(lambda c: "gold" if c is None or c != c else str(c))
    humans = sorted(segments["coder"].unique().tolist())
    model_coder = MODEL_CODER
    while model_coder in humans:
        model_coder += "*"
    docs_per_segment = segments.groupby("segment_id")["document_id"].nunique()
    if (docs_per_segment > 1).any():
        sid = docs_per_segment.index[docs_per_segment > 1][0]
        raise InputError(
            f"segment {sid!r} has different document_ids for different coders; a segment lies in one document"
        )

    overlap = training_overlap(getattr(model, "metadata_", {}).get("training_data"), segments, files)
    if overlap.found:
        if include_training_data:
            overlap.mode = "included"
        else:
            overlap.mode = "excluded"
            segments = segments.loc[~seen_mask(segments, overlap)].reset_index(drop=True)
            if segments.empty:
                raise InputError(
                    f"every gold document ({overlap.gold_documents}) was in the model's training data, so nothing is "
                    "left to score; give documents the model has not seen, or pass --include-training-data to score "
                    "them anyway (labelled as training-data scores)"
                )
            humans = sorted(segments["coder"].unique().tolist())
        logger.warning("%s", overlap.message())

    unique = segments.drop_duplicates("segment_id").reset_index(drop=True)
    base_cols = [c for c in ("segment_id", "document_id", "genre", "text") if c in unique.columns]
    predictions = predict_frame(model, unique[base_cols])
    ratings = pd.concat(
        [
            segments[["segment_id", "document_id", "coder", "codes"]],
            predictions[["segment_id", "document_id"]].assign(coder=model_coder, codes=predictions["codes"]),
        ],
        ignore_index=True,
    )
    settings = Settings(
        resamples=int(n_resamples), seed=int(seed), confidence=float(confidence), verdict_statistic=statistic
    )
    by_coder_ids = {h: segments.loc[segments["coder"] == h, "segment_id"].tolist() for h in humans}

    comparisons: dict[str, Comparison] = {}
    model_all: dict[str, str] = {}
    for h in humans:
        comp = _comparison(ratings, h, model_coder, by_coder_ids[h], f"all segments {h} coded", codebook, settings)
        comparisons[comp.id] = comp
        model_all[h] = comp.id
    human_pairs: list[tuple[str, str, str, str, str]] = []
    by_coder = {h: CoderLinks(model=model_all[h]) for h in humans}
    for i, hi in enumerate(humans):
        for hj in humans[i + 1 :]:
            shared = sorted(set(by_coder_ids[hi]) & set(by_coder_ids[hj]), key=str)
            if not shared:
                continue
            subset = f"segments both {hi} and {hj} coded"
            comp = _comparison(ratings, hi, hj, shared, subset, codebook, settings)
            comparisons[comp.id] = comp
            ids = []
            for h in (hi, hj):
                if len(shared) == len(set(by_coder_ids[h])):
                    ids.append(model_all[h])  # the same segments: the same comparison
                    continue
                mc = _comparison(
                    ratings, h, model_coder, shared, subset, codebook, settings, id=f"{h} vs {model_coder} ({subset})"
                )
                comparisons[mc.id] = mc
                ids.append(mc.id)
            human_pairs.append((hi, hj, comp.id, ids[0], ids[1]))
            by_coder[hi].pairs.append(PairLink(other=hj, segments=len(shared), human=comp.id, model=ids[0]))
            by_coder[hj].pairs.append(PairLink(other=hi, segments=len(shared), human=comp.id, model=ids[1]))

    notes = []
    if len(humans) == 1:
        notes.append(
            f"Only one human coder ({humans[0]}): human-vs-human agreement is not available, so the model is "
            f"compared with {humans[0]} alone and there are no verdicts."
        )
    elif not human_pairs:
        notes.append("No segment was coded by two human coders: human-vs-human agreement is not available.")
    verdicts = _verdicts(comparisons, human_pairs, model_all, codebook, statistic)

    model_codes = dict(zip(predictions["segment_id"], predictions["codes"], strict=True))
    scores = {}
    confusion: dict[str, list[ConfusionMatrix]] = {"type": [], "valence": []}
    dims = [("type", list(codebook.type_names))]
    if codebook.valences:
        dims.append(("valence", list(codebook.valence_names)))

    def add_confusion(row_coder: str, col_coder: str, row_sets: list[Any], col_sets: list[Any]) -> None:
        for dim, labels in dims:
            m = multilabel_confusion(codebook.collapse(row_sets, dim), codebook.collapse(col_sets, dim), labels)
            confusion[dim].append(ConfusionMatrix(row_coder, col_coder, [*labels, NONE_LABEL], m.round(3).tolist()))

    for h in humans:
        rows = segments.loc[segments["coder"] == h]
        gold_sets = list(rows["codes"])
        pred_sets = [model_codes[s] for s in rows["segment_id"]]
        sc = score(gold_sets, pred_sets, codebook)
        scores[h] = sc
        add_confusion(h, model_coder, gold_sets, pred_sets)
    if human_pairs:
        hi, hj = human_pairs[0][:2]
        a = segments.loc[segments["coder"] == hi].set_index("segment_id")["codes"]
        b = segments.loc[segments["coder"] == hj].set_index("segment_id")["codes"]
        shared_ids = [s for s in a.index if s in b.index]
        add_confusion(hi, hj, [a[s] for s in shared_ids], [b[s] for s in shared_ids])

    # disagreements: every segment whose coders (model included) do not all give one set
    wide = ratings.pivot(index="segment_id", columns="coder", values="codes")
    order = unique["segment_id"].tolist()
    wide = wide.reindex(index=order, columns=humans + [model_coder])
    differing, differs_on = [], []
    for _, row in wide.iterrows():
        given = [frozenset(v) for v in row if isinstance(v, tuple)]
        union = frozenset().union(*given)
        common = frozenset.intersection(*given) if given else frozenset()
        differing.append(len(set(given)) > 1)
        differs_on.append("; ".join(c for c in codebook.codes if c in union - common))
    mask = np.asarray(differing, dtype=bool)
    keep = [c for c in ("segment_id", "document_id", "text") if c in unique.columns]
    dis = unique.loc[mask, keep].reset_index(drop=True)
    for c in humans + [model_coder]:
        dis[c] = [_codes_cell(v) for v in wide[c].to_numpy()[mask]]
    dis["differs_on"] = np.asarray(differs_on, dtype=object)[mask]
    pred_idx = predictions.set_index("segment_id")
    dis["review"] = pred_idx["review"].reindex(dis["segment_id"]).to_numpy()
    for col in [c for c in predictions.columns if str(c).startswith("p:")]:
        dis[col] = pred_idx[col].reindex(dis["segment_id"]).to_numpy()

    meta = prediction_metadata(model, model_dir)
    counts = segments["coder"].value_counts()
    return Evaluation(
        library_version=meta["library_version"],
        model=ModelInfo(**{k: meta[k] for k in ("model", "model_name", "backend", "codebook", "codes", "thresholds")}),
        gold=GoldInfo(
            files=files,
            coders=humans,
            segments=int(len(unique)),
            documents=int(unique["document_id"].nunique()),
            segments_per_coder={h: int(counts[h]) for h in humans},
        ),
        model_coder=model_coder,
        settings=settings,
        human_vs_human=bool(human_pairs),
        notes=notes,
        overlap=overlap,
        comparisons=comparisons,
        by_coder=by_coder,
        verdicts=verdicts,
        scores=scores,
        confusion=confusion,
        disagreements=dis,
        ratings=ratings,
        predictions=predictions,
    )
