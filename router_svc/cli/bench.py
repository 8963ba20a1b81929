"""`router-svc bench`: every strategy on a suite's test split, written up as a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from router_svc.cli._common import (
    ConfigOption,
    console,
    friendly_errors,
    pool_from,
    run_async,
    settings,
)
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.errors import ConfigError
from router_svc.questions.suites import load_suite


@friendly_errors
def bench(
    replay: Annotated[
        Path | None,
        typer.Option("--replay", help="A replay JSONL file of recorded outcomes (docs/replay.md)."),
    ] = None,
    suite: Annotated[
        str | None, typer.Option("--suite", help="A suite under eval/suites (live models).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Reports go to OUT/<suite>-<timestamp>/.")
    ] = Path("eval/reports"),
    tagger: Annotated[
        str,
        typer.Option("--tagger", help="keyword (no model) or embedding (model vectors for tags)."),
    ] = "keyword",
    vectors: Annotated[
        str,
        typer.Option(
            "--vectors",
            help="Question vectors of knn and knn-shrinkage: static (the service's default, "
            "distilled from MiniLM), minilm (the minilm extra), both cached per text under "
            ".router-svc/vectors, or hashing (no model, quick checks).",
        ),
    ] = "static",
    k: Annotated[int, typer.Option("--k", min=1, help="Voters for random-k and k>1 routers.")] = 3,
    router: Annotated[
        str,
        typer.Option(
            "--router",
            help="The routing method the report leads with: symbolic-moe, skill, skill-plus, "
            "knn-shrinkage, or one a plugin registers.",
        ),
    ] = DEFAULT_ROUTER,
    holdout_category: Annotated[
        str | None,
        typer.Option(
            "--holdout-category",
            help="Replay: profile on the other categories' validation lines and test on this "
            "category's test lines only (an unseen task).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for sampling and bootstrap.")] = 0,
    ablation: Annotated[
        bool, typer.Option("--ablation/--no-ablation", help="Run the router ablation.")
    ] = True,
    limit: Annotated[
        int | None, typer.Option(help="Live bench: only the first N test questions.")
    ] = None,
    config: ConfigOption = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Replay: also stream the test lines through the default router, which learns "
            "from the feedback of each answered question (report: learning curve).",
        ),
    ] = False,
    feedback: Annotated[
        str,
        typer.Option(
            "--feedback",
            help="--online: bandit (only the expert the router ran reveals its outcome) or "
            "full (every expert's outcome).",
        ),
    ] = "bandit",
    feedback_rate: Annotated[
        float, typer.Option("--feedback-rate", help="--online: fraction of questions graded.")
    ] = 1.0,
    shuffle: Annotated[
        int | None,
        typer.Option(
            "--shuffle", help="--online: stream in a shuffle of this seed, not file order."
        ),
    ] = None,
) -> None:
    """Run every strategy on the test split and write report.md, results.json and plots."""
    if replay is not None and suite is not None:
        raise ConfigError("give one of --replay FILE or --suite NAME, not both")
    if suite is not None and holdout_category is not None:
        raise ConfigError("--holdout-category works with --replay FILE only")
    if suite is not None:
        _live(suite, out, k=k, seed=seed, limit=limit, config=config)
        return
    if replay is None:
        raise ConfigError("give --replay FILE (recorded outcomes) or --suite NAME")
    from router_svc.evaluation.online import OnlineOptions
    from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench

    streamed = OnlineOptions(
        feedback=feedback,  # type: ignore[arg-type]  # OnlineOptions checks the value
        rate=feedback_rate,
        shuffle=shuffle,
        seed=seed,
    )

    options = BenchOptions(
        tagger=tagger,  # type: ignore[arg-type]  # BenchOptions checks the value
        vectors=vectors,  # type: ignore[arg-type]
        k=k,
        seed=seed,
        ablation=ablation,
        router=router,
        model_cache_dir=settings().model_cache_dir,
        holdout_category=holdout_category,
        online=streamed if online else None,
    )
    run = ReplayBench(options).run(replay, out)
    _print_summary(run.results)
    if "online" in run.results:
        _print_online(run.results["online"])
    console.print(f"report: {run.folder / 'report.md'}", highlight=False)


def _live(
    suite: str, out: Path, *, k: int, seed: int, limit: int | None, config: Path | None
) -> None:
    from router_svc.assembly import Runtime
    from router_svc.evaluation.live_bench import LiveOptions, live_bench

    loaded = load_suite(suite, settings().suites_dir)
    runtime = Runtime.create(settings(), pool_from(config))

    async def go() -> tuple[Path, dict[str, Any]]:
        try:
            return await live_bench(runtime, loaded, out, LiveOptions(k=k, seed=seed, limit=limit))
        finally:
            await runtime.close()

    folder, results = run_async(go())
    _print_summary(results)
    console.print(f"report: {folder / 'report.md'}", highlight=False)


def _print_online(online: dict[str, Any]) -> None:
    console.print(
        f"online ({online['feedback_kind']} feedback on {online['feedback']} of "
        f"{online['questions']} questions, {online['extra_generations']} extra generations): "
        f"{100 * online['accuracy']:.1f}% vs frozen {100 * online['frozen_accuracy']:.1f}%",
        highlight=False,
    )


def _print_summary(results: dict[str, Any]) -> None:
    title = f"{results['suite']}: {results['questions']['test']} test questions"
    holdout = results.get("settings", {}).get("holdout_category")
    if holdout is not None:
        title += f" of the unseen category {holdout!r} (profiled on the others)"
    table = Table(title=title)
    for column in ("strategy", "accuracy", "95% CI", "gap closed", "$/query", "experts/q"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, row in results["strategies"].items():
        if row["family"] == "single":
            continue
        low, high = row["ci95"]
        gap = row["gap_closed"]
        table.add_row(
            name,
            f"{100 * row['accuracy']:.1f}%",
            f"{100 * low:.1f}-{100 * high:.1f}",
            "-" if gap is None else f"{100 * gap:.0f}%",
            f"{row['cost_per_query']:.6f}",
            f"{row['experts_per_query']:.2f}",
        )
    console.print(table)
