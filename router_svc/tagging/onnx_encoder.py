"""A sentence-transformers model on ONNX Runtime, for the short calls that decide latency.

Routing one question embeds one short text. PyTorch spends most of such a call on per-operator
overhead; ONNX Runtime runs the same graph in about half the time. The model's
transformer is exported once per machine (``torch.onnx``, written under the user's cache
folder, named by a fingerprint of the weights) and its vectors are compared with
sentence-transformers' own on a few probe texts before it is used. Pooling and normalisation
are done here, so only models built exactly as Transformer -> mean Pooling -> Normalize
qualify (all-MiniLM-L6-v2 does). Anything else, a failed export, or a missing onnxruntime
keeps the PyTorch path, with the reason logged.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from router_svc.config.model_files import file_fingerprint

log = logging.getLogger(__name__)

OPSET = 17
PROBES = ("a", "What is the area of a circle of radius 3 cm?", "word " * 300)
"""Texts of one, a dozen and more than the model's maximum number of tokens."""


def _usable_cpus() -> int:
    """The CPUs this process may run on (a container's or ``taskset``'s share, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


THREADS = min(2, _usable_cpus())
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

    def __init__(self, session: Any, tokenizer: Any, max_length: int) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.inputs = [i.name for i in session.get_inputs()]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="np",
        )
        feeds = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
        hidden = self.session.run(None, feeds)[0]
        mask = np.asarray(batch["attention_mask"], dtype=np.float32)[..., None]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)


def onnx_encoder(model: Any, folder: Path, cache: Path | None = None) -> OnnxEncoder | None:
    """``model`` (a loaded SentenceTransformer from ``folder``) on ONNX Runtime, or None."""
    try:
        import onnxruntime
    except ImportError:
        log.info("onnxruntime is not installed: short embeddings run on PyTorch")
        return None
    if not _mean_pooled(model):
        log.info("%s is not Transformer -> mean Pooling -> Normalize: PyTorch path", folder)
        return None
    path = (cache or default_cache()) / f"{file_fingerprint(folder)}-opset{OPSET}.onnx"
    try:
        if not path.is_file():
            _export(model, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        encoder = OnnxEncoder(session, model.tokenizer, int(model.max_seq_length))
        reference = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
        difference = float(np.abs(encoder.encode(PROBES) - reference).max())
    except Exception as exc:  # any export or runtime failure leaves the PyTorch path working
        log.warning("ONNX export of %s failed (%s): short embeddings run on PyTorch", folder, exc)
        return None
    if difference > TOLERANCE:
        log.warning("ONNX vectors of %s differ by %.2g: PyTorch path", folder, difference)
        return None
    return encoder


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
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial")
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
