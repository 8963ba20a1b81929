"""`router-svc profile | skills show | route | run`: the pipeline from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.run_file import RunSummary, run_file
from router_svc.cli._common import (
    ConfigOption,
    console,
    friendly_errors,
    pool_from,
    run_async,
    settings,
    with_knobs,
)
from router_svc.config.knobs import RoutingKnobs
from router_svc.profiling.build import profile_suite
from router_svc.profiling.replay_profile import profile_replay
from router_svc.questions.suites import load_suite
from router_svc.routing.artifacts import ProfileArtifacts
from router_svc.routing.recruiter import Assignment
from router_svc.types import Question

SuiteOption = Annotated[str, typer.Option("--suite", "-s", help="Suite name or folder.")]

skills_app = typer.Typer(help="Inspect skill profiles.", no_args_is_help=True)


def _runtime(config: Path | None, *, use_cache: bool = True) -> Runtime:
    return Runtime.create(settings(), pool_from(config), use_cache=use_cache)


@friendly_errors
def profile(
    suite: Annotated[
        str | None,
        typer.Option("--suite", "-s", help="Suite name or folder [starter; --replay: its stem]."),
    ] = None,
    config: ConfigOption = None,
    tagger: Annotated[
        str | None, typer.Option(help="llm (the pool's tagger expert) or keyword.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Profile on the first N questions.")] = None,
    replay: Annotated[
        Path | None,
        typer.Option(help="Profile from a replay file's validation lines (docs/replay.md)."),
    ] = None,
    aggregation_items: Annotated[
        int | None,
        typer.Option(
            min=200, help="Cap the aggregation benchmark's items [every validation question]."
        ),
    ] = None,
) -> None:
    """Run every expert once on the suite's validation split and save its skill profile."""
    if replay is not None:
        profile_from_replay(replay, suite, config)
        return
    loaded = load_suite(suite or "starter", settings().suites_dir)
    runtime = _runtime(config)

    async def go() -> ProfileArtifacts:
        try:
            return await profile_suite(
                runtime,
                loaded,
                tagger=tagger,
                limit=limit,
                progress=True,
                aggregation_items=aggregation_items,
            )
        finally:
            await runtime.close()

    artifacts = run_async(go())
    show_profile(artifacts)
    console.print(f"saved to {runtime.profile_dir(loaded.name)}")


def profile_from_replay(path: Path, suite: str | None, config: Path | None) -> None:
    """``profile --replay``: the profile from recorded outcomes, nothing generated."""
    runtime = _runtime(config)

    async def go() -> ProfileArtifacts:
        try:
            return await profile_replay(runtime, path, suite=suite, progress=True)
        finally:
            await runtime.close()

    artifacts = run_async(go())
    show_profile(artifacts)
    console.print(f"saved to {runtime.profile_dir(artifacts.suite)}")


@skills_app.command("show")
@friendly_errors
def skills_show(suite: SuiteOption = "starter") -> None:
    """Print a suite's profile: accuracy, strongest and weakest skills, the aggregator."""
    show_profile(ProfileArtifacts.load(settings().skills_dir / Path(suite).name))


def show_profile(artifacts: ProfileArtifacts) -> None:
    table = Table(title=f"Skill profile: {artifacts.suite}")
    for column in ("expert", "val. accuracy", "competency", "strongest skills", "weakest skills"):
        table.add_column(column)
    for name, p in artifacts.profiles.items():
        table.add_row(
            name,
            f"{p.accuracy:.1%} ({p.correct:g}/{p.total})",
            f"{p.competency:+g}",
            ", ".join(f"{s} {v:+g}" for s, v in p.strongest(3)),
            ", ".join(f"{s} {v:+g}" for s, v in p.weakest(3)),
        )
    console.print(table)
    ranking = ", ".join(
        f"{r.expert} {r.accuracy:.0%} of {r.items}" for r in artifacts.aggregator_ranking
    )
    console.print(f"aggregator: [bold]{artifacts.aggregator}[/] (benchmark: {ranking or 'none'})")
    for stage, counts in (artifacts.metadata.get("failures") or {}).items():
        failed = ", ".join(f"{expert} {n}" for expert, n in counts.items() if n)
        if failed:
            console.print(f"failed {stage} (left out, retried on the next run): {failed}")


@friendly_errors
@with_knobs
def route(
    question: Annotated[str, typer.Argument(help="The question to route.")],
    knobs: RoutingKnobs,
    suite: SuiteOption = "starter",
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Explain how a question would be routed, without generating an answer."""
    runtime = _runtime(config)

    async def go() -> Assignment:
        try:
            pipeline = build_pipeline(runtime, Path(suite).name)
            options = pipeline.options(knobs)
            return (await pipeline.route([Question("cli", question)], options, {}))[0]
        finally:
            await runtime.close()

    assignment = run_async(go())
    if as_json:
        console.print_json(json.dumps(assignment.to_json()))
    else:
        show_assignment(assignment)


def show_assignment(assignment: Assignment) -> None:
    console.print(f"tags: {', '.join(assignment.tags) or '(none)'}")
    mapped = ", ".join(f"{m.keyword} -> {m.skill} ({m.similarity:.2f})" for m in assignment.skills)
    console.print(f"skills: {mapped or '(none)'}")
    method = f" by {assignment.router}" if assignment.router else ""
    if any(s.probability is not None for s in assignment.scores):
        table = _probability_table(assignment, f"Estimated success{method}")
    else:
        table = _profile_table(assignment, f"Expert scores{method}")
    console.print(table)
    console.print(f"chosen: [bold]{', '.join(assignment.chosen)}[/]")
    if assignment.escalate_to:
        console.print(
            f"escalating team: their shared answer stands; where they differ, "
            f"[bold]{assignment.escalate_to}[/] answers"
        )


def _probability_table(assignment: Assignment, title: str) -> Table:
    """A probability method: each expert's estimate, the evidence of each level behind it
    (that level's estimate, and in brackets the graded questions it rests on), the cost term."""
    levels = [
        level
        for level in ("feedback", "neighbours", "skills", "cluster", "task", "global")
        if any(s.evidence and level in s.evidence for s in assignment.scores)
    ]
    table = Table(title=title)
    for column in ("expert", "P(right)", *levels, "cost penalty", "score", "chosen"):
        table.add_column(column)
    options = [*assignment.scores, *([assignment.option] if assignment.option else [])]
    for s in sorted(options, key=lambda s: -s.score):
        evidence = s.evidence or {}
        cells = [
            f"{evidence[level]['estimate']:.2f} ({evidence[level]['questions']:.3g})"
            if level in evidence
            else "-"
            for level in levels
        ]
        table.add_row(
            s.expert,
            f"{s.probability or 0.0:.3f}",
            *cells,
            f"{s.cost_penalty:.3f}",
            f"{s.score:.3f}",
            _chosen_mark(assignment, s.expert),
        )
    return table


def _chosen_mark(assignment: Assignment, expert: str) -> str:
    """ "yes" for the chosen option; an escalating team's members say "in team"."""
    if assignment.option is not None:
        if expert == assignment.option.expert:
            return "yes"
        return "in team" if expert in assignment.chosen else ""
    return "yes" if expert in assignment.chosen else ""


def _profile_table(assignment: Assignment, title: str) -> Table:
    """A skill-profile method: relevance (profile values over the skills) and its prior."""
    table = Table(title=title + (" (fallback: competency prior)" if assignment.fallback else ""))
    for column in ("expert", "relevance", "prior", "cost penalty", "score", "chosen"):
        table.add_column(column)
    for s in sorted(assignment.scores, key=lambda s: -s.score):
        table.add_row(
            s.expert,
            f"{s.relevance or 0.0:+.3g}",
            f"{s.prior or 0.0:.3f}",
            f"{s.cost_penalty:.3f}",
            f"{s.score:.3f}",
            "yes" if s.expert in assignment.chosen else "",
        )
    return table


@friendly_errors
@with_knobs
def run(
    data: Annotated[Path, typer.Option("--data", help="Questions (suite JSONL format).")],
    out: Annotated[Path, typer.Option("--out", help="Results JSONL; resumed if it exists.")],
    knobs: RoutingKnobs,
    suite: SuiteOption = "starter",
    config: ConfigOption = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
) -> None:
    """Answer every question of a file through the pipeline, one JSON line per question."""
    runtime = _runtime(config)

    async def go() -> RunSummary:
        try:
            return await run_file(runtime, Path(suite).name, data, out, knobs, limit=limit)
        finally:
            await runtime.close()

    console.print(run_async(go()).describe())
