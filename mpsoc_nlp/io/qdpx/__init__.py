"""REFI-QDA projects (``.qdpx``) and codebooks (``.qdc``): read codings, write model suggestions.

Reading (:func:`read_qdpx`) is lenient: it validates ``project.qde`` against the REFI-QDA schema
but only warns, and skips what it cannot use with a warning. It is also safe against hostile
archives: no XML entities (so no entity bombs and no external entities), no archive member whose
path leaves the archive (``../``, absolute paths, drive letters, links), and limits on the number
of members, their sizes and their compression ratio (zip bombs); any of these is an
:class:`~mpsoc_nlp.errors.InputError`.

Writing (:func:`write_qdpx`, :class:`QdpxWriter`, :func:`write_qdc`) is strict: the XML is
validated against the schemas shipped in ``mpsoc_nlp/data/refi_qda`` (with ``xmlschema``, a
dependency) before the archive is written, atomically. GUIDs are deterministic (uuid5), so writing
the same suggestions twice gives the same GUIDs, and adding them to a project twice adds nothing.

Offsets are 0-based code points, end-exclusive, in the plain text of each source (a leading BOM
is not counted). See ``docs/ingestion.md`` for the recipe and the facts behind the choices.

The package: ``archive`` (safe archive and XML reading), ``project`` (the project model),
``mapping`` (project codes -> codebook codes), ``read`` (codings -> segments), ``write``
(suggestions -> project, codebook -> ``.qdc``).
"""

from __future__ import annotations

from .archive import ArchiveLimits, validate_xml
from .mapping import read_mapping
from .project import CODEBOOK_NS, PROJECT_NS, QdpxProject, SourceText, load_project
from .read import QdpxImport, import_qdpx, read_qdpx, read_qdpx_units, source_texts
from .write import QdpxWriter, write_qdc, write_qdpx
from .write import code_guid as code_guid

__all__ = [
    "PROJECT_NS",
    "CODEBOOK_NS",
    "ArchiveLimits",
    "QdpxProject",
    "QdpxImport",
    "SourceText",
    "load_project",
    "read_qdpx",
    "import_qdpx",
    "read_qdpx_units",
    "read_mapping",
    "source_texts",
    "write_qdpx",
    "write_qdc",
    "QdpxWriter",
    "validate_xml",
]
