"""Speed and peak memory of the linear coder against a plain scikit-learn pipeline, in the same run.

Data: segments synthesised by resampling data_samples (a coded segment plus a random sentence of
another one, with the first segment's codes). The peer is ``TfidfVectorizer`` (word 1-2 grams) +
one-vs-rest ``LogisticRegression`` (liblinear), trained and applied in memory.

Each case runs in a fresh subprocess so that its peak resident memory (``VmHWM``) is its own.
Classification by us goes through :func:`mpsoc_nlp.classify` (what ``mpsoc classify`` runs) on a
CSV file (streamed in chunks, written to CSV); the peer reads the CSV with pandas and predicts all
rows at once. Ours uses ``--jobs`` cores (default all; the peer's scikit-learn pipeline uses one).
Besides wall seconds each case reports its CPU seconds (user + system, all threads): on a shared,
loaded machine the wall ratio moves with the load, the CPU ratio much less.

    python benchmarks/linear_speed.py                   # train 1k/10k/100k, classify 1k..1M
    python benchmarks/linear_speed.py --train 1000 10000 --classify 1000 100000 --jobs 1
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def synthesise(n: int, path: Path, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    from mpsoc_nlp import read_segments, select_coder

    rows, _ = select_coder(read_segments(ROOT / "data_samples" / "codings.csv"), "A")
    # one line per segment, as in the measured table (the reader's unclosed-quote check refused
    # some legitimate two-line cells before it was fixed; see benchmarks/README.md)
    texts = [" ".join(t.split("\n")) for t in rows["text"]]
    codes = ["; ".join(c) for c in rows["codes"]]
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s) > 20]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(texts), n)
    extra = rng.integers(0, len(sentences), n)
    out = pd.DataFrame(
        {
            "segment_id": [f"S-{i // 40}:{i % 40}" for i in range(n)],
            "document_id": [f"S-{i // 40}" for i in range(n)],
            "text": [texts[p] + " " + sentences[e] for p, e in zip(pick, extra)],
            "codes": [codes[p] for p in pick],
        }
    )
    out.to_csv(path, index=False)


def _peak_mb() -> float:
    """Peak resident memory of this process since its exec (VmHWM; ru_maxrss would include the
    parent's memory copied at fork)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case(kind: str, data: str, model: str, out: str, jobs: int = -1) -> dict:
    """Run one measurement in this (fresh) process."""
    import numpy as np
    import pandas as pd

    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == "ours-train":
        from mpsoc_nlp import read_segments
        from mpsoc_nlp.models import LinearCoder

        rows = read_segments(data)
        coder = LinearCoder(n_jobs=jobs)
        coder.fit(rows["text"].tolist(), rows["codes"].tolist(), groups=rows["document_id"].tolist())
        coder.save(model, force=True)
    elif kind == "peer-train":
        import joblib  # the peer's usual way to persist; ours stores arrays, never pickle
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline

        from mpsoc_nlp import Codebook

        frame = pd.read_csv(data, keep_default_na=False)
        y = Codebook.default().encode(list(frame["codes"]))
        pipe = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            OneVsRestClassifier(LogisticRegression(solver="liblinear", class_weight="balanced")),
        )
        pipe.fit(frame["text"].tolist(), y)
        joblib.dump(pipe, model)
    elif kind == "ours-classify":
        from mpsoc_nlp.classification import classify

        classify(model, [data], out, force=True, progress=False, jobs=jobs)
    elif kind == "peer-classify":
        import joblib

        pipe = joblib.load(model)
        frame = pd.read_csv(data, keep_default_na=False)
        proba = pipe.predict_proba(frame["text"].tolist())
        frame = frame.assign(**{f"p{j}": np.round(proba[:, j], 4) for j in range(proba.shape[1])})
        frame.to_csv(out, index=False)
    else:
        raise ValueError(kind)
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "peak_mb": _peak_mb()}


def run(kind: str, data: Path, model: Path, out: Path, jobs: int = -1) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--case", kind, str(data), str(model), str(out), "--jobs", str(jobs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, nargs="*", default=[1000, 10_000, 100_000])
    ap.add_argument("--classify", type=int, nargs="*", default=[1000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--jobs", type=int, default=-1, help="cores for ours (-1: all)")
    ap.add_argument("--case", nargs=4)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(*args.case, jobs=args.jobs)))
        return
    import os

    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; ours with --jobs {args.jobs}")
    tmp = Path(tempfile.mkdtemp(prefix="mpsoc-bench-"))
    sizes = sorted(set(args.train) | set(args.classify) | {10_000})
    for n in sizes:
        synthesise(n, tmp / f"seg_{n}.csv", seed=n)
    print(
        "| task | segments | ours s | peer s | time ratio peer/ours | ours CPU s | peer CPU s | CPU ratio peer/ours "
        "| ours peak MB | peer peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(task: str, n: int, ours: dict, peer: dict) -> None:
        print(
            f"| {task} | {n:,} | {ours['seconds']:.1f} | {peer['seconds']:.1f} "
            f"| {peer['seconds'] / ours['seconds']:.2f} | {ours['cpu']:.1f} | {peer['cpu']:.1f} "
            f"| {peer['cpu'] / ours['cpu']:.2f} | {ours['peak_mb']:.0f} | {peer['peak_mb']:.0f} |",
            flush=True,
        )

    for n in args.train:
        ours = run("ours-train", tmp / f"seg_{n}.csv", tmp / f"ours_{n}", tmp / "x", args.jobs)
        peer = run("peer-train", tmp / f"seg_{n}.csv", tmp / f"peer_{n}.joblib", tmp / "x")
        row("train", n, ours, peer)
    base = 10_000
    if args.classify and not (tmp / f"ours_{base}").exists():
        run("ours-train", tmp / f"seg_{base}.csv", tmp / f"ours_{base}", tmp / "x", args.jobs)
        run("peer-train", tmp / f"seg_{base}.csv", tmp / f"peer_{base}.joblib", tmp / "x")
    for n in args.classify:
        ours = run("ours-classify", tmp / f"seg_{n}.csv", tmp / f"ours_{base}", tmp / "ours_pred.csv", args.jobs)
        peer = run("peer-classify", tmp / f"seg_{n}.csv", tmp / f"peer_{base}.joblib", tmp / "peer_pred.csv")
        row("classify (model from 10k)", n, ours, peer)


if __name__ == "__main__":
    main()
