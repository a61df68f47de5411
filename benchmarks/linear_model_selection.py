"""Choose the linear coder's features and regularisation by grouped cross-validation on data_samples.

Every configuration is scored with the same 5 folds grouped by document (coder A's codes), with
per-code thresholds tuned inside each training fold, and timed in the same run.

    python benchmarks/linear_model_selection.py [--folds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mpsoc_nlp import Codebook, read_segments, select_coder
from mpsoc_nlp.evaluation import cross_validate
from mpsoc_nlp.models import LinearCoder

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "word 1-2 + char 2-5, C=10": dict(C=10.0),
    "word 1-2 + char 2-5, C=4": dict(C=4.0),
    "word 1-2 + char 2-5, C=1": dict(C=1.0),
    "word 1-2 + char 3-5, C=4": dict(C=4.0, char_ngrams=(3, 5)),
    "word 1-2 + char 2-4, C=4": dict(C=4.0, char_ngrams=(2, 4)),
    "word 1-3 + char 2-5, C=4": dict(C=4.0, word_ngrams=(1, 3)),
    "word 1-2 + char 2-5, C=4, unweighted": dict(C=4.0, class_weight=None),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    cb = Codebook.default()
    rows, _ = select_coder(read_segments(ROOT / "data_samples" / "codings.csv"), "A")
    print(f"{len(rows)} segments, {rows['document_id'].nunique()} documents, {args.folds} grouped folds\n")
    print("| configuration | macro F1 codes | macro F1 types | macro F1 valences | F1 any community | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
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
        print(
            f"| {name} | {s['macro_f1']:.3f} | {s['type_macro_f1']:.3f} | {s['valence_macro_f1']:.3f} "
            f"| {s['any_community_f1']:.3f} | {time.perf_counter() - t:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
