"""``report.html``: the bench report as one self-contained page.

The plots are inlined as base64 PNG and the strategy table sorts on a header click with a few
lines of plain JavaScript, so the page opens offline from anywhere (no CDN, no sibling files).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from router_svc.evaluation.metrics import StrategyMetrics

FILE = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
td:first-child, td:nth-child(2), th:first-child { text-align: left; }
tr.default td { font-weight: bold; background: #fff6d5; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
img { max-width: 520px; border: 1px solid #ddd; }
"""

# Click a header: sort by that column (numbers as numbers), click again: reverse.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, col) => {
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0];
    const down = th.dataset.dir !== "desc";
    th.dataset.dir = down ? "desc" : "asc";
    const key = tr => tr.cells[col].dataset.v ?? tr.cells[col].textContent;
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      const c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return down ? -c : c;
    });
    rows.forEach(r => body.appendChild(r));
  });
});
"""

_COLUMNS = (
    "strategy",
    "family",
    "accuracy",
    "95% CI",
    "gap closed",
    "$/query",
    "tokens/query",
    "experts/query",
)


def write_html(
    folder: Path,
    results: dict[str, Any],
    metrics: Sequence[StrategyMetrics],
    plots: Sequence[str],
) -> Path:
    """Write ``report.html`` into ``folder`` (the plots must already be there)."""
    path = folder / FILE
    path.write_text(render(results, metrics, folder, plots), encoding="utf-8")
    return path


def render(
    results: dict[str, Any],
    metrics: Sequence[StrategyMetrics],
    folder: Path,
    plots: Sequence[str],
) -> str:
    title = f"Bench report: {escape(str(results['suite']))}"
    body = [
        f"<h1>{title}</h1>",
        _summary(results),
        "<h2>Strategies</h2><p>Click a column header to sort.</p>",
        _strategy_table(metrics, results.get("default_strategy")),
        "<h2>Plots</h2>",
        *(_figure(folder / name) for name in plots),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script></body></html>\n"
    )


def _summary(results: dict[str, Any]) -> str:
    reference = results["reference"]
    questions = results["questions"]
    items = [
        f"source: <code>{escape(str(results['source']))}</code>",
        f"questions: {questions['validation']} validation, {questions['test']} test",
        f"experts: {escape(', '.join(results['experts']))}",
        f"best single expert: {_pct(reference['best_single'])}, "
        f"oracle: {_pct(reference['oracle'])}",
    ]
    default = str(results.get("default_strategy"))
    if default in results["strategies"]:
        row = results["strategies"][default]
        items.insert(
            0,
            f"default router <b>{escape(default)}</b>: {_pct(row['accuracy'])}, "
            f"${row['cost_per_query']:.6f}/query",
        )
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _strategy_table(metrics: Sequence[StrategyMetrics], default: str | None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in _COLUMNS)
    rows = "\n".join(_row(m, m.name == default) for m in metrics)
    return (
        f'<table class="sortable" id="strategies"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _row(m: StrategyMetrics, default: bool) -> str:
    gap = "" if m.gap_closed is None else f"{m.gap_closed:.4f}"
    cells = [
        (escape(m.name), escape(m.name)),
        (escape(m.family), escape(m.family)),
        (_pct(m.accuracy), f"{m.accuracy:.6f}"),
        (f"{_pct(m.interval.low)}-{_pct(m.interval.high)}", f"{m.interval.low:.6f}"),
        ("-" if m.gap_closed is None else f"{100 * m.gap_closed:.0f}%", gap or "-inf"),
        (f"{m.cost_per_query:.6f}", f"{m.cost_per_query:.9f}"),
        (f"{m.tokens_per_query:.0f}", f"{m.tokens_per_query:.3f}"),
        (f"{m.experts_per_query:.2f}", f"{m.experts_per_query:.3f}"),
    ]
    tds = "".join(f'<td data-v="{value}">{text}</td>' for text, value in cells)
    marker = ' class="default"' if default else ""
    return f"<tr{marker}>{tds}</tr>"


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = escape(path.stem)
    return (
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
        f"<figcaption>{name}</figcaption></figure>"
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"
