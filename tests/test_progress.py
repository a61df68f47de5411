"""Progress of long classify runs: a bar with the total on a terminal, plain log lines in a log file."""

from __future__ import annotations

import logging

import pandas as pd

import mpsoc_nlp
from mpsoc_nlp.classification import _ChunkLog


def test_the_bar_knows_the_total_of_table_inputs(safety_model, coded_csv, tmp_path, capsys):
    rows = len(pd.read_csv(coded_csv))
    counts = mpsoc_nlp.classify(safety_model, [coded_csv], tmp_path / "p.csv", progress=True)
    err = capsys.readouterr().err
    assert counts["segments"] == rows
    assert f"{rows}/{rows}" in err  # tqdm shows done/total only when it was given the total


def test_a_log_file_gets_plain_lines_without_text(caplog, monkeypatch):
    clock = iter([0.0, 10.0, 40.0, 50.0, 100.0])
    monkeypatch.setattr("mpsoc_nlp.classification.time.monotonic", lambda: next(clock))
    log = _ChunkLog(every=30.0)  # starts at t=0
    with caplog.at_level(logging.INFO, logger="mpsoc_nlp.progress"):
        for n in (100, 200, 300, 400):  # at t = 10, 40, 50, 100
            log.update(n)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["classified 300 segments (8 segments/s)", "classified 1000 segments (10 segments/s)"]
