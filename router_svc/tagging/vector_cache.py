"""Vectors remembered so the same text is not embedded twice: on disk per text (benches and
suites, once per machine) and in memory (``MemoEmbedder``: a bench run, or a service's recent
texts).

On disk, the vectors of one embedder (its name) and kind (query or document) live in a folder
``vectors-<key>/`` of appended parts: ``part-<id>.npy`` holds float32 rows and
``part-<id>.keys`` the sha256 digests (16 bytes each) of their texts, in the same order. A
call embeds only the texts no part holds, and adds them as a new part, so two replay files
that share questions embed them once, and a changed model never reads another's vectors. The
keys file is renamed into place last: a crash leaves no half-written part that a reader
would take. When a folder holds more than ``MAX_PARTS`` parts they are merged into one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from router_svc.tagging.embedder import Embedder, EmbeddingKind

logger = logging.getLogger(__name__)

KEY_BYTES = 16
MAX_PARTS = 32


def store_folder(folder: Path, embedder_name: str, kind: str) -> Path:
    """Where the vectors of ``embedder_name`` for ``kind`` texts live under ``folder``."""
    digest = hashlib.sha256(f"{embedder_name}\0{kind}".encode()).hexdigest()[:16]
    return folder / f"vectors-{digest}"


def text_keys(texts: Sequence[str]) -> list[bytes]:
    """The store's key of each text: the first 16 bytes of its sha256."""
    return [hashlib.sha256(text.encode()).digest()[:KEY_BYTES] for text in texts]


class VectorStore:
    """The per-text vectors of one embedder and kind in ``folder`` (read once, then appended)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._rows: dict[bytes, np.ndarray] | None = None
        self._lock = threading.Lock()

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors of those ``keys`` the store holds."""
        with self._lock:
            rows = self._loaded()
            return {key: rows[key] for key in keys if key in rows}

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Append ``vectors`` (one row per key) as a new part; kept in memory if the folder
        cannot be written."""
        with self._lock:
            rows = self._loaded()
            rows.update(zip(keys, vectors, strict=True))
            try:
                _write_part(self.folder, keys, vectors)
                if len(_parts(self.folder)) > MAX_PARTS:
                    _merge(self.folder, rows)
            except OSError as exc:  # a read-only or foreign-owned folder: the vectors still serve
                logger.warning(
                    "vectors not cached in %s (%s); they are embedded again next time",
                    self.folder,
                    exc,
                )

    def _loaded(self) -> dict[bytes, np.ndarray]:
        if self._rows is None:
            self._rows = _read_parts(self.folder)
        return self._rows


def cached_embed(
    folder: Path, texts: Sequence[str], embedder: Embedder, kind: EmbeddingKind = "query"
) -> np.ndarray:
    """(len(texts), d) vectors of ``texts``: stored ones read from ``folder``, the others
    embedded (each distinct text once) and stored."""
    return DiskCachedEmbedder(embedder, folder).embed(texts, kind=kind)


class DiskCachedEmbedder:
    """An embedder whose calls are answered per text from the vector store in ``folder``."""

    def __init__(self, inner: Embedder, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self.name = inner.name
        self._stores: dict[str, VectorStore] = {}

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        if not texts:
            return self.inner.embed([], kind=kind)
        store = self._store(kind)
        keys = text_keys(texts)
        found = store.lookup(keys)
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}
        if missing:
            vectors = np.asarray(self.inner.embed(list(missing.values()), kind=kind), np.float32)
            store.add(list(missing), vectors)
            found |= dict(zip(missing, vectors, strict=True))
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def _store(self, kind: str) -> VectorStore:
        if kind not in self._stores:
            self._stores[kind] = VectorStore(store_folder(self.folder, self.name, kind))
        return self._stores[kind]


def _parts(folder: Path) -> list[Path]:
    """The complete parts (their keys file written) in ``folder``, oldest name first."""
    return sorted(folder.glob("part-*.keys")) if folder.is_dir() else []


def _read_parts(folder: Path) -> dict[bytes, np.ndarray]:
    rows: dict[bytes, np.ndarray] = {}
    for keys_path in _parts(folder):
        try:
            keys = keys_path.read_bytes()
            vectors = np.load(keys_path.with_suffix(".npy"), allow_pickle=False)
        except (OSError, ValueError) as exc:
            logger.warning("skipping unreadable cached vectors %s (%s)", keys_path, exc)
            continue
        count = len(keys) // KEY_BYTES
        if vectors.ndim != 2 or vectors.shape[0] != count or len(keys) % KEY_BYTES:
            logger.warning("skipping cached vectors %s: keys and rows disagree", keys_path)
            continue
        vectors = np.asarray(vectors, dtype=np.float32)
        rows.update((keys[i * KEY_BYTES : (i + 1) * KEY_BYTES], vectors[i]) for i in range(count))
    return rows


def _write_part(folder: Path, keys: Sequence[bytes], vectors: np.ndarray) -> Path:
    """One part: the rows first, then the keys renamed into place (the part is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"part-{uuid.uuid4().hex}"
    partial = stem.with_name(f"{stem.name}.{os.getpid()}.partial")
    with partial.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    partial.replace(stem.with_suffix(".npy"))
    partial.write_bytes(b"".join(keys))
    partial.replace(stem.with_suffix(".keys"))
    return stem


def _merge(folder: Path, rows: dict[bytes, np.ndarray]) -> None:
    """Every row in one new part; the parts it replaces are removed."""
    old = _parts(folder)
    _write_part(folder, list(rows), np.stack(list(rows.values())))
    for keys_path in old:
        keys_path.unlink(missing_ok=True)
        keys_path.with_suffix(".npy").unlink(missing_ok=True)


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
