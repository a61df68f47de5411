"""Build an XLM-R style SentencePiece-Unigram tokenizer with the ``tokenizers`` library.

The pieces, their scores and a per-code-point normalisation map come from the weights file
(:mod:`mpsoc_nlp.models.e5s1`). The pipeline is the one the reference engine runs:

1. the normalisation map, expressed as NFKC plus ``Replace`` rules for the code points where the
   map differs from NFKC (control characters dropped, odd spaces made plain spaces);
2. runs of spaces collapsed to one;
3. ``▁`` prepended and spaces replaced by ``▁`` (``Metaspace``);
4. the Unigram model (Viterbi over the pieces' log-probabilities);
5. ``<s> … </s>`` around the ids.

Known differences from the engine, none of which occur in ordinary Norwegian text: NFKC composes
a letter with a following combining mark (``a`` + U+0308 -> ``ä``), as XLM-R's own tokenizer
does, where the engine maps code points one at a time; the 74 rare code points that NFKC changes
and the map does not list (e.g. the fullwidth tilde) are changed; consecutive unknown characters
become one ``<unk>``, not one each.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["build_unigram_tokenizer", "normalizer_rules", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def normalizer_rules(normalization: Mapping[int, str]) -> list[tuple[str, str]]:
    r"""``(regex character class, replacement)`` for the map's entries that NFKC does not give.

    >>> normalizer_rules({0x01: "", 0x0A: " ", 0xC5: "\u00c5"})
    [('[\\x{1}]', ''), ('[\\x{a}]', ' ')]
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for cp, out in sorted(normalization.items()):
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            groups[out].append(f"\\x{{{cp:x}}}")  # Oniguruma's code point escape
    return [(f"[{''.join(chars)}]", out) for out, chars in groups.items()]


def build_unigram_tokenizer(
    pieces: Sequence[str],
    scores: Sequence[float],
    normalization: Mapping[int, str],
    *,
    unk_id: int,
    bos: str = "<s>",
    eos: str = "</s>",
) -> Any:
    """A ``tokenizers.Tokenizer`` with the Unigram model, normaliser and post-processor described above."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    steps: list[Any] = [normalizers.Replace(Regex(p), out) for p, out in normalizer_rules(normalization)]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    index = {p: i for i, p in enumerate(pieces)}
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, index[bos]), (eos, index[eos])],
    )
    tok.add_special_tokens([t for t in SPECIAL_TOKENS if t in index])
    return tok
