"""A sentence-transformers model on ONNX Runtime: the same vectors without loading PyTorch.

PyTorch spends most of a short call (routing one question) on per-operator overhead, where
ONNX Runtime runs the same graph in about half the time; and importing sentence-transformers
and torch takes longer than a whole small bench. So the model's transformer is exported once
per machine (``torch.onnx``, written under the user's cache folder, named by a fingerprint of
the model folder), its vectors are compared with sentence-transformers' own on probe texts,
and only if they agree is a ``.verified.json`` written beside it. A process that finds a
verified export (for the installed onnxruntime) embeds through it alone: the tokenizer comes
from the model folder's ``tokenizer.json`` (the ``tokenizers`` library), pooling and
normalisation are done here. Only models built exactly as Transformer -> mean Pooling ->
Normalize qualify (all-MiniLM-L6-v2 does). Anything else, a failed export, or a missing
onnxruntime keeps the PyTorch path, with the reason logged.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from router_svc.config.machine import usable_cpus
from router_svc.config.model_files import file_fingerprint

log = logging.getLogger(__name__)

OPSET = 17
PROBES = ("a", "What is the area of a circle of radius 3 cm?", "word " * 300)
"""Texts of one, a dozen and more than the model's maximum number of tokens."""


THREADS = min(2, usable_cpus())
"""Threads of one call: two cut a ~50-token question's time by about a fifth on a busy
2-core machine; more than that only add synchronisation, and more than the process's CPUs
(a server pinned to one core) make the threads spin against each other."""
TOLERANCE = 1e-4
"""Largest difference allowed between a probe's vector here and from sentence-transformers."""


def default_cache() -> Path:
    """``$ROUTER_SVC_ONNX_CACHE``, else ``router-svc/onnx`` in the user's cache folder."""
    configured = os.environ.get("ROUTER_SVC_ONNX_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "router-svc" / "onnx"


class OnnxEncoder:
    """Texts in, L2-normalised mean-pooled float32 rows out (as the source model gives them)."""

    def __init__(self, path: Path, folder: Path, max_length: int) -> None:
        self.path = path
        self.max_length = max_length
        self.tokenizer = _tokenizer(folder, max_length)
        self._sessions: dict[int, Any] = {}

    def encode(self, texts: Sequence[str], threads: int = THREADS) -> np.ndarray:
        """One padded batch on ``threads`` threads."""
        session = self._session(threads)
        encodings = self.tokenizer.encode_batch([text.strip() for text in texts])
        columns = {
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        feeds = {i.name: np.asarray(columns[i.name], dtype=np.int64) for i in session.get_inputs()}
        hidden = session.run(None, feeds)[0]
        mask = np.asarray(columns["attention_mask"], dtype=np.float32)[..., None]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)

    def encode_many(
        self, texts: Sequence[str], batch_size: int, progress: bool = False
    ) -> np.ndarray:
        """Any number of texts: longest first in batches of ``batch_size`` (little padding),
        on every CPU the process may use, in the callers' order."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts = range(0, len(texts), batch_size)
        batches = [
            self.encode([texts[i] for i in order[s : s + batch_size]], usable_cpus())
            for s in tqdm(starts, desc="Batches", disable=not progress)
        ]
        stacked = np.concatenate(batches)
        vectors = np.empty_like(stacked)
        vectors[order] = stacked
        return vectors

    def _session(self, threads: int) -> Any:
        if threads not in self._sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._sessions[threads] = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[threads]


def verified_encoder(folder: Path, cache: Path | None = None) -> OnnxEncoder | None:
    """The encoder of ``folder``'s model exported and verified earlier on this machine (for
    the installed onnxruntime), or None: nothing here loads PyTorch."""
    try:
        import onnxruntime
    except ImportError:
        return None
    try:
        path = _export_path(folder, cache)
        marker = json.loads(_marker(path).read_text(encoding="utf-8"))
        if not path.is_file() or marker.get("onnxruntime") != onnxruntime.__version__:
            return None
        return OnnxEncoder(path, folder, int(marker["max_length"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def onnx_encoder(model: Any, folder: Path, cache: Path | None = None) -> OnnxEncoder | None:
    """``model`` (a loaded SentenceTransformer from ``folder``) on ONNX Runtime, or None:
    exported if needed, checked against the model's own vectors, then marked verified."""
    try:
        import onnxruntime
    except ImportError:
        log.info("onnxruntime is not installed: embeddings run on PyTorch")
        return None
    if not _mean_pooled(model):
        log.info("%s is not Transformer -> mean Pooling -> Normalize: PyTorch path", folder)
        return None
    path = _export_path(folder, cache)
    try:
        if not path.is_file():
            _export(model, path)
        encoder = OnnxEncoder(path, folder, int(model.max_seq_length))
        reference = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
        difference = float(np.abs(encoder.encode(PROBES) - reference).max())
    except Exception as exc:  # any export or runtime failure leaves the PyTorch path working
        log.warning("ONNX export of %s failed (%s): embeddings run on PyTorch", folder, exc)
        return None
    if difference > TOLERANCE:
        log.warning("ONNX vectors of %s differ by %.2g: PyTorch path", folder, difference)
        return None
    verdict = {
        "max_length": encoder.max_length,
        "max_difference": difference,
        "onnxruntime": onnxruntime.__version__,
    }
    try:
        _write_atomically(_marker(path), json.dumps(verdict, indent=1) + "\n")
    except OSError as exc:  # a read-only cache: this process still uses the export
        log.warning("could not mark %s verified (%s): the next process checks it again", path, exc)
    return encoder


def _export_path(folder: Path, cache: Path | None) -> Path:
    return (cache or default_cache()) / f"{file_fingerprint(folder)}-opset{OPSET}.onnx"


def _marker(path: Path) -> Path:
    return path.with_name(f"{path.stem}.verified.json")


def _write_atomically(path: Path, text: str) -> None:
    partial = _partial(path)
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _partial(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (no reader sees half a file)."""
    return path.with_name(f"{path.stem}.{os.getpid()}.partial")


def _tokenizer(folder: Path, max_length: int) -> Any:
    """The model's fast tokenizer as sentence-transformers calls it: cut at ``max_length``
    tokens, padded to the longest text of the batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    padding = tokenizer.padding or {}
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(
        pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]")
    )
    return tokenizer


def _mean_pooled(model: Any) -> bool:
    modules = [type(module).__name__ for module in model]
    if modules != ["Transformer", "Pooling", "Normalize"]:
        return False
    config: dict[str, Any] = model[1].get_config_dict()
    return config.get("pooling_mode") == "mean" and config.get("include_prompt", True)


def _export(model: Any, path: Path) -> None:
    """The transformer's last hidden state as an ONNX graph with dynamic batch and length."""
    import torch

    transformer = model[0].auto_model.eval()
    names = list(model.tokenizer.model_input_names)

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.transformer(**dict(zip(names, inputs, strict=True)))[0]
            return hidden

    sample = model.tokenizer(["an example"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "hidden"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(path)
    # The exporter warns that the TorchScript path is the legacy one; it is the one that
    # needs no extra packages, and the probes check what it wrote.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(),
            tuple(sample[name] for name in names),
            str(partial),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    partial.replace(path)
