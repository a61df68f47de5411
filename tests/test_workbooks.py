"""Workbooks as people keep them: information sheets, hidden sheets, merged, formula and typed cells."""

from __future__ import annotations

import datetime as dt
import logging
import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from mpsoc_nlp import InputError, read_segments
from mpsoc_nlp.cli import main
from mpsoc_nlp.io.ratings import read_ratings
from mpsoc_nlp.io.tables import read_table

from .conftest import HEADER, ROWS, SAMPLES

INFO = [["Dette arket er bare informasjon"], ["Kodingene ligger på arket 'Koding'."]]


def workbook(path, sheets, hidden=()):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def test_the_one_sheet_with_a_text_column_is_read_and_named(tmp_path, caplog):
    path = workbook(tmp_path / "k.xlsx", {"Info": INFO, "Koding": [HEADER, *ROWS]})
    with caplog.at_level(logging.INFO, logger="mpsoc_nlp"):
        seg = read_segments(path)
    assert seg["segment_id"].tolist() == [r[0] for r in ROWS]
    assert set(seg["source_row"]) == {2, 3, 4, 5}
    assert any("'Koding'" in r.getMessage() and "only sheet" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("command", ["validate", "agreement"])
def test_commands_find_the_sheet_too(tmp_path, command, capsys):
    path = workbook(tmp_path / "k.xlsx", {"Info": INFO, "Koding": [HEADER, *ROWS]})
    code = main([command, str(path)])
    err = capsys.readouterr().err
    if command == "validate":
        assert code == 0
    else:  # one coder only: refused for that reason, after the sheet was found
        assert code == 2 and "Dette arket" not in err and "coder" in err


def test_no_sheet_with_the_columns_lists_every_sheet_and_its_columns(tmp_path, capsys):
    path = workbook(tmp_path / "k.xlsx", {"Info": INFO, "Tall": [["a", "b"], [1, 2]]}, hidden=("Tall",))
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert "'Info': ['Dette arket er bare informasjon']" in msg and "'Tall' (hidden): ['a', 'b']" in msg
    assert "--sheet" in msg
    assert main(["validate", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_several_sheets_with_the_columns_are_listed(tmp_path):
    path = workbook(tmp_path / "k.xlsx", {"Info": INFO, "A": [HEADER, *ROWS], "B": [HEADER, *ROWS[:1]]})
    with pytest.raises(InputError, match=r"2 sheets have .*'A': .*'B': .*--sheet"):
        read_segments(path)
    assert len(read_segments(path, sheet="B")) == 1


def test_hidden_sheets_come_after_visible_ones(tmp_path, caplog):
    both = workbook(tmp_path / "both.xlsx", {"Gammel": [HEADER, *ROWS[:1]], "Ny": [HEADER, *ROWS]}, hidden=("Gammel",))
    assert len(read_segments(both)) == len(ROWS)
    only = workbook(tmp_path / "only.xlsx", {"Info": INFO, "Data": [HEADER, *ROWS]}, hidden=("Data",))
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"):
        assert len(read_segments(only)) == len(ROWS)
    assert any("hidden sheet 'Data'" in r.getMessage() for r in caplog.records)


def test_ratings_and_journals_find_their_sheets(tmp_path):
    ratings = workbook(
        tmp_path / "r.xlsx",
        {"Info": INFO, "R": [["unit", "coder", "value"], ["u1", "A", "x"], ["u1", "B", "x"]]},
    )
    assert len(read_ratings(ratings)) == 2
    journals = pd.read_excel(SAMPLES / "journals.xlsx", dtype=str, keep_default_na=False)
    notes = [list(journals.columns), *journals.values.tolist()]
    path = workbook(tmp_path / "j.xlsx", {"Les meg": INFO, "Notater": notes})
    assert len(read_segments(path)) == len(read_segments(SAMPLES / "journals.xlsx"))


def test_merged_cells_are_read_in_every_cell_of_the_range(tmp_path):
    path = workbook(tmp_path / "m.xlsx", {"Koding": [HEADER, *ROWS]})
    wb = openpyxl.load_workbook(path)
    ws = wb["Koding"]
    for r in (3, 4):  # the same document over rows 2-4, merged as people do
        ws.cell(r, 2).value = None
    ws.merge_cells("B2:B4")
    wb.save(path)
    seg = read_segments(path)
    assert seg["document_id"].tolist() == ["INT-01", "INT-01", "INT-01", "J-001"]


def test_formulas_are_read_as_their_saved_values(tmp_path):
    rows = [r[:5] + ["=G2", "relasjonell:positiv"] for r in ROWS]
    path = workbook(tmp_path / "f.xlsx", {"Koding": [HEADER, *rows]})
    # openpyxl writes formulas without values; add the value Excel saves beside the formula
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    cached = r'<c r="\1" t="str"><f>G2</f><v>relasjonell:positiv</v></c>'
    sheet, n = re.subn(r"<c r=\"(F\d+)\"><f>G2</f><v\s*/?>(?:</v>)?</c>", cached, sheet)
    assert n == len(ROWS)
    members["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    seg = read_segments(path)
    assert [list(c) for c in seg["codes"]] == [["relasjonell:positiv"]] * len(ROWS)


def test_numbers_dates_and_booleans_in_the_text_column_are_text_and_named(tmp_path, caplog):
    rows = [list(r) for r in ROWS]
    rows[1][4] = 42
    rows[2][4] = dt.datetime(2025, 3, 1)
    rows[3][4] = True
    path = workbook(tmp_path / "t.xlsx", {"Koding": [HEADER, *rows]})
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"):
        seg = read_segments(path)
    assert seg["text"].tolist()[1:] == ["42", "2025-03-01", "true"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("E3, E4, E5" in m and "'text'" in m for m in warned)
