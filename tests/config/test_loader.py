"""experts.yaml validation: every bad input names file, line, expert and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from router_svc.config.loader import load_pool, parse_pool
from router_svc.config.pool import PoolConfig
from router_svc.errors import ConfigError, UnknownComponentError

GOOD_EXPERT = """\
  - name: {name}
    engine: llamacpp
    model: pkg:smollm2-135m-instruct
    temperature: 0.0
"""


def write_pool(tmp_path: Path, experts: str, header: str = "k: 2\n") -> Path:
    path = tmp_path / "experts.yaml"
    path.write_text(f"{header}experts:\n{experts}", encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_pool(path)
    return str(info.value)


def test_the_shipped_pool_is_valid(pool: PoolConfig) -> None:
    assert len(pool.routable) >= 3
    engines = {expert.model for expert in pool.routable}
    assert engines == {"pkg:smollm2-135m-instruct", "pkg:gemma3-270m"}
    assert all(name in pool.names for name in pool.aggregator_candidates)


def test_unknown_engine_suggests_the_closest(tmp_path: Path) -> None:
    path = write_pool(tmp_path, GOOD_EXPERT.format(name="a").replace("llamacpp", "llamcpp"))
    message = error_of(path)
    assert str(path) in message
    assert "line 4" in message
    assert "expert 'a'" in message
    assert "field 'engine'" in message
    assert "Did you mean 'llamacpp'?" in message


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    expert = GOOD_EXPERT.format(name="a").replace("pkg:smollm2-135m-instruct", "models/nope.gguf")
    message = error_of(write_pool(tmp_path, expert))
    assert "expert 'a'" in message
    assert "field 'model'" in message
    assert str(tmp_path / "models" / "nope.gguf") in message


def test_relative_model_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    expert = GOOD_EXPERT.format(name="a").replace("pkg:smollm2-135m-instruct", "m.gguf")
    pool = load_pool(write_pool(tmp_path, expert))
    assert pool.experts[0].model == str(tmp_path / "m.gguf")


def test_unknown_packaged_model_suggests(tmp_path: Path) -> None:
    expert = GOOD_EXPERT.format(name="a").replace("smollm2-135m-instruct", "smollm2-135m")
    message = error_of(write_pool(tmp_path, expert))
    assert "Did you mean 'smollm2-135m-instruct'?" in message


def test_duplicate_expert_names(tmp_path: Path) -> None:
    message = error_of(write_pool(tmp_path, GOOD_EXPERT.format(name="a") * 2))
    assert "duplicate expert name(s): a" in message


def test_negative_temperature(tmp_path: Path) -> None:
    expert = GOOD_EXPERT.format(name="hot").replace("0.0", "-0.5")
    message = error_of(write_pool(tmp_path, expert))
    assert "line 6" in message
    assert "expert 'hot', field 'temperature'" in message
    assert "greater than or equal to 0" in message


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write_pool(tmp_path, GOOD_EXPERT.format(name="a") + "  - name: [unclosed\n")
    message = error_of(path)
    assert "invalid YAML at line" in message
    assert str(path) in message


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    expert = GOOD_EXPERT.format(name="a") + "    temprature: 0.3\n"
    message = error_of(write_pool(tmp_path, expert))
    assert "field 'temprature'" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_aggregator_candidate(tmp_path: Path) -> None:
    header = "aggregator_candidates: [b]\n"
    message = error_of(write_pool(tmp_path, GOOD_EXPERT.format(name="a"), header))
    assert "aggregator_candidates: no expert named 'b'" in message


def test_engine_options_are_validated_per_engine(tmp_path: Path) -> None:
    expert = GOOD_EXPERT.format(name="a") + "    options: {tensor_parallel_size: 2}\n"
    message = error_of(write_pool(tmp_path, expert))
    assert "tensor_parallel_size" in message


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_pool(Path("does/not/exist.yaml"))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_pool("- just a list\n", tmp_path / "x.yaml")


def test_unknown_expert_lookup(pool: PoolConfig) -> None:
    with pytest.raises(UnknownComponentError, match="Did you mean 'smol-math'"):
        pool.expert("smol-mat")


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ("routing:\n  method: skil-plus\n", "field 'routing.method'.*Did you mean 'skill-plus'"),
        ("routing:\n  options:\n    symbolic-mo: {}\n", "Did you mean 'symbolic-moe'"),
        (
            "routing:\n  options:\n    skill-plus: {blnd: 0.3}\n",
            "line 3, field 'routing.options'.*'blnd' of 'skill-plus'.*Did you mean 'blend'",
        ),
        ("routing:\n  options:\n    skill: {temperature: 0}\n", "'temperature' of 'skill'"),
    ],
)
def test_the_routing_section_names_the_field(tmp_path: Path, routing: str, expected: str) -> None:
    path = write_pool(tmp_path, GOOD_EXPERT.format(name="a"), header=routing)
    with pytest.raises(ConfigError, match=expected):
        load_pool(path)


def test_the_routing_method_and_its_options(tmp_path: Path) -> None:
    header = "routing:\n  method: symbolic-moe\n  options:\n    skill-plus: {blend: 0.5}\n"
    pool = load_pool(write_pool(tmp_path, GOOD_EXPERT.format(name="a"), header=header))
    assert pool.routing.method == "symbolic-moe"
    assert pool.routing.method_options("skill-plus").blend == 0.5  # type: ignore[attr-defined]
    assert pool.routing.method_options("skill").temperature == 0.5  # type: ignore[attr-defined]
    with pytest.raises(UnknownComponentError, match="Did you mean 'skill'"):
        pool.routing.method_options("skil")


@pytest.mark.parametrize(
    ("model", "expected"),
    [("''", "embedding_model"), ("hashing-512", "the model-free one is 'hashing'")],
)
def test_a_bad_embedding_model_names_the_field(tmp_path: Path, model: str, expected: str) -> None:
    header = f"k: 2\nembedding_model: {model}\n"
    assert expected in error_of(write_pool(tmp_path, GOOD_EXPERT.format(name="a"), header))


def test_the_hashing_embedder_loads_no_model(tmp_path: Path) -> None:
    from router_svc.assembly import build_embedder
    from router_svc.tagging.hashing import HashingEmbedder

    path = write_pool(tmp_path, GOOD_EXPERT.format(name="a"), "embedding_model: hashing\n")
    embedder = build_embedder(load_pool(path).embedding_model, tmp_path)
    assert isinstance(embedder.inner, HashingEmbedder)
    assert embedder.embed(["circle area"]).shape == (1, embedder.inner.dimension)


@pytest.mark.parametrize("model", ["pkg:minilm-static", "pkg:all-minilm-l6-v2"])
def test_every_embedder_keeps_blas_on_one_thread(tmp_path: Path, model: str) -> None:
    """OpenBLAS threads spinning after routing's small products took the cores the next
    question is embedded on (MiniLM: one routed question 58 -> 27 ms p50 on 2 cores; static:
    one k-means of the starter suite 32 -> 1 ms on a busy machine)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from router_svc.assembly import build_embedder

    with threadpool_limits(limits=2, user_api="blas"):  # the limits come back afterwards
        build_embedder(model, tmp_path)  # lazy: no model loads here
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and set(blas) == {1}
