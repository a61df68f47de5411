"""Know a text file before reading it: archives and binary data, UTF-32, NUL bytes, mixed encodings.

Input files come from other people and other programs. These checks turn what would be a
misread or a traceback into a message that names the file (and the line) and says what to do:

* a ZIP archive or an old Office file under a text suffix ("this is an Excel file");
* binary data (control bytes), UTF-32 (with or without BOM: an unsupported encoding);
* NUL bytes inside text;
* a file that is UTF-8 except for some lines in another encoding (the lines are named);
* a line longer than :data:`MAX_LINE_BYTES`, found by streaming the file, so such a line is
  never read into memory whole; and files larger than the limits below.
"""

from __future__ import annotations

import codecs
import re
from os import PathLike
from pathlib import Path

from ..errors import InputError

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_TRANSCRIPT_BYTES",
    "MAX_SMALL_FILE_BYTES",
    "check_bytes",
    "check_decoded",
    "mixed_encoding_error",
    "truncated_utf8",
    "undecodable_error",
    "check_line_lengths",
    "read_small_text",
]

#: The longest line read from a text file (CSV, TSV, JSONL, transcript): 1 MiB.
MAX_LINE_BYTES = 1 << 20
#: The largest ``.txt`` transcript read (it is read whole): 64 MiB.
MAX_TRANSCRIPT_BYTES = 64 << 20
#: The largest codebook, mapping or config file read: 16 MiB.
MAX_SMALL_FILE_BYTES = 16 << 20

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 26, 27))  # not tab, VT, FF, CR, EOF, ESC


def _zip_kind(head: bytes) -> str:
    if b"xl/" in head:
        return "an Excel workbook (.xlsx)"
    if b"word/" in head:
        return "a Word document (.docx)"
    if b"project.qde" in head or b".qde" in head:
        return "a REFI-QDA project (.qdpx)"
    return "a ZIP archive"


def check_bytes(data: bytes, path: str = "<input>") -> None:
    """Raise :class:`InputError` when ``data`` (a file's bytes, or its start) is not text we read.

    Refused: ZIP archives (``.xlsx``, ``.docx``, ``.qdpx``) and old Office files under a text
    suffix, PDF, UTF-32 with or without BOM, and binary data (control bytes).
    """
    head = data[:65536]
    suffix = Path(path).suffix or "no suffix"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        kind = _zip_kind(head)
        raise InputError(
            f"this is {kind}, not a text file (its suffix is {suffix!r}): give it its own suffix, "
            "or save it from its program as CSV or plain text",
            path=path,
        )
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise InputError(
            "this is an old Office file (an Excel .xls or Word .doc), not a text file: "
            "open it in Excel or Word and save it as .xlsx, .docx or CSV",
            path=path,
        )
    if head.startswith(b"%PDF"):
        raise InputError("this is a PDF file, not a text file: export its text first", path=path)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) or _looks_utf32(head):
        raise InputError(
            "unsupported encoding UTF-32: save the file as UTF-8 (or UTF-16) and try again", path=path
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(head):
        return
    controls = sum(head.count(bytes([b])) for b in _CONTROL)
    if head and controls > max(8, len(head) // 100):
        raise InputError(
            "this is binary data, not a text file (it holds control bytes such as NUL); "
            "check that the right file was given",
            path=path,
        )


def _looks_utf32(head: bytes) -> bool:
    n = len(head) - len(head) % 4
    if n < 8:
        return False
    quads = [head[i : i + 4] for i in range(0, min(n, 4096), 4)]
    le = sum(q[2:] == b"\0\0" and q[0] != 0 for q in quads)
    be = sum(q[:2] == b"\0\0" and q[3] != 0 for q in quads)
    return max(le, be) > 0.9 * len(quads)


def _looks_utf16(head: bytes) -> bool:
    n = len(head) - len(head) % 2
    if n < 4:
        return False
    even, odd = head[0:n:2], head[1:n:2]
    return max(even.count(0), odd.count(0)) > len(even) // 4


def check_decoded(text: str, path: str = "<input>") -> None:
    """Raise :class:`InputError` naming the line when decoded ``text`` holds NUL characters."""
    at = text.find("\x00")
    if at >= 0:
        line = text.count("\n", 0, at) + 1
        raise InputError(
            f"the file holds NUL bytes (first on line {line}): it is binary, damaged, or in an encoding "
            "without a byte-order mark; save it again as UTF-8",
            path=path,
        )


def mixed_encoding_error(data: bytes, exc: UnicodeDecodeError, path: str = "<input>") -> InputError | None:
    """An error naming the lines when ``data`` is UTF-8 except for some lines; else ``None``.

    ``exc`` is the error of decoding ``data`` as UTF-8. A file with fewer than two valid UTF-8
    characters beyond ASCII is taken to be in one other encoding (Windows-1252: a letter such as
    ``Å`` before a no-break space can look like one UTF-8 character) and gives ``None``.
    """
    found = _UTF8_MULTIBYTE.finditer(data)
    if next(found, None) is None or next(found, None) is None:
        return None
    bad_lines: list[int] = []
    pos = exc.start
    while pos < len(data) and len(bad_lines) < 6:
        line = data.count(b"\n", 0, pos) + 1
        bad_lines.append(line)
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        try:
            data[nl + 1 :].decode("utf-8")
            break
        except UnicodeDecodeError as more:
            pos = nl + 1 + more.start
    shown = ", ".join(str(n) for n in bad_lines[:5]) + (" ..." if len(bad_lines) > 5 else "")
    return InputError(
        f"the file mixes encodings: it is UTF-8, but line(s) {shown} are not (probably Windows-1252, "
        "pasted from another file). Open the file in an editor, fix those lines and save it as UTF-8",
        path=path,
        row=bad_lines[0],
    )


def truncated_utf8(data: bytes, exc: UnicodeDecodeError) -> bool:
    """True when ``data`` is UTF-8 cut inside its last character (the first block of a file)."""
    return exc.reason == "unexpected end of data" and bool(_UTF8_MULTIBYTE.search(data, 0, exc.start))


def undecodable_error(data: bytes, exc: UnicodeDecodeError, path: str = "<input>") -> InputError:
    """An error naming the line where ``data`` stops keeping to the encoding its start promised."""
    mixed = mixed_encoding_error(data, exc, path) if exc.encoding.replace("-", "").lower().startswith("utf8") else None
    if mixed is not None:
        return mixed
    width = 2 if "16" in exc.encoding else 1
    line = data[: exc.start - exc.start % width].decode(exc.encoding, errors="replace").count("\n") + 1
    return InputError(
        f"the file is not valid {exc.encoding} from line {line} on ({exc.reason}), though it starts as "
        f"{exc.encoding}; save it again as UTF-8",
        path=path,
        row=line,
    )


def check_line_lengths(path: str | PathLike[str], limit: int = MAX_LINE_BYTES) -> None:
    """Stream the file and raise :class:`InputError` at the first line longer than ``limit`` bytes.

    The file is read in blocks of ``limit`` bytes, so a long line is never held in memory whole;
    a line that lies inside one block cannot be too long, so each block costs a few C calls.
    """
    lines = 0  # line breaks before the current line
    run = 0  # bytes of the current line read so far
    with open(path, "rb") as fh:
        while True:
            block = fh.read(limit)
            if not block:
                return
            first = block.find(b"\n")
            if run + (len(block) if first < 0 else first) > limit:
                raise InputError(
                    f"line {lines + 1} is longer than {limit // (1 << 20)} MiB ({limit} bytes): this is not a "
                    "table or transcript of lines; check the file (its line breaks may have been lost)",
                    path=str(path),
                    row=lines + 1,
                )
            if first < 0:
                run += len(block)
                continue
            lines += block.count(b"\n")
            run = len(block) - block.rfind(b"\n") - 1


def read_small_text(path: str | PathLike[str], *, what: str, limit: int = MAX_SMALL_FILE_BYTES) -> str:
    """The text of a small file (a codebook, mapping or config), decoded as :func:`decode_text` does.

    Refuses files over ``limit`` bytes, archives, binary data, UTF-32, NUL bytes and mixed
    encodings with an :class:`InputError` that names the file and says what it is.
    """
    from .tables import decode_text

    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such {what}" if not p.exists() else "this is a folder, not a file", path=str(p))
    size = p.stat().st_size
    if size > limit:
        raise InputError(f"the {what} is {size} bytes; at most {limit} are read", path=str(p))
    text, _ = decode_text(p.read_bytes(), str(p))
    return text
