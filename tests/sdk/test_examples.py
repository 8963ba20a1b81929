"""Every script in examples/ runs against a real server (and a real batch worker)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, server_environ

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
EXPECTED = {
    "chat_openai.py": ["question: What is 12 + 8?", "answer: ", "experts: ", "stream from "],
    "sdk_client.py": ["answer: ", "experts: ", "route: ", "stream: ", "batch: completed"],
    "in_process.py": ["route: ", "answer: ", "batch sum: ", "batch legs: "],
}
ARGS = {"in_process.py": ["tiny"]}


def test_every_example_is_checked() -> None:
    assert sorted(path.name for path in EXAMPLES) == sorted(EXPECTED)


@contextlib.contextmanager
def worker_for(server: Server, name: str) -> Iterator[None]:
    """A batch worker while ``sdk_client.py`` (which submits a batch) runs."""
    if name != "sdk_client.py":
        yield
        return
    worker = server.worker("--max-idle-s", "300")
    try:
        yield
    finally:
        worker.terminate()
        worker.communicate(timeout=60)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(path: Path, sdk_server: Server) -> None:
    env = server_environ({**sdk_server.env, "ROUTER_SVC_URL": sdk_server.url})
    command = [sys.executable, str(path), *ARGS.get(path.name, [])]
    with worker_for(sdk_server, path.name):
        done = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
    assert done.returncode == 0, done.stderr[-4000:]
    for expected in EXPECTED[path.name]:
        assert expected in done.stdout, done.stdout
    if path.name == "sdk_client.py":
        assert "result sum: " in done.stdout and "result legs: " in done.stdout
