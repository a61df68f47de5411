"""A tiny BERT and WordPiece tokenizer, built locally for tests and demos: nothing is downloaded.

``build_tiny_bert(folder, texts)`` trains a WordPiece vocabulary on ``texts`` with the
``tokenizers`` library, makes a randomly initialised two-layer BERT (a few hundred thousand
parameters) and saves both with ``save_pretrained``: a folder that ``--model`` accepts like any
Hugging Face model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def build_tiny_bert(
    folder: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 3000,
    hidden_size: int = 48,
    layers: int = 2,
    heads: int = 4,
    max_position_embeddings: int = 128,
    seed: int = 0,
) -> Path:
    """Save a tiny BERT base model with a WordPiece tokenizer trained on ``texts`` to ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, min_frequency=2)
    tok.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = BertTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", do_lower_case=True, model_max_length=max_position_embeddings,
    )
    fast.save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden_size * 2,
        max_position_embeddings=max_position_embeddings, pad_token_id=0,
    )
    BertModel(config).save_pretrained(str(folder))
    return folder


def killed_after_first_epoch() -> type:
    """A TransformerCoder whose fit dies (KeyboardInterrupt) right after epoch 1's checkpoint: a killed job."""
    from mpsoc_nlp.models.transformer import TransformerCoder

    class Killed(TransformerCoder):
        def _epoch_end(self, epoch: int) -> None:
            if epoch == 1:
                raise KeyboardInterrupt

    return Killed


@contextlib.contextmanager
def encoder_rows() -> Iterator[dict[str, int]]:
    """Counts, in ``["n"]``, the rows (windows) that go through any BertModel's forward pass inside the block."""
    import torch
    from transformers import BertModel

    rows = {"n": 0}

    def count(module: Any, args: Any, output: Any) -> None:
        if isinstance(module, BertModel):
            rows["n"] += int(output.last_hidden_state.shape[0])

    handle = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        yield rows
    finally:
        handle.remove()


def first_documents(samples: Any, n_docs: int) -> Any:
    """The text, codes and document_id of the first ``n_docs`` documents (sorted ids) of a segment frame."""
    docs = sorted(samples["document_id"].unique())[:n_docs]
    return samples[samples["document_id"].isin(docs)][["text", "codes", "document_id"]].reset_index(drop=True)

