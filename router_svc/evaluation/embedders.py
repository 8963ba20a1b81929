"""The memo around any embedder, for benches that embed the same texts many times.

The model-free ``HashingEmbedder`` lives in ``router_svc.tagging.hashing``; it is re-exported
here for the bench modules that import it from this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router_svc.tagging.embedder import Embedder, EmbeddingKind
from router_svc.tagging.hashing import HashingEmbedder, content_words

__all__ = ["HashingEmbedder", "MemoEmbedder", "content_words"]


class MemoEmbedder:
    """Wraps an embedder and remembers every vector, so a text is embedded once per run."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self._memo: dict[tuple[str, str], np.ndarray] = {}

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (kind, t) not in self._memo))
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing, kind=kind), strict=True):
                self._memo[kind, text] = vector
        if not texts:
            return self.inner.embed([], kind=kind)
        return np.stack([self._memo[kind, t] for t in texts])
