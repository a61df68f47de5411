"""Helpers of the transformer backend: offline model resolution, windows, devices, checkpoints.

Nothing here imports torch or transformers at module level; every function that needs them
imports them itself, so ``import mpsoc_nlp`` stays light.

Offline resolution. A model is either a local folder (anything with a ``config.json``), a name
that ``mpsoc prepare-model`` knows (``multilingual-e5-small``: prepared on first use into the
model cache, see :func:`mpsoc_nlp.models.pretrained.cached_model`) or a hub name
(``owner/name``). A hub name is looked up only in the local Hugging Face cache (``HF_HUB_CACHE``,
else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``), with no network call; a download
happens only when the caller passes ``local_files_only=False`` *and* ``HF_HUB_OFFLINE`` is not set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._fs import atomic_file, atomic_write_text
from ..errors import MissingDependencyError, ModelError

__all__ = [
    "require_torch",
    "resolve_model",
    "hub_offline",
    "hub_cache_dir",
    "check_remote_code",
    "localize_auto_map",
    "make_windows",
    "combine_windows",
    "available_cpus",
    "torch_threads",
    "pick_device",
    "pick_precision",
    "dist_info",
    "save_state",
    "load_state",
]

logger = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def require_torch() -> Any:
    """Import torch and transformers, or explain how to install them."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingDependencyError(
            f"the transformer backend needs torch and transformers ({exc.name} is missing); "
            "install them with: pip install 'mpsoc-nlp[transformer]' "
            "(on a CPU-only machine install the CPU build of torch first)"
        ) from exc
    return torch


# offline model resolution ------------------------------------------------------------------
def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for no network at all."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}:
            return True
    return False


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _bring_in_message(name: str, cache: Path) -> str:
    local = name.split("/")[-1]
    return (
        f"model {name!r} is not available offline: it is not a local folder and not in the Hugging Face "
        f"cache ({cache}). Bring the weights in: on a machine with internet run "
        f"'hf download {name} --local-dir {local}' (or 'git clone https://huggingface.co/{name}'), "
        f"copy the folder {local}/ to this machine (for a secure enclave: through its import route), "
        f"then pass the folder: --model /path/to/{local}. "
        "Alternatively copy a whole Hugging Face cache and set HF_HOME to it. See training/README.md."
    )


def resolve_model(
    name_or_path: str | os.PathLike[str],
    *,
    local_files_only: bool = True,
    revision: str | None = None,
) -> Path:
    """The local folder of a model; a local folder wins over a name.

    The folder itself; for a name ``mpsoc prepare-model`` knows, its folder in the model cache
    (prepared on first use); for a hub name, its snapshot in the hub cache.

    Raises :class:`~mpsoc_nlp.errors.ModelError` with instructions when the model is not here.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{path}: not a Hugging Face model folder (no config.json); point --model to the folder "
                "that holds config.json, the weights (*.safetensors) and the tokenizer files"
            )
        return path
    from .pretrained import SOURCES, cached_model

    if text in SOURCES:  # e.g. multilingual-e5-small: prepared on first use into the model cache
        return cached_model(text)
    looks_like_path = text.startswith((".", "/", "~")) or os.sep in text.replace("/", "") or text.count("/") > 1
    if looks_like_path or not _HUB_ID.match(text):
        raise ModelError(f"{text}: no such model folder")
    cache = hub_cache_dir()
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(text, "config.json", cache_dir=str(cache), revision=revision)
    if isinstance(found, str) and Path(found).is_file():
        return Path(found).parent
    if local_files_only or hub_offline():
        raise ModelError(_bring_in_message(text, cache))
    # the caller explicitly allowed a download (local_files_only=False) and the hub is not offline
    from huggingface_hub import snapshot_download

    logger.warning("downloading %s from the Hugging Face hub (local_files_only=False)", text)
    try:
        return Path(snapshot_download(text, revision=revision, cache_dir=str(cache)))
    except Exception as exc:  # network, authentication, missing repository
        raise ModelError(f"could not download {text!r}: {exc}. {_bring_in_message(text, cache)}") from exc


def check_remote_code(folder: Path, trust_remote_code: bool) -> bool:
    """Whether the model needs custom code; refuse it unless ``trust_remote_code``."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{folder}/config.json: cannot be read ({exc})") from exc
    needs = bool(config.get("auto_map"))
    if needs and not trust_remote_code:
        raise ModelError(
            f"{folder}: this model runs its own Python code (config.json has 'auto_map', e.g. NorBERT 3); "
            "it is loaded only when you allow it: set 'trust_remote_code = true' in the --config TOML "
            "(or MPSOC_TRUST_REMOTE_CODE=1 when classifying), after checking the modeling_*.py files in the folder"
        )
    return needs


def localize_auto_map(saved: Path, source: Path | None) -> None:
    """Make a saved custom-code model loadable offline.

    ``save_pretrained`` of a model loaded by hub name may keep ``auto_map`` entries such as
    ``"ltg/norbert3-base--modeling_norbert.NorbertForSequenceClassification"`` that point back to
    the hub. Copy the ``*.py`` files from the source folder and rewrite the entries to local names.
    """
    cfg_path = saved / "config.json"
    if not cfg_path.is_file():
        return
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    auto_map = config.get("auto_map")
    if not auto_map:
        return
    if source is not None:
        for py in source.glob("*.py"):
            target = saved / py.name
            if not target.exists():
                target.write_bytes(py.read_bytes())

    def local(ref: Any) -> Any:
        if isinstance(ref, str) and "--" in ref:
            return ref.split("--", 1)[1]
        if isinstance(ref, list):
            return [local(r) for r in ref]
        return ref

    config["auto_map"] = {k: local(v) for k, v in auto_map.items()}
    cfg_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


def pickle_files(folder: Path) -> list[str]:
    """Files in a folder whose format is pickle (refused by the loader)."""
    return sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in _PICKLE_SUFFIXES)


# windows ----------------------------------------------------------------------------------
def make_windows(
    tokenizer: Any, texts: Sequence[str], *, max_length: int, stride: int
) -> tuple[list[list[int]], np.ndarray]:
    """Token windows of each text and the index of the text each window belongs to.

    A text of up to ``max_length`` tokens (special tokens included) is one window. A longer
    text is cut into windows of ``max_length`` tokens whose contents overlap by ``stride``
    tokens; each window gets the model's special tokens ([CLS] ... [SEP] for BERT).
    Works with fast and slow tokenizers.
    """
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    room = max_length - n_special
    if room < 2:
        raise ModelError(f"max_length {max_length} leaves no room for text after {n_special} special tokens")
    if not 0 <= stride < room:
        raise ModelError(f"stride must be at least 0 and below max_length - {n_special} = {room}; got {stride}")
    if not list(texts):
        return [], np.zeros(0, dtype=np.int64)
    enc = tokenizer(
        list(texts), truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True,
        padding=False, return_attention_mask=False, return_token_type_ids=False, verbose=False,
    )
    if "overflow_to_sample_mapping" in enc:  # Rust ("fast") tokenizers: windows made in one pass
        return list(enc["input_ids"]), np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
    if not hasattr(tokenizer, "build_inputs_with_special_tokens"):  # pragma: no cover - exotic tokenizers
        raise ModelError(f"{type(tokenizer).__name__} can split long texts into windows neither way")
    step = room - stride
    encoded = tokenizer(
        list(texts), add_special_tokens=False, truncation=False, padding=False,
        return_attention_mask=False, return_token_type_ids=False, verbose=False,
    )["input_ids"]
    windows: list[list[int]] = []
    owner: list[int] = []
    for i, ids in enumerate(encoded):
        start = 0
        while True:
            piece = ids[start : start + room]
            windows.append(tokenizer.build_inputs_with_special_tokens(piece))
            owner.append(i)
            if start + room >= len(ids):
                break
            start += step
    return windows, np.asarray(owner, dtype=np.int64)


def combine_windows(logits: np.ndarray, owner: np.ndarray, n: int, how: str = "max") -> np.ndarray:
    """One row of logits per text from the logits of its windows (``max`` or ``mean``).

    >>> combine_windows(np.array([[0.0, 2.0], [1.0, -1.0], [3.0, 3.0]]), np.array([0, 0, 1]), 2)
    array([[1., 2.],
           [3., 3.]])
    """
    if how == "max":
        out = np.full((n, logits.shape[1]), -np.inf)
        np.maximum.at(out, owner, logits)
        return out
    if how == "mean":
        sums = np.zeros((n, logits.shape[1]))
        np.add.at(sums, owner, logits)
        return sums / np.bincount(owner, minlength=n)[:, None]
    raise ModelError(f"window_combine must be 'max' or 'mean', not {how!r}")


# devices, threads, precision ----------------------------------------------------------------
def available_cpus() -> int:
    """CPUs this process may use: Slurm's allocation, else the affinity mask, else cpu_count."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit():
        return max(1, int(slurm))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run with ``num_threads`` intra-op threads (default: the CPUs available); restore after.

    torch sizes its pool from the machine's cores, which on a shared node or in a container
    can exceed the CPUs granted, and oversubscription is slower than fewer threads.
    """
    import torch

    before = torch.get_num_threads()
    want = num_threads if num_threads else min(before, available_cpus())
    if want != before:
        torch.set_num_threads(int(want))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def dist_info() -> tuple[int, int, int]:
    """(rank, local rank, world size) from the environment ``accelerate launch``/``torchrun`` set."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    return rank, local, world


def pick_device(device: str) -> Any:
    """``auto``: the GPU of this process (``LOCAL_RANK``) when CUDA is present, else the CPU."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", dist_info()[1] % max(torch.cuda.device_count(), 1))
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} was asked for but no CUDA GPU is available; use device = 'auto' or 'cpu'")
    return dev


def pick_precision(precision: str, device: Any) -> str:
    """``auto``: bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU.

    ``ACCELERATE_MIXED_PRECISION`` (set by ``accelerate launch --mixed_precision``) is honoured
    for ``auto``.
    """
    import torch

    if precision not in {"auto", "fp32", "bf16", "fp16"}:
        raise ModelError(f"precision must be auto, fp32, bf16 or fp16, not {precision!r}")
    if precision == "auto":
        env = os.environ.get("ACCELERATE_MIXED_PRECISION", "").lower()
        if env in {"bf16", "fp16"} and device.type == "cuda":
            return env
        if env == "no":
            return "fp32"
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision in {"bf16", "fp16"} and device.type == "cpu":
        logger.warning("precision %s on the CPU is slow or unsupported; using fp32", precision)
        return "fp32"
    return precision


# checkpoints without pickle: tensors in safetensors, everything else in JSON --------------------
def _jsonable(obj: Any, tensors: dict[str, Any], prefix: str) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().to("cpu").contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {"__dict__": [[_jsonable(k, tensors, f"{prefix}.k{i}"), _jsonable(v, tensors, f"{prefix}.{i}")]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_jsonable(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_jsonable(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _restore(obj: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        if "__dict__" in obj:
            return {_restore(k, tensors): _restore(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_restore(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_restore(v, tensors) for v in obj]
    return obj


def save_state(folder: Path, name: str, state: dict[str, Any]) -> None:
    """Write nested state (tensors, arrays, numbers, strings) as NAME.safetensors + NAME.json."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    meta = _jsonable(state, tensors, "t")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / f"{name}.safetensors", replace=True) as tmp_t:
        save_file(tensors, str(tmp_t))
    atomic_write_text(folder / f"{name}.json", json.dumps(meta), replace=True)


def load_state(folder: Path, name: str) -> dict[str, Any] | None:
    """Read what :func:`save_state` wrote, or ``None`` when it is absent."""
    from safetensors.torch import load_file

    tp, jp = folder / f"{name}.safetensors", folder / f"{name}.json"
    if not (tp.is_file() and jp.is_file()):
        return None
    tensors = load_file(str(tp))
    state = _restore(json.loads(jp.read_text(encoding="utf-8")), tensors)
    return state if isinstance(state, dict) else None
