"""The exception hierarchy of mpsoc_nlp.

Every error a user can cause derives from :class:`MpsocError`; the CLI turns those into a plain
message and exit code 2. Subclasses also derive from the matching built-in, so ``except ValueError``
keeps working in notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING

__all__ = [
    "MpsocError",
    "InputError",
    "InputProblem",
    "CodebookError",
    "ModelError",
    "NotFittedError",
    "OutputExistsError",
    "MissingDependencyError",
]


class MpsocError(Exception):
    """Base class of every error mpsoc_nlp raises on purpose."""


@dataclass(frozen=True)
class InputProblem:
    """One problem in one input file, located as the user sees it.

    ``row`` is the row number a person finds in their tool: the spreadsheet row (header = row 1),
    the 1-based line of a JSONL or CSV file; ``None`` when the problem concerns the whole file.
    """

    path: str
    message: str
    row: int | None = None
    column: str | None = None
    sheet: str | None = None

    def __str__(self) -> str:
        where = [self.path]
        if self.sheet is not None:
            where.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


class InputError(MpsocError, ValueError):
    """Bad input data: one or more located problems, reported together."""

    def __init__(
        self,
        problems: InputProblem | list[InputProblem] | str,
        *,
        path: str | PathLike[str] | None = None,
        row: int | None = None,
        column: str | None = None,
        sheet: str | None = None,
        truncated: int = 0,
    ) -> None:
        if isinstance(problems, str):
            problems = [InputProblem(str(path) if path is not None else "<input>", problems, row, column, sheet)]
        elif isinstance(problems, InputProblem):
            problems = [problems]
        self.problems: list[InputProblem] = list(problems)
        self.truncated = truncated
        first = self.problems[0] if self.problems else None
        self.path = first.path if first else (str(path) if path is not None else None)
        self.row = first.row if first else row
        self.column = first.column if first else column
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.truncated:
            lines.append(f"... and {self.truncated} more problems not shown")
        if len(lines) > 1:
            head = f"{len(self.problems) + self.truncated} problems in the input:"
            return "\n".join([head] + ["  " + line for line in lines])
        return lines[0] if lines else "bad input"


class CodebookError(MpsocError, ValueError):
    """A codebook file is malformed, or a label is not a code of the codebook."""


class ModelError(MpsocError, ValueError):
    """A model folder is missing, incomplete, of an unknown format, or not available offline."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(MpsocError, _SklearnNotFittedError):
        """An estimator was used before ``fit``."""


def _not_fitted_error() -> type:
    """Build :class:`NotFittedError` on first use: its base, scikit-learn's, costs seconds to import."""
    from sklearn.exceptions import NotFittedError as sklearn_not_fitted

    return type(
        "NotFittedError",
        (MpsocError, sklearn_not_fitted),
        {
            "__module__": __name__,
            "__qualname__": "NotFittedError",
            "__doc__": "An estimator was used before ``fit``; also scikit-learn's ``NotFittedError``\n"
            "(a ``ValueError`` and ``AttributeError``), so ``sklearn.utils.validation.check_is_fitted``\n"
            "users and ``except sklearn.exceptions.NotFittedError`` catch it.",
        },
    )


def __getattr__(name: str) -> type:
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class OutputExistsError(MpsocError, FileExistsError):
    """An output path exists and ``force`` was not given."""


class MissingDependencyError(MpsocError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""
