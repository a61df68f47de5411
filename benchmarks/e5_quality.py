"""Quality of coders built on multilingual-e5-small against the linear coder.

Sub-commands, each printing a Markdown table and writing its numbers as JSON (``--json``):

``samples``
    ``data_samples/`` coder A. Settings of the e5 coders (``C``, the ``passage:`` prefix, the weight
    of the e5 block beside the n-grams) are chosen on 5-fold grouped CV of the *training* split of
    ``data_samples/splits.json``; then the linear coder, the frozen e5 coder and the combination are
    scored on 5 folds grouped by document over all of coder A, and on the fixed split (train on
    coder A's training documents, test against coder B on the test documents).
``dev``
    The library's hybrid coder against the linear coder on the fixed splits of ``data_samples``:
    train on coder A's ``train`` documents; score on the ``dev`` documents against coders A, C and
    D (each, and their mean), with a document bootstrap 95 % interval of the gain in mean per-code
    kappa; then on the ``test`` documents against coder B (reported, never used for a choice).
    ``--quantized`` adds the hybrid loaded with an int8 encoder (``load_model(quantize=True)``).
``norec``
    NoReC_sentence binary with a valence-only codebook: train on ``train.json``, report macro-F1 on
    ``test.json``. The e5 settings are the ones ``samples`` chose (``--C``, ``--weight``); nothing is
    tuned on the test split.
``finetune-split``
    Fine-tune with a recipe (``--config``, ``--set key=value``) on coder A's training documents
    (a grouped validation fifth stops early and tunes the thresholds); score the dev documents
    against coders A, C and D (and their mean) and the test documents against coder B. One JSON
    per run, written after each seed.
``finetune-norec``
    The same on NoReC_sentence binary (valence-only codebook): train on ``train.json``, stop early
    and tune thresholds on ``dev.json``, report macro-F1 (argmax) and accuracy on ``test.json``.
``finetune-report``
    Combine the JSON files of several seeds (and recipes) into tables of mean ± sd.
``finetune``
    Fine-tuning sweep on the training split of ``data_samples`` (grouped CV folds, or one grouped
    validation split with ``--folds 1``), over a grid given on the command line, e.g.
    ``--grid learning_rate=1e-4,6e-5 freeze_embeddings=true,false epochs=15 --seeds 0 1 2``.
    Reports each epoch's validation macro-F1 and the cross-validated scores.

Coders:

- ``linear``: :class:`~mpsoc_nlp.models.LinearCoder` with its defaults.
- ``e5 frozen``: :class:`~mpsoc_nlp.models.TransformerCoder` with ``strategy="frozen"`` on the
  folder ``mpsoc prepare-model`` wrote (mean pooling, logistic regressions per code).
- ``linear + e5`` (``hybrid``): the library's :class:`~mpsoc_nlp.models.HybridCoder`, the linear
  coder's hashed word and character n-grams (tf-idf, each block of unit length) with the
  L2-normalised e5 vector appended as a third block times ``weight``; one logistic regression per
  code over all of it.

Embeddings are computed once per distinct text (the library's embedding cache, shared by every
coder of a run); their CPU time is reported on its own line and added to the e5 coders' minutes.
``--embeddings FILE.npz`` keeps that cache between runs (vectors by sha256 of the text, no text):
``samples`` and ``dev`` then embed the corpus once between them.

Run with ``nice``: e.g.
``nice -n 10 python benchmarks/e5_quality.py samples --model models/e5 --json out/e5_samples.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpsoc_nlp import Codebook
from mpsoc_nlp.evaluation import cross_validate, score
from mpsoc_nlp.io import read_segments
from mpsoc_nlp.models import load_model
from mpsoc_nlp.models.embedding_cache import EmbeddingCache
from mpsoc_nlp.models.hybrid import HybridCoder
from mpsoc_nlp.models.linear import LinearCoder
from mpsoc_nlp.models.transformer import TransformerCoder

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "passage: "


# -- coders -------------------------------------------------------------------------------------
def frozen(model: str, cache: EmbeddingCache, codebook: Codebook, *, prefix: str, C: float,
           seed: int = 0) -> TransformerCoder:
    coder = TransformerCoder(codebook, model_name_or_path=model, strategy="frozen", text_prefix=prefix, C=C,
                             seed=seed, num_threads=2)
    coder.embedding_cache = cache  # type: ignore[attr-defined]
    return coder


def hybrid(model: str, cache: EmbeddingCache, codebook: Codebook, *, prefix: str, weight: float,
           seed: int = 0) -> HybridCoder:
    """The library's hybrid coder on the e5 folder, sharing the run's embedding cache."""
    coder = HybridCoder(codebook, encoder=model, text_prefix=prefix, weight=weight, seed=seed, num_threads=2)
    coder.embedding_cache = cache  # type: ignore[attr-defined]
    return coder


def load_cache(path: Path | None, cache: EmbeddingCache) -> None:
    """Vectors a run kept before (``--embeddings``): keys are encoder settings and sha256 of texts."""
    if path is None or not path.is_file():
        return
    with np.load(path, allow_pickle=False) as z:
        keys, digests, vectors = z["keys"], z["digests"], z["vectors"]
    for k, d, v in zip(keys.tolist(), digests, vectors, strict=True):
        cache._vectors[(str(k), bytes(d))] = v
    print(f"loaded {len(cache)} cached vectors from {path}", file=sys.stderr)


def save_cache(path: Path | None, cache: EmbeddingCache) -> None:
    if path is None or not len(cache):
        return
    items = list(cache._vectors.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, keys=np.asarray([k for (k, _), _ in items]),
             digests=np.asarray([np.frombuffer(d, dtype=np.uint8) for (_, d), _ in items]),
             vectors=np.stack([v for _, v in items]))


# -- scoring ------------------------------------------------------------------------------------
def summary(sc: dict[str, Any], codebook: Codebook) -> dict[str, Any]:
    per = sc["per_code"]
    kappas = [per[c]["kappa"] for c in codebook.codes if per[c]["support"] > 0 and per[c]["kappa"] == per[c]["kappa"]]
    return {
        "per_code_f1": {c: per[c]["f1"] for c in codebook.codes},
        "per_code_kappa": {c: per[c]["kappa"] for c in codebook.codes},
        "mean_kappa": float(np.mean(kappas)) if kappas else float("nan"),
        "macro_f1": sc["summary"]["macro_f1"],
        "type_macro_f1": sc["summary"].get("type_macro_f1"),
        "valence_macro_f1": sc["summary"].get("valence_macro_f1"),
        "any_community_f1": sc["summary"]["any_community_f1"],
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, (time.process_time() - t0) / 60


def grouped_cv(rows: pd.DataFrame, make: Callable[[], Any], codebook: Codebook, folds: int, seed: int = 0
               ) -> tuple[dict[str, Any], list[float], float]:
    cv, minutes = timed(lambda: cross_validate(rows["text"].tolist(), rows["codes"].tolist(),
                                               rows["document_id"].astype(str).tolist(), make, codebook,
                                               folds=folds, seed=seed))
    fold_kappa = [summary(f, codebook)["mean_kappa"] for f in cv.fold_scores]
    return summary(cv.scores, codebook), fold_kappa, minutes


def fixed_split(train: pd.DataFrame, test: pd.DataFrame, make: Callable[[], Any], codebook: Codebook
                ) -> tuple[dict[str, Any], float]:
    def run() -> dict[str, Any]:
        model = make().fit(train["text"].tolist(), train["codes"].tolist(),
                           groups=train["document_id"].astype(str).tolist())
        return score(test["codes"].tolist(), model.predict(test["text"].tolist()), codebook)

    sc, minutes = timed(run)
    return summary(sc, codebook), minutes


def embed_all(model: str, cache: EmbeddingCache, codebook: Codebook, rows: pd.DataFrame, prefix: str
              ) -> tuple[TransformerCoder, float]:
    """Fill the cache with every text's vector; returns the fitted encoder and the CPU minutes."""
    coder = frozen(model, cache, codebook, prefix=prefix, C=1.0)
    _, minutes = timed(lambda: coder.fit(rows["text"].tolist(), rows["codes"].tolist(),
                                         groups=rows["document_id"].astype(str).tolist()))
    return coder, minutes


def _flat(result: dict[str, Any]) -> dict[str, float]:
    """``per_code_f1: {c: x}`` -> ``per_code_f1.c: x``; scalars as they are; other values dropped."""
    out: dict[str, float] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": float(v) for k, v in value.items() if isinstance(v, (int, float))})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def mean_result(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The key-by-key mean of results of the same shape (e.g. scores against several coders; a code a
    coder never gave, NaN there, is left out of its mean)."""
    flats = [_flat(r) for r in results]
    out: dict[str, Any] = {}
    for key in flats[0]:
        value = float(np.nanmean([f[key] for f in flats]))
        head, _, code = key.partition(".")
        if code:
            out.setdefault(head, {})[code] = value
        else:
            out[key] = value
    return out


def _cell(values: Sequence[float], fmt: str = ".3f") -> str:
    """One value, or the mean ± sd (ddof 1) of several: the seeds of a run."""
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(float(np.mean(values)), fmt)} ± {format(float(np.std(values, ddof=1)), fmt)}"


def table(results: dict[str, Any], codebook: Codebook) -> str:
    """A Markdown table, one column per coder; a column holding a list of results shows mean ± sd."""
    names = list(results)
    cols = {n: [_flat(r) for r in (results[n] if isinstance(results[n], list) else [results[n]])] for n in names}

    def cell(n: str, key: str, fmt: str = ".3f") -> str:
        return _cell([f[key] for f in cols[n]], fmt) if key in cols[n][0] else ""

    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for c in codebook.codes:
        lines.append(f"| {c} F1 / kappa | " + " | ".join(
            f"{cell(n, f'per_code_f1.{c}')} / {cell(n, f'per_code_kappa.{c}')}" for n in names) + " |")
    for key in ("mean_kappa", "macro_f1", "type_macro_f1", "valence_macro_f1", "any_community_f1"):
        lines.append(f"| **{key}** | " + " | ".join(cell(n, key) for n in names) + " |")
    if any("fold_kappa" in results[n] for n in names if isinstance(results[n], dict)):
        lines.append("| mean kappa: sd over folds | " + " | ".join(
            f"{np.std(results[n]['fold_kappa'], ddof=1):.3f}" if "fold_kappa" in results[n] else "" for n in names)
            + " |")
    lines.append("| CPU minutes | " + " | ".join(cell(n, "cpu_minutes", ".1f") for n in names) + " |")
    return "\n".join(lines)


# -- sub-commands -------------------------------------------------------------------------------
def load_samples(codebook: Codebook) -> tuple[pd.DataFrame, dict[str, Any]]:
    seg = read_segments(ROOT / "data_samples" / "codings.csv", codebook=codebook)
    split = json.loads((ROOT / "data_samples" / "splits.json").read_text(encoding="utf-8"))
    return seg, split


def cmd_samples(args: argparse.Namespace) -> dict[str, Any]:
    codebook = Codebook.default()
    seg, split = load_samples(codebook)
    a = seg[seg["coder"] == "A"].reset_index(drop=True)
    b = seg[seg["coder"] == "B"].reset_index(drop=True)
    a_train = a[a["document_id"].isin(split["train"])].reset_index(drop=True)
    b_test = b[b["document_id"].isin(split["test"])].reset_index(drop=True)
    cache = EmbeddingCache()
    load_cache(args.embeddings, cache)
    embed_minutes: dict[str, float] = {}
    prefixes = (args.prefix,) if args.skip_selection else (PREFIX, "")
    for p in prefixes:
        embed_minutes[p] = embed_all(args.model, cache, codebook, a, p)[1]
    embed_minutes[prefixes[0]] += embed_all(args.model, cache, codebook, b_test, prefixes[0])[1]
    print(f"embedding CPU minutes: {embed_minutes}", file=sys.stderr)
    save_cache(args.embeddings, cache)

    # 1. settings, on grouped CV of the training split only
    selection: dict[str, float] = {}
    for prefix, C in itertools.product(() if args.skip_selection else (PREFIX, ""), args.C):
        s, _, _ = grouped_cv(a_train, lambda p=prefix, c=C: frozen(args.model, cache, codebook, prefix=p, C=c),
                             codebook, args.folds)
        selection[f"frozen prefix={prefix!r} C={C}"] = s["mean_kappa"]
        print(f"  frozen prefix={prefix!r} C={C}: mean kappa {s['mean_kappa']:.3f}", file=sys.stderr)
    if args.skip_selection:  # the settings given on the command line (chosen before, on the training split)
        best_prefix, best_C, best_w = args.prefix, args.C[0], args.weight[0]
    else:
        best_frozen = max((k for k in selection if k.startswith("frozen")), key=selection.__getitem__)
        best_prefix = PREFIX if "prefix='passage: '" in best_frozen else ""
        best_C = float(best_frozen.rsplit("C=", 1)[1])
        for w in args.weight:
            s, _, _ = grouped_cv(a_train, lambda w=w: hybrid(args.model, cache, codebook, prefix=best_prefix, weight=w),
                                 codebook, args.folds)
            selection[f"linear+e5 weight={w}"] = s["mean_kappa"]
            print(f"  linear+e5 weight={w}: mean kappa {s['mean_kappa']:.3f}", file=sys.stderr)
        best_w = float(max((k for k in selection if k.startswith("linear+e5")),
                           key=selection.__getitem__).split("=")[1])

    names = {"linear": "linear", "frozen": f"e5 frozen (prefix {best_prefix!r}, C={best_C})",
             "hybrid": f"linear + e5 (weight {best_w})"}
    every: dict[str, Callable[[], Any]] = {
        "linear": lambda: LinearCoder(codebook),
        "frozen": lambda: frozen(args.model, cache, codebook, prefix=best_prefix, C=best_C),
        "hybrid": lambda: hybrid(args.model, cache, codebook, prefix=best_prefix, weight=best_w),
    }
    makers = {names[k]: m for k, m in every.items() if k in args.coders}
    cv_results: dict[str, dict[str, Any]] = {}
    split_results: dict[str, dict[str, Any]] = {}
    for name, make in makers.items():
        s, fold_kappa, minutes = grouped_cv(a, make, codebook, args.folds)
        extra = embed_minutes[best_prefix] if name != "linear" else 0.0
        cv_results[name] = {**s, "fold_kappa": fold_kappa, "cpu_minutes": minutes + extra}
        s2, minutes2 = fixed_split(a_train, b_test, make, codebook)
        split_results[name] = {**s2, "cpu_minutes": minutes2}
        print(f"  {name}: CV mean kappa {s['mean_kappa']:.3f}, split vs B {s2['mean_kappa']:.3f}", file=sys.stderr)
    if "linear" in cv_results and len(cv_results) > 1:
        base = np.asarray(cv_results["linear"]["fold_kappa"])
        for name, res in cv_results.items():
            if name != "linear":
                diff = np.asarray(res["fold_kappa"]) - base
                res["fold_gain"] = {"mean": float(diff.mean()), "sd": float(diff.std(ddof=1)),
                                    "folds_better": int((diff > 0).sum())}
                print(f"  {name} - linear per fold: {diff.mean():+.3f} +- {diff.std(ddof=1):.3f} "
                      f"({(diff > 0).sum()}/{len(diff)} folds better)", file=sys.stderr)
    print("## Settings chosen on grouped CV of the training split (mean per-code kappa)\n")
    for k, v in selection.items():
        print(f"- {k}: {v:.3f}")
    print(f"\n## {args.folds} folds grouped by document, coder A ({len(a)} segments)\n")
    print(table(cv_results, codebook))
    for name, res in cv_results.items():
        if "fold_gain" in res:
            g = res["fold_gain"]
            print(f"\n{name} minus linear, per fold: {g['mean']:+.3f} +- {g['sd']:.3f} (sd), "
                  f"better in {g['folds_better']}/{args.folds} folds")
    print(f"\n## Fixed split: train coder A ({len(a_train)} segments), test coder B ({len(b_test)} segments)\n")
    print(table(split_results, codebook))
    print(f"\nEmbedding CPU minutes (included above for the e5 coders of the CV table): {embed_minutes}")
    return {"selection": selection, "cv": cv_results, "split": split_results, "embedding_cpu_minutes": embed_minutes,
            "chosen": {"prefix": best_prefix, "C": best_C, "weight": best_w}}


def mean_kappa(gold: np.ndarray, pred: np.ndarray) -> float:
    """Mean per-code Cohen's kappa of multi-hot arrays, as :func:`summary` computes it, vectorised for the bootstrap.

    Codes without a gold positive, and codes whose kappa is undefined (one category throughout), are left out.
    """
    g, p = gold.astype(bool), pred.astype(bool)
    n = len(g)
    tp, fp, fn = (g & p).sum(0), (~g & p).sum(0), (g & ~p).sum(0)
    tn = n - tp - fp - fn
    po = (tp + tn) / n
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
    keep = (tp + fn > 0) & ~np.isnan(kappa)
    return float(kappa[keep].mean()) if keep.any() else float("nan")


def bootstrap_gain(gold: dict[str, np.ndarray], preds: dict[str, np.ndarray], docs: dict[str, np.ndarray],
                   base: str, other: str, codebook: Codebook, resamples: int, seed: int = 0
                   ) -> tuple[float, float, float]:
    """Mean kappa of ``other`` minus ``base`` (mean over the coders), and its 95 % document-bootstrap interval.

    ``gold[coder]``, ``preds[name][coder]`` and ``docs[coder]`` are row-aligned multi-hot arrays and
    document ids; each resample draws documents with replacement, the same documents for every coder.
    """
    rng = np.random.default_rng(seed)
    names = sorted(set().union(*(set(d.tolist()) for d in docs.values())))
    rows = {c: {d: np.flatnonzero(docs[c] == d) for d in names} for c in gold}

    for c in gold:  # the fast kappa is the library's (scores.binary_scores -> agreement.cohen_kappa)
        for m in (other, base):
            slow = summary(score(gold[c], preds[m][c], codebook), codebook)["mean_kappa"]
            assert abs(mean_kappa(gold[c], preds[m][c]) - slow) < 1e-9, (c, m)

    def gain(pick: list[str]) -> float:
        per = []
        for c in gold:
            idx = np.concatenate([rows[c][d] for d in pick])
            per.append(mean_kappa(gold[c][idx], preds[other][c][idx]) - mean_kappa(gold[c][idx], preds[base][c][idx]))
        return float(np.mean(per))

    estimate = gain(names)
    draws = [gain(list(rng.choice(names, size=len(names), replace=True))) for _ in range(resamples)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return estimate, float(low), float(high)


def cmd_dev(args: argparse.Namespace) -> dict[str, Any]:
    """Train on the train split (coder A); score on dev against A, C, D and on test against B."""
    import tempfile

    codebook = Codebook.default()
    seg, split = load_samples(codebook)
    a = seg[seg["coder"] == "A"]
    train = a[a["document_id"].isin(split["train"])].reset_index(drop=True)
    dev = seg[seg["document_id"].isin(split["dev"])].reset_index(drop=True)
    test_b = seg[(seg["coder"] == "B") & seg["document_id"].isin(split["test"])].reset_index(drop=True)
    coders = sorted(dev["coder"].unique())
    cache = EmbeddingCache()
    load_cache(args.embeddings, cache)
    makers: dict[str, Callable[[], Any]] = {
        "linear": lambda: LinearCoder(codebook),
        f"hybrid (weight {args.weight[0]})": lambda: hybrid(args.model, cache, codebook, prefix=args.prefix,
                                                            weight=args.weight[0]),
    }
    gold = {c: codebook.encode(dev.loc[dev["coder"] == c, "codes"].tolist()) for c in coders}
    docs = {c: dev.loc[dev["coder"] == c, "document_id"].to_numpy() for c in coders}
    texts = {c: dev.loc[dev["coder"] == c, "text"].tolist() for c in coders}
    results: dict[str, dict[str, Any]] = {}
    preds: dict[str, dict[str, np.ndarray]] = {}
    fitted: dict[str, Any] = {}
    for name, make in makers.items():
        model, minutes = timed(lambda make=make: make().fit(train["text"].tolist(), train["codes"].tolist(),
                                                            groups=train["document_id"].astype(str).tolist()))
        fitted[name] = model
        preds[name] = {c: model.predict_multi_hot(texts[c]) for c in coders}
        by_coder = {c: summary(score(gold[c], preds[name][c], codebook), codebook) for c in coders}
        test = summary(score(test_b["codes"].tolist(), model.predict(test_b["text"].tolist()), codebook), codebook)
        results[name] = {"dev_mean": mean_result(list(by_coder.values())), "dev_by_coder": by_coder,
                         "test_vs_B": test, "train_cpu_minutes": minutes}
        print(f"  {name}: dev mean kappa {results[name]['dev_mean']['mean_kappa']:.3f}, "
              f"test vs B {test['mean_kappa']:.3f}, {minutes:.1f} CPU min", file=sys.stderr)
    save_cache(args.embeddings, cache)
    base, other = list(makers)
    est, low, high = bootstrap_gain(gold, preds, docs, base, other, codebook, args.resamples)
    out: dict[str, Any] = {"results": results, "gain": {"estimate": est, "low": low, "high": high,
                                                        "resamples": args.resamples}}
    if args.quantized:
        with tempfile.TemporaryDirectory() as tmp:
            fitted[other].save(Path(tmp) / "hybrid")
            q = load_model(Path(tmp) / "hybrid", quantize=True)
            qp = {c: q.predict_multi_hot(texts[c]) for c in coders}
        name = f"{other}, --quantize"
        results[name] = {"dev_mean": mean_result([summary(score(gold[c], qp[c], codebook), codebook) for c in coders])}
    names = list(results)
    print(f"## Train coder A ({len(train)} segments, {train['document_id'].nunique()} documents); dev "
          f"{dev['document_id'].nunique()} documents ({len(texts[coders[0]])} segments) against coders "
          f"{', '.join(coders)} (mean over coders)\n")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for c in codebook.codes:
        print(f"| {c} kappa | " + " | ".join(f"{results[n]['dev_mean']['per_code_kappa'][c]:.3f}" for n in names)
              + " |")
    for key in ("mean_kappa", "macro_f1", "type_macro_f1", "valence_macro_f1", "any_community_f1"):
        print(f"| **{key}** | " + " | ".join(f"{results[n]['dev_mean'][key]:.3f}" for n in names) + " |")
    for c in coders:
        print(f"| mean kappa vs {c} | " + " | ".join(
            f"{results[n]['dev_by_coder'][c]['mean_kappa']:.3f}" if "dev_by_coder" in results[n] else ""
            for n in names) + " |")
    print(f"\nGain in dev mean kappa, {other} minus {base}: {est:+.3f} "
          f"(95 % document bootstrap, {args.resamples} resamples: {low:+.3f} .. {high:+.3f})")
    print(f"\n## Test split against coder B ({len(test_b)} segments): reported, not used for any choice\n")
    print("| | " + " | ".join(makers) + " |")
    print("|---|" + "---:|" * len(makers))
    for key in ("mean_kappa", "macro_f1", "type_macro_f1", "valence_macro_f1", "any_community_f1"):
        print(f"| {key} | " + " | ".join(f"{results[n]['test_vs_B'][key]:.3f}" for n in makers) + " |")
    return out


VALENCE = Codebook.from_dict({"name": "NoReC valence", "types": [{"name": "omtale"}],
                              "valences": [{"name": "positiv"}, {"name": "negativ"}]})


NOREC_HEAD = ("| coder | macro-F1 (argmax) | accuracy | macro-F1 of the code sets | CPU minutes |\n"
              "|---|---:|---:|---:|---:|")


def _norec(path: Path) -> pd.DataFrame:
    rows = json.loads(path.read_text(encoding="utf-8"))
    frame = pd.DataFrame(rows)
    frame["codes"] = [("omtale:positiv",) if lab == "Positive" else ("omtale:negativ",) for lab in frame["label"]]
    frame["document_id"] = frame["sent_id"].str.rsplit("-", n=1).str[0]  # the review: NoReC splits by document
    return frame


def cmd_norec(args: argparse.Namespace) -> dict[str, Any]:
    train, test = _norec(args.data / "binary" / "train.json"), _norec(args.data / "binary" / "test.json")
    cache = EmbeddingCache()
    both = pd.concat([train, test], ignore_index=True)
    _, embed_minutes = embed_all(args.model, cache, VALENCE, both, args.prefix)
    makers: dict[str, Callable[[], Any]] = {
        "linear": lambda: LinearCoder(VALENCE),
        f"e5 frozen (C={args.C[0]})": lambda: frozen(args.model, cache, VALENCE, prefix=args.prefix, C=args.C[0]),
        f"linear + e5 (weight {args.weight[0]})": lambda: hybrid(args.model, cache, VALENCE, prefix=args.prefix,
                                                                 weight=args.weight[0]),
    }
    out: dict[str, Any] = {"embedding_cpu_minutes": embed_minutes, "n_train": len(train), "n_test": len(test)}
    print(f"## NoReC_sentence binary: train {len(train)}, test {len(test)} sentences\n")
    print(NOREC_HEAD)
    for name, make in makers.items():
        def run(make: Callable[[], Any] = make) -> tuple[np.ndarray, np.ndarray]:
            model = make().fit(train["text"].tolist(), train["codes"].tolist(),
                               groups=train["document_id"].tolist())
            proba = model.predict_proba(test["text"].tolist())
            return proba, np.asarray(model.thresholds_)

        (proba, th), minutes = timed(run)
        if name != "linear":
            minutes += embed_minutes
        out[name] = {**norec_scores(test, proba, th), "cpu_minutes": minutes}
        print(norec_row(name, out[name]))
    return out


def norec_scores(test: pd.DataFrame, proba: np.ndarray, th: np.ndarray) -> dict[str, float]:
    """Macro-F1 and accuracy of the code further above its threshold, and macro-F1 of the code sets."""
    from sklearn.metrics import accuracy_score, f1_score

    truth = (test["label"] == "Positive").to_numpy()
    pred = (proba[:, 0] - th[0]) >= (proba[:, 1] - th[1])
    sets = score(test["codes"].tolist(), (proba >= th).astype(np.uint8), VALENCE)["summary"]["macro_f1"]
    return {"macro_f1": float(f1_score(truth, pred, average="macro")), "accuracy": float(accuracy_score(truth, pred)),
            "code_set_macro_f1": float(sets)}


def norec_row(name: str, r: dict[str, Any]) -> str:
    return (f"| {name} | {100 * r['macro_f1']:.1f} | {100 * r['accuracy']:.1f} | {100 * r['code_set_macro_f1']:.1f} "
            f"| {r['cpu_minutes']:.1f} |")


def _value(text: str) -> Any:
    """``1e-4`` -> 0.0001, ``true`` -> True, ``max`` -> "max"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_grid(items: Sequence[str]) -> list[dict[str, Any]]:
    axes: list[list[tuple[str, Any]]] = []
    for item in items:
        key, _, values = item.partition("=")
        parsed = [_value(v) for v in values.split(",")]
        axes.append([(key, v) for v in parsed])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def cmd_finetune(args: argparse.Namespace) -> dict[str, Any]:
    codebook = Codebook.default()
    seg, split = load_samples(codebook)
    a = seg[seg["coder"] == "A"]
    rows = a[a["document_id"].isin(split["train"])].reset_index(drop=True)
    results = []
    for params in _parse_grid(args.grid):
        for seed in args.seeds:
            def make(params: dict[str, Any] = params, seed: int = seed) -> TransformerCoder:
                return TransformerCoder(codebook, model_name_or_path=args.model, strategy="finetune",
                                        text_prefix=args.prefix, seed=seed, **params)

            if args.folds > 1:
                s, fold_kappa, minutes = grouped_cv(rows, make, codebook, args.folds, seed)
                rec = {"params": params, "seed": seed, **s, "fold_kappa": fold_kappa, "cpu_minutes": minutes}
            else:  # one run: its grouped validation split gives the per-epoch history
                model, minutes = timed(lambda make=make: make().fit(
                    rows["text"].tolist(), rows["codes"].tolist(), groups=rows["document_id"].tolist()))
                rec = {"params": params, "seed": seed, "history": model.history_, "best_epoch": model.best_epoch_,
                       "cpu_minutes": minutes}
            results.append(rec)
            print(json.dumps(rec), flush=True)
    return {"runs": results}


# -- fine-tuning runs with a recipe (a training config) -------------------------------------------
def recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The TransformerCoder settings of ``--config`` (its ``seed`` and base model left out), then ``--set``."""
    from mpsoc_nlp.training import read_config

    params = read_config(args.config, "transformer") if args.config else {}
    for key in ("seed", "model_name_or_path", "strategy"):
        params.pop(key, None)
    for item in args.set:
        key, _, value = item.partition("=")
        params[key] = _value(value)
    return params


def _run_info(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    import os
    import platform

    return {"model": str(args.model), "config": str(args.config) if args.config else None, "params": params,
            "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine()}


def _fit_timed(coder: TransformerCoder, rows: pd.DataFrame) -> dict[str, Any]:
    """Fit; the CPU and wall minutes and the load average around it."""
    import os

    load0, wall0 = os.getloadavg(), time.perf_counter()
    _, minutes = timed(lambda: coder.fit(rows["text"].tolist(), rows["codes"].tolist(),
                                         groups=rows["document_id"].astype(str).tolist()))
    return {"cpu_minutes": minutes, "wall_minutes": (time.perf_counter() - wall0) / 60,
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
            "history": coder.history_, "best_epoch": coder.best_epoch_,
            "val_macro_f1": [h.get("val_macro_f1") for h in coder.history_]}


def _save(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Write the results so far (after each seed: a long run killed later keeps what finished)."""
    if args.json:
        from mpsoc_nlp._fs import atomic_write_text

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(out, indent=2, default=float), replace=True)


def cmd_finetune_split(args: argparse.Namespace) -> dict[str, Any]:
    """Train on coder A's training documents (a grouped validation fifth stops early); score dev and test."""
    codebook = Codebook.default()
    seg, split = load_samples(codebook)
    a = seg[seg["coder"] == "A"]
    train = a[a["document_id"].isin(split["train"])].reset_index(drop=True)
    dev = {c: seg[(seg["coder"] == c) & seg["document_id"].isin(split["dev"])].set_index("segment_id")
           for c in ("A", "C", "D")}
    order = dev["A"].index
    b_test = seg[(seg["coder"] == "B") & seg["document_id"].isin(split["test"])].reset_index(drop=True)
    params = recipe(args)
    out: dict[str, Any] = {"kind": "split", **_run_info(args, params), "n_train": len(train),
                           "n_dev": len(order), "n_test": len(b_test), "runs": []}
    for seed in args.seeds:
        coder = TransformerCoder(codebook, model_name_or_path=args.model, strategy="finetune", seed=seed,
                                 num_threads=args.threads, **params)
        run = {"seed": seed, **_fit_timed(coder, train)}
        pred = pd.Series(coder.predict(dev["A"]["text"].tolist()), index=order)
        by_coder = {c: summary(score(frame.loc[order, "codes"].tolist(), pred.tolist(), codebook), codebook)
                    for c, frame in dev.items()}
        run["dev"] = {**by_coder, "mean": mean_result(list(by_coder.values()))}
        run["test_b"] = summary(score(b_test["codes"].tolist(), coder.predict(b_test["text"].tolist()), codebook),
                                codebook)
        out["runs"].append(run)
        print(json.dumps({k: run[k] for k in ("seed", "cpu_minutes", "wall_minutes", "best_epoch", "val_macro_f1")})
              + f" dev mean kappa {run['dev']['mean']['mean_kappa']:.3f}, test vs B {run['test_b']['mean_kappa']:.3f}",
              file=sys.stderr, flush=True)
        _save(args, out)
    print(split_report([out], codebook))
    return out


class FixedValidation(TransformerCoder):
    """Fine-tuning that stops early on a given set: the segments whose document id starts with ``dev:``."""

    def _split_validation(self, n: int, groups: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        is_dev = np.array([str(g).startswith("dev:") for g in groups or []], dtype=bool)
        idx = np.arange(n)
        return idx[~is_dev], idx[is_dev]


def cmd_finetune_norec(args: argparse.Namespace) -> dict[str, Any]:
    """NoReC_sentence binary: train on train, stop early (and tune thresholds) on dev, score test."""
    folder = args.data / "binary"
    train, dev, test = (_norec(folder / f"{name}.json") for name in ("train", "dev", "test"))
    dev["document_id"] = "dev:" + dev["document_id"]
    params = recipe(args)
    out: dict[str, Any] = {"kind": "norec", **_run_info(args, params), "n_train": len(train), "n_dev": len(dev),
                           "n_test": len(test), "runs": []}
    for seed in args.seeds:
        coder = FixedValidation(VALENCE, model_name_or_path=args.model, strategy="finetune", seed=seed,
                                num_threads=args.threads, **params)
        run = {"seed": seed, **_fit_timed(coder, pd.concat([train, dev], ignore_index=True))}
        run.update(norec_scores(test, coder.predict_proba(test["text"].tolist()), np.asarray(coder.thresholds_)))
        out["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "history"}), file=sys.stderr, flush=True)
        _save(args, out)
    print(norec_report([out]))
    return out


# the settings a sweep varies: runs that agree on them are seeds of one recipe
_LABEL_KEYS = ("freeze_layers", "layerwise_lr_decay", "learning_rate", "epochs", "patience", "batch_size", "max_length",
               "text_prefix")


def _label(result: dict[str, Any]) -> str:
    params = result.get("params", {})
    short = ", ".join(f"{k}={v}" for k, v in params.items() if k in _LABEL_KEYS)
    return f"e5 fine-tuned ({short})" if short else "e5 fine-tuned"


def _by_recipe(results: Sequence[dict[str, Any]], kind: str) -> dict[str, list[dict[str, Any]]]:
    """Runs of the same settings (from several files: one per seed) under one label."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r.get("kind") == kind:
            groups.setdefault(_label(r), []).extend(r["runs"])
    return groups


def _epochs(runs: Sequence[dict[str, Any]]) -> list[str]:
    return [f"- seed {r['seed']}: validation macro-F1 by epoch "
            + " → ".join(f"{v:.3f}" for v in r["val_macro_f1"] if v is not None)
            + f" (best epoch {r['best_epoch']}); {r['cpu_minutes']:.1f} CPU min, {r['wall_minutes']:.1f} wall min, "
            f"load {r['load_before'][0]:.1f} → {r['load_after'][0]:.1f}" for r in runs]


def split_report(results: Sequence[dict[str, Any]], codebook: Codebook) -> str:
    """Dev (mean of coders A, C, D) and test (coder B) tables, mean ± sd over seeds."""
    lines: list[str] = []
    for name, runs in _by_recipe(results, "split").items():
        seeds = ", ".join(str(r["seed"]) for r in runs)
        dev = [{**r["dev"]["mean"], "cpu_minutes": r["cpu_minutes"]} for r in runs]
        test = [{**r["test_b"], "cpu_minutes": r["cpu_minutes"]} for r in runs]
        lines += [f"## {name}: seeds {seeds}\n",
                  table({"dev (mean of A, C, D)": dev, **{f"dev vs {c}": [{**r["dev"][c], "cpu_minutes": r[
                      "cpu_minutes"]} for r in runs] for c in "ACD"}, "test vs B": test}, codebook), "",
                  *_epochs(runs), ""]
    return "\n".join(lines)


def norec_report(results: Sequence[dict[str, Any]]) -> str:
    lines = [NOREC_HEAD.replace("| coder |", "| coder (seeds) |")]
    for name, runs in _by_recipe(results, "norec").items():
        cells = [_cell([100 * r[k] for r in runs], ".1f") for k in ("macro_f1", "accuracy", "code_set_macro_f1")]
        seeds = ", ".join(str(r["seed"]) for r in runs)
        lines.append(f"| {name} ({seeds}) | " + " | ".join(cells)
                     + f" | {_cell([r['cpu_minutes'] for r in runs], '.1f')} |")
    for runs in _by_recipe(results, "norec").values():
        lines += _epochs(runs)
    return "\n".join(lines)


def cmd_finetune_report(args: argparse.Namespace) -> dict[str, Any]:
    results = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.results]
    if any(r.get("kind") == "split" for r in results):
        print(split_report(results, Codebook.default()))
    if any(r.get("kind") == "norec" for r in results):
        print("## NoReC_sentence binary, test\n")
        print(norec_report(results))
    return {"files": [str(p) for p in args.results]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("samples", "dev", "norec", "finetune"):
        p = sub.add_parser(name)
        p.add_argument("--embeddings", type=Path, help="keep the embedding cache in this .npz between runs")
        p.add_argument("--model", required=True, help="the folder mpsoc prepare-model wrote")
        p.add_argument("--json", type=Path, help="also write the numbers here")
        p.add_argument("--folds", type=int, default=5)
        p.add_argument("--prefix", default=PREFIX)
        p.add_argument("--C", type=float, nargs="+", default=[0.1, 1.0])
        p.add_argument("--weight", type=float, nargs="+", help="default 0.5 1.0 2.0 (dev: the HybridCoder's, 2.0)")
    sub.choices["samples"].add_argument("--skip-selection", action="store_true",
                                        help="use --prefix, the first --C and --weight (chosen before)")
    sub.choices["samples"].add_argument("--coders", nargs="+", choices=["linear", "frozen", "hybrid"],
                                        default=["linear", "frozen", "hybrid"], help="the coders to score")
    sub.choices["dev"].add_argument("--resamples", type=int, default=1000)
    sub.choices["dev"].add_argument("--quantized", action="store_true", help="also the hybrid with an int8 encoder")
    sub.choices["norec"].add_argument("--data", type=Path, required=True, help="the norec_sentence folder")
    sub.choices["finetune"].add_argument("--grid", nargs="*", default=[], help="key=v1,v2 ... (TransformerCoder)")
    sub.choices["finetune"].add_argument("--seeds", type=int, nargs="+", default=[0])
    for name in ("finetune-split", "finetune-norec"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True, help="the folder mpsoc prepare-model wrote")
        p.add_argument("--config", type=Path, help="a training config (its [transformer] table)")
        p.add_argument("--set", nargs="*", default=[], help="key=value overriding the config (TransformerCoder)")
        p.add_argument("--seeds", type=int, nargs="+", default=[0])
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--json", type=Path, help="write the numbers here (after each seed)")
    sub.choices["finetune-norec"].add_argument("--data", type=Path, required=True, help="the norec_sentence folder")
    report = sub.add_parser("finetune-report")
    report.add_argument("results", nargs="+", type=Path, help="JSON files of finetune-split / finetune-norec")
    report.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("mpsoc_nlp.progress").setLevel(logging.INFO)  # one line per fine-tuning epoch on stderr
    if getattr(args, "weight", 0) is None:
        args.weight = [HybridCoder().weight] if args.command == "dev" else [0.5, 1.0, 2.0]
    run = {"samples": cmd_samples, "dev": cmd_dev, "norec": cmd_norec, "finetune": cmd_finetune,
           "finetune-split": cmd_finetune_split, "finetune-norec": cmd_finetune_norec,
           "finetune-report": cmd_finetune_report}[args.command]
    out = run(args)
    if args.command in ("finetune-split", "finetune-norec", "finetune-report"):
        return 0
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
