"""Helpers of the nothing-lost tests (issue 11): run the CLI, fingerprint folder trees, build inputs.

Only public surfaces are used: ``mpsoc_nlp.cli.main`` in-process, ``python -m mpsoc_nlp`` in a
subprocess, and the top-level API.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mpsoc_nlp.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"
#: Markers of a crash instead of a plain refusal.
CRASH = ("Traceback", "internal error")


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def mpsoc(*args: object, cwd: Path | None = None) -> Run:
    """Run ``mpsoc ARGS`` in-process (in ``cwd``) and capture what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or Path.cwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


def assert_refused(run: Run, *secrets: str) -> None:
    """Exit 2 with a plain message: no traceback, no 'internal error', none of ``secrets`` (segment text)."""
    assert run.code == 2, f"exit {run.code}: {run.text[-2000:]}"
    for marker in CRASH:
        assert marker not in run.text, run.text[-2000:]
    for secret in secrets:
        assert secret not in run.text, "the message quotes segment text"


def env() -> dict[str, str]:
    """The environment of a subprocess that runs this tree's mpsoc_nlp."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def start(*args: object, cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m mpsoc_nlp ARGS`` in ``cwd``."""
    return subprocess.Popen(
        [sys.executable, "-m", "mpsoc_nlp", *[str(a) for a in args]],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, proc: subprocess.Popen[str], limit: float = 300.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it holds or ``proc`` ends (a bound against hanging, not a time assert)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return bool(predicate())
        time.sleep(0.02)
    return False


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too): relative path -> sha256 or ``<dir>``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "<dir>"
        for f in filenames:
            p = Path(dirpath) / f
            out[os.path.relpath(p, root)] = "<link>" if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def temp_files(root: Path) -> list[str]:
    """Leftover temporary files or folders under ``root`` (``.NAME.*.tmp``, ``*.tmp``, ``.NAME.old-*``)."""
    return sorted(k for k in snapshot(root) if Path(k).name.endswith(".tmp") or ".old-" in Path(k).name)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def sample_rows(n_documents: int, coders: tuple[str, ...] = ("A", "B")) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first ``n_documents`` interviews and journals of the sample corpus."""
    with open(SAMPLES / "codings.csv", encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh))
    header, body = records[0], records[1:]
    doc, coder = header.index("document_id"), header.index("coder")
    docs = sorted({r[doc] for r in body})
    half = n_documents // 2
    keep = {d for d in docs if d.startswith("INT-")}
    keep = set(sorted(keep)[:half]) | set(sorted(d for d in docs if d.startswith("J-"))[:half])
    return header, [r for r in body if r[doc] in keep and r[coder] in coders]


def plain_rows(n: int, *, prefix: str = "S") -> tuple[list[str], list[list[str]]]:
    """``n`` uncoded segments to classify, in documents of 50 segments."""
    words = ("Jeg savner bygda", "Mamma ringer hver søndag", "Gutta på gata forsto meg", "NA-gruppa hjelper")
    return ["segment_id", "document_id", "text"], [
        [f"{prefix}{i}", f"{prefix}D{i // 50}", f"{words[i % 4]}, dag {i}."] for i in range(n)
    ]
