from __future__ import annotations

import csv
import re
from pathlib import Path

import docx
import pandas as pd
import pytest

from mpsoc_nlp import InputError, read_segments
from mpsoc_nlp.cli import main
from mpsoc_nlp.io.journals import JournalOptions, read_journal
from mpsoc_nlp.io.segments import iter_segment_chunks
from mpsoc_nlp.io.transcripts import TranscriptOptions, read_transcript, read_transcript_text

from .conftest import REPO, SAMPLES

INTERVIEWS = SAMPLES / "interviews"
KEYS = ["segment_id", "document_id", "speaker", "turn_index", "start", "end", "text"]


@pytest.fixture(scope="module")
def codings_a() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLES / "codings.csv", dtype=str, keep_default_na=False)
    frame = frame[frame["coder"] == "A"].copy()
    for c in ("turn_index", "start", "end"):
        frame[c] = frame[c].astype(int)
    return frame


def as_rows(frame: pd.DataFrame) -> list[tuple]:
    ints = ("turn_index", "start", "end")
    return [
        tuple(None if v is pd.NA else (int(v) if k in ints else v) for k, v in zip(KEYS, r, strict=True))
        for r in frame[KEYS].itertuples(index=False, name=None)
    ]


def word_copy(txt_path, out_path, *, bold=True, blank_paragraphs=True):
    """Write a transcript .txt as Word: one paragraph per paragraph, bold labels, empty paragraphs between."""
    text = txt_path.read_text(encoding="utf-8")
    document = docx.Document()
    for para in re.split(r"\n[ \t]*\n", text.strip("\n")):
        p = document.add_paragraph()
        m = re.match(r"(I|IP):[ \t]", para)
        if m and bold:
            p.add_run(m.group(0)).bold = True
            p.add_run(para[m.end():])
        else:
            p.add_run(para)
        if blank_paragraphs:
            document.add_paragraph()
            document.add_paragraph("   ")
    document.save(out_path)
    return out_path


# -- the sample corpus ------------------------------------------------------------------------
@pytest.mark.parametrize("docx_path", sorted(INTERVIEWS.glob("*.docx")), ids=lambda p: p.stem)
def test_docx_and_txt_give_the_same_segments_as_the_codings_of_coder_a(docx_path, codings_a):
    from_docx = read_transcript(docx_path)
    from_txt = read_transcript(docx_path.with_suffix(".txt"))
    cols = KEYS + ["role", "context", "timestamp"]
    pd.testing.assert_frame_equal(from_docx[cols], from_txt[cols])
    text_docx, _ = read_transcript_text(docx_path)
    assert text_docx == read_transcript_text(docx_path.with_suffix(".txt"))[0].rstrip("\n")  # no final line break
    spans = zip(from_docx["start"], from_docx["end"], from_docx["text"], strict=True)
    assert all(text_docx[s:e] == t for s, e, t in spans)
    gold = codings_a[codings_a["document_id"] == docx_path.stem]
    assert len(gold) > 10
    assert as_rows(from_docx) == as_rows(gold)


def test_every_sample_transcript_matches_the_codings(codings_a):
    paths = sorted(INTERVIEWS.glob("*.txt"))
    assert len(paths) >= 10
    frame = read_segments(paths)
    gold = codings_a[codings_a["genre"] == "intervju"]
    order = ["document_id", "turn_index"]
    assert as_rows(frame.sort_values(order)) == as_rows(gold.sort_values(order))


def test_a_word_file_written_here_with_bold_labels_and_blank_paragraphs(tmp_path):
    src = INTERVIEWS / "INT-02.txt"
    out = word_copy(src, tmp_path / "INT-02.docx")
    cols = KEYS + ["context", "timestamp"]
    pd.testing.assert_frame_equal(read_transcript(out)[cols], read_transcript(src)[cols])
    (tmp_path / "plain").mkdir()
    plain = word_copy(src, tmp_path / "plain" / "INT-02.docx", bold=False, blank_paragraphs=False)
    pd.testing.assert_frame_equal(read_transcript(plain)[cols], read_transcript(src)[cols])


# -- labels, timestamps, marks ----------------------------------------------------------------
TRANSCRIPT = """Fokusgruppe 3, [sted], mars 2025

Deltakere: tre informanter

Intervjuer: Velkommen. Hvem vil begynne?

[00:01:10]

IP1: Jeg kan. Jeg bor i [sted] (ler) og har gjort det lenge.

D2: Jeg har bodd der kl. 10 hver dag, f.eks. på kafeen.
Det var fint.

(pause)

informant: Jeg er enig.

F: [00:02:30] Hva med familien?

Inf: Den er viktig. #00:02:41-5#

Deltaker 3: Ja.

Et avsnitt uten navn som fortsetter turen.

I: Takk.
"""


@pytest.fixture
def focus_group(tmp_path):
    path = tmp_path / "FG-03.txt"
    path.write_text(TRANSCRIPT, encoding="utf-8")
    return path


def test_labels_turns_timestamps_and_context(focus_group):
    seg = read_transcript(focus_group)
    text, _ = read_transcript_text(focus_group)
    assert seg["speaker"].tolist() == ["IP1", "D2", "informant", "Inf", "Deltaker 3"]
    assert seg["turn_index"].tolist() == [1, 2, 3, 5, 6]
    assert seg["segment_id"].tolist() == ["FG-03:1", "FG-03:2", "FG-03:3", "FG-03:5", "FG-03:6"]
    assert all(text[s:e] == t for s, e, t in zip(seg["start"], seg["end"], seg["text"], strict=True))
    by = seg.set_index("speaker")
    assert by.loc["IP1", "text"] == "Jeg kan. Jeg bor i [sted] (ler) og har gjort det lenge."
    assert by.loc["IP1", "timestamp"] == "[00:01:10]" and by.loc["IP1", "context"] == "Velkommen. Hvem vil begynne?"
    assert by.loc["D2", "text"] == "Jeg har bodd der kl. 10 hver dag, f.eks. på kafeen.\nDet var fint."
    assert by.loc["Inf", "text"] == "Den er viktig." and by.loc["Inf", "timestamp"] == "#00:02:41-5#"
    assert by.loc["Inf", "context"] == "Hva med familien?"
    assert by.loc["Deltaker 3", "text"] == "Ja.\n\nEt avsnitt uten navn som fortsetter turen."
    assert set(seg["role"]) == {"participant"} and set(seg["genre"]) == {"intervju"}
    assert seg["source_row"].tolist() == [9, 11, 16, 20, 22]


def test_all_speakers_strip_marks_and_sentence_units(focus_group):
    everyone = read_transcript(focus_group, options=TranscriptOptions(speakers="all"))
    assert everyone["speaker"].tolist()[:2] == ["Intervjuer", "IP1"]
    assert everyone.loc[everyone["speaker"] == "F", "text"].item() == "Hva med familien?"
    assert everyone.loc[everyone["speaker"] == "F", "timestamp"].item() == "[00:02:30]"
    assert everyone["role"].tolist().count("interviewer") == 3
    clean = read_transcript(focus_group, options=TranscriptOptions(strip_marks=True))
    first = clean.iloc[0]
    assert first["text"] == "Jeg kan. Jeg bor i [sted] og har gjort det lenge."
    text, _ = read_transcript_text(focus_group)
    assert "(ler)" in text[first["start"] : first["end"]]
    sentences = read_transcript(focus_group, options=TranscriptOptions(unit="sentence"))
    assert sentences.loc[sentences["speaker"] == "IP1", "segment_id"].tolist() == ["FG-03:1.0", "FG-03:1.1"]
    assert sentences.loc[sentences["speaker"] == "D2", "text"].tolist() == [
        "Jeg har bodd der kl. 10 hver dag, f.eks. på kafeen.", "Det var fint."]


def test_long_turns_become_sentence_windows(tmp_path):
    answer = " ".join(f"Setning nummer {i} handler om bygda." for i in range(12))
    path = tmp_path / "INT-99.txt"
    path.write_text(f"I: Fortell.\n\nIP: {answer}\n", encoding="utf-8")
    seg = read_transcript(path, options=TranscriptOptions(max_chars=120))
    assert len(seg) > 3 and seg["segment_id"].iloc[0] == "INT-99:1.0"
    assert (seg["end"] - seg["start"]).max() <= 120 and set(seg["turn_index"]) == {1}
    text, _ = read_transcript_text(path)
    assert " ".join(seg["text"]) == text[seg["start"].iloc[0] : seg["end"].iloc[-1]]


def test_custom_labels_and_document_ids(tmp_path):
    path = tmp_path / "opptak 7.txt"
    path.write_text("Kari: Hei.\n\nOla: Hva tenker du?\n\nKari: Om bygda? Mye.\n", encoding="utf-8")
    with pytest.raises(InputError, match="found no speaker turns"):
        read_transcript(path)
    opts = TranscriptOptions(interviewer_labels=("Ola",), participant_labels=("Kari",),
                             document_ids={"opptak 7": "INT-07"})
    seg = read_transcript(path, options=opts)
    assert seg["segment_id"].tolist() == ["INT-07:0", "INT-07:2"]
    assert seg["context"].tolist() == [None, "Hva tenker du?"]
    assert TranscriptOptions.from_dict({"speakers": "all", "max_chars": 500}).max_chars == 500
    with pytest.raises(InputError, match=re.escape("unknown key(s) ['speaker']")):
        TranscriptOptions.from_dict({"speaker": "all"})


def test_word_bold_labels_whatever_their_words(tmp_path):
    document = docx.Document()
    document.add_paragraph("Intervju med Kari").runs[0].bold = True
    turns = [("Kari:", " ", "Hei der."), ("Intervjuer", "\t", "Hva så?"), ("Ola", "\t", "Jeg vet ikke.")]
    for label, sep, text in turns:
        p = document.add_paragraph()
        p.add_run(label).bold = True
        p.add_run(sep + text)
    path = tmp_path / "INT-40.docx"
    document.save(path)
    seg = read_transcript(path)
    assert seg[["speaker", "role", "text", "context"]].values.tolist() == [
        ["Kari", "participant", "Hei der.", None],
        ["Ola", "participant", "Jeg vet ikke.", "Hva så?"],
    ]
    text, bold = read_transcript_text(path)
    assert text.startswith("Intervju med Kari\n\nKari: Hei der.") and bold[0] == "Intervju med Kari"


def test_encodings_crlf_and_bom(tmp_path):
    body = "Tittel\r\n\r\nI: Hvor bor du?\r\n\r\nIP: På Røros, sånn ca. ti år.\r\n"
    a = tmp_path / "A.txt"
    a.write_bytes(body.encode("cp1252"))
    b = tmp_path / "B.txt"
    b.write_bytes(b"\xef\xbb\xbf" + body.replace("\r\n", "\n").encode("utf-8"))
    sa, sb = read_transcript(a), read_transcript(b)
    assert sa["text"].tolist() == sb["text"].tolist() == ["På Røros, sånn ca. ti år."]
    assert sa["start"].tolist() == sb["start"].tolist() == [body.replace("\r\n", "\n").index("På")]


def test_bad_transcripts_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_transcript(tmp_path / "nope.txt")
    fake = tmp_path / "fake.docx"
    fake.write_text("not a word file", encoding="utf-8")
    with pytest.raises(InputError, match="cannot open the file as a Word document"):
        read_transcript(fake)
    old = tmp_path / "old.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=r"save it as \.docx"):
        read_segments(old)
    only_i = tmp_path / "only.txt"
    only_i.write_text("I: Hei?\n\nI: Hallo?\n", encoding="utf-8")
    with pytest.raises(InputError, match="none of the speakers"):
        read_transcript(only_i)


# -- journals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["journals.csv", "journals.xlsx"])
def test_journal_exports_match_the_codings_of_coder_a(name, codings_a):
    seg = read_segments(SAMPLES / name)
    assert set(seg["genre"]) == {"journal"} and {"date", "note_id"} <= set(seg.columns)
    gold = codings_a[codings_a["genre"] == "journal"]
    assert sorted(as_rows(seg)) == sorted(as_rows(gold))
    chunks = list(iter_segment_chunks(SAMPLES / name, chunk_size=7))
    assert len(chunks) > 10
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True)[KEYS], seg[KEYS])


def test_journal_columns_by_other_names_and_long_notes(tmp_path):
    path = tmp_path / "eksport.csv"
    long_note = " ".join(f"Pas. møtte til samtale nr. {i} kl. 10." for i in range(10))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Pasient-ID", "Notatdato", "Yrke", "Journalnotat"])
        w.writerow(["P7", "2025-03-01", "sykepleier", "Kort notat."])
        w.writerow(["P7", "2025-03-02", "lege", ""])
        w.writerow(["P8", "2025-03-02", "lege", long_note])
    seg = read_journal(path, options=JournalOptions(max_chars=100))
    assert seg["segment_id"].tolist()[:3] == ["P7:0", "P8:0.0", "P8:0.1"]
    assert seg["speaker"].tolist()[0] == "sykepleier" and seg["date"].tolist()[0] == "2025-03-01"
    assert (seg["end"] - seg["start"]).max() <= 100
    assert all(long_note[s:e] == t for s, e, t in zip(seg["start"][1:], seg["end"][1:], seg["text"][1:], strict=True))
    bad = tmp_path / "bad.csv"
    bad.write_text("journal_id,dato\nJ1,2025-01-01\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a column with the note's text"):
        read_journal(bad)


# -- classify on a mix of inputs ---------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_model(tmp_path_factory, sample_segments):
    from mpsoc_nlp.models import LinearCoder

    train = sample_segments[sample_segments["document_id"].isin(["INT-01", "INT-02", "INT-05", "J-001", "J-002"])]
    model = LinearCoder(seed=1, tune=False, n_features=2**14, C=1.0).fit(train["text"], train["codes"])
    return model.save(tmp_path_factory.mktemp("fast") / "fast-model")


def test_classify_a_mix_of_transcripts_journals_and_tables(tmp_path, fast_model, capsys):
    model_dir = fast_model
    word = word_copy(INTERVIEWS / "INT-03.txt", tmp_path / "INT-03.docx")
    out = tmp_path / "pred.jsonl"
    assert main(["classify", str(model_dir), str(word), str(SAMPLES / "journals.xlsx"), "--out", str(out)]) == 0
    assert "Classified" in capsys.readouterr().out
    pred = pd.read_json(out, lines=True)
    inter = pred[pred["document_id"] == "INT-03"]
    assert set(inter["speaker"]) == {"IP"} and inter["turn_index"].min() == 1
    text, _ = read_transcript_text(word)
    assert all(text[s:e] == t for s, e, t in zip(inter["start"], inter["end"], inter["text"], strict=True))
    assert inter["context"].notna().all()
    journ = pred[pred["genre"] == "journal"]
    assert len(journ) == len(pd.read_csv(SAMPLES / "journals.csv")) and journ["segment_id"].iloc[0] == "J-001:0"
    assert {"codes", "probabilities", "review"} <= set(pred.columns)


# -- classify at scale: shards, merge, resume ---------------------------------------------------
@pytest.fixture(scope="module")
def big_table(tmp_path_factory) -> Path:
    """The sample codings of coder A, 4 times over with their own ids: about 7 000 segments."""
    frame = pd.read_csv(SAMPLES / "codings.csv", dtype=str, keep_default_na=False)
    frame = frame[frame["coder"] == "A"].drop(columns=["codes", "coder"])
    copies = []
    for k in range(4):
        part = frame.copy()
        part["document_id"] = part["document_id"] + f"-k{k}"
        part["segment_id"] = part["document_id"] + ":" + part["turn_index"]
        copies.append(part)
    path = tmp_path_factory.mktemp("big") / "big.csv"
    pd.concat(copies).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_shards_keep_documents_whole_and_merge_to_the_unsharded_run(fast_model, tmp_path, suffix, capsys):
    src = SAMPLES / "journals.csv"
    full = tmp_path / f"full{suffix}"
    assert main(["classify", str(fast_model), str(src), "--out", str(full)]) == 0
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}{suffix}"
        assert main(["classify", str(fast_model), str(src), "--out", str(out), "--shard", f"{k}/3",
                     "--chunk-size", "50"]) == 0
        assert f"(shard {k}/3)" in capsys.readouterr().out
        shards.append(out)
    read = {".csv": lambda p: pd.read_csv(p, dtype=str, keep_default_na=False),
            ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
            ".parquet": pd.read_parquet}[suffix]
    docs = [set(read(p)["document_id"]) for p in shards]
    assert all(docs) and not (docs[0] & docs[1] or docs[0] & docs[2] or docs[1] & docs[2])
    merged = tmp_path / f"merged{suffix}"
    assert main(["merge", *map(str, shards), "--out", str(merged)]) == 0
    a = read(full).sort_values("segment_id").reset_index(drop=True)
    b = read(merged).sort_values("segment_id").reset_index(drop=True)
    assert len(a) == len(pd.read_csv(SAMPLES / "journals.csv"))
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))
    assert main(["merge", str(shards[0]), str(shards[2]), "--out", str(tmp_path / f"part{suffix}")]) == 2
    assert "shard(s) [2] of 3 are missing" in capsys.readouterr().err


def test_bad_shards_and_merges_exit_2(fast_model, tmp_path, capsys):
    src = SAMPLES / "journals.csv"
    for bad, msg in [("0/3", "shards count from 1"), ("4/3", "between 1 and N"), ("3", "must look like K/N")]:
        assert main(["classify", str(fast_model), str(src), "--out", str(tmp_path / "x.csv"), "--shard", bad]) == 2
        assert msg in capsys.readouterr().err
    a, b = tmp_path / "a.csv", tmp_path / "b.jsonl"
    assert main(["classify", str(fast_model), str(src), "--out", str(a)]) == 0
    assert main(["classify", str(fast_model), str(src), "--out", str(b)]) == 0
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m.csv")]) == 2
    assert "different formats" in capsys.readouterr().err


def test_resume_continues_after_a_killed_run(fast_model, big_table, tmp_path, capsys):
    import json
    import os
    import subprocess
    import sys

    reference = tmp_path / "reference.csv"
    assert main(["classify", str(fast_model), str(big_table), "--out", str(reference), "--chunk-size", "100"]) == 0
    out = tmp_path / "resumed.csv"
    state = tmp_path / "resumed.csv.parts" / "state.json"
    argv = ["classify", str(fast_model), str(big_table), "--out", str(out), "--chunk-size", "100", "--resume"]
    # a real SIGKILL at a fixed point: when the 4th chunk is about to be classified (3 are written)
    killer = (
        "import os, signal, sys\n"
        "import mpsoc_nlp.classification as c\n"
        "from mpsoc_nlp.cli import main\n"
        "real, calls = c.predict_frame, []\n"
        "def predict_frame(*args, **kwargs):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 4:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*args, **kwargs)\n"
        "c.predict_frame = predict_frame\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", killer, *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == -9
    done = json.loads(state.read_text(encoding="utf-8"))["done"]
    assert done >= 3 and not out.exists() and any(state.parent.glob("part-*.jsonl"))
    capsys.readouterr()
    assert main(["-v", *argv]) == 0
    err = capsys.readouterr().err
    assert re.search(r"resuming after \d+ finished chunks", err)
    assert out.read_bytes() == reference.read_bytes()
    assert not state.parent.exists()
    # a run with other options does not continue from parts it did not write
    state.parent.mkdir()
    state.write_text(json.dumps({"signature": {"other": 1}, "done": 1, "counts": {}}), encoding="utf-8")
    assert main([*argv, "--force"]) == 2
    assert "holds a run with other inputs" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".xlsx"])
def test_resume_parts_give_the_same_output_as_one_run(fast_model, tmp_path, suffix):
    from mpsoc_nlp.classification import classify

    inputs = [SAMPLES / "journals.csv", *sorted(SAMPLES.glob("interviews/*.txt"))[:1]]
    plain, resumed = tmp_path / f"plain{suffix}", tmp_path / f"resumed{suffix}"
    classify(fast_model, inputs, plain, chunk_size=40)
    classify(fast_model, inputs, resumed, chunk_size=40, resume=True)
    assert not (tmp_path / f"resumed{suffix}.parts").exists()
    read = {".parquet": pd.read_parquet, ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
            ".xlsx": lambda p: pd.read_excel(p, sheet_name="Predictions", dtype=str, keep_default_na=False)}[suffix]
    a, b = read(plain), read(resumed)
    assert len(a) > 40 and a["speaker"].isna().any() == b["speaker"].isna().any()
    # known: a resumed Parquet stores the whole-number columns as nullable Int64 (values equal)
    pd.testing.assert_frame_equal(a, b, check_dtype=suffix != ".parquet")
