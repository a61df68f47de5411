"""Safe reading of ``.qdpx`` archives and their XML: no entities, no paths that leave the archive,
limits against zip bombs; XML validation against the shipped REFI-QDA schemas.
"""

from __future__ import annotations

import functools
import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from importlib import resources
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import Any

from ...errors import InputError
from ..archives import DEFAULT_LIMITS, ArchiveLimits, check_archive

__all__ = ["ArchiveLimits", "validate_xml"]

logger = logging.getLogger(__name__)

_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")


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
        self.infos = check_archive(self.zf, self.path, self.limits)
        self.names = [i.filename for i in self.infos]

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


