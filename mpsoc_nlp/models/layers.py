"""The layers of a BERT-like encoder: freezing the bottom of it, and layer-wise learning rates.

:func:`encoder_parts` finds the embeddings and the list of encoder layers of a Hugging Face model
(BERT, XLM-RoBERTa, ELECTRA, DeBERTa, DistilBERT and other models with the same layout, with or
without a classification head); everything else (the pooler, the head) is the rest.
:func:`freeze_bottom` freezes the embeddings and the lowest layers, and :func:`parameter_groups`
builds the optimiser's parameter groups: the rest at the base learning rate, layer ``i`` of ``n``
(0 at the bottom) at ``lr * decay ** (n - i)`` and the embeddings at ``lr * decay ** (n + 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError, ModelError

__all__ = ["EncoderParts", "encoder_parts", "freeze_bottom", "parameter_groups"]

# where BERT-like models keep their list of layers, below the base model
_LAYER_LISTS = ("encoder.layer", "encoder.layers", "transformer.layer", "transformer.layers", "layers", "layer")
_EMBEDDINGS = ("embeddings", "embedding")


@dataclass(frozen=True)
class EncoderParts:
    """A model's parameters by depth: ``embeddings`` (a module), ``layers`` (bottom first), ``rest``."""

    embeddings: Any
    layers: list[Any]
    rest: list[tuple[str, Any]]


def _get(module: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        module = getattr(module, name, None)
        if module is None:
            return None
    return module


def encoder_parts(model: Any) -> EncoderParts:
    """The embeddings, the encoder layers (bottom first) and the remaining named parameters of ``model``.

    Raises :class:`~mpsoc_nlp.errors.ModelError` when the layout is not a BERT-like one.
    """
    import torch

    base = getattr(model, "base_model", model)
    embeddings = next((m for m in (getattr(base, n, None) for n in _EMBEDDINGS) if isinstance(m, torch.nn.Module)),
                      None)
    layers = next((m for m in (_get(base, p) for p in _LAYER_LISTS) if isinstance(m, torch.nn.ModuleList)), None)
    if embeddings is None or layers is None or len(layers) == 0:
        raise ModelError(
            f"freeze_layers and layerwise_lr_decay need a BERT-like encoder (embeddings and a list of layers); "
            f"{type(model).__name__} has an unknown layout: leave them at 0 and 1.0 for this model"
        )
    inside = {id(p) for p in embeddings.parameters()} | {id(p) for layer in layers for p in layer.parameters()}
    rest = [(n, p) for n, p in model.named_parameters() if id(p) not in inside]
    return EncoderParts(embeddings, list(layers), rest)


def check_depth(parts: EncoderParts, freeze_layers: int) -> None:
    """Stop with a clear message when ``freeze_layers`` is more than the model has."""
    if freeze_layers > len(parts.layers):
        raise InputError(f"freeze_layers is {freeze_layers}, but the model has only {len(parts.layers)} layers")


def freeze_bottom(model: Any, freeze_layers: int) -> None:
    """Freeze the embeddings and the lowest ``freeze_layers`` encoder layers (0: nothing)."""
    if freeze_layers <= 0:
        return
    parts = encoder_parts(model)
    check_depth(parts, freeze_layers)
    for module in [parts.embeddings, *parts.layers[:freeze_layers]]:
        for p in module.parameters():
            p.requires_grad_(False)


def _no_decay(name: str, p: Any) -> bool:
    """Biases and normalisation weights get no weight decay."""
    return bool(p.ndim < 2 or "norm" in name.lower())


def parameter_groups(model: Any, *, lr: float, weight_decay: float, decay: float = 1.0) -> list[dict[str, Any]]:
    """AdamW parameter groups of the trainable parameters, by depth when ``decay`` < 1.

    Each group has ``params``, ``lr``, ``weight_decay`` and ``depth`` (0: the head and the rest,
    ``n - i`` for layer ``i`` of ``n``, ``n + 1`` for the embeddings). Empty groups are left out.

    >>> import torch
    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> cfg = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=8)
    >>> groups = parameter_groups(BertForSequenceClassification(cfg), lr=1.0, weight_decay=0.01, decay=0.5)
    >>> sorted({(g["depth"], g["lr"]) for g in groups})
    [(0, 1.0), (1, 0.5), (2, 0.25), (3, 0.125)]
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if decay == 1.0:
        by_depth: list[tuple[int, list[tuple[str, Any]]]] = [(0, named)]
    else:
        parts = encoder_parts(model)
        n = len(parts.layers)
        depth_of = {id(p): n + 1 for p in parts.embeddings.parameters()}
        for i, layer in enumerate(parts.layers):
            depth_of.update({id(p): n - i for p in layer.parameters()})
        by_depth = [(d, [(name, p) for name, p in named if depth_of.get(id(p), 0) == d]) for d in range(n + 2)]
    groups: list[dict[str, Any]] = []
    for depth, params in by_depth:
        for no_decay in (False, True):
            chosen = [p for name, p in params if _no_decay(name, p) == no_decay]
            if chosen:
                groups.append({"params": chosen, "lr": lr * decay**depth, "depth": depth,
                               "weight_decay": 0.0 if no_decay else weight_decay})
    return groups
