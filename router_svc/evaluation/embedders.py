"""The embedders the benches use, re-exported: the memo (``router_svc.tagging.vector_cache``)
and the model-free ``HashingEmbedder`` (``router_svc.tagging.hashing``)."""

from __future__ import annotations

from router_svc.tagging.hashing import HashingEmbedder, content_words
from router_svc.tagging.vector_cache import MemoEmbedder

__all__ = ["HashingEmbedder", "MemoEmbedder", "content_words"]
