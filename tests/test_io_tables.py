from __future__ import annotations

import json
import re

import openpyxl
import pandas as pd
import pytest

from mpsoc_nlp import InputError, read_segments, read_table
from mpsoc_nlp.corpus import MAX_PROBLEMS

from .conftest import write_csv


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("cp1252", ";"), ("latin-1", ","), ("utf-16", "\t"), ("utf-16-le", "\t")],
)
def test_csv_in_every_excel_encoding_keeps_norwegian_letters(tmp_path, good_rows, encoding, delimiter):
    path = write_csv(tmp_path / "koding.csv", good_rows, encoding=encoding, delimiter=delimiter)
    table = read_table(path)
    assert table.delimiter == delimiter
    seg = read_segments(path)
    assert seg["text"].tolist() == [r[4] for r in good_rows[1:]]
    assert "æ" in seg["text"][0] and "ø" in seg["text"][1] and "«" in seg["text"][3]
    assert seg["codes"].tolist()[3] == ("rusrelatert:positiv", "rusrelatert:negativ")


def test_excel_windows_1252_bytes_decode_to_aeoeaa(tmp_path):
    # the exact bytes Excel writes for "æøå ÆØÅ" in a Norwegian "CSV (semikolonseparert)"
    path = tmp_path / "excel.csv"
    path.write_bytes(b"text;codes\r\n\xe6\xf8\xe5 \xc6\xd8\xc5;\r\n")
    assert read_segments(path)["text"].tolist() == ["æøå ÆØÅ"]


def test_unknown_code_on_spreadsheet_row_14_is_named_with_suggestion(tmp_path, good_rows):
    rows = [good_rows[0]] + [
        [f"INT-02:{i}", "INT-02", "A", "intervju", f"Segment nummer {i}.", ""] for i in range(2, 20)
    ]
    rows[12][5] = "geografisk:positv"  # index 12 in the list = spreadsheet row 13; header is row 1
    rows[13][5] = "geografisk:positv"  # spreadsheet row 14
    rows[12][5] = ""
    path = write_csv(tmp_path / "koding.csv", rows, encoding="cp1252", delimiter=";")
    with pytest.raises(InputError) as info:
        read_segments(path)
    assert str(info.value) == (
        f"{path}, row 14, column 'codes': unknown code 'geografisk:positv'. Did you mean 'geografisk:positiv'?"
    )
    assert info.value.row == 14 and info.value.column == "codes"


def test_xlsx_row_numbers_and_sheet_choice(tmp_path, good_rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Forside"
    ws.append(["Dette arket er en forside"])
    koding = wb.create_sheet("Koding")
    koding.append(good_rows[0])
    for r in good_rows[1:]:
        koding.append(r)
    koding.append([None] * 6)  # an empty row is skipped but still counts
    koding.append(["INT-01:9", "INT-01", "A", "intervju", "Hun er ikke dårlige folk.", "rusrelatert:positv"])
    path = tmp_path / "koding.xlsx"
    wb.save(path)
    for sheet in (None, "Koding"):  # without --sheet, the one sheet with a text column is read
        with pytest.raises(InputError) as info:
            read_segments(path, sheet=sheet)
        assert str(info.value).startswith(f"{path}, sheet 'Koding', row 7, column 'codes': unknown code")
    with pytest.raises(InputError, match=re.escape("expected the column 'text'")):
        read_segments(path, sheet="Forside")
    with pytest.raises(InputError, match=re.escape("no sheet named 'Kodet'; the sheets are ['Forside', 'Koding']")):
        read_segments(path, sheet="Kodet")
    koding.delete_rows(7)
    wb.save(path)
    seg = read_segments(path, sheet=1)
    assert len(seg) == 4 and seg["source_row"].tolist() == [2, 3, 4, 5]


def test_jsonl_lists_strings_and_line_numbers(tmp_path):
    path = tmp_path / "seg.jsonl"
    lines = [
        {"text": "Laget var alt for meg.", "codes": ["ideell:positiv"], "document_id": "INT-03"},
        {"text": "Ingen ringte.", "codes": "relasjonell:negativ; ", "document_id": "INT-03"},
        {"text": "Bare kjedelig.", "codes": [], "document_id": "INT-03"},
    ]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8")
    seg = read_segments(path)
    assert seg["codes"].tolist() == [("ideell:positiv",), ("relasjonell:negativ",), ()]
    assert seg["segment_id"].tolist() == ["INT-03:0", "INT-03:1", "INT-03:2"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": "b", "codes": ["ideal:pos"]}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_segments(bad)
    assert f"{bad}, row 3: not valid JSON" in str(info.value)


def test_parquet_with_list_codes(tmp_path):
    path = tmp_path / "seg.parquet"
    pd.DataFrame(
        {"text": ["Bygda er hjemme.", "Nei."], "codes": [["geografisk:positiv"], []], "document_id": ["D", "D"]}
    ).to_parquet(path)
    seg = read_segments(path)
    assert seg["codes"].tolist() == [("geografisk:positiv",), ()]
    assert seg["source_row"].tolist() == [1, 2]


def test_pair_columns_merge_rows_of_one_segment(tmp_path):
    rows = [
        ["segment_id", "text", "Fellesskapstype", "Valens", "coder"],
        ["s1", "De var familien min, men de trakk meg ned.", "Rusrelaterte", "positivt", "B"],
        ["s1", "De var familien min, men de trakk meg ned.", "Rusrelaterte", "negativt", "B"],
        ["s2", "Jeg bor i Bergen.", "", "", "B"],
    ]
    seg = read_segments(write_csv(tmp_path / "pair.csv", rows))
    assert seg["codes"].tolist() == [("rusrelatert:positiv", "rusrelatert:negativ"), ()]
    assert seg["coder"].tolist() == ["B", "B"]


def test_missing_text_column_names_the_columns_found(tmp_path):
    path = write_csv(tmp_path / "x.csv", [["Utsagn", "codes"], ["hei", ""]])
    with pytest.raises(InputError, match=re.escape("but only the columns ['Utsagn', 'codes'] were found")):
        read_segments(path)
    assert read_segments(path, columns={"text": "Utsagn"})["text"].tolist() == ["hei"]


def test_row_problems_are_collected_together(tmp_path, good_rows):
    rows = [list(r) for r in good_rows]
    rows.append(["INT-01:1", "INT-01", "A", "intervju", "Samme id igjen.", ""])
    rows.append(["INT-01:7", "INT-01", "A", "intervju", "", "ideell:positiv"])
    rows.append(["INT-01:8", "INT-01", "A", "intervju", "  ", ""])
    rows.append(["INT-01:9", "INT-01", "A", "podkast", "Tekst.", ""])
    path = write_csv(tmp_path / "many.csv", rows)
    with pytest.raises(InputError) as info:
        read_segments(path)
    msg = str(info.value)
    assert msg.startswith("4 problems in the input:")
    assert "row 6, column 'segment_id': segment_id 'INT-01:1' occurs twice for coder 'A' (also on row 2)" in msg
    assert "row 7, column 'text': the row has codes but no text" in msg
    assert "row 8, column 'text': the text is empty" in msg
    assert "row 9, column 'genre': unknown genre 'podkast'" in msg


def test_problems_are_capped_with_a_count(tmp_path):
    rows = [["text", "codes"]] + [[f"t{i}", "nope:nope"] for i in range(MAX_PROBLEMS + 7)]
    with pytest.raises(InputError) as info:
        read_segments(write_csv(tmp_path / "cap.csv", rows))
    assert len(info.value.problems) == MAX_PROBLEMS and info.value.truncated == 7
    assert "... and 7 more problems not shown" in str(info.value)


def test_same_ids_in_two_files_collide_but_coders_may_share_them(tmp_path, good_rows):
    a = write_csv(tmp_path / "a.csv", good_rows)
    b_rows = [list(r) for r in good_rows]
    for r in b_rows[1:]:
        r[2] = "B"
    b = write_csv(tmp_path / "b.csv", b_rows)
    both = read_segments([a, b])
    assert len(both) == 8 and sorted(both["coder"].unique()) == ["A", "B"]
    with pytest.raises(InputError, match=re.escape("segment_id 'INT-01:1' is also in")):
        read_segments([a, write_csv(tmp_path / "a2.csv", good_rows)])


def test_bad_file_kinds_say_what_to_do(tmp_path):
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=re.escape("save it as .xlsx")):
        read_segments(tmp_path / "old.xls")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a zip", encoding="utf-8")
    with pytest.raises(InputError, match="cannot open the file as an Excel workbook"):
        read_segments(fake)
    with pytest.raises(InputError, match="no such file"):
        read_segments(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="the file is empty"):
        read_segments(empty)


def test_unquoted_delimiter_in_a_cell_is_reported(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("text;codes\nhei;ideell:positiv; relasjonell:positiv\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("row 2: the row has 3 cells but the header has 2 columns")):
        read_segments(path)


def test_offsets_and_turns_are_integers(tmp_path):
    rows = [["text", "start", "end", "turn_index"], ["hei", "0", "3", "2"], ["hå", "5", "x", ""]]
    with pytest.raises(InputError, match=re.escape("row 3, column 'end': end must be a whole number >= 0, not 'x'")):
        read_segments(write_csv(tmp_path / "o.csv", rows))
    rows[2][2] = "7"
    seg = read_segments(write_csv(tmp_path / "o.csv", rows))
    assert seg["start"].tolist() == [0, 5] and str(seg["start"].dtype) == "Int64"
    assert seg["turn_index"].isna().tolist() == [False, True]


def test_parquet_output_whose_first_chunk_has_no_codes_takes_later_ones(tmp_path):
    # the first chunk fixes the file's schema; an empty column there must not become type "null"
    from mpsoc_nlp.io.predictions import PredictionWriter

    out = tmp_path / "p.parquet"
    with PredictionWriter(out, "parquet", {"model": "m"}) as w:
        w.write(pd.DataFrame({"segment_id": ["a"], "codes": [()], "speaker": [None]}))
        w.write(pd.DataFrame({"segment_id": ["b"], "codes": [("ideell:positiv",)], "speaker": ["P"]}))
    back = pd.read_parquet(out)
    assert [list(c) for c in back["codes"]] == [[], ["ideell:positiv"]]
    assert back["speaker"].isna().tolist() == [True, False] and back["speaker"].iloc[1] == "P"


def _rows_written_by_csv_module(frame: pd.DataFrame, writer, delimiter: str) -> str:
    """What the row-by-row writer (csv.writer over cell()) wrote before the column-wise one."""
    import csv
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter)
    for row in frame.itertuples(index=False, name=None):
        w.writerow([writer.cell(v) for v in row])
    return buf.getvalue()


@pytest.mark.parametrize("fmt, excel", [("csv", False), ("tsv", False), ("csv", True)])
def test_csv_written_by_columns_is_byte_identical_to_the_row_writer(tmp_path, fmt, excel):
    from mpsoc_nlp.io.predictions import PredictionWriter

    frame = pd.DataFrame(
        {
            "text": ['hei, "du"', "to\nlinjer", "semi;kolon", "tab\there", "", "æøå\r"],
            "codes": [("a:positiv",), (), ("a:positiv", "b:negativ"), (), ("a:positiv",), ()],
            "mixed": [None, float("nan"), -0.0, 0.0, True, 1],
            "turn_index": pd.array([1, None, 3, 4, None, 0], dtype="Int64"),
            "p:a": [0.1234, -0.0, 0.0, 1e-05, float("nan"), -0.0],
            "review": [True, False, True, False, False, True],
            "source_row": [2, 3, 4, 5, 6, 7],
            "source_file": pd.array(["f.csv", None, "g,h.csv", "f.csv", "f.csv", "f.csv"], dtype="str"),
        }
    )
    out = tmp_path / f"p.{fmt}"
    with PredictionWriter(out, fmt, {"model": "m"}, excel=excel) as writer:
        writer.write(frame.iloc[:4])
        writer.write(frame.iloc[4:])
    delimiter = ";" if excel else "," if fmt == "csv" else "\t"
    header = _rows_written_by_csv_module(pd.DataFrame([list(frame.columns)]), writer, delimiter)
    expected = header + _rows_written_by_csv_module(frame, writer, delimiter)
    got = out.read_bytes().decode(writer.csv_encoding)
    assert got == expected
    assert got.count("\r\n") >= len(frame) + 1
