"""A static embedding model: one stored vector per token, a text's vector is their mean.

The packaged ``pkg:minilm-static`` was distilled from all-MiniLM-L6-v2 by model2vec
(scripts/distill_static_model.py; docs/embeddings.md). It is read here from model2vec's folder
layout (``model.safetensors`` with an ``embeddings`` table, ``tokenizer.json``,
``config.json``) with safetensors, tokenizers and numpy only: no torch, no model2vec. A text is
tokenized without special tokens, unknown tokens are dropped, the rows of its tokens are
summed and the sum (the mean, up to its length) is scaled to unit length, as model2vec's
``StaticModel.encode`` does (tests/tagging/test_static_embedder.py compares the two). A
question embeds in a fraction of a millisecond, so a routed request is no longer dominated by
its embedding.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from router_svc.config.extras import missing_extra
from router_svc.errors import ConfigError
from router_svc.tagging.embedder import EmbeddingKind

CONFIG_FILE = "config.json"
TABLE_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
FILES = (CONFIG_FILE, TABLE_FILE, TOKENIZER_FILE)


def is_static_model(folder: Path) -> bool:
    """Whether ``folder`` holds a model2vec static model (its config names the type)."""
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "model2vec"


class StaticEmbedder:
    """Strings in, L2-normalised float32 rows out, from a token table; loaded on first use.

    ``folder`` is the model's folder; ``name`` identifies its vectors (the pool's reference,
    such as ``pkg:minilm-static``). Symmetric: queries and documents embed alike. A text with
    no known token gets a zero row.
    """

    def __init__(self, folder: Path, *, name: str | None = None) -> None:
        self.folder = folder
        self.name = name or str(folder)
        self._model: _Loaded | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """The length of each vector (loads the model)."""
        return int(self._loaded().table.shape[1])

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        """(len(texts), dimension) float32 rows of unit length."""
        model = self._loaded()
        if len(texts) == 1:  # a routed question: no batching bookkeeping
            return model.one(texts[0])
        return model.many(texts) if texts else model.empty()

    def _loaded(self) -> _Loaded:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _Loaded.read(self.folder)
        return self._model


class _Loaded:
    """The token table (float32, one row per token id) and the tokenizer that indexes it."""

    def __init__(self, table: np.ndarray, tokenizer: Any, unknown: int | None, chars: int) -> None:
        self.table = table
        self.tokenizer = tokenizer
        self.unknown = unknown
        self.chars = chars
        """Characters kept of a text: its first max_length tokens fit in them (model2vec's
        cut: max_length x the median token length), so a huge text is not tokenized whole."""

    @classmethod
    def read(cls, folder: Path) -> _Loaded:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ModuleNotFoundError as exc:
            raise missing_extra(exc, f"the static embedding model {folder}") or exc from exc
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise ConfigError(
                f"{folder} is not a readable static embedding model: {', '.join(missing)} "
                f"missing (it needs {', '.join(FILES)})"
            )
        try:
            config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / TABLE_FILE))
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:  # safetensors and tokenizers raise their own or bare errors
            raise ConfigError(f"{folder} is not a readable static embedding model: {exc}") from exc
        if set(tensors) != {"embeddings"}:
            raise ConfigError(
                f"{folder / TABLE_FILE}: expected one 'embeddings' table, found {sorted(tensors)} "
                "(vocabulary-quantized models are not supported)"
            )
        # float32 once at load (30 MB): summing float16 rows per text took 2-3 times as long
        table = np.ascontiguousarray(tensors["embeddings"], dtype=np.float32)
        vocabulary = tokenizer.get_vocab()
        if table.ndim != 2 or table.shape[0] < len(vocabulary):
            raise ConfigError(f"{folder}: {table.shape} table for {len(vocabulary)} tokens")
        max_length = config.get("max_length", 512)
        tokenizer.no_padding()
        if max_length is None:
            tokenizer.no_truncation()
        else:
            tokenizer.enable_truncation(int(max_length))
        median = int(np.median(np.fromiter(map(len, vocabulary), dtype=np.int64)))
        chars = int(max_length) * median if max_length is not None else -1
        return cls(table, tokenizer, _unknown_id(tokenizer), chars)

    def empty(self) -> np.ndarray:
        return np.zeros((0, self.table.shape[1]), dtype=np.float32)

    def one(self, text: str) -> np.ndarray:
        (encoding,) = self.tokenizer.encode_batch_fast([self._cut(text)], add_special_tokens=False)
        ids = self._ids(encoding.ids)
        if not ids:
            return np.zeros((1, self.table.shape[1]), dtype=np.float32)
        return _normalised(np.add.reduce(self.table[ids], axis=0, keepdims=True))

    def many(self, texts: Sequence[str]) -> np.ndarray:
        cut = [self._cut(text) for text in texts]
        encodings = self.tokenizer.encode_batch_fast(cut, add_special_tokens=False)
        sums = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        for row, encoding in enumerate(encodings):  # a gather per text stays in the CPU cache
            ids = self._ids(encoding.ids)
            if ids:
                sums[row] = np.add.reduce(self.table[ids], axis=0)
        return _normalised(sums)

    def _cut(self, text: str) -> str:
        return text[: self.chars] if self.chars >= 0 else text

    def _ids(self, ids: list[int]) -> list[int]:
        unknown = self.unknown
        return ids if unknown is None or unknown not in ids else [i for i in ids if i != unknown]


def _unknown_id(tokenizer: Any) -> int | None:
    """The id of the tokenizer model's unknown token (dropped from every text), if it has one."""
    token = getattr(tokenizer.model, "unk_token", None)
    return None if token is None else tokenizer.token_to_id(token)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)
