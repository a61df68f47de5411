"""Tests of `mpsoc evaluate`: the model as one more coder, the report folder and its files.

One small linear model is trained once (a few coder-A documents of the sample corpus that
coder B did not code) and evaluated against coders A and B on documents both coded, plus one
document only A coded.
"""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from mpsoc_nlp import Codebook, read_segments
from mpsoc_nlp.agreement import f1_interval
from mpsoc_nlp.cli import main
from mpsoc_nlp.evaluation import evaluate_model, multilabel_confusion
from mpsoc_nlp.models import load_model
from mpsoc_nlp.models.base import BaseCoder
from mpsoc_nlp.report_folders import write_evaluation

from .conftest import SAMPLES
from .metrics_keys import expected, key_paths

PNGS = ["model_vs_humans.png", "per_code_f1_kappa.png", "confusion_type.png", "confusion_valence.png"]


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return read_segments(SAMPLES / "codings.csv")


@pytest.fixture(scope="module")
def gold_docs(corpus) -> list[str]:
    double = sorted(corpus.loc[corpus["coder"] == "B", "document_id"].unique())
    return [*double[:3], "INT-01"]  # three double-coded documents and one only A coded


@pytest.fixture(scope="module")
def gold_file(corpus, gold_docs, tmp_path_factory):
    rows = corpus[corpus["document_id"].isin(gold_docs)].drop(columns=["source_file", "source_row"])
    path = tmp_path_factory.mktemp("gold") / "gold.csv"
    rows.assign(codes=["; ".join(c) for c in rows["codes"]]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(corpus, gold_docs, tmp_path_factory):
    from mpsoc_nlp.training import train

    a = corpus[corpus["coder"] == "A"]
    b_docs = set(corpus.loc[corpus["coder"] == "B", "document_id"])
    docs = sorted(set(a["document_id"]) - b_docs - set(gold_docs))
    keep = [d for d in docs if d.startswith("INT-")][:8] + [d for d in docs if d.startswith("J-")][:8]
    out = tmp_path_factory.mktemp("model") / "m"
    train(a[a["document_id"].isin(keep)], out=out, cv_folds=0, seed=0, n_features=2**16, tune=False)
    return out


@pytest.fixture(scope="module")
def report(model_dir, gold_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "report"
    argv = ["evaluate", str(model_dir), str(gold_file), "--out", str(out), "--resamples", "200", "--seed", "3"]
    code = main(argv)
    return code, out


def _intervals(obj):
    """Every {estimate, low, high} in a nested structure."""
    if isinstance(obj, dict):
        if {"estimate", "low", "high"} <= set(obj):
            yield obj
        for v in obj.values():
            yield from _intervals(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _intervals(v)


def test_evaluate_writes_every_file(report, capsys):
    code, out = report
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "report.md", "report.html", "disagreements.xlsx", *PNGS} <= names
    for png in PNGS:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_metrics_structure_and_ranges(report, gold_docs):
    metrics = json.loads((report[1] / "metrics.json").read_text(encoding="utf-8"))
    cb = Codebook.default()
    assert metrics["gold"]["coders"] == ["A", "B"] and metrics["model_coder"] == "model"
    assert metrics["gold"]["documents"] == len(gold_docs)
    assert metrics["human_vs_human"] is True and metrics["settings"]["resamples"] == 200
    ids = {c["id"] for c in metrics["comparisons"]}
    assert {"A vs model", "B vs model", "A vs B", "A vs model (segments both A and B coded)"} <= ids
    for comp in metrics["comparisons"]:
        ag = comp["agreement"]
        assert list(ag["per_code"]) == list(cb.codes)
        assert list(ag["per_type"]) == list(cb.type_names)
        assert list(ag["per_valence"]) == list(cb.valence_names)
        assert list(ag["sets"]) == ["(whole sets)"]
        for row in ag["per_code"].values():
            assert set(row["counts"]["only"]) == set(comp["coders"])
            total = row["counts"]["both"] + sum(row["counts"]["only"].values()) + row["counts"]["neither"]
            assert total == comp["segments"]
    found = list(_intervals(metrics))
    assert len(found) > 300
    for s in found:
        values = [v for v in (s["estimate"], s["low"], s["high"]) if v is not None]
        assert all(-1.0 <= v <= 1.0 for v in values), s
        if s["estimate"] is not None and s["low"] is not None:
            assert s["low"] - 1e-9 <= s["estimate"] <= s["high"] + 1e-9, s
    # the A-only document makes "all of A's segments" larger than the shared ones
    by_id = {c["id"]: c for c in metrics["comparisons"]}
    assert by_id["A vs model"]["segments"] > by_id["A vs B"]["segments"] == by_id["B vs model"]["segments"]


def test_metrics_json_keeps_its_keys(report):
    metrics = json.loads((report[1] / "metrics.json").read_text(encoding="utf-8"))
    assert key_paths(metrics, coders=metrics["gold"]["coders"]) == expected("evaluate")


def test_verdicts_follow_the_rule(report):
    metrics = json.loads((report[1] / "metrics.json").read_text(encoding="utf-8"))
    verdicts = metrics["verdicts"]
    assert [v["level"] for v in verdicts].count("code") == 10
    assert [v["level"] for v in verdicts].count("type") == 5 and verdicts[-1]["level"] == "set"
    for v in verdicts:
        if v["verdict"] == "undefined":
            continue
        assert v["human_low"] <= v["human_high"]
        assert (v["verdict"] == "too_few") == (v["min_positives"] < 10), v
        if v["verdict"] == "too_few":
            continue
        expected = "below" if v["model"] < v["human_low"] else "above" if v["model"] > v["human_high"] else "within"
        assert v["verdict"] == expected, v
        assert v["verdict_text"] == f"{expected} the range of the human coders"
        assert v["model"] == pytest.approx(np.mean(list(v["model_by_coder"].values())))


def test_agreement_numbers_match_independent_computations(report, gold_file, model_dir):
    metrics = json.loads((report[1] / "metrics.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in metrics["comparisons"]}
    gold = read_segments(gold_file)
    a = gold[gold["coder"] == "A"].set_index("segment_id")["codes"]
    b = gold[gold["coder"] == "B"].set_index("segment_id")["codes"]
    shared = [s for s in a.index if s in b.index]
    model = load_model(model_dir)
    texts = gold.drop_duplicates("segment_id").set_index("segment_id")["text"]
    predicted = dict(zip(a.index, model.predict(texts[a.index].tolist()), strict=True))
    checked = 0
    for code in Codebook.default().codes:
        x = np.array([code in a[s] for s in shared])
        y = np.array([code in b[s] for s in shared])
        if x.any() or y.any():
            assert by_id["A vs B"]["agreement"]["per_code"][code]["cohen_kappa"]["estimate"] == pytest.approx(
                cohen_kappa_score(x, y)
            )
        gx = np.array([code in a[s] for s in a.index])
        px = np.array([code in predicted[s] for s in a.index])
        if gx.any() or px.any():
            f1 = by_id["A vs model"]["agreement"]["per_code"][code]["f1"]["estimate"]
            assert f1 == pytest.approx(f1_score(gx, px))
            checked += 1
    assert checked >= 5


def test_report_html_is_self_contained_and_embeds_the_plots(report):
    html = (report[1] / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(PNGS)
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "within the range" in html or "below" in html
    md = (report[1] / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"https?://", md)
    for png in PNGS:
        assert f"]({png})" in md
    assert "## Coder A" in md and "## Coder B" in md and "B vs A" in md


def test_disagreements_are_exactly_the_segments_where_codes_differ(report, gold_file, model_dir):
    xlsx = report[1] / "disagreements.xlsx"
    frame = pd.read_excel(xlsx, sheet_name="Disagreements", keep_default_na=False, dtype=str)
    assert list(frame.columns[:6]) == ["segment_id", "document_id", "text", "A", "B", "model"]
    assert "differs_on" in frame.columns and "p:geografisk:positiv" in frame.columns
    gold = read_segments(gold_file)
    model = load_model(model_dir)
    unique = gold.drop_duplicates("segment_id")
    predicted = dict(zip(unique["segment_id"], model.predict(unique["text"].tolist()), strict=True))
    by_segment: dict[str, set[frozenset[str]]] = {}
    for sid, codes in zip(gold["segment_id"], gold["codes"], strict=True):
        by_segment.setdefault(sid, set()).add(frozenset(codes))
    expected = {sid for sid, sets in by_segment.items() if len(sets | {frozenset(predicted[sid])}) > 1}
    assert set(frame["segment_id"]) == expected and len(frame) == len(expected)
    assert 0 < len(expected) < len(unique)
    for _, row in frame.iterrows():  # each coder's codes side by side, as coded
        model_codes = set(predicted[row["segment_id"]])
        shown = set() if row["model"] == "(no code)" else {c.strip() for c in row["model"].split(";")}
        assert shown == model_codes
    only_a = frame[frame["document_id"] == "INT-01"]
    assert (only_a["B"] == "").all() and (only_a["A"] != "").all()
    metrics = json.loads((report[1] / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["disagreements"] == {"segments": len(expected), "of": len(unique)}


def test_existing_report_is_not_replaced_without_force(report, model_dir, gold_file, capsys):
    out = report[1]
    before = (out / "metrics.json").read_bytes()
    assert main(["evaluate", str(model_dir), str(gold_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "--force" in err
    assert (out / "metrics.json").read_bytes() == before


class _Copycat(BaseCoder):
    """A stub coder that gives each text the codes a lookup says (probability 1 or 0)."""

    backend = "stub"

    def __init__(self, lookup=None):
        self.lookup = lookup

    def fitted(self, codebook):
        self.codebook_ = codebook
        self.thresholds_ = np.full(len(codebook), 0.5)
        self.review_band = 0.0
        return self

    def predict_proba(self, texts):
        return self.codebook_.encode([self.lookup.get(t, ()) for t in texts]).astype(float)


def test_a_model_copying_a_coder_is_never_below_and_a_silent_one_is_below(corpus, gold_docs):
    gold = corpus[corpus["document_id"].isin(gold_docs[:3])]
    a = gold[gold["coder"] == "A"]
    cb = Codebook.default()
    copy = evaluate_model(_Copycat(dict(zip(a["text"], a["codes"], strict=True))).fitted(cb), gold, n_resamples=100)
    silent = evaluate_model(_Copycat({}).fitted(cb), gold, n_resamples=100)
    codes_used = {c for s in a["codes"] for c in s}
    for v_copy, v_silent in zip(copy.to_dict()["verdicts"], silent.to_dict()["verdicts"], strict=True):
        if v_copy["level"] == "code" and v_copy["name"] in codes_used:
            assert v_copy["model_by_coder"]["A"] == pytest.approx(1.0)
            enough = v_copy["min_positives"] >= 10
            assert v_copy["verdict"] in (("within", "above") if enough else ("too_few",))
            assert v_silent["model"] == pytest.approx(0.0)
            assert v_silent["verdict"] == ("below" if enough else "too_few")


def test_one_human_coder_says_human_vs_human_is_not_available(corpus, gold_docs, model_dir, tmp_path):
    gold = corpus[corpus["document_id"].isin(gold_docs) & (corpus["coder"] == "A")]
    ev = evaluate_model(model_dir, gold, n_resamples=50)
    m = ev.to_dict()
    assert m["human_vs_human"] is False and [c["id"] for c in m["comparisons"]] == ["A vs model"]
    assert {v["verdict"] for v in m["verdicts"]} == {"not_available"}
    assert "not available" in m["notes"][0]
    out = write_evaluation(ev, tmp_path / "one")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "human-vs-human agreement is not available" in md
    assert len(m["confusion"]["type"]) == 1


def test_multilabel_confusion_rows_count_each_label_once():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    rows = [tuple(x for x in labels if rng.random() < 0.4) for _ in range(200)]
    cols = [tuple(x for x in labels if rng.random() < 0.4) for _ in range(200)]
    m = multilabel_confusion(rows, cols, labels)
    for i, label in enumerate(labels):
        assert m[i].sum() == pytest.approx(sum(label in r for r in rows))
    assert m[3, 3] == sum(1 for r, c in zip(rows, cols, strict=True) if not r and not c)
    assert np.trace(m[:3, :3]) == sum(len(set(r) & set(c)) for r, c in zip(rows, cols, strict=True))


def test_f1_interval_matches_scikit_learn_and_covers_the_estimate():
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.3
    b = np.where(rng.random(400) < 0.8, a, ~a)
    groups = np.repeat(np.arange(40), 10)
    est, low, high = f1_interval(a, b, groups, n_resamples=300, seed=2)
    assert est == pytest.approx(f1_score(a, b))
    assert low < est < high and high - low < 0.3
    assert (est, low, high) == f1_interval(a, b, groups, n_resamples=300, seed=2)
    assert math.isnan(f1_interval(np.zeros(4, bool), np.zeros(4, bool), [1, 1, 2, 2])[0])


def test_report_tables_align_numbers_keep_intervals_whole_and_say_mean(report):
    import html as html_lib
    import io

    from PIL import Image

    out = report[1]
    page = (out / "report.html").read_text(encoding="utf-8")
    cells = re.findall(r'<td( class="(\w+)")?>(.*?)</td>', page)
    intervals = [(cls, text) for _, cls, text in cells if re.fullmatch(r"-?\d\.\d+ \[-?\d\.\d+, -?\d\.\d+\]", text)]
    assert len(intervals) > 100 and all(cls == "num" for cls, _ in intervals)  # right-aligned, not wrapped
    assert re.search(r"td\.num\{[^}]*text-align:right[^}]*white-space:nowrap", page)
    names = [html_lib.unescape(text) for _, cls, text in cells if cls == "name"]
    assert "geografisk:positiv" in names  # code names as plain text, not squeezed into <code>
    assert "model, mean over coders (Cohen&#x27;s kappa)" in page or "model, mean over coders (Cohen's kappa)" in page
    md = (out / "report.md").read_text(encoding="utf-8")
    head = next(line for line in md.splitlines() if line.startswith("| level | name | model, mean over coders"))
    rule = md.splitlines()[md.splitlines().index(head) + 1]
    assert rule.startswith("|---|---|---:|") and rule.endswith("|---|")  # names left, numbers right, verdict left
    for png in ("confusion_type.png", "confusion_valence.png"):
        meta = Image.open(io.BytesIO((out / png).read_bytes())).text
        assert "colour bar: share of the row" in meta["Description"] and "numbers are counts" in meta["Title"]
