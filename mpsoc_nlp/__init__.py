"""mpsoc_nlp: code Norwegian qualitative text by MPSOC community type and valence.

Read coded segments, train a model (a fast scikit-learn coder offline by default, or a fine-tuned
Norwegian transformer), classify new interviews and journal notes, and evaluate the model against
human coders. ``import mpsoc_nlp`` stays light: torch is imported only by the transformer backend.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .classification import classify
from .codebook import Codebook
from .corpus import SEGMENT_COLUMNS, select_coder, summarize
from .errors import (
    CodebookError,
    InputError,
    InputProblem,
    MissingDependencyError,
    ModelError,
    MpsocError,
    NotFittedError,
    OutputExistsError,
)
from .io import read_journal, read_qdpx, read_segments, read_table, read_transcript, write_qdc, write_qdpx
from .models import LinearCoder, load_model
from .training import train

try:
    __version__ = version("mpsoc-nlp")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "Codebook",
    "SEGMENT_COLUMNS",
    "read_segments",
    "read_table",
    "read_transcript",
    "read_journal",
    "read_qdpx",
    "write_qdpx",
    "write_qdc",
    "train",
    "load_model",
    "classify",
    "LinearCoder",
    "select_coder",
    "summarize",
    "MpsocError",
    "InputError",
    "InputProblem",
    "CodebookError",
    "ModelError",
    "NotFittedError",
    "OutputExistsError",
    "MissingDependencyError",
]
