"""Vectors remembered so the same text is not embedded twice: on disk by content (benches, once
per machine) and in memory (``MemoEmbedder``: a bench run, or a service's recent texts).

The disk key is a hash of the embedder's name, the kind (query or document) and every text in
order: a changed question, order or model never reads stale vectors. Files are written to a
temporary name and renamed, so a crash leaves no half-written cache.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from router_svc.tagging.embedder import Embedder, EmbeddingKind

logger = logging.getLogger(__name__)


def cache_path(folder: Path, embedder_name: str, texts: Sequence[str], kind: str) -> Path:
    """Where the vectors of ``texts`` by ``embedder_name`` live under ``folder``."""
    digest = hashlib.sha256(f"{embedder_name}\0{kind}".encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    return folder / f"vectors-{digest.hexdigest()[:16]}.npy"


def cached_embed(
    folder: Path, texts: Sequence[str], embedder: Embedder, kind: EmbeddingKind = "query"
) -> np.ndarray:
    """(len(texts), d) vectors of ``texts``, read from ``folder`` or embedded and written."""
    path = cache_path(folder, embedder.name, texts, kind)
    if path.is_file():
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape[0] == len(texts):
            return np.ascontiguousarray(vectors, dtype=np.float32)
    vectors = np.asarray(embedder.embed(list(texts), kind=kind), dtype=np.float32)
    tmp = path.with_suffix(".tmp.npy")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(tmp, vectors, allow_pickle=False)
        tmp.replace(path)
    except OSError as exc:  # a read-only or foreign-owned folder: the vectors still serve
        logger.warning(
            "vectors not cached in %s (%s); they are embedded again next time", folder, exc
        )
    return vectors


class DiskCachedEmbedder:
    """An embedder whose calls are answered from the content-keyed cache in ``folder``."""

    def __init__(self, inner: Embedder, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self.name = inner.name

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        if not texts:
            return self.inner.embed([], kind=kind)
        return cached_embed(self.folder, texts, self.inner, kind)


class MemoEmbedder:
    """Wraps an embedder and remembers vectors by (kind, text), so a text is embedded once.

    ``limit``: keep only the most recently used vectors (a service: the question its tagger
    just embedded is embedded again for the router, and clients retry); None keeps every
    vector (a bench run over a fixed set of texts). Safe to share between threads.
    """

    def __init__(self, inner: Embedder, *, limit: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.limit = limit
        self._memo: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        if not texts:
            return self.inner.embed([], kind=kind)
        with self._lock:
            found = {t: self._memo[kind, t] for t in texts if (kind, t) in self._memo}
            for text in found:
                self._memo.move_to_end((kind, text))
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vectors = self.inner.embed(missing, kind=kind)
            found |= dict(zip(missing, vectors, strict=True))
            with self._lock:
                self._memo.update(((kind, t), found[t]) for t in missing)
                while self.limit is not None and len(self._memo) > self.limit:
                    self._memo.popitem(last=False)
        return np.stack([found[t] for t in texts])
