"""Sentence embeddings: the Embedder protocol and the sentence-transformers model (MiniLM).

An embedder turns strings into L2-normalised float32 rows, so a cosine similarity is a plain
dot product. Callers say whether the strings are queries (questions, keywords to map) or
documents (inventory skills, reference questions); symmetric models such as MiniLM ignore it.
The default embedder is the static model distilled from MiniLM (``tagging.static_embedder``);
``tagging.embedders`` picks the class for a pool's ``embedding_model``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from router_svc.config.model_files import resolve_model_path
from router_svc.errors import BackendUnavailableError, ConfigError
from router_svc.tagging.onnx_encoder import OnnxEncoder, onnx_encoder, verified_encoder

EmbeddingKind = Literal["query", "document"]

DEFAULT_MODEL = "pkg:minilm-static"
"""The pool's default ``embedding_model``: the static model distilled from MiniLM."""
MINILM = "pkg:all-minilm-l6-v2"
"""all-MiniLM-L6-v2 through sentence-transformers (the ``minilm`` extra)."""
_INSTALL = "pip install 'router-svc[minilm]'"


class Embedder(Protocol):
    """Strings in, one L2-normalised float32 row per string out."""

    name: str
    """Identifies the model: vectors of different names must never be compared."""

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        """An array of shape (len(texts), dimension); shape (0, dimension) for no texts."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded on the first ``embed`` call.

    ``model`` is a packaged reference (``pkg:all-minilm-l6-v2``, the ``minilm`` extra) or a
    local model folder.
    Where the model qualifies, it runs on ONNX Runtime (``tagging.onnx_encoder``: the same
    vectors; a routed question in about half the time): at once, without loading PyTorch,
    when this machine holds a verified export, else after the first tiny batch (a routed
    question, a request's keywords) has made and verified one. Otherwise sentence-transformers
    embeds, tiny batches on one torch thread (faster than spreading a few short strings over
    every core).
    """

    def __init__(
        self,
        model: str = MINILM,
        *,
        cache_dir: Path = Path(".router-svc/models"),
        name: str | None = None,
        batch_size: int = 64,
        small_batch: int = 8,
        query_prefix: str = "",
        document_prefix: str = "",
        onnx: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model = model
        self.name = name or model
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.small_batch = small_batch
        self.prefixes: dict[EmbeddingKind, str] = {
            "query": query_prefix,
            "document": document_prefix,
        }
        self.onnx = onnx
        """Run on ONNX Runtime where the model qualifies."""
        self._model: Any = None
        self._fast: OnnxEncoder | None = None
        self._looked_for_export = not onnx
        self._lock = threading.Lock()
        self.progress = False
        """Show a progress bar when embedding a large batch (the benches turn it on)."""

    @property
    def dimension(self) -> int:
        """The length of each vector (loads the model)."""
        return int(self.embed([]).shape[1])

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        prefixed = [self.prefixes[kind] + text for text in texts or ["a probe of the width"]]
        small = len(prefixed) <= self.small_batch
        progress = self.progress and len(prefixed) >= 1000
        with self._lock:
            fast = self._onnx(small)
            if fast is None:
                vectors = self._torch(prefixed, small, progress)
            elif small:
                vectors = fast.encode(prefixed)
            else:
                vectors = fast.encode_many(prefixed, self.batch_size, progress)
        return vectors[: len(texts)]

    def _onnx(self, small: bool) -> OnnxEncoder | None:
        """The ONNX Runtime encoder, or None (PyTorch). An export verified earlier on this
        machine is used at once, without loading PyTorch; else the first tiny batch makes and
        verifies one (a process that embeds only big batches never pays for the export)."""
        if self._fast is not None or not self.onnx:
            return self._fast
        folder = resolve_model_path(self.model, self.cache_dir)
        if not self._looked_for_export:
            self._looked_for_export = True
            self._fast = verified_encoder(folder)
        if self._fast is None and small:
            self._fast = onnx_encoder(self._loaded(), folder)
            self.onnx = self._fast is not None
        return self._fast

    def _torch(self, texts: list[str], small: bool, progress: bool) -> np.ndarray:
        with _torch_threads(1 if small else None):
            vectors = self._loaded().encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _loaded(self) -> Any:
        """The sentence-transformers model (the caller holds the lock)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        path = resolve_model_path(self.model, self.cache_dir)
        if not path.is_dir():
            raise ConfigError(
                f"embedding model folder {path} does not exist; give a sentence-transformers "
                f"folder or a packaged model such as {MINILM}"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendUnavailableError(
                f"embedding with {self.model} needs sentence-transformers: {_INSTALL}",
                backend="sentence-transformers",
            ) from exc
        return SentenceTransformer(str(path), device="cpu")


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` torch threads (unchanged when None)."""
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
