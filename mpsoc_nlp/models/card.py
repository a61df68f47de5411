"""The model card (README.md of a model folder), rendered from ``model.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["model_card"]


def _fmt(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and x != x) else f"{x:.3f}" if isinstance(x, float) else str(x)


def model_card(meta: dict[str, Any]) -> str:
    """A Markdown model card: what the model codes, on what data, how well, and its limits."""
    codes = meta["codes"]
    data = meta.get("training_data", {})
    lines = [
        f"# Model card: {meta.get('name', 'mpsoc-nlp model')}",
        "",
        f"- backend: `{meta['backend']}`" + _base(meta),
        f"- codebook: {meta['codebook'].get('name')} {meta['codebook'].get('version')} ({len(codes)} codes)",
        f"- library: mpsoc-nlp {meta.get('library_version')}, model format {meta.get('format_version')}",
    ]
    prepared = meta.get("base_model_prepared")
    if prepared:
        lines.append(
            f"- base model weights: `{prepared.get('upstream')}` ({prepared.get('licence')}), prepared by "
            f"`mpsoc prepare-model` from `{prepared.get('package')}` (sha256 `{str(prepared.get('sha256'))[:12]}…`)"
        )
    if meta.get("created"):
        lines.append(f"- created: {meta['created']}")
    if meta.get("coder"):
        lines.append(f"- trained on the codes of coder `{meta['coder']}`")
    if data:
        lines += [
            f"- training data: {data.get('segments')} segments from {data.get('documents')} documents"
            + ("; files (sha256): " + ", ".join(f"`{f['name']}` `{f['sha256'][:12]}…`" for f in data.get("files", [])))
            if data.get("files")
            else "",
        ]
    ids = data.get("ids") if data else None
    if ids:
        lines.append(
            f"- training ids: salted hashes of {len(ids.get('documents', []))} document ids and "
            f"{len(ids.get('segments', []))} segment ids (pseudonyms, not text), so that `mpsoc evaluate` can tell "
            "gold documents the model was trained on"
        )
    lines += [
        "",
        "## Codes, training positives and decision thresholds",
        "",
        "| code | positives | threshold |",
        "|---|---:|---:|",
    ]
    positives = meta.get("positives", {})
    for code, t in zip(codes, meta["thresholds"]):
        lines.append(f"| `{code}` | {positives.get(code, '–')} | {t:.2f} |")
    metrics = meta.get("metrics")
    if metrics:
        lines += ["", f"## Cross-validated scores ({metrics.get('description', 'grouped by document')})", ""]
        summ = metrics.get("summary", {})
        for key, label in [
            ("micro_f1", "micro F1 over codes"),
            ("macro_f1", "macro F1 over codes"),
            ("type_macro_f1", "macro F1 over community types"),
            ("valence_macro_f1", "macro F1 over valences"),
            ("any_community_f1", "F1 of 'any community'"),
            ("exact_set_accuracy", "exact-set accuracy"),
        ]:
            if key in summ:
                lines.append(f"- {label}: {_fmt(summ[key])}")
        per = metrics.get("per_code", {})
        if per:
            lines += [
                "",
                "| code | precision | recall | F1 | Cohen's kappa | support |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for code in codes:
                m = per.get(code, {})
                lines.append(
                    f"| `{code}` | {_fmt(m.get('precision'))} | {_fmt(m.get('recall'))} | {_fmt(m.get('f1'))} "
                    f"| {_fmt(m.get('kappa'))} | {m.get('support', '–')} |"
                )
    lines += [
        "",
        "## Intended use and limits",
        "",
        "- Suggests MPSOC codes for Norwegian interview segments and journal notes, for a researcher to",
        "  review: segments flagged `review` are near a threshold and need a person's eye.",
        "- It learned from the data above only; texts unlike them (other genres, other age groups,",
        "  other dialects or topics) will be coded less reliably. Check it on your own coded sample",
        "  with `mpsoc evaluate` before relying on it.",
        "- It sees one segment at a time, not the conversation around it.",
        _holds(meta),
        "",
    ]
    return "\n".join(lines)


def _base(meta: dict[str, Any]) -> str:
    if not meta.get("base_model"):
        return ""
    if meta.get("backend") == "hybrid":
        weight = meta.get("params", {}).get("weight")
        return f" (hashed n-grams beside the frozen encoder `{meta['base_model']}`, weight {weight})"
    return f" (base model `{meta['base_model']}`)"


def _holds(meta: dict[str, Any]) -> str:
    """What the folder holds, by backend, and whether loading it runs code."""
    if meta.get("backend") == "transformer":
        what = (
            "- The folder holds no training text: the network's weights (safetensors) and the base model's tokenizer."
        )
    elif meta.get("backend") == "hybrid":
        what = (
            "- The folder holds "
            + ("no training text except the word n-gram vocabulary kept for explanations"
               if meta.get("keeps_vocabulary") else "no training text (hashed features; no vocabulary)")
            + ": the n-gram weights and, in `encoder/`, the frozen encoder (safetensors) and its tokenizer, "
            "checked against the sha256 sums in `encoder_files.json` on load."
        )
    elif meta.get("keeps_vocabulary"):
        what = "- The folder holds no training text except the word n-gram vocabulary kept for explanations."
    else:
        what = "- The folder holds no training text (hashed features; no vocabulary)."
    if meta.get("remote_code"):
        return (
            what + " No pickle. The model's own code (modeling_*.py) runs only when the user allows trust_remote_code."
        )
    return what + " No pickle: loading it runs no code from the folder."
