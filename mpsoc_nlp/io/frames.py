"""In-memory tables: a pandas DataFrame or a Hugging Face ``datasets.Dataset`` read like a file.

A frame goes through the same checks as a table file: :func:`frame_table` turns it into a
:class:`~mpsoc_nlp.io.tables.Table` whose rows are numbered as in the frame (its index labels
when they are whole numbers, else its positions from 0), so an error reads
``DataFrame, row 14, column 'codes': ...``. Cells as ``pd.read_excel`` gives them are accepted:
``NaN`` is an empty cell (no code), ``3.0`` in an id column is ``"3"``.

``datasets`` is imported only by :func:`to_dataset`; a ``Dataset`` is recognised without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, MissingDependencyError
from .tables import Table

__all__ = ["is_frame", "as_frame", "frame_table", "as_inputs", "input_name", "to_dataset", "is_segment_frame"]

#: How an in-memory input is named in messages, where a file would give its path.
FRAME_NAME = "DataFrame"
DATASET_NAME = "Dataset"


def _is_dataset(obj: Any) -> bool:
    return type(obj).__module__.split(".", 1)[0] == "datasets" and hasattr(obj, "to_pandas")


def is_frame(obj: Any) -> bool:
    """True for a pandas DataFrame or a ``datasets.Dataset`` (an input that is not a file)."""
    return isinstance(obj, pd.DataFrame) or _is_dataset(obj)


def input_name(obj: Any) -> str:
    """What messages call an input: the path of a file, ``DataFrame`` or ``Dataset`` otherwise."""
    if isinstance(obj, pd.DataFrame):
        return FRAME_NAME
    if _is_dataset(obj):
        return DATASET_NAME
    return str(obj)


def as_frame(obj: Any) -> pd.DataFrame:
    """A DataFrame of ``obj`` (a ``Dataset`` converted with its ``to_pandas()``)."""
    if isinstance(obj, pd.DataFrame):
        return obj
    frame = obj.to_pandas()
    if not isinstance(frame, pd.DataFrame):  # an iterable of batches
        frame = pd.concat(list(frame), ignore_index=True)
    return frame


def as_inputs(inputs: Any) -> list[Any]:
    """A list of inputs from one path, one frame or a sequence of them (never a frame's columns)."""
    if inputs is None:
        return []
    if isinstance(inputs, (str, os.PathLike)) or is_frame(inputs):
        return [inputs]
    return list(inputs)


def _cell(value: Any) -> Any:
    """A frame cell as a file's reader gives it: missing -> ``""``, ``3.0`` -> ``"3"``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if value != value:
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _row_numbers(frame: pd.DataFrame) -> np.ndarray:
    index = frame.index
    if pd.api.types.is_integer_dtype(index.dtype) and index.is_unique:
        return np.asarray(index, dtype=np.int64)
    return np.arange(len(frame), dtype=np.int64)


def frame_table(obj: Any) -> Table:
    """A :class:`Table` of a DataFrame or ``Dataset``: its cells, row numbers as in the frame."""
    name = input_name(obj)
    frame = as_frame(obj)
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise InputError(f"the column name(s) {dup} occur twice; give each column its own name", path=name)
    cells = pd.DataFrame(
        {c: [_cell(v) for v in frame.iloc[:, i].tolist()] for i, c in enumerate(columns)},
        columns=columns,
        dtype=object,
    )
    return Table(name, "frame", cells, _row_numbers(frame))


def is_segment_frame(frame: pd.DataFrame) -> bool:
    """True for a frame that :func:`~mpsoc_nlp.io.read_segments` made (checked; codes as tuples)."""
    if not {"segment_id", "text", "source_file", "source_row"} <= set(frame.columns):
        return False
    return "codes" not in frame.columns or all(isinstance(c, tuple) for c in frame["codes"])


def to_dataset(segments: pd.DataFrame, *, columns: Sequence[str] | None = None) -> Any:
    """The segment table as a Hugging Face ``datasets.Dataset`` (codes as lists of strings).

    Parameters
    ----------
    segments : DataFrame
        A segment frame (from :func:`~mpsoc_nlp.io.read_segments`) or a prediction frame
        (:func:`~mpsoc_nlp.classification.predict_frame`).
    columns : sequence of str, optional
        Keep only these columns (default all).

    Returns
    -------
    datasets.Dataset
        One row per segment; ``read_segments(dataset)`` reads it back.
    """
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependencyError(
            "to_dataset needs the 'datasets' package: pip install 'mpsoc-nlp[transformer]' (or pip install datasets)"
        ) from exc
    frame = segments if columns is None else segments[list(columns)]
    frame = frame.copy()
    for c in frame.columns:
        if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, tuple)).any():
            frame[c] = [list(v) if isinstance(v, tuple) else v for v in frame[c]]
    return datasets.Dataset.from_pandas(frame, preserve_index=False)
