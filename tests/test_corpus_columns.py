"""The column-wise chunk reader gives the row reader's frames, and leaves every problem to the row reader."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from mpsoc_nlp import InputError
from mpsoc_nlp.corpus import segments_from_records
from mpsoc_nlp.corpus_columns import ChunkRecords, segments_from_columns
from mpsoc_nlp.io.segments import iter_segment_chunks

from .conftest import HEADER, ROWS, write_csv

FULL = ["segment_id", "document_id", "coder", "genre", "speaker", "turn_index", "start", "end", "text", "codes", "note"]
GOOD = [
    ["s1", "D1", "A", "Intervju ", " P1", "1", "0", "12", "Æ følte mæ hjemme.", "geografisk:positiv", "x"],
    ["s2", "D1", "A", "journalnotat", "", "2.0", "", "", "  Mamma ringer, «hver» dag. ", "", ""],
    ["s3", "", "B", "", "P2", "", "3", "3", "Jeg var\npå kafé.", "rusrelatert:negativ; rusrelatert:positiv", "y"],
    ["s4", "D2", "", "", "", "", "", "", "Ok\u00a0da.", "ingen", ""],
]


def _row_reader(frame: pd.DataFrame, rows: np.ndarray, path: str, positions: Counter) -> pd.DataFrame | str:
    try:
        return segments_from_records(
            list(ChunkRecords(frame, rows)), [str(c) for c in frame.columns], path=path, positions=positions
        )
    except InputError as exc:
        return str(exc)


def _chunk(rows: list[list[str]], header: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return pd.DataFrame(rows, columns=header, dtype=str), np.arange(2, 2 + len(rows))


@pytest.mark.parametrize(
    "header, rows",
    [
        (FULL, GOOD),
        (HEADER, [list(r) for r in ROWS]),
        (["text", "dokument", "Kode"], [["Hei der.", "D1", "ideell:positiv"], ["Og du?", "D1", ""]]),
        (["text"], [["Uten id."], ["Uten id igjen."], ["Og en."]]),  # generated ids
        (["coder", "document_id", "text"], [["A", "D", "en"], ["B", "D", "to"], ["A", "", "tre"]]),
    ],
)
def test_clean_chunks_give_the_row_readers_frame(header, rows):
    frame, numbers = _chunk(rows, header)
    by_rows, by_columns = Counter({(None, "D"): 4}), Counter({(None, "D"): 4})
    expected = _row_reader(frame, numbers, "t.csv", by_rows)
    got = segments_from_columns(frame, numbers, path="t.csv", positions=by_columns)
    assert got is not None  # a clean chunk takes the column path
    assert isinstance(expected, pd.DataFrame)
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)
    assert by_columns == by_rows  # generated ids go on counting in the next chunk alike


def _bad(i: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in GOOD]
    rows[i][FULL.index(column)] = value
    return rows


BAD = {
    "unknown code": _bad(1, "codes", "geografisk:positv"),
    "codes without text": _bad(2, "text", " \u200b "),
    "empty text, other cells": _bad(0, "text", ""),
    "blank row": [*GOOD[:2], [""] * len(FULL), *GOOD[2:]],  # skipped, not a problem
    "unknown genre": _bad(3, "genre", "roman"),
    "not a whole number": _bad(0, "turn_index", "1.5"),
    "negative": _bad(2, "start", "-1"),
    "end before start": _bad(2, "end", "2"),
    "repeated id": _bad(3, "segment_id", "s1"),
    "one id blank": _bad(1, "segment_id", " "),  # generated, not a problem
    "same id, other coder, other text": _bad(2, "segment_id", "s1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_chunks_with_a_problem_go_to_the_row_reader_with_its_messages(case, tmp_path):
    frame, numbers = _chunk(BAD[case], FULL)
    positions = Counter({("A", "D1"): 2})
    assert segments_from_columns(frame, numbers, path="t.csv", positions=positions) is None
    assert positions == Counter({("A", "D1"): 2})  # untouched when it gives up
    # the whole streamed read says what the row reader says, located in the file
    path = write_csv(tmp_path / "t.csv", [FULL, *BAD[case]])
    expected = _row_reader(frame, numbers, str(path), Counter())
    try:
        got: pd.DataFrame | str = pd.concat(list(iter_segment_chunks(path)), ignore_index=True)
    except InputError as exc:
        got = str(exc)
    if isinstance(expected, str):
        assert got == expected and "t.csv, row" in got
    else:
        assert case in ("blank row", "one id blank")  # skipped, an id generated: no problem
        pd.testing.assert_frame_equal(got, expected)


def test_pair_columns_and_cells_that_are_no_strings_go_to_the_row_reader():
    header = ["segment_id", "text", "community_type", "valence"]
    pair, numbers = _chunk([["s1", "Tekst.", "geografisk", "positiv"]], header)
    assert segments_from_columns(pair, numbers, path="t.csv") is None
    mixed = pd.DataFrame({"text": ["Tekst.", "Mer."], "turn_index": [1, None]})
    assert segments_from_columns(mixed, np.arange(2, 4), path="t.parquet") is None


def test_streamed_csv_reads_as_before_across_chunks(tmp_path):
    rows = [[f"Segment nummer {i}.", "geografisk:positiv" if i % 3 else ""] for i in range(25)]
    path = write_csv(tmp_path / "many.csv", [["text", "codes"], *rows])
    chunks = list(iter_segment_chunks(path, chunk_size=7))
    assert [len(c) for c in chunks] == [7, 7, 7, 4]
    whole = pd.concat(chunks, ignore_index=True)
    assert whole["segment_id"].tolist() == [f"many:{i}" for i in range(25)]
    assert whole["source_row"].tolist() == list(range(2, 27))
    frame, numbers = _chunk(rows, ["text", "codes"])
    expected = _row_reader(frame, numbers, str(path), Counter())
    pd.testing.assert_frame_equal(whole, expected)


@pytest.mark.parametrize("require_documents", [False, True])
def test_read_segments_reads_a_clean_table_by_columns_as_the_row_reader_does(tmp_path, require_documents):
    from mpsoc_nlp import read_segments
    from mpsoc_nlp.io.tables import iter_records, read_table

    path = write_csv(tmp_path / "t.csv", [FULL, *GOOD])
    table = read_table(path)
    options = dict(path=table.path, require_codes=True, require_documents=require_documents)
    assert (segments_from_columns(table.frame, table.rows, **options) is None) == require_documents
    try:
        expected: pd.DataFrame | str = segments_from_records(iter_records(table), list(table.frame.columns), **options)
    except InputError as exc:  # row 4 has no document_id
        expected = str(exc)
    try:
        got: pd.DataFrame | str = read_segments(path, require_codes=True, require_documents=require_documents)
    except InputError as exc:
        got = str(exc)
    if require_documents:
        assert got == expected and "row 4, column 'document_id'" in got
    else:
        pd.testing.assert_frame_equal(got, expected)
