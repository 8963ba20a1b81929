"""Claims the docs make in prose that a reader acts on: where two pages describe one behaviour
they say the same (the behaviour itself is tested where it lives), and a page that says how an
engine is tested names tests that exist."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prose(name: str) -> str:
    """The page's text with its line breaks and runs of spaces folded to one space."""
    return " ".join((ROOT / "docs" / name).read_text(encoding="utf-8").split())


def test_api_and_sdk_pages_agree_that_max_tokens_limits_every_routed_generation() -> None:
    """tests/api/test_contract.py and tests/sdk/test_client.py check that the server does so."""
    for page in ("api.md", "sdk.md"):
        assert "each recruited expert's and the aggregator's" in prose(page), page


def test_the_backends_page_says_how_vllm_is_tested_and_what_is_unverified() -> None:
    page = prose("backends.md")
    assert "The `vllm` engine has never run on a GPU in this project's tests" in page
    assert "Unverified: that it loads and generates at all" in page
    tests = (ROOT / "tests" / "backends" / "test_vllm.py").read_text(encoding="utf-8")
    assert "tests/backends/test_vllm.py, marker `gpu`" in page
    assert "@pytest.mark.gpu" in tests
    assert "def test_without_vllm_load_names_the_extra" in tests
