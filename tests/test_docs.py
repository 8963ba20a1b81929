"""Every ```bash and ```python block in README.md and docs/ runs, against a real server.

Blocks marked ```console are transcripts (commands that set up the machine, start a long-lived
server or need Docker) and ```text blocks are illustrations; neither is executed. The server the
blocks talk to is started here on 127.0.0.1:8000 with the committed starter profile.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PORT = 8000

pytestmark = pytest.mark.slow


def blocks() -> list[tuple[str, str, str]]:
    found = []
    for path in DOCS:
        for number, match in enumerate(FENCE.finditer(path.read_text(encoding="utf-8")), 1):
            found.append((f"{path.relative_to(ROOT)}#{number}", match.group(1), match.group(2)))
    return found


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `router-svc serve` on port 8000 over the committed starter profile."""
    data = tmp_path_factory.mktemp("docs-data")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_SVC_")}
    env = {
        **clean,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ROUTER_SVC_DATA_DIR": str(data),
        "ROUTER_SVC_URL": f"http://127.0.0.1:{PORT}",
    }
    log = (data / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "router_svc.cli", "serve", "--port", str(PORT)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_ready(server, data / "server.log")
        yield env
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _wait_ready(server: subprocess.Popen[bytes], log: Path) -> None:
    import time

    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready: {log.read_text()[-3000:]}")


def test_docs_have_runnable_blocks() -> None:
    names = {name.split("#")[0] for name, _, _ in blocks()}
    assert "README.md" in names


@pytest.mark.parametrize(("name", "language", "code"), blocks(), ids=[b[0] for b in blocks()])
def test_block_runs(name: str, language: str, code: str, docs_env: dict[str, str]) -> None:
    command = (
        ["bash", "-euo", "pipefail", "-c", code]
        if language == "bash"
        else [sys.executable, "-c", code]
    )
    result = subprocess.run(
        command, cwd=ROOT, env=docs_env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (
        f"{name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )
