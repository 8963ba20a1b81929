"""A model-free embedder: hashed bag-of-features vectors (the pool's ``embedding_model: hashing``).

Replay benches of thousands of questions, a recorded pool and the fast tests need vectors
without loading a model: for mapping a keyword onto the skill inventory ("equations" near
"equation") and for finding a question's nearest validation questions. Features are content
words (weighted by IDF when fitted on a reference corpus) and, optionally, character trigrams;
each is hashed (crc32, so the vectors are the same in every process) into ``dimension`` signed
buckets.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from router_svc.tagging.embedder import EmbeddingKind
from router_svc.tagging.tagger import STOPWORDS

HASHING = "hashing"
"""The ``embedding_model`` name that selects ``HashingEmbedder()`` (no model is loaded)."""

_WORD = re.compile(r"[a-z][a-z0-9']+")
_OPTIONS = re.compile(r"\bthe options are\b.*", re.IGNORECASE | re.DOTALL)


def content_words(text: str) -> list[str]:
    """Lower-case words of the text before its options, stopwords dropped."""
    stem = _OPTIONS.sub(" ", text)
    return [w for w in _WORD.findall(stem.lower()) if w not in STOPWORDS]


class HashingEmbedder:
    """Strings in, hashed bag-of-features vectors out (an ``Embedder`` with no model)."""

    def __init__(
        self,
        dimension: int = 512,
        *,
        char_weight: float = 2.0,
        idf: Mapping[str, float] | None = None,
    ) -> None:
        if dimension < 8:
            raise ValueError(f"dimension must be at least 8, not {dimension}")
        if char_weight < 0:
            raise ValueError(f"char_weight must be >= 0, not {char_weight}")
        self.dimension = dimension
        self.char_weight = char_weight
        self.idf = dict(idf or {})
        self._default_idf = max(self.idf.values(), default=1.0)
        suffix = "-idf" if self.idf else ""
        self.name = f"hashing-{dimension}-c{char_weight:g}{suffix}"

    @classmethod
    def fitted(
        cls, corpus: Sequence[str], dimension: int = 512, *, char_weight: float = 0.0
    ) -> HashingEmbedder:
        """An embedder whose word features are weighted by IDF over ``corpus``."""
        df = Counter(word for text in corpus for word in set(content_words(text)))
        total = len(corpus)
        idf = {word: math.log((1 + total) / (1 + count)) + 1.0 for word, count in df.items()}
        return cls(dimension, char_weight=char_weight, idf=idf)

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        """(len(texts), dimension) float32 rows of unit length (zero rows for no features)."""
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        for row, text in enumerate(texts):
            for feature, weight in self._features(text).items():
                bucket = zlib.crc32(feature.encode("utf-8"))
                rows.append(row)
                columns.append(bucket % self.dimension)
                values.append(weight if bucket & 0x80000000 else -weight)
        flat = np.array(rows, dtype=np.int64) * self.dimension + np.array(columns, dtype=np.int64)
        size = len(texts) * self.dimension
        summed = np.bincount(flat, weights=np.array(values, dtype=float), minlength=size)
        vectors = summed.reshape(len(texts), self.dimension).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0))

    def _features(self, text: str) -> dict[str, float]:
        words = content_words(text) or _WORD.findall(text.lower())
        features: defaultdict[str, float] = defaultdict(float)
        for word in words:
            features["w:" + word] += self.idf.get(word, self._default_idf)
            if self.char_weight > 0:
                padded = f" {word} "
                grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
                for gram in grams:  # the word's trigrams together have norm char_weight
                    features["c:" + gram] += self.char_weight / math.sqrt(len(grams))
        return features
