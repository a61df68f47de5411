"""Speed of the transformer coder against Hugging Face peers in the same run; prints a Markdown table.

1. Inference, segments per second: ``TransformerCoder.predict_proba`` (length-sorted batches,
   dynamic padding, inference mode; bf16 on GPU) against
   ``transformers.pipeline("text-classification", top_k=None, batch_size=32)`` on the same
   segments and the same weights. Then ours with ``quantize=True`` (dynamic int8, CPU only).
   Probabilities are compared, so a speed-up cannot come from computing something else.
2. Fine-tuning throughput, segments per second: our training loop (one epoch, batch 8 x
   gradient accumulation 2, as the CPU configs) against ``transformers.Trainer`` with the same
   batch, the same loss (BCE with per-code positive weights) and the same segments.

The model is randomly initialised with NB-BERT-base's exact shape (BERT-base, 12 layers, hidden
768, vocabulary 119,547; speed does not depend on the weights). Its WordPiece tokenizer is trained
on the sample corpus with ``--trained-vocab`` pieces (about NB-BERT's pieces per word on these
texts) and padded with unused entries to 119,547. The segments are drawn with replacement from
``data_samples/codings.csv``, so they have its length distribution.

Run: ``python benchmarks/transformer_speed.py`` (2,000 segments; ``--segments 300`` for a quick
run). The GPU is used when one is present; the table says which device ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
VOCAB = 119_547


def sample_texts(n: int, seed: int) -> list[str]:
    frame = pd.read_csv(REPO / "data_samples" / "codings.csv", dtype=str, keep_default_na=False)
    texts = frame["text"].drop_duplicates().tolist()
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.integers(0, len(texts), size=n)]


def build_tokenizer(texts: list[str], trained: int, folder: Path) -> Any:
    """A WordPiece tokenizer trained on the corpus, padded to NB-BERT's vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    base = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    base.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    base.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    base.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=trained, special_tokens=special))
    vocab = dict(base.get_vocab())
    for i in range(VOCAB - len(vocab)):
        vocab[f"[unused{i}]"] = len(vocab)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = base.normalizer
    tok.pre_tokenizer = base.pre_tokenizer
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=512, do_lower_case=False)
    fast.save_pretrained(str(folder))
    return fast


def build_model(folder: Path, tokenizer: Any, codes: list[str]) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=512, num_labels=len(codes), problem_type="multi_label_classification",
        id2label=dict(enumerate(codes)), label2id={c: i for i, c in enumerate(codes)},
    )
    BertForSequenceClassification(config).save_pretrained(str(folder))


def mpsoc_folder(hf_folder: Path, out: Path) -> Path:
    """Wrap the Hugging Face folder as an mpsoc model folder (as training would), through save()."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mpsoc_nlp import Codebook
    from mpsoc_nlp.models._hf import pick_device
    from mpsoc_nlp.models.transformer import TransformerCoder

    cb = Codebook.default()
    coder = TransformerCoder(cb, model_name_or_path=str(hf_folder), max_length=512, eval_batch_size=32)
    coder.tokenizer_ = AutoTokenizer.from_pretrained(str(hf_folder))
    coder.model_ = AutoModelForSequenceClassification.from_pretrained(str(hf_folder))
    coder.device_ = pick_device("cpu")
    coder.max_length_ = 512
    coder.codebook_ = cb
    coder.thresholds_ = np.full(len(cb), 0.5)
    coder.n_train_, coder.n_validation_ = 0, 0
    coder.positives_ = np.zeros(len(cb), dtype=int)
    coder.history_, coder.best_epoch_, coder.pos_weight_ = [], None, None
    coder.save(out, force=True)
    return out


CPU_SECONDS: dict[str, float] = {}


def timed(function: Any, label: str = "", key: str | None = None) -> tuple[float, Any]:
    """Wall seconds of a call; its CPU seconds (all threads of this process) go to CPU_SECONDS[key]."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    if key:
        CPU_SECONDS[key] = CPU_SECONDS.get(key, 0.0) + cpu_seconds
    if label:
        print(f"  {label}: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU", file=sys.stderr, flush=True)
    return seconds, result


def pipeline_proba(result: list[list[dict[str, Any]]], codes: list[str]) -> np.ndarray:
    index = {c: j for j, c in enumerate(codes)}
    out = np.zeros((len(result), len(codes)))
    for i, row in enumerate(result):
        for item in row:
            out[i, index[item["label"]]] = item["score"]
    return out


def bench_inference(
    texts: list[str], hf_folder: Path, model_dir: Path, device: str, rounds: int
) -> list[dict[str, Any]]:
    """Time each system on the same segments, in ``rounds`` slices whose order rotates.

    The machine may be shared: interleaving the systems slice by slice spreads any change of
    load over all of them, instead of favouring whichever ran in a quiet minute.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from mpsoc_nlp.models.base import load_model

    ours = load_model(model_dir, device=device)
    codes = list(ours.codebook_.codes)
    tok = AutoTokenizer.from_pretrained(str(hf_folder))
    pipe_dev = 0 if device.startswith("cuda") else -1
    hf = AutoModelForSequenceClassification.from_pretrained(str(hf_folder))
    pipe = pipeline("text-classification", model=hf, tokenizer=tok, top_k=None, batch_size=32, device=pipe_dev)
    systems: dict[str, Any] = {
        f"mpsoc TransformerCoder ({'fp32' if device == 'cpu' else 'bf16/fp16'})": ours.predict_proba,
        "transformers.pipeline (fp32, batch_size=32)":
            lambda t: pipeline_proba(pipe(t, truncation=True, max_length=512), codes),
    }
    if device.startswith("cuda"):
        hf16 = AutoModelForSequenceClassification.from_pretrained(str(hf_folder), dtype=torch.bfloat16)
        pipe16 = pipeline("text-classification", model=hf16, tokenizer=tok, top_k=None, batch_size=32, device=0)
        systems["transformers.pipeline (bf16, batch_size=32)"] = lambda t: pipeline_proba(
            pipe16(t, truncation=True, max_length=512), codes)
    else:
        q = load_model(model_dir, device="cpu", quantize=True)
        systems["mpsoc TransformerCoder, quantize=True (int8)"] = q.predict_proba
    names = list(systems)
    for name in names:  # warm-up
        systems[name](texts[:16])
    seconds = dict.fromkeys(names, 0.0)
    proba: dict[str, list[np.ndarray]] = {n: [] for n in names}
    slices = np.array_split(np.arange(len(texts)), rounds)
    for r, idx in enumerate(slices):
        part = [texts[i] for i in idx]
        for name in names[r % len(names):] + names[: r % len(names)]:
            t, p = timed(lambda f=systems[name], x=part: f(x), f"round {r + 1}/{rounds}: {name}", key=name)
            seconds[name] += t
            proba[name].append(p)
    ref = np.concatenate(proba[names[0]])
    rows = []
    for name in names:
        row: dict[str, Any] = {"what": "inference", "system": name, "segments": len(texts), "seconds": seconds[name],
                               "cpu_seconds": CPU_SECONDS[name]}
        if name != names[0]:
            row["max_abs_diff_vs_ours"] = float(np.abs(np.concatenate(proba[name]) - ref).max())
        rows.append(row)
    return rows


def bench_training(
    texts: list[str], hf_folder: Path, device: str, max_length: int, rounds: int
) -> list[dict[str, Any]]:
    """One epoch of fine-tuning, ours and Trainer's, alternating ``rounds`` times (best of the rounds)."""
    import datasets
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from mpsoc_nlp import Codebook
    from mpsoc_nlp.models.transformer import TransformerCoder

    cb = Codebook.default()
    rng = np.random.default_rng(0)
    y = (rng.random((len(texts), len(cb))) < 0.12).astype(np.uint8)

    def ours(n: int) -> tuple[float, float]:
        coder = TransformerCoder(cb, model_name_or_path=str(hf_folder), epochs=1, validation_fraction=0.0,
                                 batch_size=8, gradient_accumulation_steps=2, max_length=max_length, device=device,
                                 warmup_ratio=0.1)
        # CPU seconds of the epoch alone: from its first batch order (_batches) to its end (_epoch_end)
        marks: list[float] = []
        batches = coder._batches

        def first_batches(lengths: Any, epoch: int) -> Any:
            marks.append(time.process_time())
            return batches(lengths, epoch)

        coder._batches = first_batches  # type: ignore[method-assign]
        coder._epoch_end = lambda epoch: marks.append(time.process_time())  # type: ignore[method-assign]
        coder.fit(texts[:n], y[:n])
        return float(coder.history_[0]["seconds"]), marks[-1] - marks[0]

    tok = AutoTokenizer.from_pretrained(str(hf_folder))
    pos = y.sum(axis=0)
    pw = torch.tensor(np.minimum((len(y) - pos) / np.maximum(pos, 1), 10.0), dtype=torch.float32)
    data = datasets.Dataset.from_dict({"text": texts, "labels": y.astype(np.float32).tolist()})
    data = data.map(lambda b: tok(b["text"], truncation=True, max_length=max_length), batched=True,
                    remove_columns=["text"])

    class BCETrainer(Trainer):
        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False, **kw: Any) -> Any:
            labels = inputs.pop("labels")
            out = model(**inputs)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                out.logits.float(), labels.float(), pos_weight=pw.to(out.logits.device))
            return (loss, out) if return_outputs else loss

    def peer() -> tuple[float, float]:
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(str(hf_folder))
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArguments(
                output_dir=tmp, per_device_train_batch_size=8, gradient_accumulation_steps=2, num_train_epochs=1,
                learning_rate=2e-5, warmup_steps=0.1, weight_decay=0.01, report_to="none", save_strategy="no",
                logging_strategy="no", disable_tqdm=True, use_cpu=not device.startswith("cuda"),
                bf16=device.startswith("cuda") and torch.cuda.is_bf16_supported(), dataloader_num_workers=0, seed=0,
            )
            trainer = BCETrainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorWithPadding(tok))
            start, cpu = time.perf_counter(), time.process_time()
            trainer.train()
            return time.perf_counter() - start, time.process_time() - cpu

    ours(16)  # warm-up: the first backward passes of a process are slower
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": []}
    for r in range(rounds):
        for name in (["ours", "peer"] if r % 2 == 0 else ["peer", "ours"]):
            wall, cpu = ours(len(texts)) if name == "ours" else peer()
            print(f"  training round {r + 1}/{rounds}: {name}: {wall:.1f} s wall, {cpu:.1f} s CPU",
                  file=sys.stderr, flush=True)
            results[name].append((wall, cpu))
    best = {k: min(v) for k, v in results.items()}
    system = f"mpsoc training loop (batch 8 x accumulation 2, {max_length} tokens)"
    return [
        {"what": "fine-tuning", "system": system, "segments": len(texts), "seconds": best["ours"][0],
         "cpu_seconds": best["ours"][1]},
        {"what": "fine-tuning", "system": "transformers.Trainer (same batch, loss, segments)", "segments": len(texts),
         "seconds": best["peer"][0], "cpu_seconds": best["peer"][1]},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=2000, help="segments to classify (default 2000)")
    parser.add_argument("--train-segments", type=int, default=64, help="segments of the fine-tuning epoch")
    parser.add_argument("--train-max-length", type=int, default=256)
    parser.add_argument("--train-rounds", type=int, default=2, help="alternating runs of each; the best counts")
    parser.add_argument("--trained-vocab", type=int, default=2000,
                        help="WordPiece pieces learnt from the corpus (the rest of the 119,547 are unused)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--rounds", type=int, default=4, help="slices of the segments, systems interleaved")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    from mpsoc_nlp import Codebook

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or platform.machine()
    texts = sample_texts(args.segments, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        hf_folder = Path(tmp) / "nb-bert-base-shape"
        tok = build_tokenizer(sample_texts(4000, args.seed + 1), args.trained_vocab, hf_folder)
        n_tokens = np.asarray([len(ids) for ids in tok(texts, truncation=True, max_length=512)["input_ids"]])
        n_words = np.asarray([len(t.split()) for t in texts])
        build_model(hf_folder, tok, list(Codebook.default().codes))
        model_dir = mpsoc_folder(hf_folder, Path(tmp) / "mpsoc-model")
        rows = bench_inference(texts, hf_folder, model_dir, device, args.rounds)
        if not args.skip_training:
            rows += bench_training(texts[: args.train_segments], hf_folder, device, args.train_max_length,
                                   args.train_rounds)
    pipe = next(r for r in rows if r["system"].startswith("transformers.pipeline (fp32"))
    trainer = next((r for r in rows if r["system"].startswith("transformers.Trainer")), None)
    for r in rows:
        r["segments_per_s"] = r["segments"] / r["seconds"]
        peer = pipe if r["what"] == "inference" else trainer
        r["speed_vs_peer"] = r["segments_per_s"] / (peer["segments"] / peer["seconds"]) if peer else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device: {device} ({name}); load average {load:.1f} at the end; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    print(f"segments: {len(texts)} drawn from data_samples/codings.csv; words per segment mean {n_words.mean():.1f}, "
          f"max {n_words.max()}; tokens mean {n_tokens.mean():.1f}, p95 {np.percentile(n_tokens, 95):.0f}, "
          f"max {n_tokens.max()} ({n_tokens.sum() / n_words.sum():.2f} tokens per word)")
    print()
    print("| task | system | segments | wall s | segments/s | vs peer (wall) | CPU s | vs peer (CPU) "
          "| max abs diff of probabilities |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        diff = r.get("max_abs_diff_vs_ours")
        peer = pipe if r["what"] == "inference" else trainer
        cpu = r.get("cpu_seconds")
        cpu_ratio = peer["cpu_seconds"] / cpu if peer and cpu and peer.get("cpu_seconds") else None
        print(f"| {r['what']} | {r['system']} | {r['segments']} | {r['seconds']:.1f} | {r['segments_per_s']:.2f} | "
              f"{format(r['speed_vs_peer'], '.2f') + 'x' if r['speed_vs_peer'] else '–'} | "
              f"{format(cpu, '.1f') if cpu else '–'} | {format(cpu_ratio, '.2f') + 'x' if cpu_ratio else '–'} | "
              f"{format(diff, '.1e') if diff is not None else '–'} |")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "device_name": name, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
