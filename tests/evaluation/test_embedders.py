"""The memo around an embedder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router_svc.evaluation.embedders import MemoEmbedder
from router_svc.tagging.embedder import EmbeddingKind


class _Counting:
    name = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32).reshape(-1, 2)


def test_memo_embeds_each_text_once() -> None:
    inner = _Counting()
    memo = MemoEmbedder(inner)
    first = memo.embed(["a", "bb", "a"])
    second = memo.embed(["bb", "ccc"])
    assert inner.calls == [["a", "bb"], ["ccc"]]
    assert first[:, 0].tolist() == [1, 2, 1]
    assert second[:, 0].tolist() == [2, 3]
    assert memo.embed([]).shape == (0, 2)
    assert memo.name == "counting"
