"""Transcripts as transcribers write them: reading follows the labels, not the paragraphs."""

from __future__ import annotations

import logging
import re

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpsoc_nlp import InputError
from mpsoc_nlp.cli import main
from mpsoc_nlp.io.transcripts import (
    TranscriptOptions,
    label_census,
    parse_turns,
    read_transcript,
    read_transcript_text,
)

from .conftest import SAMPLES

ONE_PER_LINE = """Intervju 12, [sted], mars 2025
Varighet 40 min.

I: Takk for at du ville være med. Kan du begynne med å fortelle litt om deg selv?
IP: Ja, ehm. Jeg er tjueen, bor i en kommunal leilighet på [sted].
I: Hvor vokste du opp?
IP: Kongsberg. Jeg flytta hit da jeg var atten.
Det var en stor overgang, altså.
I: Og nå?
IP: Nå går det bra.
"""


def spans_exact(seg, text) -> bool:
    return all(text[s:e] == t for s, e, t in zip(seg["start"], seg["end"], seg["text"], strict=True))


def test_one_turn_per_line_gives_one_turn_per_labelled_line(tmp_path):
    path = tmp_path / "INT-12.txt"
    path.write_text(ONE_PER_LINE, encoding="utf-8")
    seg = read_transcript(path, options=TranscriptOptions(speakers="all"))
    text, _ = read_transcript_text(path)
    assert seg["speaker"].tolist() == ["I", "IP", "I", "IP", "I", "IP"]
    assert seg["turn_index"].tolist() == [0, 1, 2, 3, 4, 5]
    assert spans_exact(seg, text)
    assert seg.loc[3, "text"] == "Kongsberg. Jeg flytta hit da jeg var atten.\nDet var en stor overgang, altså."
    assert seg.loc[3, "context"] == "Hvor vokste du opp?"
    assert seg["source_row"].tolist() == [4, 5, 6, 7, 9, 10]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"], ids=["crlf", "cr", "lf"])
def test_line_ends_do_not_change_turns_or_offsets(tmp_path, newline):
    path = tmp_path / "INT-12.txt"
    path.write_bytes(ONE_PER_LINE.replace("\n", newline).encode("utf-8"))
    lf = tmp_path / "lf"
    lf.mkdir()
    (lf / "INT-12.txt").write_text(ONE_PER_LINE, encoding="utf-8")
    got = read_transcript(path)
    want = read_transcript(lf / "INT-12.txt")
    cols = ["segment_id", "turn_index", "start", "end", "text", "context"]
    assert got[cols].values.tolist() == want[cols].values.tolist()


def test_numbered_labels_timestamps_header_and_mixed_layout(tmp_path):
    text = (
        "Fokusgruppe 2\nDato: mars\n\n"
        "[00:00:05] Intervjuer: Velkommen.\n"
        "Informant 2: Takk. [00:00:09]\n"
        "IP1: Jeg bor i [sted].\n\n"
        "(pause)\n\n"
        "IP1: Og jeg liker det.\n"
        "[00:01:00]\n"
        "Informant 2:\n"
        "Svar på neste linje.\n"
        "  Og en til.  \n"
    )
    path = tmp_path / "FG-02.txt"
    path.write_text(text, encoding="utf-8")
    seg = read_transcript(path, options=TranscriptOptions(speakers="all"))
    assert seg["speaker"].tolist() == ["Intervjuer", "Informant 2", "IP1", "IP1", "Informant 2"]
    assert seg["role"].tolist() == ["interviewer", "participant", "participant", "participant", "participant"]
    assert seg["timestamp"].tolist() == ["[00:00:05]", "[00:00:09]", None, None, "[00:01:00]"]
    assert seg["text"].tolist() == [
        "Velkommen.",
        "Takk.",
        "Jeg bor i [sted].",
        "Og jeg liker det.",
        "Svar på neste linje.\n  Og en til.",
    ]
    assert spans_exact(seg, read_transcript_text(path)[0])


def test_bold_labels_in_word_one_paragraph_per_turn_and_soft_line_breaks(tmp_path):
    document = docx.Document()
    document.add_paragraph("Intervju 5")
    for who, said in [("Ola:", "Hvor bor du?"), ("Kari:", "I byen."), ("Ola:", "Liker du det?")]:
        p = document.add_paragraph()
        p.add_run(who).bold = True
        p.add_run(" " + said)
    p = document.add_paragraph()  # two turns in one paragraph, split by a soft line break
    p.add_run("Kari:").bold = True
    p.add_run(" Ja.")
    p.add_run().add_break()
    p.add_run("Ola:").bold = True
    p.add_run(" Takk.")
    path = tmp_path / "INT-05.docx"
    document.save(path)
    opts = TranscriptOptions(interviewer_labels=("Ola",), participant_labels=("Kari",), speakers="all")
    seg = read_transcript(path, options=opts)
    assert seg["speaker"].tolist() == ["Ola", "Kari", "Ola", "Kari", "Ola"]
    assert seg["text"].tolist() == ["Hvor bor du?", "I byen.", "Liker du det?", "Ja.", "Takk."]
    assert spans_exact(seg, read_transcript_text(path)[0])
    # without labels given, the bold runs are still read as labels (participants)
    plain = read_transcript(path, options=TranscriptOptions(speakers="all"))
    assert plain["speaker"].tolist() == ["Ola", "Kari", "Ola", "Kari", "Ola"]


def test_the_blank_line_sample_corpus_reads_as_one_per_line_too(tmp_path):
    """The same sample transcript without its blank lines gives the same turns and texts."""
    src = SAMPLES / "interviews" / "INT-01.txt"
    dense = tmp_path / "INT-01.txt"
    dense.write_text(re.sub(r"\n[ \t]*\n", "\n", src.read_text(encoding="utf-8")), encoding="utf-8")
    a, b = read_transcript(src), read_transcript(dense)
    assert len(a) > 10
    assert a["turn_index"].tolist() == b["turn_index"].tolist()
    assert a["text"].tolist() == b["text"].tolist()
    assert spans_exact(b, read_transcript_text(dense)[0])


# -- a property: both layouts give the same turns and exact offsets ------------------------------
WORDS = st.sampled_from(["ja", "nei", "bygda", "mamma", "[sted]", "ja (ler)", "kl. 10", "f.eks.", "Æ", "fint.", "hm?"])
SENTENCE = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)
LABELS = st.sampled_from(["I", "IP", "IP1", "Informant 2", "Intervjuer", "D3", "Inf"])
TURN = st.tuples(
    LABELS,
    st.lists(SENTENCE, min_size=1, max_size=3),
    st.one_of(st.none(), st.sampled_from(["[00:12:34]", "[01:02]"])),
)


def _render(turns, *, blanks, newline: str, header: bool) -> str:
    """One turn per paragraph (``blanks`` all true), one per line (all false) or a mix."""
    lines = ["Intervju 7, [sted]", "Transkribert av [navn]"] if header else []
    body = [lines[0] + "\n" + lines[1]] if lines else []
    for label, sentences, ts in turns:
        first = f"{ts} {label}: {sentences[0]}" if ts else f"{label}: {sentences[0]}"
        body.append("\n".join([first, *sentences[1:]]))
    out = body[0]
    for k, part in enumerate(body[1:]):
        out += ("\n\n" if blanks[k % len(blanks)] else "\n") + part
    return out.replace("\n", newline) + newline


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    turns=st.lists(TURN, min_size=1, max_size=8),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    header=st.booleans(),
    mixed=st.lists(st.booleans(), min_size=1, max_size=9),
)
def test_property_blank_line_one_per_line_and_mixed_layouts_give_the_same_turns(
    turns, newline, header, mixed, tmp_path
):
    results = []
    for k, blanks in enumerate(([True], [False], mixed)):
        path = tmp_path / f"T-{k}.txt"
        path.write_bytes(_render(turns, blanks=blanks, newline=newline, header=header).encode("utf-8"))
        text, _ = read_transcript_text(path)
        got = parse_turns(text)
        assert len(got) == len(turns)
        assert [t.index for t in got] == list(range(len(turns)))
        assert [t.speaker for t in got] == [label for label, _, _ in turns]
        assert [t.timestamp for t in got] == [ts for _, _, ts in turns]
        bodies = [text[t.start : t.end] for t in got]
        assert bodies == ["\n".join(s.strip() for s in sentences) for _, sentences, _ in turns]
        seg = read_transcript(path, options=TranscriptOptions(speakers="all"))
        assert spans_exact(seg, text)
        results.append((bodies, seg["turn_index"].tolist(), seg["text"].tolist()))
    assert results[0] == results[1] == results[2]


# -- messages that diagnose ----------------------------------------------------------------------
NAMED = "Intervju 3\n\nOla: Hvor bor du?\nKari: I byen.\nOla: Liker du det?\nKari: Ja.\n"


def test_unknown_labels_say_what_was_found_and_what_to_pass(tmp_path, capsys):
    path = tmp_path / "INT-03.txt"
    path.write_text(NAMED, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_transcript(path)
    msg = str(info.value)
    assert "'Ola' 2 line(s)" in msg and "'Kari' 2 line(s)" in msg
    assert "--participant-labels" in msg and "Ola,Kari" in msg
    assert main(["validate", str(path)]) == 2
    assert "--participant-labels" in capsys.readouterr().err
    assert label_census(NAMED) == {"Ola": 2, "Kari": 2}


def test_labels_given_on_the_command_line_read_the_file(tmp_path, capsys):
    path = tmp_path / "INT-03.txt"
    path.write_text(NAMED, encoding="utf-8")
    code = main(["validate", str(path), "--participant-labels", "Kari", "--interviewer-labels", "Ola", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert '"segments": 2' in out


def test_no_participant_text_names_the_turns_found(tmp_path):
    path = tmp_path / "INT-04.txt"
    path.write_text("I: Hei.\nI: Hallo?\nI: Er du der?\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_transcript(path)
    msg = str(info.value)
    assert "3 speaker turns" in msg and "I (interviewer) 3" in msg and "--participant-labels" in msg


def test_unknown_labels_inside_turns_are_warned(tmp_path, caplog):
    path = tmp_path / "INT-06.txt"
    path.write_text("I: Hei.\nIP: Hei.\nKari: Ja.\nIP: Nei.\nKari: Jo.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"):
        seg = read_transcript(path)
    assert len(seg) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'Kari' 2 line(s)" in m and "--participant-labels Kari" in m for m in warned)
    assert not any("Ja." in m or "Jo." in m for m in warned)  # no segment text in logs


def test_labels_inside_lines_are_warned_as_merged_turns(tmp_path, caplog):
    path = tmp_path / "INT-08.txt"
    path.write_text("I: Hei. IP: Hei. I: Hvor bor du? IP: I byen.\n", encoding="utf-8")
    # one interviewer turn, so no participant text: an error, after the warning that says why
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"), pytest.raises(InputError):
        read_transcript(path)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'IP:' 2 time(s)" in m and "'I:' 1 time(s)" in m and "start a line" in m for m in warned)


def test_bare_timestamps_before_a_label(tmp_path):
    path = tmp_path / "INT-09.txt"
    path.write_text("00:00:05 I: Hei.\n00:00:07.5 IP: Hei du.\n12:30 er klokka.\n", encoding="utf-8")
    seg = read_transcript(path)
    assert seg["timestamp"].tolist() == ["00:00:07.5"]
    assert seg["text"].tolist() == ["Hei du.\n12:30 er klokka."]
