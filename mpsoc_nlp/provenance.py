"""What a model was trained on, without its text: file sha256 and salted hashes of the ids.

``model.json`` records, under ``training_data``, the sha256 of each training file and, under
``ids``, a salt and the salted hashes of the training segments' ``document_id`` and
``segment_id``. :func:`training_overlap` compares gold data with them, so that ``mpsoc evaluate``
can tell when the gold overlaps the training data (and leave the seen documents out).

The hashes are pseudonyms, not anonymisation: ids such as ``INT-01`` are easy to guess and the
salt is stored beside the hashes, so whoever holds ``model.json`` and a candidate id can test it.
The salt only keeps the hashes of two models from being linked. Ids that are themselves
identifying (a national identity number, a journal number) should be replaced before training.
The salt is derived from the training ids, so the same data gives the same ``model.json``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from ._fs import sha256_file

__all__ = ["Overlap", "describe", "id_fingerprint", "seen_mask", "training_overlap"]

#: Hex digits kept of each id hash: 64 bits, no collision in any realistic corpus.
HASH_CHARS = 16


def _hash(salt: str, kind: str, value: Any) -> str:
    return hmac.new(salt.encode("ascii"), f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:HASH_CHARS]


def id_fingerprint(segments: pd.DataFrame) -> dict[str, Any]:
    """Salted hashes of the ``document_id`` and ``segment_id`` values of training segments (sorted)."""
    docs = sorted({str(d) for d in segments["document_id"].dropna()}) if "document_id" in segments else []
    segs = sorted({str(s) for s in segments["segment_id"].dropna()}) if "segment_id" in segments else []
    salt = hashlib.sha256("\x1e".join(["mpsoc-ids", *docs, "\x1d", *segs]).encode()).hexdigest()[:32]
    return {
        "hash": f"hmac-sha256, first {HASH_CHARS} hex digits",
        "salt": salt,
        "documents": sorted(_hash(salt, "document", d) for d in docs),
        "segments": sorted(_hash(salt, "segment", s) for s in segs),
    }


@dataclass
class Overlap:
    """How the gold data overlaps the model's training data.

    ``mode`` is ``none`` (no overlap found), ``excluded`` (the seen documents were left out of
    the scores) or ``included`` (scored anyway: the scores are training-data scores).
    """

    checked: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    segments: int = 0
    gold_documents: int = 0
    mode: str = "none"

    @property
    def found(self) -> bool:
        return bool(self.files or self.documents)

    def message(self) -> str:
        """One sentence for the top of the report and the terminal ('' when there is no overlap)."""
        if not self.found:
            return ""
        what = []
        if self.files:
            what.append(f"the gold file{'s' if len(self.files) > 1 else ''} {', '.join(self.files)} "
                        f"{'are' if len(self.files) > 1 else 'is'} a training file (same sha256)")
        if self.documents:
            what.append(f"{len(self.documents)} of {self.gold_documents} gold documents "
                        f"({self.segments} segments) were in the training data")
        head = "The gold data overlaps the model's training data: " + "; ".join(what) + ". "
        if self.mode == "included":
            return head + ("They are scored anyway (--include-training-data): these are TRAINING-DATA SCORES, which "
                           "flatter the model; they do not say how it codes new documents.")
        return head + ("Only the documents the model has not seen are scored; pass --include-training-data to score "
                       "all, labelled as training-data scores.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "checked": list(self.checked),
            "files": list(self.files),
            "documents": list(self.documents),
            "segments": self.segments,
            "gold_documents": self.gold_documents,
            "message": self.message(),
        }


def training_overlap(
    training_data: Mapping[str, Any] | None, gold: pd.DataFrame, files: Sequence[str | PathLike[str]] = ()
) -> Overlap:
    """Which gold documents the model was trained on, from ``model.json``'s ``training_data``.

    A document counts as seen when its ``document_id`` or one of its ``segment_id`` values is among
    the training ids. When a gold file is a training file (same sha256) and the model records no
    ids (models trained before ids were recorded), every document of the gold data counts as seen.
    """
    data = dict(training_data or {})
    out = Overlap(gold_documents=int(gold["document_id"].nunique()))
    train_sha = {f.get("sha256") for f in data.get("files", []) if isinstance(f, Mapping)}
    if train_sha:
        out.checked.append("file sha256")
        out.files = [Path(p).name for p in files if Path(p).is_file() and sha256_file(p) in train_sha]
    ids = data.get("ids")
    docs_seen: set[str] = set()
    if isinstance(ids, Mapping) and ids.get("salt"):
        salt = str(ids["salt"])
        out.checked += ["document ids", "segment ids"]
        train_docs, train_segs = set(ids.get("documents", [])), set(ids.get("segments", []))
        seen_doc = gold["document_id"].astype(str).map(lambda d: _hash(salt, "document", d) in train_docs)
        seen_seg = gold["segment_id"].astype(str).map(lambda s: _hash(salt, "segment", s) in train_segs)
        docs_seen = set(gold.loc[seen_doc | seen_seg, "document_id"].astype(str))
    elif out.files:
        docs_seen = set(gold["document_id"].astype(str))
    in_seen = gold["document_id"].astype(str).isin(docs_seen)
    out.documents = sorted(docs_seen)
    out.segments = int(gold.loc[in_seen, "segment_id"].nunique())
    return out


def seen_mask(gold: pd.DataFrame, overlap: Overlap) -> pd.Series:
    """True for the gold rows of documents the model was trained on."""
    return gold["document_id"].astype(str).isin(set(overlap.documents))


def describe(paths: Iterable[str | PathLike[str]]) -> list[dict[str, str]]:
    """Name and sha256 of each training file, as ``model.json`` records them."""
    return [{"name": Path(p).name, "sha256": sha256_file(p)} for p in paths]
