"""The sentence-transformers embedder on the real MiniLM model from PyPI (the minilm extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from router_svc.backends.base import EngineContext
from router_svc.config.model_files import resolve_model_path
from router_svc.errors import BackendUnavailableError, ConfigError
from router_svc.tagging.embedder import Embedder, SentenceTransformerEmbedder
from router_svc.tagging.onnx_encoder import verified_encoder

MINILM = "pkg:all-minilm-l6-v2"


@pytest.fixture(scope="module")
def embedder(engine_context: EngineContext) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MINILM, cache_dir=engine_context.model_cache_dir)


def test_rows_are_normalised_float32(embedder: SentenceTransformerEmbedder) -> None:
    vectors = embedder.embed(["algebra", "organic chemistry", "the history of Rome"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.dimension == 384
    assert embedder.name == MINILM


def test_empty_input_keeps_the_dimension(embedder: SentenceTransformerEmbedder) -> None:
    vectors = embedder.embed([], kind="document")
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_similar_meanings_are_closer(embedder: SentenceTransformerEmbedder) -> None:
    query, algebra, history = embedder.embed(
        ["solve the quadratic equation x^2 - 5x + 6 = 0", "algebra", "medieval european history"]
    )
    assert query @ algebra > query @ history + 0.1


def test_small_and_large_batches_agree(embedder: SentenceTransformerEmbedder) -> None:
    """A single text runs on one torch thread, a big batch on all: same vectors either way."""
    import torch

    threads = torch.get_num_threads()
    texts = [f"question {i} about photosynthesis in plants" for i in range(100)]
    alone = embedder.embed(texts[:1])
    batched = embedder.embed(texts)
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-4)
    assert torch.get_num_threads() == threads  # restored after the one-thread batch


def test_query_and_document_prefixes(engine_context: EngineContext) -> None:
    prefixed = SentenceTransformerEmbedder(
        MINILM, cache_dir=engine_context.model_cache_dir, query_prefix="query: ", name="e5ish"
    )
    query = prefixed.embed(["photosynthesis"], kind="query")
    document = prefixed.embed(["photosynthesis"], kind="document")
    assert prefixed.name == "e5ish"
    assert not np.allclose(query, document, atol=1e-3)
    np.testing.assert_allclose(document, prefixed.embed(["photosynthesis"], kind="document"))


def test_satisfies_the_protocol(embedder: SentenceTransformerEmbedder) -> None:
    protocol_typed: Embedder = embedder
    assert protocol_typed.embed(["x"]).shape == (1, 384)


def test_missing_folder_fails_on_first_embed(tmp_path: Path) -> None:
    embedder = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))  # lazy: no error yet
    with pytest.raises(ConfigError, match="no-such-model"):
        embedder.embed(["anything"])


def test_missing_sentence_transformers_names_the_extra(
    engine_context: EngineContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROUTER_SVC_ONNX_CACHE", str(tmp_path))  # no verified export either
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    embedder = SentenceTransformerEmbedder(MINILM, cache_dir=engine_context.model_cache_dir)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'router-svc\[minilm\]'"):
        embedder.embed(["anything"])


def test_bad_batch_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SentenceTransformerEmbedder(MINILM, batch_size=0)


def test_tiny_batches_run_on_onnx_with_the_same_vectors(
    embedder: SentenceTransformerEmbedder, engine_context: EngineContext
) -> None:
    """A routed question's vector comes from ONNX Runtime; it must equal PyTorch's, for a short
    text, a long one cut at the model's 256 tokens, and with a prefix."""
    torch_only = SentenceTransformerEmbedder(
        MINILM, cache_dir=engine_context.model_cache_dir, onnx=False
    )
    texts = ["circle", "What is the area of a circle of radius 3?", "long words " * 200]
    embedder.embed(["load"])
    assert embedder._fast is not None
    assert torch_only.embed(["load"]) is not None and torch_only._fast is None
    for text in texts:
        np.testing.assert_allclose(embedder.embed([text]), torch_only.embed([text]), atol=1e-5)
    np.testing.assert_allclose(embedder.embed(texts), torch_only.embed(texts), atol=1e-5)


def test_the_onnx_export_is_made_once_per_machine(
    engine_context: EngineContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_SVC_ONNX_CACHE", str(tmp_path / "onnx"))
    first = SentenceTransformerEmbedder(MINILM, cache_dir=engine_context.model_cache_dir)
    first.embed(["first"])
    (exported,) = (tmp_path / "onnx").glob("*.onnx")
    written = exported.stat().st_mtime_ns
    second = SentenceTransformerEmbedder(MINILM, cache_dir=engine_context.model_cache_dir)
    np.testing.assert_allclose(second.embed(["first"]), first.embed(["first"]), atol=1e-6)
    assert second._fast is not None
    assert exported.stat().st_mtime_ns == written
    marker = f"{exported.stem}.verified.json"
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == [exported.name, marker]


def test_a_verified_export_embeds_without_loading_pytorch(
    engine_context: EngineContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once an export is verified, a new process embeds big and tiny batches on ONNX Runtime
    alone (importing torch and sentence-transformers took longer than a small bench), with
    PyTorch's vectors; a verdict made with another onnxruntime is not trusted."""
    cache = tmp_path / "onnx"
    monkeypatch.setenv("ROUTER_SVC_ONNX_CACHE", str(cache))
    torch_only = SentenceTransformerEmbedder(
        MINILM, cache_dir=engine_context.model_cache_dir, onnx=False
    )
    SentenceTransformerEmbedder(MINILM, cache_dir=engine_context.model_cache_dir).embed(["x"])
    texts = [f"question {i}: " + "why is the sky blue? " * (i % 7) for i in range(20)]
    models = str(engine_context.model_cache_dir)
    script = (
        "import json, sys; import numpy as np\n"
        "from router_svc.tagging.embedder import SentenceTransformerEmbedder\n"
        f"e = SentenceTransformerEmbedder({MINILM!r}, cache_dir={models!r})\n"
        "texts = json.loads(sys.argv[1])\n"
        "np.save(sys.argv[2], np.concatenate([e.embed(texts), e.embed(texts[:2])]))\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    saved = tmp_path / "vectors.npy"
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(texts), str(saved)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["False", "False"]
    expected = torch_only.embed(texts)
    np.testing.assert_allclose(np.load(saved), np.concatenate([expected, expected[:2]]), atol=1e-5)
    folder = resolve_model_path(MINILM, engine_context.model_cache_dir)
    assert verified_encoder(folder) is not None
    (marker,) = cache.glob("*.verified.json")
    marker.write_text(marker.read_text().replace('"onnxruntime": "', '"onnxruntime": "0.'))
    assert verified_encoder(folder) is None
