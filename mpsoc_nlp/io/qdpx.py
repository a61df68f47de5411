"""REFI-QDA projects (``.qdpx``) and codebooks (``.qdc``): read codings, write model suggestions.

Reading (:func:`read_qdpx`) is lenient: it validates ``project.qde`` against the REFI-QDA schema
but only warns, and skips what it cannot use with a warning. It is also safe against hostile
archives: no XML entities (so no entity bombs and no external entities), no archive member whose
path leaves the archive (``../``, absolute paths, drive letters, links), and limits on the number
of members, their sizes and their compression ratio (zip bombs); any of these is an
:class:`~mpsoc_nlp.errors.InputError`.

Writing (:func:`write_qdpx`, :class:`QdpxWriter`, :func:`write_qdc`) is strict: the XML is
validated against the schemas shipped in ``mpsoc_nlp/data/refi_qda`` (when ``xmlschema`` is
installed) before the archive is written, atomically. GUIDs are deterministic (uuid5), so writing
the same suggestions twice gives the same GUIDs, and adding them to a project twice adds nothing.

Offsets are 0-based code points, end-exclusive, in the plain text of each source (a leading BOM
is not counted). See ``docs/ingestion.md`` for the recipe and the facts behind the choices.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import hashlib
import io
import logging
import os
import re
import stat
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from .._fs import apply_umask
from ..codebook import Codebook
from ..corpus import segments_from_records
from ..errors import CodebookError, InputError, InputProblem
from ..segmenting import Turn, paragraph_spans, turn_segments
from .sniff import read_small_text
from .transcripts import TranscriptOptions, parse_turns

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

__all__ = [
    "PROJECT_NS",
    "CODEBOOK_NS",
    "ArchiveLimits",
    "QdpxProject",
    "QdpxImport",
    "SourceText",
    "load_project",
    "read_qdpx",
    "read_qdpx_units",
    "read_mapping",
    "source_texts",
    "write_qdpx",
    "write_qdc",
    "QdpxWriter",
    "validate_xml",
]

logger = logging.getLogger(__name__)

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
#: The namespace of the deterministic GUIDs mpsoc_nlp writes (uuid5).
GUID_NAMESPACE = uuid.UUID("8b0c5a3e-6f1d-5e2a-9c47-3d2e1f0a6b58")
_TEXT_EXTENSIONS = (".txt", ".docx", ".doc", ".rtf", ".odt", ".pdf", ".md", ".html", ".htm")
_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
_PALETTE = ("#2E7D32", "#1565C0", "#6A1B9A", "#C62828", "#EF6C00", "#00838F", "#AD1457", "#4E342E")
_PALETTE_LIGHT = ("#81C784", "#64B5F6", "#BA68C8", "#E57373", "#FFB74D", "#4DD0E1", "#F06292", "#A1887F")


# --------------------------------------------------------------------------------------------
# safe archive reading
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchiveLimits:
    """Limits that keep a hostile or broken archive from exhausting memory or disk.

    Parameters
    ----------
    max_members : int
        Files in the archive.
    max_member_bytes : int
        Uncompressed size of one file (the standard allows internal files up to 2 GiB - 1).
    max_total_bytes : int
        Uncompressed size of all files together.
    max_ratio : float
        Uncompressed/compressed size of a file larger than ``ratio_min_bytes``.
    """

    max_members: int = 50_000
    max_member_bytes: int = 512 * 2**20
    max_total_bytes: int = 2 * 2**30
    max_ratio: float = 200.0
    ratio_min_bytes: int = 2**20


DEFAULT_LIMITS = ArchiveLimits()


def _unsafe_name(info: zipfile.ZipInfo) -> str | None:
    """Why a member name is unsafe, or ``None``."""
    name = info.filename
    if "\x00" in name:
        return "contains a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "is an absolute path"
    if any(part == ".." for part in norm.split("/")):
        return "points outside the archive ('..')"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "is a symbolic link"
    return None


class _Archive:
    """A zip archive opened with the checks of :class:`ArchiveLimits`; members read bounded."""

    def __init__(self, path: str | PathLike[str], limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        self.path = str(path)
        self.limits = limits
        p = Path(path)
        if not p.exists():
            raise InputError("no such file", path=self.path)
        if p.is_dir():
            raise InputError("this is a folder, not a file", path=self.path)
        try:
            self.zf = zipfile.ZipFile(p)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(
                f"cannot open the file as a REFI-QDA project: it is not a zip archive ({exc})", path=self.path
            ) from exc
        try:
            self._check()
        except BaseException:
            self.zf.close()
            raise

    def _check(self) -> None:
        infos = self.zf.infolist()
        lim = self.limits
        if len(infos) > lim.max_members:
            raise InputError(f"refused: the archive holds {len(infos)} files (limit {lim.max_members})", path=self.path)
        problems = []
        total = 0
        for info in infos:
            why = _unsafe_name(info)
            if why:
                problems.append(InputProblem(self.path, f"refused: the archive member {info.filename!r} {why}"))
                continue
            total += info.file_size
            if info.file_size > lim.max_member_bytes:
                problems.append(
                    InputProblem(
                        self.path,
                        f"refused: the archive member {info.filename!r} unpacks to {info.file_size} bytes "
                        f"(limit {lim.max_member_bytes})",
                    )
                )
            elif info.file_size > lim.ratio_min_bytes and info.file_size > lim.max_ratio * max(info.compress_size, 1):
                problems.append(
                    InputProblem(
                        self.path,
                        f"refused: the archive member {info.filename!r} is compressed "
                        f"{info.file_size // max(info.compress_size, 1)} to 1 (limit {lim.max_ratio:g} to 1); "
                        "it looks like a zip bomb",
                    )
                )
        if total > lim.max_total_bytes:
            problems.append(
                InputProblem(self.path, f"refused: the archive unpacks to {total} bytes (limit {lim.max_total_bytes})")
            )
        if problems:
            raise InputError(problems)
        self.infos = infos
        self.names = [i.filename for i in infos]

    def read(self, name: str) -> bytes:
        """The bytes of one member, reading at most its declared size and the limits."""
        info = self.zf.getinfo(name)
        cap = min(info.file_size, self.limits.max_member_bytes)
        out = bytearray()
        try:
            with self.zf.open(info) as fh:
                while True:
                    block = fh.read(1 << 20)
                    if not block:
                        break
                    out += block
                    if len(out) > cap:
                        raise InputError(
                            f"refused: the archive member {name!r} unpacks to more than its declared size or the "
                            "limits; the archive is damaged or hostile",
                            path=self.path,
                        )
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise InputError(f"cannot read {name!r} from the archive: {exc}", path=self.path) from exc
        return bytes(out)

    def find(self, file_name: str) -> str | None:
        """The member holding an internal file: ``sources/NAME`` or ``Sources/NAME`` (any case)."""
        want = file_name.strip("/").replace("\\", "/")
        lower = {n.lower(): n for n in self.names}
        for cand in (f"sources/{want}", want):
            if cand.lower() in lower:
                return lower[cand.lower()]
        base = PurePosixPath(want).name.lower()
        hits = [n for n in self.names if PurePosixPath(n).name.lower() == base]
        return hits[0] if len(hits) == 1 else None

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse_xml(data: bytes, where: str) -> ET.Element:
    """Parse XML without entity expansion or external entities; keep comments."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    parser = DET.DefusedXMLParser(
        target=ET.TreeBuilder(insert_comments=True, insert_pis=True),  # type: ignore[call-arg]
        forbid_dtd=False, forbid_entities=True, forbid_external=True,
    )
    try:
        parser.feed(data)
        return parser.close()  # type: ignore[no-any-return]
    except DefusedXmlException as exc:
        raise InputError(
            f"refused: the XML declares entities or external references ({type(exc).__name__}); "
            "REFI-QDA files never need them, and they can be used to attack the reader",
            path=where,
        ) from exc
    except ET.ParseError as exc:
        raise InputError(f"the XML is not well-formed: {exc}", path=where) from exc


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _guid(value: str | None) -> str | None:
    """A GUID compared case-insensitively without braces (``None`` when absent)."""
    if value is None:
        return None
    m = _GUID.match(value.strip())
    return m.group(1).lower() if m else value.strip().lower()


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


@functools.lru_cache(maxsize=2)
def _schema(kind: str) -> Any:
    import xmlschema

    name = "Project.xsd" if kind == "project" else "Codebook.xsd"
    path = resources.files("mpsoc_nlp").joinpath(f"data/refi_qda/{name}")
    with resources.as_file(path) as p:
        return xmlschema.XMLSchema(str(p))


def validate_xml(root: ET.Element | bytes, kind: str = "project", *, limit: int = 20) -> list[str] | None:
    """Schema errors of a project (``kind='project'``) or codebook (``'codebook'``) document.

    Returns a list of messages (empty when valid), or ``None`` when ``xmlschema`` is not
    installed (``pip install xmlschema``).
    """
    try:
        schema = _schema(kind)
    except ImportError:
        return None
    if isinstance(root, bytes):
        root = _parse_xml(root, "<xml>")
    errors = []
    for err in schema.iter_errors(root):
        path = re.sub(r"\{[^}]*\}", "", getattr(err, "path", None) or "")
        reason = str(err.reason)
        if "doesn't match any pattern" in reason:
            reason = reason.split(" of [", 1)[0] + " (a GUID such as 8-4-4-4-12 hex digits, or a #RRGGBB colour)"
        errors.append(f"{path}: {reason}" if path else reason)
        if len(errors) >= limit:
            break
    return errors


# --------------------------------------------------------------------------------------------
# the project model
# --------------------------------------------------------------------------------------------
@dataclass
class ProjectCode:
    guid: str
    name: str
    path: tuple[str, ...]
    codable: bool


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
                    codes[g] = ProjectCode(g, name, cpath, (c.get("isCodable") or "true").strip().lower() != "false")
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


# --------------------------------------------------------------------------------------------
# mapping project codes to codebook codes
# --------------------------------------------------------------------------------------------
def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def read_mapping(
    source: str | PathLike[str] | Mapping[str, Any], codebook: Codebook | None = None
) -> dict[str, tuple[str, ...]]:
    """Read a mapping from project code names to codebook codes.

    TOML: a table ``[codes]`` (or top-level keys) ``"Project code" = "type:valence"``, a list
    of codes, or ``""`` to ignore the code on purpose. CSV: a header and two columns, the
    project code (its name, its path ``Parent/Child``, or its GUID) and the codes
    (``;``-separated; empty or ``-`` to ignore). Keys are matched without regard to case.
    """
    codebook = codebook or Codebook.default()
    where = str(source) if not isinstance(source, Mapping) else "mapping"
    items: list[tuple[int | None, str, Any]] = []
    if isinstance(source, Mapping):
        items = [(None, str(k), v) for k, v in source.items()]
    else:
        p = Path(source)
        if not p.is_file():
            raise InputError("no such mapping file", path=where)
        text = read_small_text(p, what="mapping file")
        if p.suffix.lower() == ".toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"cannot read the mapping as TOML: {exc}", path=where) from exc
            table = data.get("codes", data)
            if not isinstance(table, Mapping):
                raise InputError("expected a table [codes] of \"project code\" = \"type:valence\"", path=where)
            items = [(None, str(k), v) for k, v in table.items()]
        elif p.suffix.lower() in (".csv", ".tsv", ".txt"):
            delim = "\t" if p.suffix.lower() == ".tsv" or ("\t" in text.split("\n", 1)[0]) else (
                ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
            )
            rows = list(csv.reader(io.StringIO(text), delimiter=delim))
            for i, row in enumerate(rows[1:], 2):
                if not row or not any(c.strip() for c in row):
                    continue
                items.append((i, row[0], ";".join(row[1:])))
        else:
            raise InputError("a mapping file is .toml or .csv", path=where)
    out: dict[str, tuple[str, ...]] = {}
    problems = []
    for line, key, value in items:
        try:
            codes = codebook.parse_codes(value if value is not None else "")
        except CodebookError as exc:
            problems.append(InputProblem(where, f"the mapping of {key!r}: {exc}", line, None))
            continue
        out[_key(key)] = codes
    if problems:
        raise InputError(problems)
    return out


def _code_map(
    project: QdpxProject, codebook: Codebook, mapping: Mapping[str, tuple[str, ...]] | None
) -> tuple[dict[str, tuple[str, ...]], set[str], list[str]]:
    """Project code GUID -> codebook codes; the GUIDs deliberately ignored; unused mapping keys."""
    mapping = mapping or {}
    out: dict[str, tuple[str, ...]] = {}
    ignored: set[str] = set()
    used: set[str] = set()
    for g, code in project.codes.items():
        keys = [g, "/".join(code.path), "::".join(code.path), ":".join(code.path), code.name]
        hit = next((_key(k) for k in keys if _key(k) in mapping), None)
        if hit is not None:
            used.add(hit)
            if mapping[hit]:
                out[g] = mapping[hit]
            else:
                ignored.add(g)
            continue
        if not code.codable:
            continue
        for cand in (code.name, ":".join(code.path)):
            try:
                out[g] = (codebook.parse(cand),)
                break
            except CodebookError:
                continue
    unused = sorted(k for k in mapping if k not in used)
    return out, ignored, unused


# --------------------------------------------------------------------------------------------
# reading segments
# --------------------------------------------------------------------------------------------
@dataclass
class QdpxImport:
    """The result of :func:`read_qdpx`: the long segment table and what was not used.

    Attributes
    ----------
    segments : pandas.DataFrame
        One row per segment and coder (see :mod:`mpsoc_nlp.corpus`), ``codes`` in codebook order.
    unmapped : dict
        Project code (its path) -> number of codings that were left out because the code maps to
        no codebook code. Write them into a mapping file (or map them to ``""`` to ignore them).
    warnings : list of str
        What the lenient reader skipped or doubted.
    """

    segments: pd.DataFrame
    project: QdpxProject
    code_map: dict[str, tuple[str, ...]]
    unmapped: dict[str, int]
    unused_mapping: list[str]
    warnings: list[str]

    @property
    def coders(self) -> list[str]:
        return sorted(str(c) for c in self.segments["coder"].dropna().unique())


def _units(source: ProjectSource, options: TranscriptOptions) -> tuple[list[dict[str, Any]], bool]:
    """Segment records for the text of one source: its turns, or its paragraphs without labels."""
    turns = parse_turns(source.text, options)
    if turns:
        recs = turn_segments(
            source.text, turns, document_id=source.document_id, speakers=options.speakers, unit=options.unit,
            max_chars=options.max_chars, strip=options.strip_marks, marks=options.marks,
        )
        return recs, True
    paras = [
        Turn(i, None, "participant", s, e, source.text.count("\n", 0, s) + 1)
        for i, (s, e) in enumerate(paragraph_spans(source.text))
    ]
    recs = turn_segments(
        source.text, paras, document_id=source.document_id, speakers="all", unit=options.unit,
        max_chars=options.max_chars, strip=options.strip_marks, marks=options.marks, genre=None,
    )
    for r in recs:
        r["speaker"] = None
        r["role"] = None
        r["context"] = None
    return recs, False


_UNIT_COLUMNS = [
    "segment_id", "document_id", "coder", "genre", "speaker", "turn_index", "start", "end", "text", "codes",
    "role", "source_guid",
]


def read_qdpx(
    path: str | PathLike[str],
    *,
    mapping: str | PathLike[str] | Mapping[str, Any] | None = None,
    codebook: Codebook | None = None,
    options: TranscriptOptions | None = None,
    uncoded: bool = True,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    validate: bool = True,
) -> QdpxImport:
    """Read the codings of every coder of a REFI-QDA project into the long segment table.

    Each coded selection becomes a segment of its coder with the codebook codes its project
    codes map to (selections on the same span are merged). A selection that covers exactly a
    turn of the transcript (or one of its sentence windows) gets that turn's ``segment_id``
    ``DOCUMENT:TURN``, as :func:`~mpsoc_nlp.io.transcripts.read_transcript` gives it; other
    spans get ``DOCUMENT:START-END``. With ``uncoded``, every participant turn that a coder left
    uncoded in a source they coded becomes a segment of that coder with no code, so a model
    learns from negatives too.

    Project codes map to codebook codes through ``mapping`` (a ``.toml``/``.csv`` file or a
    dict: see :func:`read_mapping`) or, when the mapping does not name them, when their name
    or path is a label of the codebook (``geografisk:positiv``, ``Relasjonell / Negativ``). Any
    other code is *not* guessed: its codings are left out and counted in ``unmapped``, with a
    warning.

    ``document_id`` is the source's name without a text extension (``INT-01.docx`` ->
    ``INT-01``), or mapped through ``options.document_ids``.
    """
    codebook = codebook or Codebook.default()
    options = options or TranscriptOptions()
    project = load_project(path, limits=limits, validate=validate, options=options)
    table = read_mapping(mapping, codebook) if mapping is not None else None
    code_map, ignored, unused = _code_map(project, codebook, table)
    warn = list(project.warnings)
    for k in unused:
        msg = f"{path}: the mapping names {k!r}, which is no code of the project"
        warn.append(msg)
        logger.warning("%s", msg)
    unmapped: Counter[str] = Counter()
    records: list[tuple[int, dict[str, Any]]] = []
    row = 0
    for source in project.sources:
        units, has_turns = _units(source, options)
        every = units if options.speakers == "all" else _units(source, replace(options, speakers="all"))[0]
        by_span = {(u["start"], u["end"]): u for u in every}
        turn_spans = [(u["start"], u["end"], u) for u in sorted(every, key=lambda u: (u["start"], u["end"]))]
        per_coder: dict[str, dict[tuple[int, int], set[str]]] = defaultdict(dict)
        touched: dict[str, list[tuple[int, int]]] = defaultdict(list)
        bad = 0
        for sel in source.selections:
            if not sel.codes:
                continue  # an annotation (MAXQDA) or a memo: no coding
            if not (0 <= sel.start < sel.end <= len(source.text)):
                bad += 1
                continue
            coder = project.coder_name(sel.coder)
            touched[coder].append((sel.start, sel.end))
            mapped: set[str] = set()
            any_known = False
            for g in sel.codes:
                if g in code_map:
                    mapped.update(code_map[g])
                    any_known = True
                elif g in ignored:
                    any_known = True
                else:
                    code = project.codes.get(g)
                    unmapped["/".join(code.path) if code else f"<unknown code {g}>"] += 1
            if any_known:
                per_coder[coder].setdefault((sel.start, sel.end), set()).update(mapped)
        if bad:
            msg = f"{path}: source {source.name!r}: {bad} selection(s) lie outside the text; skipped"
            warn.append(msg)
            logger.warning("%s", msg)
        for coder in sorted(touched):
            spans = per_coder.get(coder, {})
            rows_of: list[dict[str, Any]] = []
            for (s, e), codes in spans.items():
                unit = by_span.get((s, e))
                if unit is not None:
                    rec = dict(unit)
                else:
                    inside = next((u for us, ue, u in turn_spans if us <= s < ue), None)
                    rec = {
                        "segment_id": f"{source.document_id}:{s}-{e}",
                        "document_id": source.document_id,
                        "genre": "intervju" if has_turns else None,
                        "speaker": inside["speaker"] if inside else None,
                        "turn_index": inside["turn_index"] if inside else None,
                        "start": s,
                        "end": e,
                        "text": source.text[s:e],
                        "role": inside["role"] if inside else None,
                    }
                rec["codes"] = tuple(sorted(codes, key=codebook.index))
                rows_of.append(rec)
            if uncoded:
                for u in units:
                    if u["role"] not in (None, "participant") and options.speakers == "participant":
                        continue
                    if (u["start"], u["end"]) in spans:
                        continue
                    if any(s < u["end"] and u["start"] < e for s, e in touched[coder]):
                        continue
                    rec = dict(u)
                    rec["codes"] = ()
                    rows_of.append(rec)
            rows_of.sort(key=lambda r: (r["start"], r["end"]))
            for rec in rows_of:
                row += 1
                out = {k: rec.get(k) for k in _UNIT_COLUMNS}
                out["coder"] = coder
                out["source_guid"] = source.guid
                records.append((row, out))
    for name, n in sorted(unmapped.items()):
        msg = (
            f"{path}: the project code {name!r} maps to no code of the codebook; its {n} coding(s) are left out. "
            f"Map it in a mapping file (\"{name}\" = \"type:valence\", or \"\" to ignore it)"
        )
        warn.append(msg)
        logger.warning("%s", msg)
    if not records:
        raise InputError(
            "the project has no codings that map to the codebook"
            + (f" (unmapped project codes: {', '.join(sorted(unmapped))}; give --mapping)" if unmapped else ""),
            path=str(path),
        )
    frame = segments_from_records(records, _UNIT_COLUMNS, path=str(path), codebook=codebook)
    frame["codes"] = [tuple(c) if not isinstance(c, tuple) else c for c in frame["codes"]]
    return QdpxImport(frame, project, code_map, dict(unmapped), unused, warn)


def read_qdpx_units(
    path: str | PathLike[str],
    *,
    options: TranscriptOptions | None = None,
    codebook: Codebook | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> pd.DataFrame:
    """The segments to classify of a project: the participant turns (or paragraphs) of every
    text source, without coder or codes; offsets are in the project's own plain text."""
    options = options or TranscriptOptions()
    project = load_project(path, limits=limits, validate=False, options=options)
    records: list[tuple[int, dict[str, Any]]] = []
    for source in project.sources:
        units, _ = _units(source, options)
        for u in units:
            rec = {k: u.get(k) for k in _UNIT_COLUMNS if k not in ("coder", "codes")}
            rec["context"] = u.get("context")
            rec["source_guid"] = source.guid
            records.append((len(records) + 1, rec))
    if not records:
        raise InputError("the project has no text sources with text to classify", path=str(path))
    cols = [c for c in _UNIT_COLUMNS if c not in ("coder", "codes")] + ["context"]
    return segments_from_records(records, cols, path=str(path), codebook=codebook)


def source_texts(
    path: str | PathLike[str], *, options: TranscriptOptions | None = None
) -> dict[str, SourceText]:
    """The full texts behind an input file, by document_id: a transcript's text as read, or
    each text source of a ``.qdpx`` project. Empty for tables."""
    suffix = Path(path).suffix.lower()
    if suffix in (".txt", ".docx"):
        from .transcripts import read_transcript_text, transcript_document_id

        text, _ = read_transcript_text(path)
        doc = transcript_document_id(path, options)
        return {doc: SourceText(doc, Path(path).name, text)}
    if suffix == ".qdpx":
        project = load_project(path, validate=False, options=options)
        return {s.document_id: SourceText(s.document_id, s.name, s.text) for s in project.sources}
    return {}


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
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


def _atomic_zip(out: Path, members: Iterable[tuple[zipfile.ZipInfo | str, bytes]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    apply_umask(tmp)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for info, data in members:
                if isinstance(info, str):
                    zi = zipfile.ZipInfo(info, date_time=_dt.datetime.now().timetuple()[:6])
                    zi.compress_type = zipfile.ZIP_DEFLATED
                    zi.external_attr = 0o644 << 16
                    zf.writestr(zi, data)
                else:
                    zf.writestr(info, data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_valid(xml: bytes, kind: str, what: str, *, strict: bool = True) -> None:
    errors = validate_xml(xml, kind)
    if errors is None:
        logger.info("xmlschema is not installed: %s was not validated against the REFI-QDA schema", what)
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
    ) -> None:
        self.path = Path(path)
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
        _atomic_zip(self.path, [("project.qde", xml), *files])

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
            # codes: the project's own where they map to exactly one codebook code, else ours
            table = read_mapping(self.mapping, self.codebook) if self.mapping is not None else None
            code_map, _, _ = _code_map(project, self.codebook, table)
            target: dict[str, str] = {}
            for g, codes in code_map.items():
                if len(codes) == 1 and codes[0] not in target:
                    target[codes[0]] = g
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
            _atomic_zip(self.path, members)

    def _locate(self, text: str, it: _Suggestion) -> tuple[int, int] | None:
        """The span of a segment in a project's text: its own offsets when they hold, else found."""
        from ..segmenting import strip_marks

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
    from .predictions import check_output_path

    out_p = check_output_path(out, [into] if into is not None else [], force=force)
    meta = dict(metadata or {})
    if "library_version" not in meta:
        from .. import __version__

        meta["library_version"] = __version__
    with QdpxWriter(out_p, meta, codebook=codebook, sources=sources, into=into, mapping=mapping) as w:
        w.write(predictions)
    return out_p


def write_qdc(
    out: str | PathLike[str], codebook: Codebook | None = None, *, force: bool = False
) -> Path:
    """Write the codebook as a REFI-QDA codebook (``.qdc``), validated against Codebook.xsd.

    The code GUIDs are the ones :func:`write_qdpx` uses, so a project coded later lines up.
    """
    from .. import __version__
    from .predictions import atomic_write_text, check_output_path

    codebook = codebook or Codebook.default()
    out_p = check_output_path(out, [], force=force)
    root = ET.Element(_q(CODEBOOK_NS, "CodeBook"), {"origin": f"mpsoc_nlp {__version__}"})
    _codebook_codes(ET.SubElement(root, _q(CODEBOOK_NS, "Codes")), CODEBOOK_NS, codebook)
    xml = _serialise(root, CODEBOOK_NS)
    _check_valid(xml, "codebook", str(out_p))
    atomic_write_text(out_p, xml.decode("utf-8"))
    return out_p

