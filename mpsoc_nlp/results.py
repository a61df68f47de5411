"""Typed results of ``mpsoc evaluate`` and ``mpsoc crossval``, each with one ``to_dict()`` for ``metrics.json``.

The jobs (:mod:`mpsoc_nlp.evaluation`, :mod:`mpsoc_nlp.crossvalidation`) build these objects; the
renderers (:mod:`mpsoc_nlp.reporting`, :mod:`mpsoc_nlp.report_pages`, :mod:`mpsoc_nlp.plots`) read
their attributes, so a renamed field fails at type-check time instead of in every reader of a
nested dict. ``to_dict()`` gives exactly the keys and values ``metrics.json`` has always had.

The scores of one coder against another (:func:`mpsoc_nlp.evaluation.score`) are still a
JSON-ready dict: the model card keeps them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .provenance import Overlap

__all__ = [
    "LEVEL_KEYS",
    "MIN_POSITIVES",
    "VERDICTS",
    "CoderLinks",
    "Comparison",
    "ConfusionMatrix",
    "Counts",
    "CrossValidation",
    "Evaluation",
    "GoldInfo",
    "HumanPair",
    "HumanReference",
    "Interval",
    "ModelInfo",
    "PairLink",
    "Settings",
    "VariableAgreement",
    "Verdict",
    "json_ready",
]

Level = Literal["code", "type", "valence", "set"]
#: The key of each level in ``metrics.json``.
LEVEL_KEYS: dict[str, str] = {"code": "per_code", "type": "per_type", "valence": "per_valence", "set": "sets"}
#: The fewest positive segments (of a code, community type or valence) that each human coder of a
#: compared pair must have given, on the segments both coded, for a verdict; for whole sets, the
#: fewest segments.
#: Below that, kappa and its interval swing on one or two segments, and the verdict is ``too_few``.
MIN_POSITIVES = 10
#: What each verdict says, in words.
VERDICTS = {
    "within": "within the range of the human coders",
    "below": "below the range of the human coders",
    "above": "above the range of the human coders",
    "too_few": f"too few segments to decide: a human coder gave it to fewer than {MIN_POSITIVES} of the segments "
    "compared",
    "not_available": "not available: one human coder, so no human-vs-human range",
    "undefined": "undefined: the statistic is not defined on these segments",
}


def json_ready(obj: Any) -> Any:
    """Replace nan by None and numpy scalars by Python ones, recursively."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if obj != obj else float(obj)
    return obj


@dataclass(frozen=True)
class Interval:
    """A statistic with its bootstrap interval; ``None`` where undefined or not computed."""

    estimate: float | None = None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Counts:
    """Two coders' presence/absence of one code: both, only one of them (by name), neither."""

    both: int | None
    only: dict[str, int | None]
    neither: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"both": self.both, "only": dict(self.only), "neither": self.neither}


@dataclass(frozen=True)
class VariableAgreement:
    """Two coders' agreement on one code, community type, valence or on whole sets of codes."""

    n_units: int | None
    statistics: dict[str, Interval]
    notes: str
    counts: Counts

    def statistic(self, name: str) -> Interval:
        """The named statistic; an empty :class:`Interval` where it is not given for this variable."""
        return self.statistics.get(name) or Interval()

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_units": self.n_units,
            **{name: s.to_dict() for name, s in self.statistics.items()},
            "notes": self.notes,
            "counts": self.counts.to_dict(),
        }


@dataclass(frozen=True)
class Comparison:
    """Two coders (or a coder and the model) compared on a subset of the segments."""

    id: str
    coders: tuple[str, str]
    subset: str
    segments: int
    documents: int
    #: level (``code``, ``type``, ``valence``, ``set``) -> variable name -> agreement
    agreement: dict[str, dict[str, VariableAgreement]]

    def statistic(self, level: str, name: str, statistic: str) -> Interval:
        """The one accessor of a statistic: empty where the variable or the statistic is absent."""
        row = self.agreement[level].get(name)
        return row.statistic(statistic) if row is not None else Interval()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "coders": list(self.coders),
            "subset": self.subset,
            "segments": self.segments,
            "documents": self.documents,
            "agreement": {
                LEVEL_KEYS[level]: {name: row.to_dict() for name, row in rows.items()}
                for level, rows in self.agreement.items()
            },
        }


@dataclass(frozen=True)
class HumanPair:
    """Two human coders' value of a verdict's statistic."""

    coders: tuple[str, str]
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"coders": list(self.coders), **self.interval.to_dict()}


@dataclass(frozen=True)
class Verdict:
    """Is the model's agreement with people within the range of people's agreement with each other?"""

    level: str
    name: str
    statistic: str
    human: list[HumanPair]
    model: float | None
    model_by_coder: dict[str, float | None]
    human_low: float | None
    human_high: float | None
    verdict: str
    #: the fewest positive segments any coder of the compared pairs gave (segments, for whole sets)
    min_positives: int | None = None

    @property
    def degenerate_range(self) -> bool:
        """The human range is one point (people agree identically on every resample, e.g. at 1.00)."""
        return self.human_low is not None and self.human_high is not None and self.human_high - self.human_low < 1e-9

    @property
    def verdict_text(self) -> str:
        return VERDICTS[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "name": self.name,
            "statistic": self.statistic,
            "human": [h.to_dict() for h in self.human],
            "model": self.model,
            "model_by_coder": dict(self.model_by_coder),
            "human_low": self.human_low,
            "human_high": self.human_high,
            "verdict": self.verdict,
            "verdict_text": self.verdict_text,
            "min_positives": self.min_positives,
            "degenerate_range": self.degenerate_range,
        }


@dataclass(frozen=True)
class PairLink:
    """A human coder's comparisons on the segments shared with one other human coder."""

    other: str
    segments: int
    human: str  # the id of the human-vs-human comparison
    model: str  # the id of the model-vs-this-coder comparison on the same segments

    def to_dict(self) -> dict[str, Any]:
        return {"other": self.other, "segments": self.segments, "human": self.human, "model": self.model}


@dataclass(frozen=True)
class CoderLinks:
    """The comparisons that concern one human coder."""

    model: str  # the id of the model vs this coder on all of the coder's segments
    pairs: list[PairLink] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "pairs": [p.to_dict() for p in self.pairs]}


@dataclass(frozen=True)
class ConfusionMatrix:
    """Confusion of two coders' community types or valences (see :func:`~mpsoc_nlp.evaluation.multilabel_confusion`)."""

    rows: str
    columns: str
    labels: list[str]
    matrix: list[list[float]]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": self.columns, "labels": list(self.labels), "matrix": self.matrix}


@dataclass
class ModelInfo:
    """The evaluated model, as every prediction file records it."""

    model: str | None
    model_name: str | None
    backend: str
    codebook: str
    codes: list[str]
    thresholds: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_name": self.model_name,
            "backend": self.backend,
            "codebook": self.codebook,
            "codes": list(self.codes),
            "thresholds": list(self.thresholds),
        }


@dataclass(frozen=True)
class GoldInfo:
    """The human codings the model was evaluated against."""

    files: list[str]
    coders: list[str]
    segments: int
    documents: int
    segments_per_coder: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "coders": list(self.coders),
            "segments": self.segments,
            "documents": self.documents,
            "segments_per_coder": dict(self.segments_per_coder),
        }


@dataclass(frozen=True)
class Settings:
    """The bootstrap and the verdict statistic of an evaluation."""

    resamples: int
    seed: int
    confidence: float
    verdict_statistic: str
    resampling_unit: str = "document_id"

    def to_dict(self) -> dict[str, Any]:
        return {
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": self.confidence,
            "verdict_statistic": self.verdict_statistic,
            "resampling_unit": self.resampling_unit,
        }


@dataclass
class Evaluation:
    """The result of :func:`~mpsoc_nlp.evaluation.evaluate_model`: the model as one more coder.

    Attributes
    ----------
    comparisons : dict
        Every comparison by its id, in the order they were made.
    scores : dict
        Per human coder, :func:`~mpsoc_nlp.evaluation.score` of the model against that coder.
    disagreements : DataFrame
        One row per segment on which the coders and the model do not all give the same set of
        codes: ``segment_id``, ``document_id``, ``text``, one column per coder and the model
        (``;``-joined codes, ``(no code)`` for an empty set, empty where that coder did not code
        the segment), ``differs_on``, ``review`` and the model's ``p:CODE`` probabilities.
    ratings : DataFrame
        Long format (``segment_id``, ``document_id``, ``coder``, ``codes``), the model included.
    predictions : DataFrame
        The model's predictions for every gold segment (see :func:`~mpsoc_nlp.classification.predict_frame`).
    overlap : Overlap
        How the gold data overlapped the model's training data, and whether those documents were
        left out (``excluded``) or scored as training data (``included``).
    """

    library_version: str
    model: ModelInfo
    gold: GoldInfo
    model_coder: str
    settings: Settings
    human_vs_human: bool
    notes: list[str]
    comparisons: dict[str, Comparison]
    by_coder: dict[str, CoderLinks]
    verdicts: list[Verdict]
    scores: dict[str, dict[str, Any]]
    confusion: dict[str, list[ConfusionMatrix]]
    disagreements: pd.DataFrame
    ratings: pd.DataFrame
    predictions: pd.DataFrame
    overlap: Overlap = field(default_factory=Overlap)

    FORMAT = "mpsoc-evaluation/1"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: everything ``metrics.json`` holds."""
        return json_ready(
            {
                "format": self.FORMAT,
                "library_version": self.library_version,
                "model": self.model.to_dict(),
                "gold": self.gold.to_dict(),
                "model_coder": self.model_coder,
                "settings": self.settings.to_dict(),
                "human_vs_human": self.human_vs_human,
                "notes": list(self.notes),
                "training_overlap": self.overlap.to_dict(),
                "training_data_scores": self.overlap.mode == "included",
                "comparisons": [c.to_dict() for c in self.comparisons.values()],
                "by_coder": {h: links.to_dict() for h, links in self.by_coder.items()},
                "verdicts": [v.to_dict() for v in self.verdicts],
                "scores": self.scores,
                "confusion": {dim: [m.to_dict() for m in ms] for dim, ms in self.confusion.items()},
                "disagreements": {"segments": len(self.disagreements), "of": self.gold.segments},
            }
        )


@dataclass(frozen=True)
class HumanReference:
    """A second human coder scored against the coder a cross-validation learns from, as a reference.

    ``summary`` holds the same keys as a score's summary (macro F1 over codes, ...), with the
    learning coder's codes as gold, on the segments both coded.
    """

    coders: tuple[str, str]  # (the coder learned from, the other coder)
    segments: int
    documents: int
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "coders": list(self.coders),
            "segments": self.segments,
            "documents": self.documents,
            "summary": dict(self.summary),
        }


@dataclass
class CrossValidation:
    """The result of :func:`~mpsoc_nlp.evaluation.cross_validate`: pooled out-of-fold scores and per-fold scores."""

    scores: dict[str, Any]
    fold_scores: list[dict[str, Any]]
    proba: np.ndarray
    predicted: list[tuple[str, ...]]
    folds: np.ndarray
    learning_curve: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    human: HumanReference | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.scores,
            "description": (
                f"{len(self.fold_scores)}-fold cross-validation grouped by document, pooled out-of-fold predictions"
            ),
            "folds": [f["summary"] for f in self.fold_scores],
        }
        if self.learning_curve is not None:
            out["learning_curve"] = self.learning_curve.to_dict(orient="records")
        if self.human is not None:
            out["human_reference"] = self.human.to_dict()
        return out
