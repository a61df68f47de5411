"""Files that open well in Excel (issue 14, part 4): a laid-out predictions workbook in English
with Norwegian header notes, ``(no code)`` as in disagreements.xlsx, ``--excel`` CSV, and the
missing-column message for ``--text-column``."""

from __future__ import annotations

import codecs

import openpyxl
import pytest

from mpsoc_nlp import Codebook, read_segments

from .conftest import HEADER, ROWS, write_csv
from .safety_support import assert_refused, mpsoc


@pytest.fixture
def coded_rows(tmp_path):
    return write_csv(tmp_path / "nye.csv", [HEADER, *ROWS])


def test_classify_xlsx_is_laid_out_for_reading(safety_model, coded_rows, tmp_path):
    out = tmp_path / "forslag.xlsx"
    run = mpsoc("classify", safety_model, coded_rows, "--out", out)
    assert run.code == 0, run.text
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Predictions", "About"]
    ws = wb["Predictions"]
    header = [c.value for c in ws[1]]
    col = {name: i + 1 for i, name in enumerate(header)}
    letter = {name: openpyxl.utils.get_column_letter(i) for name, i in col.items()}
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == ws.dimensions
    assert all(c.font.bold for c in ws[1])
    assert ws.column_dimensions[letter["text"]].width == 70
    assert ws.cell(row=2, column=col["text"]).alignment.wrap_text
    assert ws.cell(row=2, column=col["codes"]).alignment.wrap_text
    # one language: English names, Norwegian in the header notes; an empty set reads (no code)
    assert "ingen kode" in ws.cell(row=1, column=col["codes"]).comment.text
    assert "Tekst" in ws.cell(row=1, column=col["text"]).comment.text
    gold = [ws.cell(row=r, column=col["gold_codes"]).value for r in range(2, ws.max_row + 1)]
    assert gold[2] == "(no code)" and gold[0] == "geografisk:positiv"
    assert [c.value for c in wb["About"][1]] == ["item", "value"]
    # the workbook reads back as segments, (no code) as an empty set
    back = read_segments(out)
    assert back["gold_codes"].tolist()[2] == "(no code)"
    assert back["codes"].map(lambda c: isinstance(c, tuple)).all()


def test_no_code_as_shown_reads_back_as_no_code():
    codebook = Codebook.default()
    for shown in ("(no code)", "(ingen kode)", "(No code)"):
        assert codebook.parse_codes(shown) == ()


def test_excel_csv_has_a_bom_and_semicolons(safety_model, coded_rows, tmp_path):
    out = tmp_path / "forslag.csv"
    run = mpsoc("classify", safety_model, coded_rows, "--out", out, "--excel")
    assert run.code == 0, run.text
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    head = data[len(codecs.BOM_UTF8) :].decode("utf-8").splitlines()[0]
    assert head.startswith("segment_id;document_id;") and "," not in head
    back = read_segments(out)
    assert back["text"].tolist() == [r[4] for r in ROWS]  # æøå and «» intact
    plain = tmp_path / "plain.csv"
    assert mpsoc("classify", safety_model, coded_rows, "--out", plain).code == 0
    assert not plain.read_bytes().startswith(codecs.BOM_UTF8)
    assert_refused(mpsoc("classify", safety_model, coded_rows, "--out", tmp_path / "x.xlsx", "--excel"))
    assert not (tmp_path / "x.xlsx").exists()


def test_missing_text_column_names_the_option(safety_model, coded_rows, tmp_path):
    run = mpsoc("classify", safety_model, coded_rows, "--out", tmp_path / "p.csv", "--text-column", "Utsagn")
    assert_refused(run)
    assert "expected the column 'Utsagn' (given for 'text')" in run.err
    assert "--text-column" in run.err and "--Utsagn-column" not in run.err
