"""Shared fixtures: tiny real files, written once per test where they are cheap."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mpsoc_nlp import Codebook

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"

HEADER = ["segment_id", "document_id", "coder", "genre", "text", "codes"]
ROWS = [
    ["INT-01:1", "INT-01", "A", "intervju", "Æ følte mæ hjemme i bygda, alle kjente alle.", "geografisk:positiv"],
    ["INT-01:3", "INT-01", "A", "intervju", "Mamma ringer hver søndag, det betyr mye.", "relasjonell:positiv"],
    ["INT-01:5", "INT-01", "A", "intervju", "Jeg var på kafé i går.", ""],
    [
        "J-001:0",
        "J-001",
        "A",
        "journal",
        "Pas. savner gutta han ruset seg med, «de forsto meg».",
        "rusrelatert:positiv; rusrelatert:negativ",
    ],
]


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return Codebook.default()


@pytest.fixture
def good_rows() -> list[list[str]]:
    return [list(HEADER)] + [list(r) for r in ROWS]


@pytest.fixture(scope="session")
def sample_segments():
    """Coder A's rows of the sample corpus (the real files in data_samples/)."""
    from mpsoc_nlp import read_segments, select_coder

    rows, _ = select_coder(read_segments(SAMPLES / "codings.csv"), "A")
    return rows


@pytest.fixture(scope="session")
def coder_a_rows():
    """Coder A's rows of data_samples/codings.csv as written (codes as text): to write small CSV inputs from."""
    import pandas as pd

    frame = pd.read_csv(SAMPLES / "codings.csv", dtype=str, keep_default_na=False)
    return frame[frame["coder"] == "A"]


@pytest.fixture(scope="session")
def small_train(sample_segments):
    """A few documents of the sample corpus: fast enough to train on in every test."""
    docs = sorted(sample_segments["document_id"].unique())
    keep = [d for d in docs if d.startswith("INT-")][:8] + [d for d in docs if d.startswith("J-")][:6]
    return sample_segments[sample_segments["document_id"].isin(keep)].reset_index(drop=True)


@pytest.fixture(scope="session")
def safety_model(tmp_path_factory, small_train) -> Path:
    """A tiny linear model folder trained once (the nothing-lost tests copy it before damaging it)."""
    from mpsoc_nlp import train

    out = tmp_path_factory.mktemp("safety") / "m"
    train(small_train, out=out, cv_folds=0, seed=0)
    return out


@pytest.fixture(scope="session")
def coded_csv(tmp_path_factory) -> Path:
    """A segment table of 12 sample documents coded by two coders (A and B)."""
    from .safety_support import sample_rows, write_rows

    header, rows = sample_rows(12)
    return write_rows(tmp_path_factory.mktemp("safety_data") / "koding.csv", header, rows)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, coder_a_rows) -> Path:
    """A one-layer tiny BERT with a WordPiece vocabulary of the sample texts, built once (needs transformers)."""
    pytest.importorskip("transformers")
    from .tiny_model import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("hf") / "tiny-bert", coder_a_rows["text"].tolist(), layers=1)
