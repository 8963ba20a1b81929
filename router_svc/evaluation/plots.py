"""The report's PNG plots, drawn with matplotlib's Agg canvas (no display, no pyplot state).

matplotlib is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from router_svc.evaluation.metrics import StrategyMetrics, SweepPoint, pareto_front, sweep_front

if TYPE_CHECKING:
    from matplotlib.figure import Figure


log = logging.getLogger(__name__)

COLOURS = {
    "single": "#9e9e9e",
    "baseline": "#1f77b4",
    "ensemble": "#ff7f0e",
    "router": "#2ca02c",
    "oracle": "#d62728",
    "ablation": "#9467bd",
}


def write_plots(
    folder: Path, metrics: Sequence[StrategyMetrics], sweeps: dict[str, list[SweepPoint]]
) -> list[str]:
    """Draw every plot into ``folder``; returns the file names written."""
    drawn = {
        "accuracy.png": _accuracy(metrics),
        "accuracy_vs_cost.png": _tradeoff(metrics, "cost_per_query", "$ per query"),
        "accuracy_vs_tokens.png": _tradeoff(metrics, "tokens_per_query", "tokens per query"),
        "categories.png": _categories(metrics),
        "recruitment.png": _recruitment(metrics),
    }
    if sweeps:
        drawn["cost_sweep.png"] = _sweep(metrics, sweeps)
    for name, figure in drawn.items():
        figure.savefig(folder / name, dpi=110)
    return list(drawn)


class BackgroundPlots:
    """``write_plots`` running in a separate (spawned) process while the caller works on: the
    drawing is single-threaded Python, so on a machine with a spare core it costs no wall
    time. Where no process can be started, or it fails, ``wait`` draws here instead."""

    def __init__(
        self, folder: Path, metrics: list[StrategyMetrics], sweeps: dict[str, list[SweepPoint]]
    ) -> None:
        self.folder, self.metrics, self.sweeps = folder, metrics, sweeps
        self._pool: ProcessPoolExecutor | None = None
        self._future: Future[list[str]] | None = None
        try:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            self._future = self._pool.submit(write_plots, folder, metrics, sweeps)
        except (OSError, RuntimeError) as exc:
            log.warning("plots are drawn in this process: no worker process (%s)", exc)

    def wait(self) -> list[str]:
        """The file names written, once every plot is drawn."""
        try:
            if self._future is not None:
                return self._future.result()
        except (OSError, RuntimeError) as exc:  # BrokenProcessPool is a RuntimeError
            log.warning("the plot process failed (%s): drawing here", exc)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
        return write_plots(self.folder, self.metrics, self.sweeps)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _colour(family: str) -> str:
    return COLOURS.get(family, "#8c564b")


def _accuracy(metrics: Sequence[StrategyMetrics]) -> Figure:
    ordered = sorted(metrics, key=lambda m: m.accuracy)
    figure = _figure(8, 1.2 + 0.28 * len(ordered))
    axes = figure.add_subplot()
    values = np.array([m.accuracy for m in ordered])
    errors = np.array(
        [
            [m.accuracy - m.interval.low for m in ordered],
            [m.interval.high - m.accuracy for m in ordered],
        ]
    )
    axes.barh(
        [m.name for m in ordered],
        values,
        xerr=np.clip(errors, 0, None),
        color=[_colour(m.family) for m in ordered],
        capsize=2,
    )
    axes.set_xlabel("accuracy (95% bootstrap interval)")
    axes.set_xlim(0, 1)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title("Accuracy per strategy")
    return figure


def _tradeoff(metrics: Sequence[StrategyMetrics], attribute: str, label: str) -> Figure:
    """Accuracy against a spend; the Pareto front over the real strategies (the oracle, an
    upper bound nobody can run, is a horizontal line)."""
    figure = _figure(8, 5.5)
    axes = figure.add_subplot()
    shown = [m for m in metrics if m.family != "oracle"]
    xs = [float(getattr(m, attribute)) for m in shown]
    ys = [m.accuracy for m in shown]
    for m, x, y in zip(shown, xs, ys, strict=True):
        axes.scatter(x, y, color=_colour(m.family), s=22, zorder=3)
        axes.annotate(m.name, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    front = pareto_front(xs, ys)
    axes.plot([xs[i] for i in front], [ys[i] for i in front], "k--", lw=1, label="Pareto front")
    for m in metrics:
        if m.family == "oracle":
            axes.axhline(m.accuracy, color=_colour("oracle"), lw=1, ls=":", label=m.name)
    if min(xs, default=0.0) > 0:
        axes.set_xscale("log")
    axes.set_xlabel(label)
    axes.set_ylabel("accuracy")
    axes.set_title(f"Accuracy vs {label}")
    axes.legend(loc="lower right", fontsize=7)
    return figure


def _categories(metrics: Sequence[StrategyMetrics]) -> Figure:
    categories = sorted({c for m in metrics for c in m.per_category})
    grid = np.array([[m.per_category.get(c, np.nan) for c in categories] for m in metrics])
    figure = _figure(2.5 + 0.9 * len(categories), 1.2 + 0.28 * len(metrics))
    axes = figure.add_subplot()
    image = axes.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=7)
    axes.set_yticks(range(len(metrics)), [m.name for m in metrics], fontsize=7)
    for (row, column), value in np.ndenumerate(grid):
        if not np.isnan(value):
            colour = "white" if value < 0.6 else "black"
            axes.text(
                column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour
            )
    figure.colorbar(image, ax=axes, label="accuracy")
    axes.set_title("Accuracy per category")
    return figure


def _recruitment(metrics: Sequence[StrategyMetrics]) -> Figure:
    chosen = [m for m in metrics if m.family in ("router", "baseline", "oracle")]
    experts = list(chosen[0].recruited) if chosen else []
    figure = _figure(8, 1.5 + 0.3 * max(len(chosen), 1))
    axes = figure.add_subplot()
    left = np.zeros(len(chosen))
    palette = _palette(len(experts))
    for index, expert in enumerate(experts):
        counts = np.array([m.recruited[expert] for m in chosen], dtype=float)
        totals = np.array([max(sum(m.recruited.values()), 1) for m in chosen], dtype=float)
        share = counts / totals
        axes.barh([m.name for m in chosen], share, left=left, color=palette[index], label=expert)
        left += share
    axes.set_xlabel("share of expert calls")
    axes.set_xlim(0, 1)
    axes.tick_params(axis="y", labelsize=7)
    axes.legend(
        fontsize=6, ncols=min(len(experts), 5), loc="upper center", bbox_to_anchor=(0.5, -0.12)
    )
    axes.set_title("How often each expert was recruited")
    return figure


def _palette(count: int) -> list[Any]:
    from matplotlib import colormaps

    colours = colormaps["tab10" if count <= 10 else "tab20"]
    return [colours(i % colours.N) for i in range(count)]


def _sweep(metrics: Sequence[StrategyMetrics], sweeps: dict[str, list[SweepPoint]]) -> Figure:
    figure = _figure(8, 5.5)
    axes = figure.add_subplot()
    for name, swept in sweeps.items():
        points = sweep_front(swept)
        xs = [p.cost_per_query for p in points]
        axes.plot(xs, [p.accuracy for p in points], "o-", ms=3, label=f"{name} (lambda sweep)")
        for p in points[:: max(len(points) // 5, 1)]:
            axes.annotate(f"{p.cost_weight:g}", (p.cost_per_query, p.accuracy), fontsize=6)
    shown = [m for m in metrics if m.family in ("single", "baseline")]
    for m in shown:
        marker = "s" if m.family == "single" else "D"
        axes.scatter(m.cost_per_query, m.accuracy, color=_colour(m.family), marker=marker, s=20)
        axes.annotate(
            m.name,
            (m.cost_per_query, m.accuracy),
            fontsize=6,
            xytext=(3, -8),
            textcoords="offset points",
        )
    costs = [m.cost_per_query for m in shown] + [
        p.cost_per_query for s in sweeps.values() for p in s
    ]
    if costs and min(costs) > 0:
        axes.set_xscale("log")
    axes.set_xlabel("$ per query")
    axes.set_ylabel("accuracy")
    axes.set_title(
        "Routers over the cost weight lambda (Pareto points), next to the single experts"
    )
    axes.legend(fontsize=7, loc="lower right")
    return figure
