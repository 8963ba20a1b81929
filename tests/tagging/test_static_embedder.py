"""The static embedder on the shipped pkg:minilm-static model (real files, no torch)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from router_svc.config.model_files import resolve_model_path
from router_svc.errors import ConfigError
from router_svc.tagging.embedder import DEFAULT_MODEL, MINILM, SentenceTransformerEmbedder
from router_svc.tagging.embedders import is_static, open_embedder
from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.static_embedder import StaticEmbedder

ROOT = Path(__file__).resolve().parents[2]
FOLDER = resolve_model_path(DEFAULT_MODEL, Path("unused"))
TEXTS = [
    "What is the area of a circle of radius 3 cm?",
    "Which planet is known as the Red Planet?",
    "",  # no token at all
    "\u2603\u2603",  # only unknown tokens
    "Ünïcödé façade naïve",
    "long words " * 2000,  # past the model's 512 tokens
]


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder(FOLDER, name=DEFAULT_MODEL)


def test_the_default_model_ships_inside_the_package() -> None:
    assert FOLDER.is_relative_to(ROOT / "router_svc")
    assert sorted(p.name for p in FOLDER.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert json.loads((FOLDER / "config.json").read_text())["model_type"] == "model2vec"


def test_vectors_match_model2vec(embedder: StaticEmbedder) -> None:
    """The reference implementation (which computes in float16): the same vectors."""
    from model2vec import StaticModel

    reference = StaticModel.from_pretrained(str(FOLDER)).encode(TEXTS).astype(np.float32)
    np.testing.assert_allclose(embedder.embed(TEXTS), reference, atol=2e-3)
    for text, row in zip(TEXTS, reference, strict=True):
        np.testing.assert_allclose(embedder.embed([text])[0], row, atol=2e-3)


def test_rows_are_unit_float32_and_a_text_without_tokens_is_zero(
    embedder: StaticEmbedder,
) -> None:
    vectors = embedder.embed(TEXTS, kind="document")
    assert vectors.shape == (len(TEXTS), 256)
    assert vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 4, 5]], 1.0, atol=1e-5)
    assert norms[2] == norms[3] == 0.0
    assert embedder.embed([]).shape == (0, 256)
    assert embedder.dimension == 256
    assert embedder.name == DEFAULT_MODEL


def test_similar_meanings_are_closer(embedder: StaticEmbedder) -> None:
    query, algebra, history = embedder.embed(
        ["solve the quadratic equation x^2 - 5x + 6 = 0", "algebra", "medieval european history"]
    )
    assert query @ algebra > query @ history + 0.1


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (DEFAULT_MODEL, StaticEmbedder),
        ("hashing", HashingEmbedder),
        (MINILM, SentenceTransformerEmbedder),
    ],
)
def test_the_pool_reference_picks_the_embedder(model: str, kind: type) -> None:
    embedder = open_embedder(model, Path("unused"))
    assert isinstance(embedder, kind)
    assert is_static(model) == (kind is StaticEmbedder)


def test_a_copied_static_model_folder_is_read_as_one(tmp_path: Path) -> None:
    copy = tmp_path / "my-static"
    shutil.copytree(FOLDER, copy)
    embedder = open_embedder(str(copy), tmp_path)
    assert isinstance(embedder, StaticEmbedder)
    assert embedder.name == str(copy)
    assert embedder.embed(["x"]).shape == (1, 256)


def test_a_damaged_model_names_its_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(FOLDER, broken)
    (broken / "tokenizer.json").unlink()
    embedder = StaticEmbedder(broken)  # lazy: no error yet
    with pytest.raises(ConfigError, match=r"broken is not a readable static .*tokenizer\.json"):
        embedder.embed(["anything"])


def test_routing_vectors_need_no_torch() -> None:
    """The default embedder loads and embeds with torch and sentence-transformers blocked."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in {'torch', 'sentence_transformers', 'transformers',"
        " 'onnxruntime', 'model2vec'}:\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from pathlib import Path\n"
        "from router_svc.assembly import build_embedder\n"
        "print(build_embedder('pkg:minilm-static', Path('unused')).embed(['a b']).shape)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 256)"
