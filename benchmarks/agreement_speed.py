"""Speed of mpsoc_nlp.agreement against a peer in the same run; prints a Markdown table.

1. Krippendorff's alpha (nominal and interval) on 100,000 units x 5 coders with 10 % missing
   ratings: ours from long-format ratings (end to end, encoding included) against the
   `krippendorff` package from its own coders x units matrix (the pivot is not timed). The
   values must agree to 1e-9.
2. 1,000 document-level bootstrap resamples of Krippendorff's alpha with MASI on 10,000
   segments (200 documents, 2 coders, MPSOC-like sets of codes): ours (per-document sums, one
   matrix product) against recomputing the statistic on every resample (our own callable path,
   which is what a bootstrap loop around any agreement function does).

Run: ``python benchmarks/agreement_speed.py`` (add ``--quick`` for fewer resamples of the peer).
Times are the best of ``--repeat`` runs (default 3); the slow bootstrap peer runs once.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable

import krippendorff
import numpy as np
import pandas as pd

from mpsoc_nlp.agreement import UndefinedStatisticWarning, bootstrap_ci, krippendorff_alpha, krippendorff_alpha_masi

CODES = [
    f"{t}:{v}"
    for t in ("geografisk", "relasjonell", "ideell", "rusrelatert", "bedringsideell")
    for v in ("positiv", "negativ")
]


def best_of(repeat: int, function: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def alpha_data(n_units: int, n_coders: int, missing: float, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Ratings 1..7: each coder gives the unit's true value with probability 0.7, else a random one."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 8, size=n_units)
    matrix = np.where(rng.random((n_units, n_coders)) < 0.7, truth[:, None], rng.integers(1, 8, (n_units, n_coders)))
    matrix = matrix.astype(float)
    matrix[rng.random(matrix.shape) < missing] = np.nan
    long = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_coders),
            "coder": np.tile(np.arange(n_coders), n_units),
            "value": matrix.ravel(),
        }
    ).dropna()
    return matrix.T, long


def segment_data(n_documents: int, per_document: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_documents):
        reliability = rng.uniform(0.5, 0.95)
        for s in range(per_document):
            truth = tuple(sorted(rng.choice(CODES, size=rng.integers(0, 3), replace=False)))
            for coder in ("A", "B"):
                codes = truth if rng.random() < reliability else tuple(rng.choice(CODES, size=rng.integers(0, 2)))
                rows.append((f"d{d}", f"d{d}:{s}", coder, codes))
    return pd.DataFrame(rows, columns=["document_id", "segment_id", "coder", "codes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--coders", type=int, default=5)
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="run the slow bootstrap peer on 100 resamples only")
    args = parser.parse_args()

    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    print("| task | ours (s) | peer (s) | peer / ours | values agree |")
    print("|---|---:|---:|---:|---|")

    reliability, long = alpha_data(args.units, args.coders, missing=0.10, seed=0)
    label = f"{args.units:,} units x {args.coders} coders, 10 % missing"
    for level in ("nominal", "interval"):
        ours_s, ours = best_of(args.repeat, lambda level=level: krippendorff_alpha(long, level=level))
        peer_s, peer = best_of(
            args.repeat, lambda level=level: krippendorff.alpha(reliability, level_of_measurement=level)
        )
        agree = abs(float(ours) - float(peer)) < 1e-9  # type: ignore[arg-type]
        print(
            f"| alpha {level}, {label}: ours (long format) vs `krippendorff` package (matrix) "
            f"| {ours_s:.3f} | {peer_s:.3f} | {peer_s / ours_s:.1f}x | {agree} ({float(ours):.6f}) |"  # type: ignore[arg-type]
        )
        if not agree:
            raise SystemExit(f"alpha {level}: ours {ours} != package {peer}")

    per_document = args.segments // 200
    segments = segment_data(200, per_document, seed=1)
    n_peer = 100 if args.quick else args.resamples

    def recompute(frame: pd.DataFrame) -> float:
        return krippendorff_alpha_masi(frame, unit="segment_id", value="codes")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        ours_s, ours = best_of(
            args.repeat, lambda: bootstrap_ci(segments, "krippendorff_alpha_masi", n_resamples=args.resamples)
        )
        peer_s, peer = best_of(1, lambda: bootstrap_ci(segments, recompute, n_resamples=n_peer))
    peer_full = peer_s * args.resamples / n_peer
    same = n_peer == args.resamples and np.allclose(ours[:3], peer[:3])  # type: ignore[index]
    note = "" if n_peer == args.resamples else f" (peer timed on {n_peer}, scaled)"
    print(
        f"| bootstrap CI, {args.resamples:,} resamples of alpha (MASI), {len(segments) // 2:,} segments in 200 "
        f"documents: per-document sums vs recomputing each resample{note} "
        f"| {ours_s:.3f} | {peer_full:.1f} | {peer_full / ours_s:.0f}x | "
        f"{same if n_peer == args.resamples else 'n/a'} ({ours.low:.3f}, {ours.high:.3f}) |"  # type: ignore[attr-defined]
    )


if __name__ == "__main__":
    main()
