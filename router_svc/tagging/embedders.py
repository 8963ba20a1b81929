"""The embedder a pool's ``embedding_model`` names.

- ``hashing``: hashed words, no model (``HashingEmbedder``).
- a static model: ``pkg:minilm-static`` (the default, shipped inside router_svc) or a local
  folder in model2vec's layout (``StaticEmbedder``; numpy, tokenizers and safetensors only).
- anything else: a sentence-transformers model, ``pkg:all-minilm-l6-v2`` or a local folder
  (``SentenceTransformerEmbedder``; the ``minilm`` extra).

Nothing loads here: each embedder reads its model on its first ``embed`` call.
"""

from __future__ import annotations

from pathlib import Path

from router_svc.config.model_files import PACKAGE_PREFIX, resolve_model_path
from router_svc.tagging.embedder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from router_svc.tagging.hashing import HASHING, HashingEmbedder
from router_svc.tagging.static_embedder import StaticEmbedder, is_static_model

STATIC_PACKAGED = frozenset({DEFAULT_MODEL})
"""Packaged models that ``StaticEmbedder`` reads; other ``pkg:`` ones are sentence-transformers."""


def is_static(model: str) -> bool:
    """Whether ``model`` names a static embedding model (packaged, or a model2vec folder)."""
    if model.startswith(PACKAGE_PREFIX):
        return model in STATIC_PACKAGED
    return model != HASHING and is_static_model(Path(model))


def open_embedder(model: str, cache_dir: Path) -> Embedder:
    """The embedder for ``model`` (its ``name`` is ``model``, or the hashing embedder's)."""
    if model == HASHING:
        return HashingEmbedder()
    if is_static(model):
        return StaticEmbedder(resolve_model_path(model, cache_dir), name=model)
    return SentenceTransformerEmbedder(model, cache_dir=cache_dir)
