"""The sample corpus: counts, balance, offsets, formats, the split, the dev set and the data card's numbers."""

from __future__ import annotations

import json
import re
from collections import Counter
from statistics import median

import docx
import pandas as pd
import pytest

from mpsoc_nlp import Codebook, read_segments, read_transcript, select_coder
from mpsoc_nlp.agreement import segment_agreement
from mpsoc_nlp.io.transcripts import read_transcript_text

from .conftest import SAMPLES

INTERVIEWS = SAMPLES / "interviews"
#: The documents of the first version of the corpus; the later ones were added with issue 16.
OLD_DOCS = {f"INT-{i:02d}" for i in range(1, 37)} | {f"J-{i:03d}" for i in range(1, 48)}
NEW_TRAIN = {f"INT-{i:02d}" for i in range(37, 73)}
#: The fixed test split: unchanged since the first version.
TEST_DOCS = {
    "INT-04", "INT-07", "INT-11", "INT-23", "INT-24", "INT-33", "INT-34",
    "J-007", "J-012", "J-013", "J-027", "J-041", "J-042", "J-043", "J-045", "J-047",
}
LABELS = {"I": "I", "Intervjuer": "I", "IP": "IP", "Informant": "IP"}
LABEL_LINE = re.compile(r"^(IP|I|Informant|Intervjuer):[ \t]")


@pytest.fixture(scope="module")
def all_rows():
    return read_segments(SAMPLES / "codings.csv")


@pytest.fixture(scope="module")
def a_rows(all_rows):
    return select_coder(all_rows, "A")[0]


@pytest.fixture(scope="module")
def split():
    return json.loads((SAMPLES / "splits.json").read_text(encoding="utf-8"))


def _coder(all_rows, name):
    return all_rows[all_rows["coder"] == name].reset_index(drop=True)


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _turn_lines(text: str) -> list[tuple[str, int]]:
    """(role, line number) of every line that starts with a speaker label; independent of the library."""
    out = []
    for k, line in enumerate(text.split("\n")):
        m = LABEL_LINE.match(line)
        if m:
            out.append((LABELS[m.group(1)], k))
    return out


def _one_turn_per_line(text: str) -> bool:
    lines = text.split("\n")
    turns = _turn_lines(text)
    return all(b - a == 1 or all(lines[j].strip() and not LABEL_LINE.match(lines[j]) for j in range(a + 1, b))
               for (_, a), (_, b) in zip(turns, turns[1:]))


def test_size_and_balance(a_rows):
    genres = a_rows["genre"].value_counts()
    assert genres["intervju"] >= 2900 and genres["journal"] >= 340
    counts = Counter(c for cs in a_rows["codes"] for c in cs)
    assert all(counts[c] >= 50 for c in Codebook.default().codes), counts
    sizes = a_rows["codes"].map(len)
    assert 0.25 <= (sizes == 0).mean() <= 0.40
    assert (sizes >= 2).mean() >= 0.10


def test_transcripts_follow_their_labels(a_rows):
    txts = sorted(INTERVIEWS.glob("INT-*.txt"))
    assert len(txts) >= 82
    layouts = Counter()
    for path in txts:
        text = path.read_text(encoding="utf-8")
        turns = _turn_lines(text)
        assert 40 <= len(turns) <= 80, path.name
        ids = a_rows.loc[a_rows["document_id"] == path.stem, "turn_index"].tolist()
        assert ids == [i for i, (role, _) in enumerate(turns) if role == "IP"], path.name
        if path.stem not in OLD_DOCS:
            layouts["line" if _one_turn_per_line(text) else "blank"] += 1
    assert layouts["line"] >= 2 and layouts["blank"] >= 2, layouts
    new_train_lines = [
        p.stem for p in txts if p.stem in NEW_TRAIN and _one_turn_per_line(p.read_text(encoding="utf-8"))
    ]
    assert len(new_train_lines) >= 2, new_train_lines


def test_new_word_copies_have_bold_labels_and_read_as_their_text():
    docxs = sorted(INTERVIEWS.glob("INT-*.docx"))
    new = [p for p in docxs if p.stem not in OLD_DOCS]
    assert len(docxs) >= 8 and len(new) >= 4
    layouts = Counter()
    for path in new:
        txt = path.with_suffix(".txt")
        source = txt.read_text(encoding="utf-8")
        paragraphs = docx.Document(str(path)).paragraphs
        labels = [r for p in paragraphs for r in p.runs if re.fullmatch(r"(IP|I|Informant|Intervjuer):", r.text)]
        assert len(labels) == len(_turn_lines(source)) and all(r.bold for r in labels), path.name
        from_txt, from_word = read_transcript(txt), read_transcript(path)
        keys = ["segment_id", "speaker", "turn_index", "start", "end", "text", "context", "timestamp"]
        assert from_word[keys].equals(from_txt[keys]), path.name
        as_read, _ = read_transcript_text(path)
        assert as_read == source.rstrip("\n"), path.name
        line_layout = _one_turn_per_line(source)
        layouts["line" if line_layout else "paragraph per turn"] += 1
        if not line_layout:
            assert sum(bool(LABEL_LINE.match(p.text)) for p in paragraphs) == len(labels), path.name
    assert layouts["paragraph per turn"] >= 4 and layouts["line"] >= 1, layouts


def test_offsets_point_into_the_sources(all_rows, a_rows):
    sources = {p.stem: p.read_text(encoding="utf-8") for p in INTERVIEWS.glob("INT-*.txt")}
    notes = pd.read_csv(SAMPLES / "journals.csv", dtype=str, keep_default_na=False)
    note_text = {}
    for jid, grp in notes.groupby("journal_id", sort=False):
        for i, text in enumerate(grp["notat"]):
            note_text[f"{jid}:{i}"] = text
    assert len(notes) >= 340 and notes["journal_id"].nunique() >= 59
    assert "codes" not in notes.columns
    assert len(note_text) == len(notes)
    assert set(note_text) == set(a_rows.loc[a_rows["genre"] == "journal", "segment_id"])
    for row in a_rows.itertuples():
        if row.genre == "intervju":
            assert sources[row.document_id][row.start : row.end] == row.text, row.segment_id
        else:
            assert note_text[row.segment_id][row.start : row.end] == row.text, row.segment_id
    keys = ["segment_id", "document_id", "genre", "speaker", "turn_index", "start", "end", "text"]
    others = all_rows[all_rows["coder"] != "A"].merge(a_rows[keys], on="segment_id", suffixes=("", "_a"))
    assert len(others) == (all_rows["coder"] != "A").sum()
    for k in keys[1:]:
        assert (others[k] == others[k + "_a"]).all(), k


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


def test_new_training_turns_are_short_like_real_talk(a_rows):
    new = a_rows[a_rows["document_id"].isin(NEW_TRAIN)]
    old = a_rows[a_rows["document_id"].str.startswith("INT-") & a_rows["document_id"].isin(OLD_DOCS)]
    assert new["document_id"].nunique() == 36
    assert (new["text"].map(_words) < 25).mean() >= 0.40
    assert new["text"].map(_words).median() < old["text"].map(_words).median() / 2


def test_coder_b_coded_at_least_300_of_the_same_segments(all_rows, a_rows):
    b = select_coder(all_rows, "B")[0]
    assert len(b) >= 300
    assert set(b["segment_id"]) == set(a_rows.loc[a_rows["document_id"].isin(TEST_DOCS), "segment_id"])
    merged = b.merge(a_rows, on="segment_id", suffixes=("_b", "_a"))
    assert (merged["text_b"] == merged["text_a"]).all()
    assert (merged["codes_b"] != merged["codes_a"]).any()  # an independent coder, not a copy


def test_coders_c_and_d_coded_exactly_the_dev_segments(all_rows, a_rows, split):
    dev = a_rows[a_rows["document_id"].isin(split["dev"])]
    assert len(dev) >= 400
    blind = {}
    for name in ("C", "D"):
        rows = _coder(all_rows, name)
        assert not rows["segment_id"].duplicated().any()
        assert set(rows["segment_id"]) == set(dev["segment_id"]), name
        blind[name] = rows.set_index("segment_id")["codes"]
    a = dev.set_index("segment_id")["codes"]
    for x, y in (("A", "C"), ("A", "D"), ("C", "D")):
        first = a if x == "A" else blind[x]
        differ = (first != blind[y].reindex(first.index)).sum()
        assert 0 < differ < 0.25 * len(a), (x, y, differ)  # independent coders, coding the same thing
    assert set(all_rows["coder"]) == {"A", "B", "C", "D"}


def test_the_three_formats_hold_the_same_table(all_rows):
    for name in ("codings.xlsx", "codings.jsonl"):
        other = read_segments(SAMPLES / name)
        for col in ("segment_id", "coder", "speaker", "text", "codes", "turn_index", "start", "end"):
            assert other[col].tolist() == all_rows[col].tolist(), (name, col)
    journals = pd.read_excel(SAMPLES / "journals.xlsx", dtype=str, keep_default_na=False)
    assert journals.equals(pd.read_csv(SAMPLES / "journals.csv", dtype=str, keep_default_na=False))


def test_split_is_by_document_and_keeps_every_code_in_every_part(a_rows, split):
    train, test, dev = set(split["train"]), set(split["test"]), set(split["dev"])
    assert not train & test and not dev & (train | test)
    assert train | test | dev == set(a_rows["document_id"])
    assert test == TEST_DOCS and train >= NEW_TRAIN and train - NEW_TRAIN == OLD_DOCS - TEST_DOCS
    assert sum(d.startswith("INT-") for d in dev) >= 10
    assert (a_rows["document_id"].isin(dev) & (a_rows["genre"] == "journal")).sum() >= 60
    seen = a_rows[a_rows["document_id"].isin(train | test)]
    assert 0.10 <= seen["document_id"].isin(test).mean() <= 0.25
    for part in (train, test, dev):
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
    assert rows, header
    return rows


@pytest.fixture(scope="module")
def card():
    return (SAMPLES / "README.md").read_text(encoding="utf-8")


def _part(a_rows, split, name):
    if name == "all":
        return a_rows
    if name.startswith("old "):
        return a_rows[a_rows["document_id"].isin(OLD_DOCS)]
    if name.startswith("new training "):
        return a_rows[a_rows["document_id"].isin(NEW_TRAIN)]
    return a_rows[a_rows["document_id"].isin(split[name])]


def test_data_card_counts_match_the_files(all_rows, a_rows, split, card):
    for code, n_int, n_jour, n_all in _table(card, "| code | intervju | journal | all |"):
        per = {g: sum(code in cs for cs in a_rows.loc[a_rows["genre"] == g, "codes"]) for g in ("intervju", "journal")}
        assert (int(n_int), int(n_jour), int(n_all)) == (per["intervju"], per["journal"], sum(per.values())), code
    for genre, docs, segs, none, multi in _table(card, "| genre | documents | segments |"):
        rows = a_rows if genre == "all" else a_rows[a_rows["genre"] == genre]
        assert int(docs) == rows["document_id"].nunique() and int(segs) == len(rows)
        assert none == f"{100 * (rows['codes'].map(len) == 0).mean():.1f} %"
        assert multi == f"{100 * (rows['codes'].map(len) >= 2).mean():.1f} %"
    parts = ("train", "test", "dev")
    for code, *ns in _table(card, "| code | train | test | dev |"):
        want = [sum(code in cs for cs in _part(a_rows, split, p)["codes"]) for p in parts]
        assert [int(n) for n in ns] == want, code
    for part, docs, segs in _table(card, "| part | documents | segments |"):
        rows = _part(a_rows, split, part)
        assert (int(docs), int(segs)) == (rows["document_id"].nunique(), len(rows)), part
    for part, turns, med, short in _table(card, "| interviews | participant turns | median words |"):
        rows = _part(a_rows, split, part)
        rows = rows[rows["genre"] == "intervju"]
        words = rows["text"].map(_words)
        assert (int(turns), float(med)) == (len(rows), median(words)), part
        assert short == f"{100 * (words < 25).mean():.1f} %", part
    assert f"texts of the {len(_coder(all_rows, 'B'))} segments" in card
    assert f"the {len(_coder(all_rows, 'C'))} dev segments" in card


def test_data_card_quotes_the_agreement_of_each_pair_of_coders(all_rows, card):
    codes = list(Codebook.default().codes)
    header = "| code | both | A only | B only | Cohen's kappa | Krippendorff's alpha | Gwet's AC1 | F1 |"
    rows = _table(card, header)
    views = segment_agreement(all_rows[all_rows["coder"].isin(["A", "B"])], codes, seed=0).set_index("name")
    assert [r[0] for r in rows] == codes
    for name, both, a_only, b_only, *stats in rows:
        v = views.loc[name]
        assert (int(both), int(a_only), int(b_only)) == (v["both_present"], v["first_only"], v["second_only"])
        for text, stat in zip(stats, ("cohen_kappa", "krippendorff_alpha", "gwet_ac1", "f1"), strict=True):
            assert text == f"{v[stat]:.3f} [{v[stat + '_low']:.3f}, {v[stat + '_high']:.3f}]", (name, stat)
    dev = _table(card, "| code | A-C kappa | A-D kappa | C-D kappa | A-C-D alpha |")
    assert [r[0] for r in dev] == codes
    est = {}
    stats = {"AC": "cohen_kappa", "AD": "cohen_kappa", "CD": "cohen_kappa", "ACD": "krippendorff_alpha"}
    for pair, stat in stats.items():
        rows = all_rows[all_rows["coder"].isin(list(pair))]
        est[pair] = segment_agreement(rows, codes, n_resamples=0).set_index("name")[stat]
    for name, *cells in dev:
        assert [c.split()[0] for c in cells] == [f"{est[p][name]:.3f}" for p in ("AC", "AD", "CD", "ACD")], name
