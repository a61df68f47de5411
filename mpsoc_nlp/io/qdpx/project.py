"""The project model: sources, codes, users and codings of a ``project.qde``, loaded from an archive."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from ...errors import InputError
from ..transcripts import TranscriptOptions
from .archive import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    _Archive,
    _child,
    _children,
    _guid,
    _local,
    _ns,
    _parse_xml,
    validate_xml,
)

__all__ = ["PROJECT_NS", "CODEBOOK_NS", "QdpxProject", "SourceText", "load_project"]

logger = logging.getLogger(__name__)

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
_TEXT_EXTENSIONS = (".txt", ".docx", ".doc", ".rtf", ".odt", ".pdf", ".md", ".html", ".htm")


@dataclass
class ProjectCode:
    """A code of the project. ``guid`` is the key to compare (lower case, no braces); ``spelled`` is the
    GUID exactly as the project wrote it, the one to write back (exact-matching readers such as
    QualCoder compare ``guid == targetGUID``, and NVivo writes upper case)."""

    guid: str
    name: str
    path: tuple[str, ...]
    codable: bool
    spelled: str = ""


@dataclass
class Selection:
    guid: str | None
    start: int
    end: int
    coder: str | None
    codes: list[str]
    name: str | None
    element: ET.Element | None = None


@dataclass
class ProjectSource:
    guid: str
    name: str
    document_id: str
    text: str
    selections: list[Selection]
    element: ET.Element | None = None


@dataclass
class QdpxProject:
    """What mpsoc reads from a REFI-QDA project: users, codes, text sources and selections."""

    path: str
    name: str
    origin: str
    namespace: str
    users: dict[str, str]
    codes: dict[str, ProjectCode]
    sources: list[ProjectSource]
    warnings: list[str] = field(default_factory=list)
    qde_name: str = "project.qde"
    root: ET.Element | None = None
    valid: bool | None = None

    def coder_name(self, guid: str | None) -> str:
        if guid is None:
            return "unknown"
        return self.users.get(guid, guid)


@dataclass(frozen=True)
class SourceText:
    """The plain text of one document, as a REFI-QDA source holds it."""

    document_id: str
    name: str
    text: str


def _document_id(name: str, options: TranscriptOptions | None) -> str:
    mapping = options.document_ids if options is not None else {}
    if name in mapping:
        return str(mapping[name])
    stem = name
    for ext in _TEXT_EXTENSIONS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return str(mapping.get(stem, stem))


def _crlf_text(raw: str, origin: str, selections: list[Selection], where: str, warn: list[str]) -> str:
    """Choose how offsets count CRLF: as one (ATLAS.ti) or two characters (NVivo, Windows)."""
    lf = raw.replace("\r\n", "\n")
    default = "lf" if "atlas" in origin.lower() else "raw"
    named = [s for s in selections if s.name]
    if named:
        def score(text: str) -> int:
            n = 0
            for s in named:
                name = s.name or ""
                got = text[s.start : s.end]
                if got == name or (name.endswith("…") and got.startswith(name[:-1])):
                    n += 1
            return n

        raw_ok, lf_ok = score(raw), score(lf)
        if lf_ok != raw_ok:
            chosen = "lf" if lf_ok > raw_ok else "raw"
            if chosen != default:
                warn.append(
                    f"{where}: the text has Windows line endings; the selections' names match when a line ending "
                    f"counts as {'one character' if chosen == 'lf' else 'two characters'}, so they are read that way"
                )
            default = chosen
    return lf if default == "lf" else raw


def load_project(
    path: str | PathLike[str],
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    validate: bool = True,
    options: TranscriptOptions | None = None,
    _archive: _Archive | None = None,
) -> QdpxProject:
    """Read users, codes, text sources and selections of a ``.qdpx`` project (lenient, safe)."""
    where = str(path)
    arch = _archive or _Archive(path, limits)
    try:
        qdes = [n for n in arch.names if n.lower().endswith(".qde") and not n.endswith("/")]
        if not qdes:
            raise InputError("this is not a REFI-QDA project: the archive holds no project.qde", path=where)
        top = [n for n in qdes if "/" not in n.strip("/")]
        qde = next((n for n in top if n.lower() == "project.qde"), None) or (top or qdes)[0]
        if len(qdes) > 1:
            logger.warning("%s: the archive holds %d .qde files; reading %s", where, len(qdes), qde)
        root = _parse_xml(arch.read(qde), f"{where}, {qde}")
        if _local(root.tag) != "Project":
            raise InputError(f"{qde} is not a REFI-QDA project (its root element is {_local(root.tag)!r})", path=where)
        ns = _ns(root.tag)
        warn: list[str] = []
        valid = None
        if not ns.startswith("urn:QDA-XML:project"):
            warn.append(f"{where}: unexpected namespace {ns!r}; reading by element names")
        if validate and ns == PROJECT_NS:
            errors = validate_xml(root, "project", limit=5)
            if errors is not None:
                valid = not errors
                if errors:
                    warn.append(
                        f"{where}: {qde} does not validate against the REFI-QDA schema (read anyway): "
                        + "; ".join(errors)
                    )
        users: dict[str, str] = {}
        users_el = _child(root, "Users")
        names_seen: Counter[str] = Counter()
        for u in _children(users_el, "User") if users_el is not None else []:
            g = _guid(u.get("guid"))
            if g is None:
                continue
            name = (u.get("name") or u.get("id") or g).strip() or g
            names_seen[name] += 1
            users[g] = name if names_seen[name] == 1 else f"{name} ({g[:8]})"
        codes: dict[str, ProjectCode] = {}

        def walk(el: ET.Element, parents: tuple[str, ...]) -> None:
            for c in _children(el, "Code"):
                g = _guid(c.get("guid"))
                name = (c.get("name") or "").strip()
                parts = tuple(p.strip() for p in name.split("::")) if "::" in name else (name,)
                cpath = parents + parts
                if g is not None:
                    codable = (c.get("isCodable") or "true").strip().lower() != "false"
                    codes[g] = ProjectCode(g, name, cpath, codable, spelled=(c.get("guid") or "").strip())
                walk(c, cpath)

        cb = _child(root, "CodeBook")
        codes_el = _child(cb, "Codes") if cb is not None else None
        if codes_el is not None:
            walk(codes_el, ())
        sources: list[ProjectSource] = []
        src_el = _child(root, "Sources")
        doc_ids: Counter[str] = Counter()
        for s in list(src_el) if src_el is not None else []:
            kind = _local(s.tag)
            if kind == "PDFSource":
                reps = _children(s, "Representation")
                if not reps:
                    warn.append(f"{where}: PDF source {s.get('name')!r} has no plain-text representation; skipped")
                    continue
                text_el = reps[0]
            elif kind == "TextSource":
                text_el = s
            else:
                if kind in ("PictureSource", "AudioSource", "VideoSource"):
                    warn.append(f"{where}: {kind} {s.get('name')!r} is not text; skipped")
                continue
            g = _guid(s.get("guid")) or ""
            name = (s.get("name") or g).strip()
            content = _child(text_el, "PlainTextContent")
            ptp = text_el.get("plainTextPath")
            raw: str | None = None
            if ptp:
                m = re.match(r"^(internal|relative|absolute):/*(.*)$", ptp.strip(), re.IGNORECASE)
                scheme, file_name = (m.group(1).lower(), m.group(2)) if m else ("internal", ptp.strip())
                if scheme != "internal":
                    warn.append(f"{where}: source {name!r} is stored outside the project ({ptp}); skipped")
                    continue
                member = arch.find(file_name)
                if member is None:
                    warn.append(f"{where}: source {name!r}: {ptp} is not in the archive; skipped")
                    continue
                data = arch.read(member)
                try:
                    raw = data.decode("utf-8")
                except UnicodeDecodeError:
                    raw = data.decode("cp1252", errors="replace")
                    warn.append(f"{where}: source {name!r} is not UTF-8; read as Windows-1252")
            elif content is not None:
                raw = content.text or ""
            if raw is None:
                warn.append(f"{where}: source {name!r} has no plain text (plainTextPath or PlainTextContent); skipped")
                continue
            raw = raw[1:] if raw.startswith("\ufeff") else raw
            sels: list[Selection] = []
            for sel in _children(text_el, "PlainTextSelection"):
                try:
                    start, end = int(sel.get("startPosition", "")), int(sel.get("endPosition", ""))
                except ValueError:
                    warn.append(
                        f"{where}: source {name!r}: selection {sel.get('guid')} has no valid positions; skipped"
                    )
                    continue
                coded = []
                coder = None
                for cod in _children(sel, "Coding"):
                    ref = _child(cod, "CodeRef")
                    target = _guid(ref.get("targetGUID")) if ref is not None else None
                    if target is None:
                        continue
                    coded.append(target)
                    coder = coder or _guid(cod.get("creatingUser"))
                coder = coder or _guid(sel.get("creatingUser")) or _guid(sel.get("modifyingUser"))
                sels.append(Selection(_guid(sel.get("guid")), start, end, coder, coded, sel.get("name"), sel))
            text = raw
            if "\r\n" in raw:
                text = _crlf_text(raw, root.get("origin") or "", sels, f"{where}, source {name!r}", warn)
            text = text.replace("\r", "\n") if "\r" in text and "\r\n" not in text else text
            doc = _document_id(name, options)
            doc_ids[doc] += 1
            if doc_ids[doc] > 1:
                warn.append(f"{where}: two sources are named {name!r}; the second is read as {doc}-{g[:8]}")
                doc = f"{doc}-{g[:8]}"
            sources.append(ProjectSource(g, name, doc, text, sels, s))
        for w in warn:
            logger.warning("%s", w)
        return QdpxProject(
            path=where, name=root.get("name") or Path(where).stem, origin=root.get("origin") or "", namespace=ns,
            users=users, codes=codes, sources=sources, warnings=warn, qde_name=qde, root=root, valid=valid,
        )
    finally:
        if _archive is None:
            arch.close()


