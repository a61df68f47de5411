"""Writing: model suggestions into a REFI-QDA project (:class:`QdpxWriter`, :func:`write_qdpx`) and the
codebook as ``.qdc``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import logging
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from ..._fs import atomic_file, atomic_write_text, check_output_path
from ..._version import __version__
from ...codebook import Codebook
from ...errors import InputError
from ..transcripts import TranscriptOptions
from .archive import DEFAULT_LIMITS, ArchiveLimits, _Archive, _child, _children, _guid, _local, validate_xml
from .mapping import _code_map, read_mapping
from .project import CODEBOOK_NS, PROJECT_NS, SourceText, load_project

__all__ = ["write_qdpx", "write_qdc", "QdpxWriter"]

logger = logging.getLogger(__name__)

#: The namespace of the deterministic GUIDs mpsoc_nlp writes (uuid5).
GUID_NAMESPACE = uuid.UUID("8b0c5a3e-6f1d-5e2a-9c47-3d2e1f0a6b58")
_PALETTE = ("#2E7D32", "#1565C0", "#6A1B9A", "#C62828", "#EF6C00", "#00838F", "#AD1457", "#4E342E")
_PALETTE_LIGHT = ("#81C784", "#64B5F6", "#BA68C8", "#E57373", "#FFB74D", "#4DD0E1", "#F06292", "#A1887F")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def code_guid(codebook: Codebook, code: str) -> str:
    """The deterministic GUID of a codebook code (or of a type folder) in written projects."""
    return _uuid("code", codebook.name, code)


def _codebook_codes(parent: ET.Element, ns: str, codebook: Codebook, only: set[str] | None = None) -> None:
    """Append the codebook as ``Code`` elements: a folder per type, a codable code per code."""
    q = functools.partial(_q, ns)
    types = {t.name: t for t in codebook.types}
    vals = {v.name: v for v in codebook.valences}
    for i, tname in enumerate(codebook.type_names):
        t = types[tname]
        codes = [c for c in codebook.codes if codebook.type_of(c) == tname and (only is None or c in only)]
        if not codes:
            continue
        if codebook.valences:
            folder = ET.SubElement(
                parent, q("Code"), {"guid": code_guid(codebook, tname), "name": tname, "isCodable": "false",
                                    "color": _PALETTE[i % len(_PALETTE)]},
            )
            desc = " - ".join(x for x in (t.label_no, t.label_en) if x)
            if t.description:
                desc = f"{desc}: {t.description}" if desc else t.description
            if desc:
                ET.SubElement(folder, q("Description")).text = desc
            for code in codes:
                v = vals[codebook.valence_of(code) or ""]
                color = (_PALETTE if v is codebook.valences[0] else _PALETTE_LIGHT)[i % len(_PALETTE)]
                el = ET.SubElement(
                    folder, q("Code"),
                    {"guid": code_guid(codebook, code), "name": code, "isCodable": "true", "color": color},
                )
                label = " / ".join(x for x in (t.label_no, v.label_no) if x)
                if label:
                    ET.SubElement(el, q("Description")).text = label
        else:
            el = ET.SubElement(
                parent, q("Code"), {"guid": code_guid(codebook, tname), "name": tname, "isCodable": "true",
                                    "color": _PALETTE[i % len(_PALETTE)]},
            )
            if t.label_no or t.description:
                ET.SubElement(el, q("Description")).text = " - ".join(x for x in (t.label_no, t.description) if x)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


def _serialise(root: ET.Element, ns: str, *, indent: bool = True) -> bytes:
    """UTF-8 XML with ``ns`` as the default namespace (no ``ns0:`` prefixes), no BOM."""
    if ns:
        prefix = f"{{{ns}}}"
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag.startswith(prefix):
                el.tag = el.tag[len(prefix) :]
        root.set("xmlns", ns)
    if indent:
        ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")


def _atomic_zip(out: Path, members: Iterable[tuple[zipfile.ZipInfo | str, bytes]], *, replace: bool = False) -> None:
    with atomic_file(out, replace=replace) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            if isinstance(info, str):
                zi = zipfile.ZipInfo(info, date_time=_dt.datetime.now().timetuple()[:6])
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                zf.writestr(zi, data)
            else:
                zf.writestr(info, data)


def _check_valid(xml: bytes, kind: str, what: str, *, strict: bool = True) -> None:
    errors = validate_xml(xml, kind)
    if errors is None:
        logger.warning(
            "xmlschema is not installed: %s was not validated against the REFI-QDA schema "
            "(pip install xmlschema, a dependency of mpsoc-nlp)",
            what,
        )
        return
    if errors:
        msg = f"{what} does not validate against the REFI-QDA schema: " + "; ".join(errors)
        if strict:
            raise RuntimeError(msg + " (this is a bug in mpsoc-nlp; please report it)")
        logger.warning("%s", msg)


@dataclass
class _Suggestion:
    document_id: str
    segment_id: str
    start: int | None
    end: int | None
    text: str
    codes: tuple[str, ...]
    proba: dict[str, float]
    review: bool
    coder: str | None
    gold: tuple[str, ...] | None
    order: int
    turn_index: int | None = None


def _as_codes(v: Any) -> tuple[str, ...]:
    if isinstance(v, (tuple, list)):
        return tuple(str(x) for x in v)
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ()
    return tuple(x.strip() for x in str(v).split(";") if x.strip())


def _blank(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _int_or_none(v: Any) -> int | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return int(v)


def _document_order(it: _Suggestion) -> tuple[int, int, int]:
    """Rebuilt documents: segments by turn (or note), then start, then input order."""
    return (
        it.turn_index if it.turn_index is not None else -1,
        it.start if it.start is not None and it.turn_index is not None else 0,
        it.order,
    )


class QdpxWriter:
    """Collect prediction chunks and write them as a REFI-QDA project when the block ends.

    Parameters
    ----------
    path : path
        The ``.qdpx`` to write (atomically).
    metadata : dict
        The prediction metadata (model, codebook, library version).
    codebook : Codebook
        The model's codebook; written as the project's codebook (or added to ``into``).
    sources : mapping, optional
        document_id -> :class:`SourceText`, the full text of each document. A document without
        one is rebuilt from its segments, one paragraph per segment.
    into : path, optional
        A researcher's own ``.qdpx``: the model's codings are added to it, keeping all its users,
        codes, sources, selections, GUIDs and files.
    mapping : path or mapping, optional
        With ``into``: project codes -> codebook codes, to code with the project's own codes.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        metadata: Mapping[str, Any],
        *,
        codebook: Codebook,
        sources: Mapping[str, SourceText] | None = None,
        into: str | PathLike[str] | None = None,
        mapping: str | PathLike[str] | Mapping[str, Any] | None = None,
        options: TranscriptOptions | None = None,
        limits: ArchiveLimits = DEFAULT_LIMITS,
        force: bool = False,
    ) -> None:
        self.path = Path(path)
        self.force = force
        self.metadata = dict(metadata)
        self.codebook = codebook
        self.sources = dict(sources or {})
        self.into = into
        self.mapping = mapping
        self.options = options
        self.limits = limits
        self.rows = 0
        self.written = 0
        self.skipped = 0
        self._items: list[_Suggestion] = []

    def __enter__(self) -> QdpxWriter:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Collect one chunk of predictions (``codes``, ``p:CODE`` columns, ``start``/``end``)."""
        cols = set(frame.columns)
        pcols = [c for c in frame.columns if str(c).startswith("p:")]
        for rec in frame.to_dict(orient="records"):
            codes = _as_codes(rec.get("codes"))
            gold = _as_codes(rec.get("gold_codes")) if "gold_codes" in cols else None
            doc = rec.get("document_id")
            if doc is None or doc is pd.NA or (isinstance(doc, float) and doc != doc):
                doc = "dokument"
            self._items.append(
                _Suggestion(
                    document_id=str(doc),
                    segment_id=str(rec.get("segment_id")),
                    start=_int_or_none(rec.get("start")),
                    end=_int_or_none(rec.get("end")),
                    text=str(rec.get("text", "")),
                    codes=codes,
                    proba={c[2:]: float(rec[c]) for c in pcols if c[2:] in codes},
                    review=bool(rec.get("review", False)),
                    coder=None if _blank(rec.get("coder")) else str(rec["coder"]),
                    gold=gold,
                    order=len(self._items),
                    turn_index=_int_or_none(rec.get("turn_index")),
                )
            )
        self.rows += len(frame)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            return
        if self.into is not None:
            self._write_into()
        else:
            self._write_new()

    # -- shared -----------------------------------------------------------------------------
    @property
    def model_user_name(self) -> str:
        name = self.metadata.get("model_name") or (
            Path(str(self.metadata["model"])).name if self.metadata.get("model") else None
        )
        return f"mpsoc_nlp (model {name})" if name else "mpsoc_nlp (model)"

    def _description(self, item: _Suggestion, code: str) -> str:
        p = item.proba.get(code)
        parts = [f"p={p:.2f}" if p is not None else "p=?"]
        model = self.metadata.get("model_name") or (
            Path(str(self.metadata["model"])).name if self.metadata.get("model") else "?"
        )
        parts.append(f"model {model}")
        parts.append(f"mpsoc_nlp {self.metadata.get('library_version', '?')}")
        if item.review:
            parts.append("review: the model is unsure about this segment")
        return "; ".join(parts)

    def _selection(
        self, ns: str, source_guid: str, start: int, end: int, text: str, code: str, code_ref: str,
        user: str, when: str, description: str | None,
    ) -> ET.Element:
        q = functools.partial(_q, ns)
        sg = _uuid("selection", source_guid, start, end, code, user)
        sel = ET.Element(
            q("PlainTextSelection"),
            {"guid": sg, "name": text, "startPosition": str(start), "endPosition": str(end),
             "creatingUser": user, "creationDateTime": when},
        )
        if description:
            ET.SubElement(sel, q("Description")).text = description
        cod = ET.SubElement(
            sel, q("Coding"), {"guid": _uuid("coding", sg), "creatingUser": user, "creationDateTime": when}
        )
        ET.SubElement(cod, q("CodeRef"), {"targetGUID": code_ref})
        return sel

    def _texts(self) -> dict[str, tuple[SourceText, dict[int, tuple[int, int]]]]:
        """Each document's text, and for rebuilt documents the new span of each item."""
        by_doc: dict[str, list[_Suggestion]] = defaultdict(list)
        for it in self._items:
            by_doc[it.document_id].append(it)
        out: dict[str, tuple[SourceText, dict[int, tuple[int, int]]]] = {}
        for doc, items in by_doc.items():
            if doc in self.sources:
                out[doc] = (self.sources[doc], {})
                continue
            seen: dict[str, tuple[int, int]] = {}
            parts: list[str] = []
            spans: dict[int, tuple[int, int]] = {}
            pos = 0
            for it in sorted(items, key=_document_order):
                if it.segment_id not in seen:
                    if parts:
                        pos += 2
                    seen[it.segment_id] = (pos, pos + len(it.text))
                    parts.append(it.text)
                    pos += len(it.text)
                spans[it.order] = seen[it.segment_id]
            out[doc] = (SourceText(doc, f"{doc}.txt", "\n\n".join(parts)), spans)
        return out

    # -- a new project ----------------------------------------------------------------------
    def _write_new(self) -> None:
        ns = PROJECT_NS
        q = functools.partial(_q, ns)
        when = _now()
        texts = self._texts()
        model_user = _uuid("user", self.model_user_name)
        coders = sorted({it.coder or "gold" for it in self._items if it.gold})
        human = {c: _uuid("user", "coder", c) for c in coders}
        first = human[coders[0]] if coders else model_user
        root = ET.Element(
            q("Project"),
            {"name": self.path.stem, "origin": f"mpsoc_nlp {self.metadata.get('library_version', '')}".strip(),
             "creatingUserGUID": first, "creationDateTime": when},
        )
        users = ET.SubElement(root, q("Users"))
        for c in coders:
            ET.SubElement(users, q("User"), {"guid": human[c], "name": c})
        ET.SubElement(users, q("User"), {"guid": model_user, "name": self.model_user_name})
        cb = ET.SubElement(root, q("CodeBook"))
        _codebook_codes(ET.SubElement(cb, q("Codes")), ns, self.codebook)
        srcs = ET.SubElement(root, q("Sources")) if texts else ET.Element(q("Sources"))
        files: list[tuple[str, bytes]] = []
        written = 0
        for doc in sorted(texts):
            source, spans = texts[doc]
            text = source.text.replace("\r\n", "\n").replace("\r", "\n")
            sg = _uuid("source", doc, hashlib.sha256(text.encode("utf-8")).hexdigest())
            tg = _uuid("plaintext", sg)
            src = ET.SubElement(
                srcs, q("TextSource"),
                {"guid": sg, "name": source.name if source.name.lower().endswith(".txt") else f"{doc}.txt",
                 "plainTextPath": f"internal://{tg}.txt", "creatingUser": first, "creationDateTime": when},
            )
            files.append((f"sources/{tg}.txt", text.encode("utf-8")))
            done: set[tuple[int, int, str, str]] = set()
            for it in sorted((i for i in self._items if i.document_id == doc), key=lambda i: i.order):
                s, e = spans.get(it.order, (it.start, it.end))
                if s is None or e is None or not (0 <= s < e <= len(text)):
                    self.skipped += 1
                    continue
                for code in it.codes:
                    if (s, e, code, model_user) in done:
                        continue
                    done.add((s, e, code, model_user))
                    src.append(
                        self._selection(ns, sg, s, e, text[s:e], code, code_guid(self.codebook, code), model_user,
                                        when, self._description(it, code))
                    )
                    written += 1
                if it.gold:
                    user = human[it.coder or "gold"]
                    for code in it.gold:
                        if code not in self.codebook or (s, e, code, user) in done:
                            continue
                        done.add((s, e, code, user))
                        src.append(
                            self._selection(
                                ns, sg, s, e, text[s:e], code, code_guid(self.codebook, code), user, when, None
                            )
                        )
        self.written = written
        xml = _serialise(root, ns)
        _check_valid(xml, "project", str(self.path))
        _atomic_zip(self.path, [("project.qde", xml), *files], replace=self.force)

    # -- into an existing project -----------------------------------------------------------
    def _write_into(self) -> None:
        assert self.into is not None
        with _Archive(self.into, self.limits) as arch:
            project = load_project(self.into, validate=True, options=self.options, _archive=arch)
            root = project.root
            assert root is not None
            ns = project.namespace
            q = functools.partial(_q, ns)
            when = _now()
            # the model's user
            users = _child(root, "Users")
            if users is None:
                users = ET.Element(q("Users"))
                root.insert(0, users)
            model_user = _uuid("user", self.model_user_name)
            if not any(_guid(u.get("guid")) == model_user for u in _children(users, "User")):
                ET.SubElement(users, q("User"), {"guid": model_user, "name": self.model_user_name})
            # codes: the project's own where they map to exactly one codebook code, else ours; a project's
            # code is referred to by its GUID exactly as the project spells it
            table = read_mapping(self.mapping, self.codebook) if self.mapping is not None else None
            code_map, _, _ = _code_map(project, self.codebook, table)
            target: dict[str, str] = {}
            for g, codes in code_map.items():
                if len(codes) == 1 and codes[0] not in target:
                    target[codes[0]] = project.codes[g].spelled or g
            missing = [c for c in self.codebook.codes if c not in target]
            if missing:
                cb = _child(root, "CodeBook")
                if cb is None:
                    cb = ET.Element(q("CodeBook"))
                    root.insert(list(root).index(users) + 1, cb)
                codes_el = _child(cb, "Codes")
                if codes_el is None:
                    codes_el = ET.Element(q("Codes"))
                    cb.insert(0, codes_el)
                existing = {_guid(el.get("guid")) for el in root.iter() if _local(el.tag) == "Code"}
                holder = ET.Element("holder")
                _codebook_codes(holder, ns, self.codebook, set(missing))
                for folder in list(holder):
                    fg = _guid(folder.get("guid"))
                    if fg in existing:  # a folder of ours from an earlier run: add the missing codes to it
                        old = next(el for el in root.iter() if _local(el.tag) == "Code" and _guid(el.get("guid")) == fg)
                        for child in list(folder):
                            if _local(child.tag) == "Code" and _guid(child.get("guid")) not in existing:
                                old.append(child)
                    else:
                        codes_el.append(folder)
                for c in missing:
                    target[c] = code_guid(self.codebook, c)
            # the selections
            by_doc = {s.document_id: s for s in project.sources}
            by_doc_lower = {k.lower(): v for k, v in by_doc.items()}
            existing_sel = {_guid(el.get("guid")) for el in root.iter() if _local(el.tag) == "PlainTextSelection"}
            not_found: Counter[str] = Counter()
            written = 0
            for it in sorted(self._items, key=lambda i: i.order):
                if not it.codes:
                    continue
                source = by_doc.get(it.document_id) or by_doc_lower.get(it.document_id.lower())
                if source is None or source.element is None:
                    not_found[it.document_id] += 1
                    continue
                span = self._locate(source.text, it)
                if span is None:
                    self.skipped += 1
                    continue
                s, e = span
                holder_el = source.element
                if _local(holder_el.tag) == "PDFSource":
                    holder_el = _children(holder_el, "Representation")[0]
                for code in it.codes:
                    sel = self._selection(
                        ns, source.guid, s, e, source.text[s:e], code, target[code], model_user, when,
                        self._description(it, code),
                    )
                    if _guid(sel.get("guid")) in existing_sel:
                        continue
                    existing_sel.add(_guid(sel.get("guid")))
                    kids = list(holder_el)
                    pos = 0
                    for i, k in enumerate(kids):
                        if _local(k.tag) in ("Description", "PlainTextContent", "PlainTextSelection") or k.tag in (
                            ET.Comment, ET.ProcessingInstruction,
                        ):
                            pos = i + 1
                        elif _local(k.tag) in ("Coding", "NoteRef", "VariableValue"):
                            break
                    holder_el.insert(pos, sel)
                    written += 1
            for doc, n in sorted(not_found.items()):
                logger.warning(
                    "%s: no text source of the project is named like the document %r; its %d coded segment(s) were "
                    "not added", self.into, doc, n,
                )
            self.skipped += sum(not_found.values())
            self.written = written
            xml = _serialise(root, ns, indent=False)
            if ns == PROJECT_NS:
                _check_valid(xml, "project", str(self.path), strict=project.valid is not False)
            members: list[tuple[zipfile.ZipInfo | str, bytes]] = []
            for info in arch.infos:
                if info.filename == project.qde_name:
                    members.append((info, xml))
                elif not info.is_dir():
                    members.append((info, arch.read(info.filename)))
                else:
                    members.append((info, b""))
            _atomic_zip(self.path, members, replace=self.force)

    def _locate(self, text: str, it: _Suggestion) -> tuple[int, int] | None:
        """The span of a segment in a project's text: its own offsets when they hold, else found."""
        from ...segmenting import strip_marks

        s, e = it.start, it.end
        if s is not None and e is not None and 0 <= s < e <= len(text):
            piece = text[s:e]
            if piece == it.text or strip_marks(piece) == it.text:
                return s, e
        if not it.text:
            return None
        hits = [m.start() for m in re.finditer(re.escape(it.text), text)]
        if not hits:
            logger.warning("%s: the segment %s is not in the project's text; not added", self.into, it.segment_id)
            return None
        best = min(hits, key=lambda h: abs(h - (s or 0)))
        return best, best + len(it.text)


def write_qdpx(
    predictions: pd.DataFrame,
    out: str | PathLike[str],
    *,
    codebook: Codebook,
    metadata: Mapping[str, Any] | None = None,
    sources: Mapping[str, SourceText] | None = None,
    into: str | PathLike[str] | None = None,
    mapping: str | PathLike[str] | Mapping[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write predictions as a REFI-QDA project (see :class:`QdpxWriter`); return its path."""
    mapping_path = mapping if isinstance(mapping, (str, PathLike)) else None
    out_p = check_output_path(out, [into, mapping_path], force=force)
    meta = dict(metadata or {})
    if "library_version" not in meta:
        meta["library_version"] = __version__
    with QdpxWriter(out_p, meta, codebook=codebook, sources=sources, into=into, mapping=mapping, force=force) as w:
        w.write(predictions)
    return out_p


def write_qdc(
    out: str | PathLike[str],
    codebook: Codebook | None = None,
    *,
    force: bool = False,
    protect: Sequence[str | PathLike[str]] = (),
) -> Path:
    """Write the codebook as a REFI-QDA codebook (``.qdc``), validated against Codebook.xsd.

    The code GUIDs are the ones :func:`write_qdpx` uses, so a project coded later lines up.
    ``protect`` names the files the run read (the codebook file): ``out`` is never one of them.
    The folder of ``out`` must exist.
    """
    codebook = codebook or Codebook.default()
    folder = Path(out).parent
    if not folder.is_dir():
        raise InputError(f"the folder {folder} does not exist; create it first or write the .qdc elsewhere",
                         path=str(out))
    out_p = check_output_path(out, list(protect), force=force)
    root = ET.Element(_q(CODEBOOK_NS, "CodeBook"), {"origin": f"mpsoc_nlp {__version__}"})
    _codebook_codes(ET.SubElement(root, _q(CODEBOOK_NS, "Codes")), CODEBOOK_NS, codebook)
    xml = _serialise(root, CODEBOOK_NS)
    _check_valid(xml, "codebook", str(out_p))
    atomic_write_text(out_p, xml.decode("utf-8"), replace=force)
    return out_p

