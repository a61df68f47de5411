"""Hostile and broken input files, for every reader: each is answered with exit code 2 (a message
naming the file and, where there is one, the line) or read with a located warning; never a
traceback.

Readers: segment tables (.csv, .tsv, .jsonl), transcripts (.txt, .docx), journal exports,
ratings files, codebooks, mapping files and training configs.
"""

from __future__ import annotations

import io
import logging
import random
import re
from pathlib import Path

import docx
import openpyxl
import pytest

from mpsoc_nlp.cli import main
from mpsoc_nlp.errors import MpsocError
from mpsoc_nlp.io.qdpx import read_mapping
from mpsoc_nlp.training import read_config

from .conftest import HEADER, ROWS

TABLE = "\n".join(",".join(f'"{c}"' for c in row) for row in [HEADER, *ROWS]) + "\n"
TRANSCRIPT = (
    "Intervju 5, [sted]\n\nI: Hvor bor du nå?\nIP: I byen. Mamma bor på bygda.\nI: Og vennene?\nIP: Få, men gode.\n"
)
JSONL = '{"text": "Jeg var på kafé.", "codes": ""}\n{"text": "Æ følte mæ hjemme.", "codes": ""}\n'
JOURNAL = "journal_id,dato,notat\nJ-1,2025-01-08,Pas. savner gutta på senteret.\nJ-1,2025-01-15,Mor ringer ofte.\n"
RATINGS = "unit,coder,value\nu1,A,ja\nu1,B,ja\nu2,A,nei\nu2,B,ja\n"
CODEBOOK = (Path(__file__).resolve().parents[1] / "mpsoc_nlp" / "data" / "mpsoc_codebook.toml").read_text("utf-8")
MAPPING = '[codes]\n"Familie" = "relasjonell:positiv"\n"Bygda" = "geografisk:positiv"\n'
CONFIG = "[linear]\nC = 1.0\n"

#: reader -> (file name, good text, the line of the good text that holds non-ASCII letters, header)
READERS = {
    "csv": ("seg.csv", TABLE, 2, TABLE.split("\n")[0] + "\n"),
    "tsv": ("seg.tsv", TABLE.replace('","', '"\t"'), 2, TABLE.split("\n")[0].replace('","', '"\t"') + "\n"),
    "jsonl": ("seg.jsonl", JSONL, 2, ""),
    "transcript": ("INT-05.txt", TRANSCRIPT, 4, "Intervju 5, [sted]\n"),
    "journal": ("notater.csv", JOURNAL, 2, "journal_id,dato,notat\n"),
    "ratings": ("ratings.csv", RATINGS, None, "unit,coder,value\n"),
    "codebook": ("kodebok.toml", CODEBOOK, None, "# bare en kommentar\n"),
    "mapping": ("koder.toml", MAPPING, None, "[codes]\n"),
    "config": ("train.toml", CONFIG, None, "# ingen innstillinger\n"),
}


def run(reader: str, path: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    """Read ``path`` with ``reader``: the exit code and what was said (stderr or the error)."""
    if reader in ("mapping", "config"):
        try:
            read_mapping(path) if reader == "mapping" else read_config(path, "linear")
        except MpsocError as exc:
            return 2, str(exc)
        return 0, ""
    if reader == "codebook":
        good = tmp_path / "good.csv"
        good.write_text(TABLE, encoding="utf-8")
        args = ["validate", str(good), "--codebook", str(path)]
    elif reader == "ratings":
        args = ["agreement", str(path)]
    else:
        args = ["validate", str(path)]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def answered(code: int, said: str) -> None:
    assert "Traceback" not in said and "internal error" not in said, said
    assert code in (0, 2), said


def write(tmp_path: Path, reader: str, data: bytes) -> Path:
    path = tmp_path / READERS[reader][0]
    path.write_bytes(data)
    return path


ALL = list(READERS)


@pytest.mark.parametrize("reader", ALL)
def test_empty_file(reader, tmp_path, capsys):
    code, said = run(reader, write(tmp_path, reader, b""), tmp_path, capsys)
    answered(code, said)
    if reader in ("mapping", "config"):
        assert code == 0  # an empty mapping or config is valid: nothing mapped, the defaults
    else:
        assert code == 2 and READERS[reader][0] in said


@pytest.mark.parametrize("reader", [r for r in ALL if READERS[r][3]])  # JSONL has no header
def test_header_only(reader, tmp_path, capsys):
    header = READERS[reader][3]
    code, said = run(reader, write(tmp_path, reader, header.encode()), tmp_path, capsys)
    answered(code, said)
    if reader in ("mapping", "config"):
        assert code == 0
    else:
        assert code == 2 and READERS[reader][0] in said


@pytest.mark.parametrize("bom", ["utf-8-sig", "utf-16", "utf-16-be-bom", "utf-16-le-nobom"])
@pytest.mark.parametrize("reader", ALL)
def test_bom_variants_are_read(reader, bom, tmp_path, capsys):
    text = READERS[reader][1]
    if bom == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    elif bom == "utf-16-le-nobom":
        data = text.encode("utf-16-le")
    else:
        data = text.encode(bom)
    code, said = run(reader, write(tmp_path, reader, data), tmp_path, capsys)
    answered(code, said)
    assert code == 0, said


@pytest.mark.parametrize("reader", [r for r in ALL if READERS[r][2]])
def test_mixed_encodings_name_the_line(reader, tmp_path, capsys):
    name, text, line, _ = READERS[reader]
    lines = text.split("\n")
    data = "\n".join(lines[: line - 1]).encode("utf-8") + b"\n" + lines[line - 1].encode("cp1252") + b"\n"
    # a later UTF-8 line, so the file is UTF-8 with one line that is not
    rest = "\n".join(lines[line:])
    data += (rest + "\nIP: Æ e her.\n" if reader == "transcript" else rest).encode()
    if reader == "jsonl":
        data += '{"text": "Blåbær", "codes": ""}\n'.encode()
    elif reader in ("csv", "tsv", "journal"):
        later = ("\n" + lines[1]) if reader != "journal" else "J-2,2025-02-01,Bra på skolen, følte seg trygg.\n"
        data += later.encode("utf-8")
    code, said = run(reader, write(tmp_path, reader, data), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "mixes encodings" in said and f"line(s) {line}" in said


@pytest.mark.parametrize("bom", [True, False], ids=["bom", "no-bom"])
@pytest.mark.parametrize("reader", ALL)
def test_utf32_is_an_unsupported_encoding(reader, bom, tmp_path, capsys):
    data = READERS[reader][1].encode("utf-32" if bom else "utf-32-le")
    code, said = run(reader, write(tmp_path, reader, data), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "unsupported encoding UTF-32" in said
    assert "\\x00" not in said


@pytest.mark.parametrize("reader", ALL)
def test_nul_bytes_are_named(reader, tmp_path, capsys):
    text = READERS[reader][1]
    cut = text.index("\n") + 3
    data = (text[:cut] + "\x00" + text[cut:]).encode("utf-8")
    code, said = run(reader, write(tmp_path, reader, data), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "NUL" in said and f"line {text[:cut].count(chr(10)) + 1}" in said


@pytest.mark.parametrize("reader", ALL)
def test_binary_data(reader, tmp_path, capsys):
    data = random.Random(7).randbytes(20_000)
    code, said = run(reader, write(tmp_path, reader, data), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "binary data" in said


@pytest.mark.parametrize("reader", ALL)
def test_an_excel_file_under_a_text_suffix(reader, tmp_path, capsys):
    wb = openpyxl.Workbook()
    for row in [HEADER, *ROWS]:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    code, said = run(reader, write(tmp_path, reader, buf.getvalue()), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "this is an Excel workbook (.xlsx)" in said


@pytest.mark.parametrize("reader", ["csv", "tsv", "jsonl", "transcript", "journal", "ratings"])
def test_a_very_long_line_is_refused_where_it_is(reader, tmp_path, capsys):
    name, text, _, _ = READERS[reader]
    long = "x" * (1 << 20) + "y" * 100
    lines = text.split("\n")
    lines.insert(2, long)
    code, said = run(reader, write(tmp_path, reader, "\n".join(lines).encode()), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "line 3 is longer than 1 MiB" in said


@pytest.mark.parametrize("reader", ["csv", "tsv", "journal", "ratings"])
def test_ragged_rows(reader, tmp_path, capsys):
    name, text, _, _ = READERS[reader]
    delim = "\t" if reader == "tsv" else ","
    lines = text.rstrip("\n").split("\n")
    lines[2] = lines[2] + delim + "ekstra" + delim + "celle"
    code, said = run(reader, write(tmp_path, reader, ("\n".join(lines) + "\n").encode()), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and "row 3" in said and "cells but the header has" in said
    lines = text.rstrip("\n").split("\n")
    lines[-1] = delim.join(lines[-1].split(delim)[:-1])  # a short row: the missing cell is empty
    code, said = run(reader, write(tmp_path, reader, ("\n".join(lines) + "\n").encode()), tmp_path, capsys)
    answered(code, said)


@pytest.mark.parametrize("reader", ["csv", "journal", "ratings"])
def test_a_delimiter_that_is_not_one(reader, tmp_path, capsys):
    text = READERS[reader][1].replace('","', '":"').replace(",", ":")
    code, said = run(reader, write(tmp_path, reader, text.encode()), tmp_path, capsys)
    answered(code, said)
    assert code == 2 and re.search(r"expected the column|found the columns \['unit:coder:value'\]", said)


def test_dates_numbers_and_booleans_in_a_text_column_are_read_as_text(tmp_path, capsys, caplog):
    rows = [list(HEADER), *[list(r) for r in ROWS]]
    rows[1][4], rows[2][4], rows[3][4] = "2025-03-01", "42", "TRUE"
    path = tmp_path / "seg.csv"
    path.write_text("\n".join(",".join(f'"{c}"' for c in r) for r in rows) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"):
        assert main(["validate", str(path), "--json"]) == 0
    assert any("'text'" in r.getMessage() and "row(s) 2, 3, 4" in r.getMessage() for r in caplog.records)
    assert '"segments": 4' in capsys.readouterr().out
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    wb.active["E2"].value = 20250301
    xlsx = tmp_path / "seg.xlsx"
    wb.save(xlsx)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"):
        assert main(["validate", str(xlsx)]) == 0
    assert any("cell(s) E2" in r.getMessage() for r in caplog.records)


# -- Word transcripts ----------------------------------------------------------------------------
def test_docx_that_is_not_a_word_file(tmp_path, capsys):
    for data, phrase in [
        (b"", "Word document"),
        (random.Random(3).randbytes(5000), "Word document"),
        (TRANSCRIPT.encode(), "Word document"),
    ]:
        path = tmp_path / "INT-05.docx"
        path.write_bytes(data)
        code = main(["validate", str(path)])
        err = capsys.readouterr().err
        answered(code, err)
        assert code == 2 and phrase in err and "INT-05.docx" in err
    wb = openpyxl.Workbook()
    wb.save(tmp_path / "INT-06.docx")
    code = main(["validate", str(tmp_path / "INT-06.docx")])
    err = capsys.readouterr().err
    answered(code, err)
    assert code == 2 and "INT-06.docx" in err


def test_docx_without_text_or_labels(tmp_path, capsys):
    document = docx.Document()
    document.save(tmp_path / "tom.docx")
    document.add_paragraph("Bare en tittel")
    document.add_paragraph("Og en linje til")
    document.save(tmp_path / "tittel.docx")
    for name in ("tom.docx", "tittel.docx"):
        code = main(["validate", str(tmp_path / name)])
        err = capsys.readouterr().err
        answered(code, err)
        assert code == 2 and "found no speaker turns" in err and re.search(r"I:|IP:", err)


@pytest.mark.parametrize(
    "data, phrase",
    [
        (b"", "cannot open the file as an Excel workbook"),
        (TABLE.encode(), "cannot open the file as an Excel workbook"),
        (random.Random(5).randbytes(5000), "cannot open the file as an Excel workbook"),
    ],
    ids=["empty", "csv-text", "binary"],
)
def test_xlsx_that_is_not_a_workbook(data, phrase, tmp_path, capsys):
    path = tmp_path / "seg.xlsx"
    path.write_bytes(data)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    answered(code, err)
    assert code == 2 and phrase in err and "seg.xlsx" in err


# -- the streaming path of classify reads the same way -------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sample_segments):
    from mpsoc_nlp.models import LinearCoder

    train = sample_segments[sample_segments["document_id"].isin(["INT-01", "INT-14", "J-001", "J-002"])]
    model = LinearCoder(seed=1, tune=False, n_features=2**12, C=1.0).fit(train["text"], train["codes"])
    return model.save(tmp_path_factory.mktemp("model") / "m")


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda: TABLE.encode("utf-32"), "unsupported encoding UTF-32"),
        (lambda: random.Random(9).randbytes(20_000), "binary data"),
        (lambda: TABLE.replace("Mamma", "M\x00mma").encode(), "NUL"),
        (lambda: (TABLE + '"x","y","A","journal","' + "z" * (1 << 20) + '",""\n').encode(), "longer than 1 MiB"),
        (lambda: TABLE.encode() + "\"J-9:0\",\"J-9\",\"A\",\"journal\",\"Pas. sa nei.\",\"\"\n".encode("cp1252")
         + "\"J-9:1\",\"J-9\",\"A\",\"journal\",\"Gått på tur\",\"\"\n".encode("cp1252"), "line(s) 7"),
    ],
    ids=["utf32", "binary", "nul", "long-line", "cp1252-tail"],
)
def test_classify_streaming_answers_the_same(make, phrase, model_dir, tmp_path, capsys):
    path = tmp_path / "seg.csv"
    path.write_bytes(make())
    out = tmp_path / "pred.csv"
    code = main(["classify", str(model_dir), str(path), "--out", str(out)])
    err = capsys.readouterr().err
    answered(code, err)
    assert code == 2 and phrase in err and not out.exists()


def test_the_one_turn_per_line_interview_of_the_issue_is_classified(model_dir, tmp_path, capsys):
    path = tmp_path / "interview.txt"
    path.write_text(
        "I: Takk for at du ville være med. Kan du begynne med å fortelle litt om deg selv?\n"
        "IP: Ja, ehm. Jeg er tjueen, bor i en kommunal leilighet på [sted] ...\n"
        "I: Hvor vokste du opp?\n"
        "IP: Kongsberg. Jeg flytta hit da jeg var atten.\n",
        encoding="utf-8",
    )
    out = tmp_path / "pred.csv"
    assert main(["classify", str(model_dir), str(path), "--out", str(out)]) == 0
    import pandas as pd

    pred = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert pred["segment_id"].tolist() == ["interview:1", "interview:3"]


@pytest.mark.parametrize(
    "data, line",
    [
        (b"ab\n" * 10, None),
        (b"a" * 10 + b"\n", None),
        (b"a" * 11 + b"\n", 1),
        (b"x\n" + b"a" * 11, 2),
        (b"x\n" * 3 + b"a" * 9 + b"\n" + b"b" * 12, 5),
        (b"a" * 5 + b"\n" + b"a" * 10 + b"\nb", None),
        (b"a" * 5 + b"\n" + b"a" * 11 + b"\nb", 2),
        (b"a" * 35, 1),
    ],
)
def test_line_lengths_are_checked_across_blocks(data, line, tmp_path):
    from mpsoc_nlp.errors import InputError
    from mpsoc_nlp.io.sniff import check_line_lengths

    path = tmp_path / "f.txt"
    path.write_bytes(data)
    if line is None:
        check_line_lengths(path, 10)
    else:
        with pytest.raises(InputError) as info:
            check_line_lengths(path, 10)
        assert info.value.row == line
