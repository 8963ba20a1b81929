"""The API contract under schemathesis: every check, with an API key, a bounded run.

    .venv/bin/python perf/schemathesis_run.py [--pool recorded|live] [--max-examples 700]

``recorded`` (the default): tests/fixtures/replay_small.jsonl profiled as a suite of replay
experts (no model loads), so the run reaches thousands of requests in minutes; it leaves out
POST /v1/chat/completions, whose experts answer only the questions recorded in the file (any
other question is a 502 by design). ``live``: the tiny pool's llama.cpp models and a profile of
the tiny suite, chat completions only, generations capped at 8 tokens (ROUTER_SVC_MAX_TOKENS
and each expert's max_tokens) and k at 2, so CPU generation keeps the run bounded.

Settings: tests/api/schemathesis.toml. Writes perf/results/schemathesis[_live].json: the
requests sent (counted in a HAR report), the test cases, failures and errors, the wall time.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results
from _servers import base_env, free_port, process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support import (  # noqa: E402
    REPLAY_SMALL,
    SUITES,
    capped_pool,
    schemathesis_command,
    write_replay_pool,
)

KEY = "schemathesis-key"
CHAT = "/v1/chat/completions"
LIVE_SCOPE = ["--include-path", CHAT, "--phases", "examples,coverage,fuzzing"]
"""One operation: no links to follow, so no stateful phase."""


def recorded_env(base: Path) -> dict[str, str]:
    """The recorded pool profiled as the suite ``replay_small`` under ``base``."""
    from router_svc.replay.data import load_replay

    experts = load_replay(REPLAY_SMALL).experts
    config = write_replay_pool(base / "experts.yaml", REPLAY_SMALL, experts)
    env = {
        "ROUTER_SVC_CONFIG_PATH": str(config),
        "ROUTER_SVC_SKILLS_DIR": str(base / "skills"),
        "ROUTER_SVC_SUITES_DIR": str(SUITES),
        "ROUTER_SVC_DATA_DIR": str(base / "data"),
    }
    command = [sys.executable, "-m", "router_svc.cli", "profile", "--replay", str(REPLAY_SMALL)]
    subprocess.run(command, env=base_env() | env, check=True, cwd=ROOT, capture_output=True)
    return env


def live_env(base: Path) -> dict[str, str]:
    """The tiny pool (no LLM tagger), its experts capped at 8 tokens, with the tiny suite's
    profile the tests build (.router-svc/test-profiles; run the slow API tests once first)."""
    profiles = ROOT / ".router-svc" / "test-profiles"
    if not (profiles / "skills").is_dir():
        raise SystemExit(f"{profiles} holds no profiles yet: run the slow API tests once first")
    capped_pool(base / "experts.yaml", 8)
    (base / "data").mkdir()
    (base / "data" / "models").symlink_to(profiles / "data" / "models")
    return {
        "ROUTER_SVC_CONFIG_PATH": str(base / "experts.yaml"),
        "ROUTER_SVC_SKILLS_DIR": str(profiles / "skills"),
        "ROUTER_SVC_SUITES_DIR": str(SUITES),
        "ROUTER_SVC_DATA_DIR": str(base / "data"),
        "ROUTER_SVC_MAX_TOKENS": "8",
        "ROUTER_SVC_MAX_K": "2",
        "ROUTER_SVC_MAX_MESSAGES": "4",
        "ROUTER_SVC_N_THREADS": "2",
    }


def run(url: str, max_examples: int, scope: list[str], report_dir: Path) -> dict[str, Any]:
    reports = ["--report", "har", "--report-dir", str(report_dir)]
    command = schemathesis_command(
        url, KEY, "--request-timeout", "310", *reports, *scope, max_examples=max_examples
    )
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    print(done.stdout[-20000:], file=sys.stderr)
    summary = done.stdout[done.stdout.rfind("SUMMARY") :]
    return {
        "exit_code": done.returncode,
        "wall_s": round(seconds, 1),
        "requests": sum(_har_entries(path) for path in report_dir.glob("har-*.json")),
        "test_cases": _number(r"(\d+) generated", summary),
        "failures": _number(r"(\d+) unique failures", summary),
        "errors": _number(r"(\d+) errors?\b", summary),
        "summary": summary.strip().splitlines()[-40:],
    }


def _har_entries(path: Path) -> int:
    return len(json.loads(path.read_text())["log"]["entries"])


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    return int(found.group(1)) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", choices=["recorded", "live"], default="recorded")
    parser.add_argument("--max-examples", type=int, default=700)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        env = recorded_env(base) if args.pool == "recorded" else live_env(base)
        port = free_port()
        env |= {"ROUTER_SVC_API_KEYS": json.dumps([KEY]), "ROUTER_SVC_PORT": str(port)}
        url = f"http://127.0.0.1:{port}"
        scope = ["--exclude-path", CHAT] if args.pool == "recorded" else LIVE_SCOPE
        command = [sys.executable, "-m", "router_svc.cli", "serve"]
        with process(command, base_env() | env, f"{url}/healthz", start_s=300):
            _wait_ready(url)
            figures = run(url, args.max_examples, scope, base / "reports")
    name = "schemathesis" if args.pool == "recorded" else "schemathesis_live"
    write_results(
        name,
        {
            "pool": args.pool,
            "checks": "all (none excluded; settings: tests/api/schemathesis.toml)",
            "api_key": True,
            "max_examples": args.max_examples,
            "operations": "all but POST /v1/chat/completions"
            if args.pool == "recorded"
            else "POST /v1/chat/completions",
            **figures,
        },
    )


def _wait_ready(url: str, timeout_s: float = 600) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {KEY}"}
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{url}/readyz", headers=headers, timeout=30).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not become ready")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
