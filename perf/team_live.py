"""k = 3 against k: auto, live: the questions act one of `make demo` runs, on the starter pool.

    .venv/bin/python perf/team_live.py [--limit 40]

Both arms answer the first ``limit`` lines of the starter suite's test split the way act one
does (``run_file`` on the tiny llama.cpp models of experts.yaml, routed by skills/starter):
once with k = 3 (three experts, the aggregator where they disagree) and once with k: auto
(the pool's default). For each: accuracy, tokens (all of them, and the experts' share), how
many experts each question used and how it was settled. Issue #20's target: k: auto's
accuracy no lower than k = 3's, with at most 60 % of its tokens.

The arms share one fresh generation cache, so a generation k: auto repeats from the k = 3 run
is read back instead of generated: its tokens still count, its seconds do not (``cached``
counts them; the seconds of the two arms are not comparable). Needs a current skills/starter
profile (the script stops if it is stale: run `make demo` first). Writes
perf/results/team_live.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf._common import write_results
from router_svc.assembly import Runtime
from router_svc.batch.payload import BatchOptions
from router_svc.batch.run_file import run_file
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.profiling.build import stale_reason
from router_svc.questions.jsonl import read_records
from router_svc.questions.suites import load_suite

SUITE = "starter"
TOKEN_SHARE = 0.6
"""k: auto's tokens may be at most this share of k = 3's."""


async def arm(settings: Settings, k: int | str, out: Path, limit: int) -> dict[str, Any]:
    """One run of the demo's questions with routing knob ``k``, and its figures."""
    runtime = Runtime.create(settings, load_pool(settings.config_path))
    suite = load_suite(SUITE, settings.suites_dir)
    reason = stale_reason(runtime, suite)
    if reason is not None:
        await runtime.close()
        raise SystemExit(f"skills/{SUITE} is stale ({reason}): run `make demo` first")
    knobs = BatchOptions.model_validate({"k": k})
    summary = await run_file(runtime, SUITE, suite.path / "test.jsonl", out, knobs, limit=limit)
    records = list(read_records(out))
    return figures(records, summary.seconds, summary.loads)


def figures(records: list[dict[str, Any]], seconds: float, loads: int) -> dict[str, Any]:
    """Accuracy, tokens, experts per question and settling methods of one arm's records."""
    graded = [r for r in records if r["correct"] is not None]
    correct = sum(bool(r["correct"]) for r in graded)
    tokens = sum(r["tokens"]["total"] for r in records)
    expert_tokens = sum(_expert_tokens(r) for r in records)
    sizes = [len(r["experts"]) for r in records]
    generations = [e for r in records for e in r["experts"]]
    return {
        "questions": len(records),
        "accuracy": round(correct / len(graded), 4) if graded else None,
        "correct": correct,
        "tokens": tokens,
        "tokens_per_question": round(tokens / max(len(records), 1), 1),
        "expert_tokens": expert_tokens,
        "tagger_and_aggregator_tokens": tokens - expert_tokens,
        "experts_per_question": round(sum(sizes) / max(len(sizes), 1), 3),
        "questions_by_team_size": {str(n): c for n, c in sorted(Counter(sizes).items())},
        "settled_by": dict(Counter(r["final"]["method"] for r in records)),
        "aggregator_runs": sum(r["final"]["aggregator"] is not None for r in records),
        "cached_generations": sum(bool(e["cached"]) for e in generations),
        "model_loads": loads,
        "seconds": round(seconds, 1),
        "per_question": [
            {
                "id": r["id"],
                "experts": [e["expert"] for e in r["experts"]],
                "settled_by": r["final"]["method"],
                "correct": r["correct"],
                "tokens": r["tokens"]["total"],
            }
            for r in records
        ],
    }


def _expert_tokens(record: dict[str, Any]) -> int:
    return sum(e["prompt_tokens"] + e["completion_tokens"] for e in record["experts"])


def verdict(k3: dict[str, Any], auto: dict[str, Any]) -> dict[str, Any]:
    """k: auto against k = 3 on the issue's two targets."""
    share = auto["tokens"] / k3["tokens"] if k3["tokens"] else None
    no_lower = auto["accuracy"] is not None and auto["accuracy"] >= k3["accuracy"]
    return {
        "accuracy_difference": round(auto["accuracy"] - k3["accuracy"], 4),
        "token_share": round(share, 4) if share is not None else None,
        "target_accuracy_no_lower": no_lower,
        "target_tokens_at_most_60_percent": share is not None and share <= TOKEN_SHARE,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="test questions (the demo's 40)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="team-live-") as tmp:
        base = Settings()
        settings = base.model_copy(update={"data_dir": Path(tmp)})  # a fresh generation cache
        runs = {}
        for name, k in (("k3", 3), ("auto", "auto")):
            runs[name] = await arm(settings, k, Path(tmp) / f"{name}.jsonl", args.limit)
            print(f"{name}: accuracy {runs[name]['accuracy']}, tokens {runs[name]['tokens']}")
    write_results(
        "team_live",
        {
            "suite": SUITE,
            "questions": args.limit,
            "note": "tiny models (135M-270M) on llama.cpp; the arms share a generation cache, "
            "so seconds are not comparable (k: auto reads back generations k = 3 made)",
            **runs,
            "auto_vs_k3": verdict(runs["k3"], runs["auto"]),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
