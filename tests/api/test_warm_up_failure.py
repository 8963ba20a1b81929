"""A server whose warm-up fails says so on /readyz instead of reporting ready."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import numpy as np

from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.vector_cache import cached_embed
from tests.support import ReplaySuite, serve_in_thread


def test_readyz_reports_a_failed_warm_up(replay_suite: ReplaySuite, tmp_path: Path) -> None:
    from router_svc.api.app import create_app

    skills = tmp_path / "skills"
    shutil.copytree(replay_suite.settings.skills_dir, skills)
    (skills / replay_suite.suite / "inventory.npy").unlink()  # the pipeline cannot be built
    settings = replay_suite.settings.model_copy(update={"skills_dir": skills})
    with serve_in_thread(create_app(settings)) as base_url:
        deadline = time.monotonic() + 60
        while True:
            response = httpx.get(f"{base_url}/readyz", timeout=10)
            if "warming up" not in response.text or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert response.status_code == 503, response.text
    message = response.json()["error"]["message"]
    assert f"warm-up of suite {replay_suite.suite} failed" in message
    assert "inventory.npy" in message


def test_vectors_still_serve_where_the_cache_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    embedder = HashingEmbedder(32)
    vectors = cached_embed(blocker / "vectors", ["circle area"], embedder)
    np.testing.assert_array_equal(vectors, embedder.embed(["circle area"]))
