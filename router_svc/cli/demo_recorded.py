"""The demo's second act: the default router on recorded outcomes of real models.

A replay bench (no generation) over a recorded pool: the default routing method against the
best single model and the cheapest ones, in accuracy and dollars per 1,000 questions, plus the
most accurate point of its cost sweep at no more than half the best single model's cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from router_svc.cli._common import console, settings
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench

DEMO_REPLAY = Path("eval/replay/routerbench_pooled3.jsonl")
SINGLE = "single:"
CHEAPEST = 2
"""How many of the cheapest single models the table shows."""


@dataclass(frozen=True)
class Row:
    system: str
    role: str
    accuracy: float
    cost_per_query: float

    @property
    def per_thousand(self) -> float:
        return 1000 * self.cost_per_query


@dataclass(frozen=True)
class RecordedAct:
    folder: Path
    rows: list[Row]


def recorded_act(replay: Path, out: Path, vectors: str = "static") -> RecordedAct:
    """Bench ``replay`` with the default router and pick the rows the demo prints."""
    options = BenchOptions(
        vectors=vectors,  # type: ignore[arg-type]  # BenchOptions checks the value
        ablation=False,
        model_cache_dir=settings().model_cache_dir,
    )
    run = ReplayBench(options).run(replay, out)
    return RecordedAct(run.folder, demo_rows(run.results))


def demo_rows(results: dict[str, Any]) -> list[Row]:
    """The default router, its cheaper sweep point, the best single, the cheapest, the oracle."""
    strategies = results["strategies"]
    singles = {n[len(SINGLE) :]: s for n, s in strategies.items() if n.startswith(SINGLE)}
    best = max(singles, key=lambda n: (singles[n]["accuracy"], -singles[n]["cost_per_query"]))
    default = results["default_strategy"]
    rows = [_row(default, "default router", strategies[default])]
    saving = cheaper_point(results["sweep"].get(default, []), singles[best]["cost_per_query"] / 2)
    if saving is not None:
        system = f"{default} lambda={saving['cost_weight']:g}"
        rows.append(_row(system, "router, <= half the best's cost", saving))
    rows.append(_row(best, "best single model", singles[best]))
    cheapest = sorted(singles, key=lambda n: singles[n]["cost_per_query"])[:CHEAPEST]
    rows += [_row(n, "a cheapest single model", singles[n]) for n in cheapest if n != best]
    if "oracle" in strategies:
        rows.append(_row("oracle", "upper bound (hindsight)", strategies["oracle"]))
    return rows


def cheaper_point(points: list[dict[str, float]], budget: float) -> dict[str, float] | None:
    """The most accurate sweep point costing at most ``budget`` per question (None: none)."""
    affordable = [p for p in points if p["cost_per_query"] <= budget]
    return max(affordable, key=lambda p: (p["accuracy"], -p["cost_per_query"]), default=None)


def _row(system: str, role: str, data: dict[str, Any]) -> Row:
    return Row(system, role, float(data["accuracy"]), float(data["cost_per_query"]))


def show_recorded_act(act: RecordedAct) -> None:
    table = Table(title="Routing real models (recorded outcomes, test split)")
    for column in ("system", "role", "accuracy", "$/1,000 q"):
        table.add_column(column)
    for row in act.rows:
        table.add_row(row.system, row.role, f"{row.accuracy:.1%}", f"{row.per_thousand:.2f}")
    console.print(table)
    for label, name in (("report", "report.html"), ("accuracy vs cost", "accuracy_vs_cost.png")):
        console.print(f"{label}: {act.folder / name}", highlight=False, soft_wrap=True)
