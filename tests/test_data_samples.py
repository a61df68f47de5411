"""The sample corpus: counts, balance, offsets, formats, the split, and the data card's numbers."""

from __future__ import annotations

import json
import re
from collections import Counter

import pandas as pd
import pytest

from mpsoc_nlp import Codebook, read_segments, select_coder

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def all_rows():
    return read_segments(SAMPLES / "codings.csv")


@pytest.fixture(scope="module")
def a_rows(all_rows):
    return select_coder(all_rows, "A")[0]


def test_size_and_balance(a_rows):
    genres = a_rows["genre"].value_counts()
    assert genres["intervju"] >= 1200 and genres["journal"] >= 200
    counts = Counter(c for cs in a_rows["codes"] for c in cs)
    assert all(counts[c] >= 50 for c in Codebook.default().codes), counts
    sizes = a_rows["codes"].map(len)
    assert 0.25 <= (sizes == 0).mean() <= 0.40
    assert (sizes >= 2).mean() >= 0.10


def test_transcripts_and_docx(a_rows):
    txts = sorted((SAMPLES / "interviews").glob("INT-*.txt"))
    assert len(txts) >= 24
    assert len(list((SAMPLES / "interviews").glob("INT-*.docx"))) >= 4
    for path in txts:
        turns = [p for p in path.read_text(encoding="utf-8").split("\n\n") if re.match(r"^(I|IP):\s", p)]
        assert 40 <= len(turns) <= 80, path.name
        ids = a_rows.loc[a_rows["document_id"] == path.stem, "turn_index"].tolist()
        assert ids == [i for i, t in enumerate(turns) if t.startswith("IP:")], path.name


def test_offsets_point_into_the_sources(a_rows):
    sources = {p.stem: p.read_text(encoding="utf-8") for p in (SAMPLES / "interviews").glob("INT-*.txt")}
    notes = pd.read_csv(SAMPLES / "journals.csv", dtype=str, keep_default_na=False)
    note_text = {}
    for jid, grp in notes.groupby("journal_id", sort=False):
        for i, text in enumerate(grp["notat"]):
            note_text[f"{jid}:{i}"] = text
    assert len(notes) >= 200 and notes["journal_id"].nunique() >= 40
    for row in a_rows.itertuples():
        if row.genre == "intervju":
            assert sources[row.document_id][row.start : row.end] == row.text, row.segment_id
        else:
            assert note_text[row.segment_id][row.start : row.end] == row.text, row.segment_id


def test_no_two_segments_share_eight_words(a_rows):
    seen: dict[tuple[str, ...], str] = {}
    repeats = []
    for sid, text in zip(a_rows["segment_id"], a_rows["text"]):
        words = re.findall(r"\w+", text.lower())
        for k in range(len(words) - 7):
            gram = tuple(words[k : k + 8])
            other = seen.setdefault(gram, sid)
            if other != sid:
                repeats.append((other, sid, " ".join(gram)))
    assert repeats == []


def test_coder_b_coded_at_least_300_of_the_same_segments(all_rows, a_rows):
    b = select_coder(all_rows, "B")[0]
    assert len(b) >= 300
    assert set(b["segment_id"]) <= set(a_rows["segment_id"])
    merged = b.merge(a_rows, on="segment_id", suffixes=("_b", "_a"))
    assert (merged["text_b"] == merged["text_a"]).all()
    assert (merged["codes_b"] != merged["codes_a"]).any()  # an independent coder, not a copy


def test_the_three_formats_hold_the_same_table(all_rows):
    for name in ("codings.xlsx", "codings.jsonl"):
        other = read_segments(SAMPLES / name)
        assert other["segment_id"].tolist() == all_rows["segment_id"].tolist()
        assert other["text"].tolist() == all_rows["text"].tolist()
        assert other["codes"].tolist() == all_rows["codes"].tolist()
        assert other["start"].tolist() == all_rows["start"].tolist()


def test_split_is_by_document_and_keeps_every_code_on_both_sides(a_rows):
    split = json.loads((SAMPLES / "splits.json").read_text(encoding="utf-8"))
    train, test = set(split["train"]), set(split["test"])
    assert not train & test and train | test == set(a_rows["document_id"])
    assert 0.15 <= len(a_rows[a_rows["document_id"].isin(test)]) / len(a_rows) <= 0.25
    for part in (train, test):
        rows = a_rows[a_rows["document_id"].isin(part)]
        present = {c for cs in rows["codes"] for c in cs}
        assert present == set(Codebook.default().codes)


def _table(card: str, header: str) -> list[list[str]]:
    lines = card.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_data_card_numbers_match_the_files(all_rows, a_rows):
    card = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for code, n_int, n_jour, n_all in _table(card, "| code | intervju | journal | all |"):
        per = {g: sum(code in cs for cs in a_rows.loc[a_rows["genre"] == g, "codes"]) for g in ("intervju", "journal")}
        assert (int(n_int), int(n_jour), int(n_all)) == (per["intervju"], per["journal"], sum(per.values())), code
    for genre, docs, segs, none, multi in _table(card, "| genre | documents | segments |"):
        rows = a_rows if genre == "all" else a_rows[a_rows["genre"] == genre]
        assert int(docs) == rows["document_id"].nunique() and int(segs) == len(rows)
        assert none == f"{100 * (rows['codes'].map(len) == 0).mean():.1f} %"
        assert multi == f"{100 * (rows['codes'].map(len) >= 2).mean():.1f} %"
    b = select_coder(all_rows, "B")[0]
    assert f"texts of the {len(b)} segments" in card
