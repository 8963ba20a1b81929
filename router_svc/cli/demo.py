"""`router-svc demo`, in two acts.

Act one runs the whole pipeline live on the packaged tiny models (135M-270M parameters): too
weak for routing to beat the best single one, so it shows the machinery, not the gain. It runs
with the pool's k (auto: a team only where it pays) and says how many experts each question
used. Act two routes real models on their recorded outcomes (a replay bench, no generation;
demo_recorded.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from router_svc.assembly import Runtime
from router_svc.batch.payload import BatchOptions
from router_svc.batch.run_file import RunSummary, run_file
from router_svc.cli._common import (
    ConfigOption,
    console,
    friendly_errors,
    pool_from,
    run_async,
    settings,
)
from router_svc.cli.demo_recorded import DEMO_REPLAY, recorded_act, show_recorded_act
from router_svc.cli.experts import list_experts
from router_svc.cli.pipeline_commands import show_profile
from router_svc.pipeline import expert_task
from router_svc.profiling.build import profile_suite, stale_reason
from router_svc.questions.grading import grade
from router_svc.questions.jsonl import read_records
from router_svc.questions.suites import Suite, load_suite
from router_svc.routing.artifacts import ProfileArtifacts
from router_svc.types import Question

SAMPLE = "What is 12 + 30?"


@friendly_errors
def demo(
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="Suite to profile and run.")
    ] = "starter",
    limit: Annotated[int, typer.Option(help="Test questions to run.")] = 40,
    config: ConfigOption = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Run act one (the tiny models, live).")
    ] = True,
    replay: Annotated[
        Path, typer.Option(help="Act two's recorded outcomes (a replay file).")
    ] = DEMO_REPLAY,
    vectors: Annotated[
        str,
        typer.Option(help="Act two's question vectors: static (default), minilm or hashing."),
    ] = "static",
) -> None:
    """Act one: the live pipeline on tiny models. Act two: routing real models (recorded)."""
    if live:
        _live_act(suite, limit, config)
    console.rule("Act two: the router on recorded outcomes of real models")
    act = recorded_act(replay, settings().data_dir / "demo", vectors)
    show_recorded_act(act)


def _live_act(suite: str, limit: int, config: Path | None) -> None:
    console.rule("Act one: the whole pipeline, live, on tiny local models")
    list_experts(config)
    current = settings()
    loaded = load_suite(suite, current.suites_dir)
    out = current.data_dir / "demo" / f"{loaded.name}-results.jsonl"
    out.unlink(missing_ok=True)
    summary, single = run_async(_demo(config, loaded, out, limit))
    _compare(summary, single)
    _team_sizes(out)


async def _demo(
    config: Path | None, suite: Suite, out: Path, limit: int
) -> tuple[RunSummary, tuple[str, float, float]]:
    runtime = Runtime.create(settings(), pool_from(config))
    try:
        await _one_answer_each(runtime)
        reason = stale_reason(runtime, suite)
        if reason is not None:
            console.print(f"[yellow]profiling {suite.name}[/]: {reason}")
            await profile_suite(runtime, suite, progress=True)
        artifacts = ProfileArtifacts.load(runtime.profile_dir(suite.name))
        show_profile(artifacts)
        test_file = suite.path / "test.jsonl"
        summary = await run_file(runtime, suite.name, test_file, out, BatchOptions(), limit=limit)
        single = await _best_single(runtime, artifacts, suite.test[:limit])
        return summary, single
    finally:
        await runtime.close()


async def _one_answer_each(runtime: Runtime) -> None:
    table = Table(title=f"One answer from every expert: {SAMPLE}")
    for column in ("expert", "answer", "tokens", "seconds"):
        table.add_column(column)
    tasks = [expert_task(Question("sample", SAMPLE), e.name) for e in runtime.pool.experts]
    for result in await runtime.executor().run(tasks):
        c = result.completion
        text = c.text.strip().replace("\n", " ")[:80] if c else f"[red]{result.error}[/]"
        table.add_row(
            result.task.expert,
            text,
            str(c.completion_tokens if c else "-"),
            f"{c.seconds:.2f}" if c else "-",
        )
    console.print(table)


async def _best_single(
    runtime: Runtime, artifacts: ProfileArtifacts, questions: list[Question]
) -> tuple[str, float, float]:
    """The expert with the best validation accuracy, run alone on the same questions."""
    name = max(artifacts.profiles.values(), key=lambda p: p.accuracy).expert
    results = await runtime.executor().run([expert_task(q, name) for q in questions], progress=True)
    right = sum(
        grade(r.completion.text, q.gold_answer or "", q.question).correct
        for q, r in zip(questions, results, strict=True)
        if r.completion
    )
    return name, artifacts.profiles[name].accuracy, right / max(len(questions), 1)


def _team_sizes(out: Path) -> None:
    """How many experts each question used (k: auto decides per question)."""
    sizes = Counter(len(r["experts"]) for r in read_records(out, missing_ok=True))
    if not sizes:
        return
    parts = ", ".join(
        f"{count} question{'s' if count != 1 else ''} with {size} expert{'s' if size != 1 else ''}"
        for size, count in sorted(sizes.items())
    )
    total = sum(size * count for size, count in sizes.items())
    console.print(
        f"k: auto used {parts} ({total / sum(sizes.values()):.2f} experts per question): a "
        "team only where the validation record says it pays for its cost."
    )


def _compare(summary: RunSummary, single: tuple[str, float, float]) -> None:
    name, validation, test = single
    table = Table(title="Router vs the best single expert (test split)")
    for column in ("system", "accuracy", "note"):
        table.add_column(column)
    table.add_row(
        "router-svc (k: auto, aggregator where a team ran)",
        f"{summary.accuracy or 0:.1%}",
        f"{summary.loads} model loads, {summary.tokens} tokens, {summary.seconds:.0f} s",
    )
    table.add_row(f"best single: {name}", f"{test:.1%}", f"{validation:.1%} on validation")
    console.print(table)
    console.print(summary.describe())
    console.print(
        "These experts have 135M-270M parameters: too weak for routing to show a gain over "
        "the best single one (on 40 questions the gap above is mostly noise). This act shows "
        "the machinery end to end; act two shows routing on real models."
    )
