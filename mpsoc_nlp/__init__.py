"""mpsoc_nlp: code Norwegian qualitative text by MPSOC community type and valence.

Read coded segments, train a model (a fast scikit-learn coder offline by default, or a fine-tuned
Norwegian transformer), classify new interviews and journal notes, and evaluate the model against
human coders.

This is the package face: every public name below is imported when first used (PEP 562), so
``import mpsoc_nlp`` and ``mpsoc --help`` import neither torch nor pandas' heavier friends. No
module inside the package imports from here; they import each other directly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import agreement
    from .agreement.report import agreement_report
    from .classification import classify, predict_frame
    from .classification import merge_predictions as merge
    from .codebook import Codebook
    from .corpus import SEGMENT_COLUMNS, select_coder, summarize
    from .crossvalidation import run_crossval as crossval
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
    from .evaluation import evaluate_model
    from .io.frames import to_dataset
    from .io.journals import read_journal
    from .io.qdpx import import_qdpx, read_qdpx, write_qdc, write_qdpx
    from .io.segments import read_segments
    from .io.tables import read_table
    from .io.transcripts import read_transcript
    from .models.folder import load_model
    from .models.hybrid import HybridCoder
    from .models.linear import LinearCoder
    from .models.transformer import TransformerCoder
    from .report_folders import evaluate_to_folder as evaluate
    from .training import train

# public name -> (module, attribute): the one table of what the face exports
_LAZY: dict[str, tuple[str, str]] = {
    "Codebook": (".codebook", "Codebook"),
    "SEGMENT_COLUMNS": (".corpus", "SEGMENT_COLUMNS"),
    "select_coder": (".corpus", "select_coder"),
    "summarize": (".corpus", "summarize"),
    # readers and writers
    "read_segments": (".io.segments", "read_segments"),
    "read_table": (".io.tables", "read_table"),
    "read_transcript": (".io.transcripts", "read_transcript"),
    "read_journal": (".io.journals", "read_journal"),
    "read_qdpx": (".io.qdpx", "read_qdpx"),
    "import_qdpx": (".io.qdpx", "import_qdpx"),
    "write_qdpx": (".io.qdpx", "write_qdpx"),
    "write_qdc": (".io.qdpx", "write_qdc"),
    "to_dataset": (".io.frames", "to_dataset"),
    # the verbs of the CLI
    "train": (".training", "train"),
    "load_model": (".models.folder", "load_model"),
    "classify": (".classification", "classify"),
    "predict_frame": (".classification", "predict_frame"),
    "merge": (".classification", "merge_predictions"),
    "evaluate": (".report_folders", "evaluate_to_folder"),
    "evaluate_model": (".evaluation", "evaluate_model"),
    "crossval": (".crossvalidation", "run_crossval"),
    "agreement_report": (".agreement.report", "agreement_report"),
    # the agreement package itself (statistics, views, the report): a module, not a function,
    # so that ``mpsoc_nlp.agreement`` means the same whatever was imported before
    "agreement": (".agreement", ""),
    # coders
    "LinearCoder": (".models.linear", "LinearCoder"),
    "HybridCoder": (".models.hybrid", "HybridCoder"),
    "TransformerCoder": (".models.transformer", "TransformerCoder"),
    # errors
    "MpsocError": (".errors", "MpsocError"),
    "InputError": (".errors", "InputError"),
    "InputProblem": (".errors", "InputProblem"),
    "CodebookError": (".errors", "CodebookError"),
    "ModelError": (".errors", "ModelError"),
    "NotFittedError": (".errors", "NotFittedError"),
    "OutputExistsError": (".errors", "OutputExistsError"),
    "MissingDependencyError": (".errors", "MissingDependencyError"),
}

__all__ = [
    "__version__",
    "Codebook",
    "SEGMENT_COLUMNS",
    "select_coder",
    "summarize",
    "read_segments",
    "read_table",
    "read_transcript",
    "read_journal",
    "read_qdpx",
    "import_qdpx",
    "write_qdpx",
    "write_qdc",
    "to_dataset",
    "train",
    "load_model",
    "classify",
    "predict_frame",
    "merge",
    "evaluate",
    "evaluate_model",
    "crossval",
    "agreement",
    "agreement_report",
    "LinearCoder",
    "HybridCoder",
    "TransformerCoder",
    "MpsocError",
    "InputError",
    "InputProblem",
    "CodebookError",
    "ModelError",
    "NotFittedError",
    "OutputExistsError",
    "MissingDependencyError",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it (PEP 562)."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    imported = importlib.import_module(module, __name__)
    value = getattr(imported, attr) if attr else imported
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
