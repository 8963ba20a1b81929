"""The batch half of ``make compose-smoke``; scripts/compose_smoke.sh brings the stack up and down.

Against the Compose stack (redis, api, worker, worker-code on the CPU pool) it submits questions
of the starter suite's test split through ``POST /v1/batches``, waits until the worker service
named by ``--kill`` holds claimed tasks of its experts, kills its container (``docker kill``),
starts it again if Docker's restart policy does not, waits for the batch to complete and checks
that every question has exactly one result, in input order, and that the batch status named
the killed worker's experts as unhosted meanwhile. The summary goes to ``--out``
(JSON) and stdout; the exit status is 1 when a check fails. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = "starter"
TEST_SPLIT = ROOT / "eval" / "suites" / SUITE / "test.jsonl"
REGISTRATION_TTL_S = 30  # compose.yaml's --heartbeat-s=10, times three


def main() -> int:
    args = parse_args()
    compose = shlex.split(args.compose)
    wait_ready(args.api, timeout_s=600)
    lines = pick_questions(args.questions)
    started = time.monotonic()
    batch_id = submit(args.api, lines)
    print(f"batch {batch_id}: {len(lines)} questions")
    kill = kill_mid_batch(args, compose, batch_id, started)
    final = wait_done(args.api, batch_id, timeout_s=args.timeout_s)
    wall_s = time.monotonic() - started
    results = fetch_results(args.api, batch_id)
    summary = {
        "questions": len(lines),
        "batch_wall_s": round(wall_s, 1),
        "setup_s": dict(parse_phase(p) for p in args.phase),
        **kill,
        **check(lines, results, final),
        "stages": final.get("stages", {}),
    }
    summary["ok"] = summary["ok"] and kill["killed_experts_reported"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print_summary(summary)
    return 0 if summary["ok"] else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the API's base URL")
    parser.add_argument("--compose", required=True, help="the compose command, -p/-f included")
    parser.add_argument("--kill", default="worker-code", help="the worker service to kill")
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--prefix", default="router-svc:v1", help="ROUTER_SVC_REDIS_PREFIX")
    parser.add_argument("--timeout-s", type=float, default=1200)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--phase", action="append", default=[], help="NAME=SECONDS of setup")
    return parser.parse_args()


# --- the API -------------------------------------------------------------------------------------


def request(url: str, data: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(api: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if request(f"{api}/readyz")[0] == 200:
                return
        except OSError:  # not listening yet
            pass
        time.sleep(2)
    raise SystemExit(f"{api}/readyz did not answer 200 within {timeout_s:.0f} s")


def pick_questions(count: int) -> list[str]:
    """``count`` lines spread over the test split, so every category (and expert) gets some."""
    lines = [line for line in TEST_SPLIT.read_text(encoding="utf-8").splitlines() if line.strip()]
    step = max(1, len(lines) // count)
    return lines[::step][:count]


def submit(api: str, lines: list[str]) -> str:
    body = ("\n".join(lines) + "\n").encode()
    status, reply = request(f"{api}/v1/batches?suite={SUITE}", body, "application/jsonl")
    if status != 200:
        raise SystemExit(f"POST /v1/batches: {status} {reply.decode(errors='replace')}")
    return str(json.loads(reply)["id"])


def batch(api: str, batch_id: str) -> dict[str, Any]:
    status, reply = request(f"{api}/v1/batches/{batch_id}")
    if status != 200:
        raise SystemExit(f"GET /v1/batches/{batch_id}: {status} {reply.decode(errors='replace')}")
    return dict(json.loads(reply))


def wait_done(api: str, batch_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = batch(api, batch_id)
        if body["status"] not in ("queued", "in_progress"):
            return body
        time.sleep(2)
    raise SystemExit(f"batch {batch_id} did not complete within {timeout_s:.0f} s")


def fetch_results(api: str, batch_id: str) -> list[dict[str, Any]]:
    status, reply = request(f"{api}/v1/batches/{batch_id}/results")
    if status != 200:
        raise SystemExit(f"GET .../results: {status} {reply.decode(errors='replace')}")
    return [json.loads(line) for line in reply.decode().splitlines() if line.strip()]


# --- the worker to kill --------------------------------------------------------------------------


def run(command: list[str]) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def container_of(compose: list[str], service: str) -> str:
    container = run([*compose, "ps", "-q", service])
    if not container:
        raise SystemExit(f"service {service} has no container")
    return container


def hosted_experts(container: str) -> list[str]:
    """The experts of the container's ``router-svc worker --experts=a,b`` command."""
    command = json.loads(run(["docker", "inspect", "-f", "{{json .Config.Cmd}}", container]))
    for arg in command:
        if arg.startswith("--experts="):
            return [e for e in arg.split("=", 1)[1].split(",") if e]
    raise SystemExit(f"container {container} runs no --experts worker: {command}")


def pending_tasks(compose: list[str], prefix: str, experts: list[str]) -> int:
    """Tasks of ``experts`` claimed and not yet answered (XPENDING of their streams)."""
    held = 0
    for expert in experts:
        key = f"{prefix}:expert:{expert}"
        reply = subprocess.run(
            [*compose, "exec", "-T", "redis", "redis-cli", "XPENDING", key, "experts"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if reply and reply[0].isdigit():  # a missing stream or group answers an error
            held += int(reply[0])
    return held


def running(container: str) -> bool:
    return run(["docker", "inspect", "-f", "{{.State.Running}}", container]) == "true"


def kill_mid_batch(
    args: argparse.Namespace, compose: list[str], batch_id: str, started: float
) -> dict[str, Any]:
    """Kill ``args.kill`` once it holds tasks, see its experts reported, start it again."""
    container = container_of(compose, args.kill)
    experts = hosted_experts(container)
    held = 0
    while not held:
        if batch(args.api, batch_id)["status"] not in ("queued", "in_progress"):
            raise SystemExit(f"the batch completed before {args.kill} held any task")
        held = pending_tasks(compose, args.prefix, experts)
        time.sleep(0.5)
    run(["docker", "kill", container])
    killed_at = time.monotonic() - started
    print(f"killed {args.kill} ({', '.join(experts)}) at {killed_at:.1f} s, holding {held} tasks")
    seen = watch_unhosted(args.api, batch_id, container, set(experts))
    restarted_by_docker = running(container)
    if not restarted_by_docker:
        run([*compose, "start", args.kill])
    return {
        "killed": args.kill,
        "killed_experts": experts,
        "killed_at_s": round(killed_at, 1),
        "tasks_held_when_killed": held,
        "unhosted_reported_after_s": seen,
        "killed_experts_reported": set(experts) <= set(seen),
        "replacement": "docker restart policy" if restarted_by_docker else "compose start",
    }


def watch_unhosted(api: str, batch_id: str, container: str, experts: set[str]) -> dict[str, float]:
    """Seconds after the kill at which each expert first showed in the batch's
    ``unhosted_experts``; waits until the killed experts show (their worker's registration
    expires) or the container runs again. Other experts showing there are reported too."""
    killed = time.monotonic()
    seen: dict[str, float] = {}
    deadline = killed + REGISTRATION_TTL_S + 30
    while time.monotonic() < deadline and not running(container):
        stages = batch(api, batch_id).get("stages", {})
        for expert in stages.get("unhosted_experts", []):
            seen.setdefault(expert, round(time.monotonic() - killed, 1))
        if experts <= set(seen):
            break
        time.sleep(2)
    return seen


# --- the checks ----------------------------------------------------------------------------------


def check(lines: list[str], results: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
    """Every question exactly once, in input order; failures counted."""
    sent = [json.loads(line)["id"] for line in lines]
    indices = [r.get("batch", {}).get("index") for r in results]
    repeated = sum(n - 1 for n in Counter(indices).values() if n > 1)
    missing = sorted(set(range(len(lines))) - set(indices))
    failed = [r for r in results if "error" in r]
    counts = final["request_counts"]
    ok = (
        final["status"] == "completed"
        and len(results) == len(lines)
        and indices == list(range(len(lines)))
        and [r.get("id") for r in results] == sent
        and counts["completed"] + counts["failed"] == len(lines)
        and not failed
    )
    deliveries = Counter(r.get("batch", {}).get("deliveries", 1) for r in results)
    return {
        "status": final["status"],
        "results": len(results),
        "duplicate_results": repeated,
        "missing_results": len(missing),
        "failed_results": len(failed),
        "errors": [r["error"] for r in failed][:5],
        "aggregation_deliveries": {str(k): v for k, v in sorted(deliveries.items())},
        "answered_by": dict(Counter(r.get("batch", {}).get("worker", "?") for r in results)),
        "ok": ok,
    }


def parse_phase(text: str) -> tuple[str, int]:
    name, _, seconds = text.partition("=")
    return name, int(seconds)


def print_summary(s: dict[str, Any]) -> None:
    setup = ", ".join(f"{k} {v} s" for k, v in s["setup_s"].items())
    stages = s["stages"]
    unhosted = ", ".join(f"{e} {t}" for e, t in s["unhosted_reported_after_s"].items())
    print(f"setup: {setup}")
    print(
        f"batch: {s['questions']} questions, {s['status']} in {s['batch_wall_s']} s; killed "
        f"{s['killed']} at {s['killed_at_s']} s holding {s['tasks_held_when_killed']} tasks; "
        f"reported unhosted (s after the kill): {unhosted or 'none'}; "
        f"replaced by {s['replacement']}"
    )
    print(
        f"results: {s['results']} for {s['questions']} questions, "
        f"{s['duplicate_results']} duplicated, {s['missing_results']} missing, "
        f"{s['failed_results']} failed; answers per expert {stages.get('answered')}, "
        f"regenerated and dropped {stages.get('duplicates')}"
    )
    print("compose smoke: " + ("OK" if s["ok"] else "FAILED"))


if __name__ == "__main__":
    sys.exit(main())
