"""Choose the linear coder's features and regularisation on data_samples, never on its test split.

Every configuration is scored with the same 5 folds grouped by document over the TRAIN split of
``data_samples/splits.json`` (coder A's codes; per-code thresholds tuned inside each training
fold), then trained on the whole train split and scored on the DEV split against coders A, C and
D (mean of the three macro F1s): the dev column is the one to choose by. Timed in the same run.

    python benchmarks/linear_model_selection.py [--folds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mpsoc_nlp import Codebook, read_segments, select_coder
from mpsoc_nlp.evaluation import cross_validate
from mpsoc_nlp.models import LinearCoder
from mpsoc_nlp.scores import score

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "word 1-2 + char 3-5, C=4 (default)": dict(C=4.0, char_ngrams=(3, 5)),
    "word 1-2 + char 2-5, C=4": dict(C=4.0, char_ngrams=(2, 5)),
    "word 1-2 + char 3-5, C=10": dict(C=10.0, char_ngrams=(3, 5)),
    "word 1-2 + char 3-5, C=1": dict(C=1.0, char_ngrams=(3, 5)),
    "word 1-2 + char 2-4, C=4": dict(C=4.0, char_ngrams=(2, 4)),
    "word 1-3 + char 3-5, C=4": dict(C=4.0, word_ngrams=(1, 3), char_ngrams=(3, 5)),
    "word 1-2 + char 3-5, C=4, unweighted": dict(C=4.0, char_ngrams=(3, 5), class_weight=None),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    cb = Codebook.default()
    segments = read_segments(ROOT / "data_samples" / "codings.csv")
    split = json.loads((ROOT / "data_samples" / "splits.json").read_text(encoding="utf-8"))
    coded_a, _ = select_coder(segments, "A")
    rows = coded_a[coded_a["document_id"].isin(split["train"])].reset_index(drop=True)
    dev = segments[segments["document_id"].isin(split["dev"])]
    print(f"train split: {len(rows)} segments, {rows['document_id'].nunique()} documents, {args.folds} grouped folds; "
          f"dev split: {dev['segment_id'].nunique()} segments coded by {sorted(dev['coder'].unique())}\n")
    print("| configuration | CV macro F1 codes | CV macro F1 types | CV macro F1 valences | CV F1 any community "
          "| dev macro F1 codes (mean of coders) | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, params in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        t = time.perf_counter()
        cv = cross_validate(
            rows["text"].tolist(),
            rows["codes"].tolist(),
            rows["document_id"].tolist(),
            lambda p=params: LinearCoder(cb, threshold_folds=3, **p),
            cb,
            folds=args.folds,
            seed=0,
        )
        s = cv.scores["summary"]
        model = LinearCoder(cb, threshold_folds=3, **params).fit(
            rows["text"].tolist(), rows["codes"].tolist(), groups=rows["document_id"].tolist()
        )
        dev_f1 = []
        for _, gold in dev.groupby("coder"):
            predicted = model.predict(gold["text"].tolist())
            dev_f1.append(score(gold["codes"].tolist(), predicted, cb)["summary"]["macro_f1"])
        print(
            f"| {name} | {s['macro_f1']:.3f} | {s['type_macro_f1']:.3f} | {s['valence_macro_f1']:.3f} "
            f"| {s['any_community_f1']:.3f} | {sum(dev_f1) / len(dev_f1):.3f} | {time.perf_counter() - t:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
